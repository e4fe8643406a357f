"""End to end: the app on the demo guest (a real Linux under QEMU)."""

from __future__ import annotations

import pytest
from conftest import until

from console_tui import lab
from console_tui.core import config as config_mod
from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.sysrq import SysRqDialog
from console_tui.ui.screens.main import MainScreen

WAIT = 30.0
"""Seconds each step may take on the guest (software emulation is slow)."""


@pytest.mark.guest
async def test_type_a_command_and_send_sysrq_help(guest: lab.LabInfo) -> None:
    config = config_mod.load(guest.config_path)
    app = ConsoleApp(config, blink=False, probe=False)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await until(
            pilot,
            lambda: screen.query_one("Inventory").highlighted == lab.TARGET_NAME,
            "tree",
            timeout=WAIT,
        )
        await pilot.press("enter")
        await until(pilot, lambda: screen.active_pane is not None, "a console tab", timeout=WAIT)
        pane = screen.active_pane
        assert pane is not None
        terminal = pane.terminal
        await until(pilot, lambda: pane.facts.state == "connected", "connected", timeout=WAIT)
        await pilot.press("enter")
        await until(pilot, lambda: "#" in terminal.screen_text(), "a shell prompt", timeout=WAIT)
        await pilot.press(*"uname -a", "enter")
        await until(pilot, lambda: "Linux" in terminal.all_text(), "uname output", timeout=WAIT)
        await pilot.press("ctrl+f6", "f2")
        await until(
            pilot,
            lambda: isinstance(app.screen, SysRqDialog) and app.screen.query("#keys"),
            "SysRq",
            timeout=WAIT,
        )
        await pilot.press("h")
        await until(
            pilot,
            lambda: "sysrq: HELP" in terminal.all_text(),
            "the kernel's SysRq help",
            timeout=WAIT,
        )
        assert "demo: sent BREAK then SysRq h" in str(screen.query_one("#announce").render())
