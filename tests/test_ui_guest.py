"""End to end: the app on the demo guest (a real Linux under QEMU)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest
from textual.pilot import Pilot

from console_tui import lab
from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.sysrq import SysRqDialog
from console_tui.ui.screens.main import MainScreen

WAIT = 30.0


async def until(pilot: Pilot, condition: Callable[[], object], what: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


@pytest.mark.guest
async def test_type_a_command_and_send_sysrq_help(guest: lab.LabInfo) -> None:
    config = config_mod.load(guest.config_path)
    app = ConsoleApp(config, blink=False, probe=False)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await until(
            pilot, lambda: screen.query_one("Inventory").highlighted == lab.TARGET_NAME, "tree"
        )
        await pilot.press("enter")
        await until(pilot, lambda: screen.active_pane is not None, "a console tab")
        pane = screen.active_pane
        assert pane is not None
        terminal = pane.terminal
        await until(pilot, lambda: pane.facts.state == "connected", "connected")
        await pilot.press("enter")
        await until(pilot, lambda: "#" in terminal.screen_text(), "a shell prompt")
        await pilot.press(*"uname -a", "enter")
        await until(pilot, lambda: "Linux" in terminal.all_text(), "uname output")
        await pilot.press("ctrl+f6", "f2")
        await until(
            pilot,
            lambda: isinstance(app.screen, SysRqDialog) and app.screen.query("#keys"),
            "SysRq",
        )
        await pilot.press("h")
        await until(pilot, lambda: "sysrq: HELP" in terminal.all_text(), "the kernel's SysRq help")
        assert "SysRq h sent" in str(screen.query_one("#announce").render())
