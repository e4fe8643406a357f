"""Copy mode: selecting console text with the keyboard, as tmux's copy mode does."""

from __future__ import annotations

from pathlib import Path

from conftest import APP_SIZE, main_screen, make_config, open_console, target, until
from peers import ConsolePeer, echo
from textual import on
from textual.app import App, ComposeResult
from textual.geometry import Offset
from textual.pilot import Pilot
from textual.widgets import Static

from console_tui.ui.app import ConsoleApp
from console_tui.ui.messages import Announce
from console_tui.ui.widgets.terminal import TerminalView


class CopyApp(App[None]):
    """A terminal view alone; it keeps what the view typed and announced."""

    def __init__(self, *, reading: bool = False) -> None:
        super().__init__()
        self.reading = reading
        self.typed: list[bytes] = []
        self.said: list[str] = []

    def compose(self) -> ComposeResult:
        yield TerminalView(reading=self.reading)

    @on(TerminalView.Typed)
    def _typed(self, message: TerminalView.Typed) -> None:
        self.typed.append(message.data)

    @on(Announce)
    def _said(self, message: Announce) -> None:
        self.said.append(message.text)


async def console_with(pilot: Pilot[None], data: bytes) -> TerminalView:
    view = pilot.app.query_one(TerminalView)
    view.focus()
    view.feed(data)
    view.sync_now()
    await pilot.pause()
    return view


async def test_move_mark_and_copy_a_stream_of_text() -> None:
    """Ctrl+F5, up two rows, Home, Space, down, End, Enter: the text from the mark to the cursor
    is on the clipboard; no key reached the console; the view is back on the live screen."""
    app = CopyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        lines = b"".join(f"line {n} of the output\r\n".encode() for n in range(40))
        view = await console_with(pilot, lines + b"box$ ")
        await pilot.press("ctrl+f5")
        assert view.copy_mode is not None
        assert app.said[-1].startswith("copy mode:")
        await pilot.press("up", "up", "up", "home", "space", "down", "end", "enter")
        assert app.clipboard == "line 37 of the output\nline 38 of the output"
        assert app.said[-1] == "copied 43 characters: line 37 of the output / line 38 of the output"
        assert view.copy_mode is None and not view.in_scrollback
        assert app.typed == []


async def test_copy_mode_reaches_into_the_scrollback_and_keys_stay_out_of_the_console() -> None:
    app = CopyApp()
    async with app.run_test(size=(60, 20)) as pilot:
        view = await console_with(pilot, b"".join(f"{n}\r\n".encode() for n in range(100)))
        await pilot.press("ctrl+f5", "pageup", "pageup", "pageup", "pageup", "pageup", "pageup")
        assert view.copy_mode is not None
        assert view.copy_mode.line == 0  # as far up as the scrollback goes
        assert view.shown_text()[0] == "0"
        await pilot.press("x", "a", "tab", "ctrl+c", "down", "y")  # y: copy the cursor's row
        assert app.clipboard == "1"
        assert app.typed == []
        await pilot.press("ctrl+f5", "q")
        assert view.copy_mode is None
        await pilot.press("z")
        assert app.typed == [b"z"]  # out of copy mode, keys go to the console again


async def test_copy_mode_in_the_reading_presentation_copies_whole_lines() -> None:
    """Rows that wrap one long line are copied as that line, without line ends inside it."""
    long_line = "the quick brown fox jumps over the lazy dog " * 3
    app = CopyApp(reading=True)
    async with app.run_test(size=(42, 20)) as pilot:
        await console_with(pilot, f"{long_line.strip()}\r\nbox$ ".encode())
        await pilot.press("ctrl+f5", "pageup", "home", "v", "G", "up", "end", "y")
        assert app.clipboard == long_line.strip()


async def test_copy_mode_in_screen_reader_mode(sock_dir: Path) -> None:
    """In screen-reader mode the real cursor follows the copy cursor, each row moved to is
    announced, and what was copied is announced; the palette enters copy mode too."""
    config = make_config(sock_dir, target("box", sock_dir / "box.sock"))
    greeting = b"first line\r\nsecond line\r\nbox$ "
    async with ConsolePeer(sock_dir / "box.sock", greeting, reply=echo):
        app = ConsoleApp(config, screen_reader=True, probe=False)
        async with app.run_test(size=APP_SIZE) as pilot:
            pane = await open_console(pilot, app, "box")
            view = pane.terminal
            await until(pilot, lambda: "box$" in view.screen_text(), "the prompt")
            announce = main_screen(app).query_one("#announce", Static)
            main_screen(app).action_copy_mode()  # what the palette's "Copy mode" runs
            await pilot.pause()
            assert view.copy_mode is not None
            await pilot.press("up")
            copy = view.copy_mode
            region = view.scrollable_content_region
            where = Offset(region.x + copy.x, region.y + copy.line - view.scroll_offset.y)
            await until(pilot, lambda: app.cursor_position == where, "the cursor on the copy")
            assert str(announce.content) == "second line"
            await pilot.press("up", "home", "v", "down", "end", "enter")
            await until(pilot, lambda: "copied" in str(announce.content), "copied, announced")
            assert str(announce.content) == "copied 22 characters: first line / second line"
            assert app.clipboard == "first line\nsecond line"
