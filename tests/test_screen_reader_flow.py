"""Screen-reader flow: the real cursor lands on the console cursor, whichever way the operator
comes into the console."""

from __future__ import annotations

from pathlib import Path

from conftest import APP_SIZE, make_config, open_console, target, until
from peers import ConsolePeer, echo
from textual.geometry import Offset

from console_tui.ui.app import ConsoleApp
from console_tui.ui.widgets.console_pane import ConsolePane
from console_tui.ui.widgets.terminal import TerminalView


def console_cursor(pane: ConsolePane) -> Offset:
    """Where the console cursor is on the app's screen."""
    view = pane.terminal
    cursor = view.screen_model.cursor
    assert cursor is not None
    region = view.scrollable_content_region
    return Offset(region.x + cursor[0], region.y + cursor[1])


async def test_tab_and_shift_tab_into_the_console_put_the_cursor_on_its_cursor(
    sock_dir: Path,
) -> None:
    """Tab from the tab bar, and Shift+Tab from the control after the console, both land the
    real cursor on the console cursor (not where the focus came from)."""
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    async with ConsolePeer(sock_dir / "box.sock", b"hello\r\nbox$ ", reply=echo):
        app = ConsoleApp(config, screen_reader=True, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            await until(pilot, lambda: "box$" in pane.terminal.screen_text(), "the prompt")
            await until(pilot, lambda: app.cursor_position == console_cursor(pane), "on entry")
            await pilot.press("ctrl+f6")
            await until(pilot, lambda: app.cursor_position != console_cursor(pane), "left")
            await pilot.press("tab")
            assert isinstance(app.focused, TerminalView)
            await until(pilot, lambda: app.cursor_position == console_cursor(pane), "Tab in")
            app.screen.focus_next()  # the control after the console (Tab there goes to the guest)
            await until(pilot, lambda: app.cursor_position != console_cursor(pane), "after it")
            await pilot.press("shift+tab")
            assert isinstance(app.focused, TerminalView)
            await until(pilot, lambda: app.cursor_position == console_cursor(pane), "Shift+Tab")
