"""SysRq keys that take the machine down at once (b reboot, c crash, o power off, and sequences
holding them) ask first, with No as the answer for Enter, in the app and in `attach`'s escapes.

The console is a real Unix-socket peer with telnet framing, so BREAK arrives as IAC BRK.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import BRK, IAC, ConsolePeer
from textual.command import CommandPalette
from textual.pilot import Pilot
from textual.widgets import Button, Input, OptionList

from console_tui.core import config
from console_tui.core.hub import Hub
from console_tui.core.passthrough import Passthrough
from console_tui.ui.app import ConsoleApp
from console_tui.ui.dialogs.confirm import ConfirmDialog
from console_tui.ui.dialogs.sysrq import SysRqDialog
from console_tui.ui.widgets.terminal import TerminalView

BREAK = bytes([IAC, BRK])


def telnet_target(sock: Path) -> str:
    return target("vm", Path(f"{sock}?telnet=1"))


@contextlib.asynccontextmanager
async def console_open(sock_dir: Path) -> AsyncIterator[tuple[ConsolePeer, ConsoleApp, Pilot]]:
    """The app with the console of `vm` open and focused, its far end a telnet-framed peer."""
    sock = sock_dir / "vm.sock"
    async with ConsolePeer(sock, b"# ") as peer:
        app = ConsoleApp(make_config(sock_dir, telnet_target(sock)), blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "vm")
            await until(pilot, lambda: isinstance(app.focused, TerminalView), "in the console")
            yield peer, app, pilot


async def test_the_sysrq_dialog_starts_on_help_and_reboot_asks_first(sock_dir: Path) -> None:
    async with console_open(sock_dir) as (peer, app, pilot):
        screen = main_screen(app)

        async def sysrq_dialog() -> SysRqDialog:
            if isinstance(app.focused, TerminalView):
                await pilot.press("ctrl+f6")  # leave the console: F2 there goes to the guest
            await pilot.press("f2")
            await until(pilot, lambda: isinstance(app.screen, SysRqDialog), "SysRq dialog")
            assert isinstance(app.screen, SysRqDialog)
            return app.screen

        dialog = await sysrq_dialog()
        keys_list = dialog.query_one("#keys", OptionList)
        assert keys_list.highlighted_option is not None
        assert keys_list.highlighted_option.id == "h", "F2 then Enter must be harmless"
        await pilot.press("enter")
        await peer.wait_received(BREAK + b"h")

        for press in (["b"], ["tab", *"reisub", "enter"]):
            await sysrq_dialog()
            await pilot.press(*press)
            await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "a question")
            assert "reboot" in str(app.screen.query_one(".note").render())
            assert app.screen.focused is app.screen.query_one("#no", Button)
            await pilot.press("enter")  # No
            await until(pilot, lambda: app.screen is screen, "the question closed")
            assert "not sent" in str(screen.query_one("#announce").render())
            assert bytes(peer.received) == BREAK + b"h"

        # Crash asks too; yes sends it.
        await sysrq_dialog()
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "a question")
        assert "crash" in str(app.screen.query_one(".note").render())
        await pilot.press("y")
        await peer.wait_received(BREAK + b"c")


async def test_the_palette_asks_before_reboot(sock_dir: Path) -> None:
    """`reb` then Enter in the palette, as an operator types it: a question, nothing sent."""
    async with console_open(sock_dir) as (peer, app, pilot):
        await pilot.press("ctrl+right_square_bracket")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"reb")
        palette = app.screen
        await until(
            pilot,
            lambda: (
                palette.query_one("CommandList", OptionList).option_count > 0
                and palette.query_one(Input).value == "reb"
            ),
            "the matches",
        )
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmDialog), "a question")
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ConfirmDialog), "closed")
        assert bytes(peer.received) == b""


@pytest.mark.parametrize("answer", [b"n", b"y"])
async def test_attach_asks_before_sysrq_reboot(tmp_path: Path, answer: bytes) -> None:
    """`~s b` and the `~?` menu's SysRq o ask (y/n) in `attach` and `ssh console@host NAME`."""
    sock = tmp_path / "vm.sock"
    path = tmp_path / "config.toml"
    path.write_text(telnet_target(sock))
    async with ConsolePeer(sock, b"# ") as peer:
        hub = Hub(config.load(path))
        try:
            viewer = await hub.attach("vm", wait=5)
            shown = bytearray()
            passthrough = Passthrough(hub, viewer, shown.extend)
            await passthrough.feed(b"\r~sb")
            assert b"reboot now" in shown and b"Send SysRq b to vm? (y/n)" in shown
            await passthrough.feed(answer)
            if answer == b"y":
                await peer.wait_received(BREAK + b"b")
            else:
                assert b"not sent" in shown
            number = 1 + next(
                i for i, item in enumerate(passthrough.menu()) if "SysRq o" in item.label
            )
            await passthrough.feed(b"\r~?" + str(number).encode() + b"\r")
            assert b"power off" in shown and b"Send SysRq o to vm? (y/n)" in shown
            await passthrough.feed(b"n")
            assert BREAK + b"o" not in peer.received
        finally:
            await hub.close()
