"""The terminal widget on its own: bad input, key encoding, scrollback, the reading view."""

from __future__ import annotations

import random

import pytest
from textual import events
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console_tui.core.keys import encode_key_event
from console_tui.core.screen import CellStyle, ScreenRow
from console_tui.ui.widgets._strips import RowPainter
from console_tui.ui.widgets.reading_view import ReadingView, plain_line
from console_tui.ui.widgets.terminal import TerminalView


class TerminalApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(key_style="xterm", scrollback_lines=500)
        yield ReadingView()


FRAGMENTS = [
    b"\x1b[",
    b"\x1b]0;title",
    b"\x1b[38;2;255;0",
    b"\x1bP",
    b"\x1b[?1049h",
    b"\x1b[?1049l",
    b"\x1b[999;999H",
    b"\x1b[J",
    b"\x1b[1;31m",
    b"\xe2\x94",
    b"\xf0\x9f\x98",
    "漢字".encode(),
    b"\r\n",
    b"\x08\x08",
    b"\x1b[5;1r",
    b"\x1b[L",
    b"\x1bc",
    b"\x1b[?25l",
]


async def test_random_bytes_and_truncated_escapes_never_crash() -> None:
    """A bounded fuzz run: 400 chunks of random bytes and cut-off escapes, then still drawing."""
    rng = random.Random(3)
    app = TerminalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(TerminalView)
        reading = app.query_one(ReadingView)
        for _ in range(400):
            if rng.random() < 0.5:
                chunk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
            else:
                chunk = b"".join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 6)))
            view.feed(chunk)
            reading.feed(chunk)
        await pilot.pause()
        view.sync_now()
        for y in range(view.size.height):
            view.render_line(y)
        await pilot.resize_terminal(60, 20)
        await pilot.pause()
        # End any string the fuzz left open (BEL, ST, CAN), reset, and draw again.
        view.feed(b"\x07\x1b\\\x18\x1bc\x1b[0mstill alive\r\n")
        view.sync_now()
        assert "still alive" in view.screen_text()


async def test_only_changed_rows_are_redrawn() -> None:
    app = TerminalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(TerminalView)
        view.feed(b"first line\r\nsecond line")
        view.sync_now()
        await pilot.pause()
        rows = view.grid.screen
        view.feed(b"!")
        view.sync_now()
        changed = [y for y, row in enumerate(view.grid.screen) if row is not rows[y]]
        assert changed == [1]


def test_strip_cache_is_bounded_and_keeps_the_rows_drawn_last() -> None:
    """The strips of drawn rows are a bounded LRU: past the bound the least recently drawn row goes,
    and a row drawn again just before stays. A cached row comes back as the same strip."""
    painter = RowPainter(limit=3)
    rows = [ScreenRow(((f"row {n}", CellStyle()),)) for n in range(4)]
    drawn = [painter.strip(row) for row in rows[:3]]
    assert painter.strip(rows[0]) is drawn[0]  # row 0 is now the most recently drawn
    painter.strip(rows[3])  # one past the bound: row 1, drawn least recently, goes
    assert len(painter.strips) == 3
    assert painter.strip(rows[0]) is drawn[0]
    assert painter.strip(rows[2]) is drawn[2]
    assert painter.strip(rows[1]) is not drawn[1]  # drawn again, so row 3 goes now
    assert len(painter.strips) == 3
    assert [row for row, _ in painter.strips.values()] == [rows[0], rows[2], rows[1]]


async def with_200_lines(app: TerminalApp, pilot: Pilot[None]) -> TerminalView:
    """The app's terminal view after 200 numbered lines, most of them in the scrollback."""
    view = app.query_one(TerminalView)
    view.feed(b"".join(f"line {n}\r\n".encode() for n in range(200)))
    view.sync_now()
    await pilot.pause()
    return view


async def test_scrollback_and_search() -> None:
    app = TerminalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await with_200_lines(app, pilot)
        assert view.search("line 42")
        assert view.in_scrollback
        assert view.scroll_offset.y <= 42 < view.scroll_offset.y + view.size.height
        view.focus()
        pages = 0
        while view.in_scrollback and pages < 40:
            await pilot.press("shift+pagedown")
            pages += 1
        assert not view.in_scrollback
        assert pages > 1


async def test_mouse_wheel_scrolls_the_scrollback() -> None:
    """The wheel enters the scrollback three lines at a time (the view holds still while output
    goes on) and leaves it at the bottom; the widget's own scrolling does not run as well."""
    app = TerminalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = await with_200_lines(app, pilot)
        bottom = len(view.screen_model.history())
        for _ in range(2):
            view.post_message(events.MouseScrollUp(view, 1, 1, 0, -1, 0, False, False, False))
        await pilot.pause()
        assert view.in_scrollback
        assert view.scroll_offset.y == bottom - 6
        for _ in range(2):
            view.post_message(events.MouseScrollDown(view, 1, 1, 0, 1, 0, False, False, False))
        await pilot.pause()
        assert not view.in_scrollback
        assert view.scroll_offset.y == 0


async def test_reading_view_only_appends() -> None:
    app = TerminalApp()
    async with app.run_test(size=(100, 30)) as pilot:
        reading = app.query_one(ReadingView)
        reading.feed(b"\x1b[1;32mgreen\x1b[0m text\r\nsecond")
        await pilot.pause()
        assert reading.lines == ["green text"]
        reading.feed(b" half\r\n\x1b[2J\x1b[Hthird\r\n")
        await pilot.pause()
        assert reading.lines == ["green text", "second half", "third"]


def test_plain_line() -> None:
    assert plain_line("progress 10%\rprogress 100%") == "progress 100%"
    assert plain_line("\x1b]0;title\x07\x1b[1mbold\x1b[0m") == "bold"


@pytest.mark.parametrize(
    ("key", "character", "style", "app_cursor", "expected"),
    [
        ("f8", None, "xterm", False, b"\x1b[19~"),
        ("f8", None, "vt100+", False, b"\x1b8"),
        ("up", None, "xterm", True, b"\x1bOA"),
        ("home", None, "vt220", False, b"\x1b[1~"),
        ("ctrl+c", None, "xterm", False, b"\x03"),
        ("ctrl+backslash", None, "xterm", False, b"\x1c"),
        ("escape", "\x1b", "xterm", False, b"\x1b"),
        ("enter", "\r", "xterm", False, b"\r"),
        ("backspace", None, "vt100+", False, b"\x08"),
        ("shift+tab", None, "xterm", False, b"\x1b[Z"),
        ("alt+x", "x", "xterm", False, b"\x1bx"),
        ("A", "A", "xterm", False, b"A"),
        ("question_mark", "?", "xterm", False, b"?"),
        ("eacute", "é", "xterm", False, "é".encode()),
        ("shift+up", None, "xterm", False, b"\x1b[A"),
    ],
)
def test_key_events_encode(
    key: str, character: str | None, style: str, app_cursor: bool, expected: bytes
) -> None:
    assert encode_key_event(key, character, style, app_cursor=app_cursor) == expected
