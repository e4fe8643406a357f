"""A key whose action the target cannot do says why on the announcement line (where a screen
reader reads), instead of doing nothing; the footer shows it disabled.

The console is a real Unix-socket peer: a raw socket (no BREAK), no control backing, Linux.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, echo
from textual.widgets._footer import FooterKey

from console_tui.ui.app import ConsoleApp
from console_tui.ui.widgets.terminal import TerminalView

WHY = {
    "f2": ("SysRq unavailable", "a raw socket carries no BREAK"),
    "f4": ("SAC unavailable", "SAC is for Windows targets"),
    "f5": ("BREAK unavailable", "a raw socket carries no BREAK"),
    "f8": ("NMI unavailable", "no control backing"),
    "f9": ("Reset unavailable", "no control backing"),
}


@pytest.mark.parametrize("screen_reader", [False, True])
async def test_unavailable_keys_say_why(sock_dir: Path, screen_reader: bool) -> None:
    sock = sock_dir / "vm.sock"
    async with ConsolePeer(sock, b"$ ", reply=echo) as peer:
        config = make_config(sock_dir, target("vm", sock))
        app = ConsoleApp(config, blink=False, probe=False, screen_reader=screen_reader)
        async with app.run_test(size=APP_SIZE) as pilot:
            await open_console(pilot, app, "vm")
            await until(pilot, lambda: isinstance(app.focused, TerminalView), "in the console")
            await pilot.press("ctrl+f6")
            screen = main_screen(app)
            announce = screen.query_one("#announce")
            await pilot.pause()
            footer = {key.key_display: key for key in screen.query(FooterKey)}
            for key, (what, why) in WHY.items():
                screen.announce("")
                await pilot.press(key)
                words = str(announce.render())
                assert what in words and why in words, f"{key}: {words!r}"
                shown = footer.get(key.upper())
                if shown is not None:
                    assert "-disabled" in shown.classes, f"{key} is not shown disabled"
            assert app.screen is screen, "nothing opened"
            assert bytes(peer.received) == b""
