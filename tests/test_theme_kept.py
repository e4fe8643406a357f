"""Themes: the console's default-coloured cells take the theme's colours (black on high contrast,
not the operator's terminal default), and a theme picked in the palette is kept for next time in a
small state file (0600), never in the config.

The console is a real Unix-socket peer in this process.
"""

from __future__ import annotations

import stat
from pathlib import Path

from conftest import APP_SIZE, make_config, open_console, target, until
from peers import ConsolePeer, echo
from rich.color import Color
from textual.command import CommandPalette

from console_tui.ui.app import ConsoleApp
from console_tui.ui.remembered import state_file


def background(pane: object, row: int) -> set[str]:
    """The background colours of a console row as drawn."""
    strip = pane.terminal.render_line(row)  # type: ignore[attr-defined]
    found = set()
    for segment in strip:
        color = segment.style.bgcolor if segment.style else None
        found.add(color.get_truecolor().hex if isinstance(color, Color) else "terminal default")
    return found


async def test_the_console_is_drawn_in_the_themes_colours(sock_dir: Path) -> None:
    sock = sock_dir / "vm.sock"
    async with ConsolePeer(sock, b"login: ", reply=echo):
        config = make_config(sock_dir, target("vm", sock))
        app = ConsoleApp(config, theme="high-contrast", blink=False, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "vm")
            await until(pilot, lambda: "login:" in pane.terminal.screen_text(), "the greeting")
            await pilot.pause()
            assert background(pane, 0) == {"#000000"}
            assert background(pane, 10) == {"#000000"}, "empty rows too"
            app.theme = "console-light"
            await until(pilot, lambda: background(pane, 10) != {"#000000"}, "the new theme")
            assert "terminal default" not in background(pane, 10)


async def test_a_theme_picked_in_the_palette_is_kept(tmp_path: Path) -> None:
    config = make_config(tmp_path, target("vm", tmp_path / "none.sock"))
    before = (tmp_path / "config.toml").read_text()
    app = ConsoleApp(config, blink=False, probe=False, who="alice")
    async with app.run_test(size=APP_SIZE) as pilot:
        assert app.theme == "console-dark"
        await pilot.press("ctrl+right_square_bracket")
        await until(pilot, lambda: isinstance(app.screen, CommandPalette), "the palette")
        await pilot.press(*"theme", "enter")
        await until(pilot, lambda: app.screen.query("CommandList"), "the theme list")
        await pilot.press(*"high-contrast")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await until(pilot, lambda: app.theme == "high-contrast", "the theme changed")
    assert (tmp_path / "config.toml").read_text() == before, "the config is the operator's"
    assert stat.S_IMODE(state_file().stat().st_mode) == 0o600
    again = ConsoleApp(config, blink=False, probe=False, who="alice")
    assert again.theme == "high-contrast"
    other = ConsoleApp(config, blink=False, probe=False, who="bob")
    assert other.theme == "console-dark", "each operator keeps their own"
    chosen = ConsoleApp(config, theme="console-light", blink=False, probe=False, who="alice")
    assert chosen.theme == "console-light", "--theme wins"
