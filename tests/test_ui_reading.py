"""Console output as whole lines: what a reader hears, in the reading view and in the console's
reading presentation (screen-reader mode)."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.pilot import Pilot

from console_tui.ui.widgets._console_rows import ReadingRows
from console_tui.ui.widgets._reading_text import ReadingText, wrap
from console_tui.ui.widgets.reading_view import ReadingView
from console_tui.ui.widgets.terminal import TerminalView

UNAME = (
    "Linux demo 6.1.0-57-cloud-amd64 #1 SMP PREEMPT_DYNAMIC Debian 6.1.192-3 (2026-11-26) "
    "x86_64 GNU/Linux"
)


def test_a_line_is_heard_as_it_ends_up() -> None:
    """Keys echoed and rubbed out, CR rewrites, erase to the end, colours and titles: the line is
    what the terminal ends up showing; an escape cut between two chunks is still understood."""
    text = ReadingText()
    for chunk in (
        b"demo:~# x\x08 \x08",  # a typed key rubbed out (BS SP BS)
        b"y\x08\x1b[J",  # and as busybox's shell does it (BS, erase below)
        b"ech",
        b"o hi\r\n",
        b"hi\r\n\x1b[1;3",  # SGR cut in two
        b"2mgreen\x1b[0m\r\n\x1b]0;a ti",  # a title cut in two
        b"tle\x07progress 10%\rprogress 100%\r\n",
        b"demo:~# abc\x08\x08\x1b[K",  # two keys rubbed out with erase-to-end
    ):
        text.feed(chunk)
    assert text.lines == ["demo:~# echo hi", "hi", "green", "progress 100%"]
    assert text.current == "demo:~# a"
    assert text.column == len("demo:~# a")


def test_long_lines_wrap_at_spaces() -> None:
    rows = [UNAME[start:end] for start, end in wrap(UNAME, 38)]
    assert "".join(rows) == UNAME
    assert all(len(row.rstrip()) <= 38 for row in rows)
    assert [row.split()[-1] for row in rows] == ["SMP", "6.1.192-3", "GNU/Linux"]
    assert wrap("x" * 25, 10) == [(0, 10), (10, 20), (20, 25)]  # a word wider than a row


class ReadingApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(reading=True, draw_cursor=False)
        yield ReadingView()


async def shown_after(pilot: Pilot[None], data: bytes) -> list[str]:
    view = pilot.app.query_one(TerminalView)
    view.feed(data)
    view.sync_now()
    await pilot.pause()
    return view.shown_text()


async def test_the_reading_presentation_shows_whole_lines_and_the_prompt() -> None:
    """`uname -a` wider than the console shows whole (wrapped at spaces, not cut at the edge),
    and the prompt after it shows with the cursor at its end."""
    app = ReadingApp()
    async with app.run_test(size=(42, 14)) as pilot:
        view = app.query_one(TerminalView)
        view.focus()
        shown = await shown_after(pilot, f"demo:~# uname -a\r\n{UNAME}\r\ndemo:~# ".encode())
        width = view.scrollable_content_region.width
        assert width < len(UNAME)
        text = [line for line in shown if line]
        assert text[0] == "demo:~# uname -a"
        assert " ".join(text[1:-1]) == UNAME
        assert text[-1] == "demo:~#"
        cursor = view.cursor_cell()
        assert cursor is not None
        assert cursor == (len("demo:~# "), view.scroll_offset.y + shown.index("demo:~#"))


def test_new_rows_start_a_page_and_old_rows_do_not_change() -> None:
    """Each console line is drawn once: when the page is full the next rows start a fresh page
    rather than moving every row up (which writes them all again); rows already drawn are never
    among the changed ones."""
    text = ReadingText()
    rows = ReadingRows(text, paged=True)
    rows.set_width(40)
    height = 10
    text.feed(b"".join(f"line {n}\r\n".encode() for n in range(height - 1)) + b"box$ ")
    assert rows.sync() == set(range(height))
    assert rows.live_top(height) == 0
    text.feed(b"ls\r\n")
    assert rows.sync() == {height - 1, height}  # the command line completed, a new prompt row
    text.feed(b"file\r\nbox$ ")
    changed = rows.sync()
    assert changed is not None and min(changed) >= height
    assert rows.live_top(height) == height  # a fresh page: the prompt row is not redrawn above
    page = [rows.row(index) for index in range(height, rows.count)]
    assert [row.text for row in page if row] == ["file", "box$ "]


async def test_the_reading_view_beside_the_console_keeps_long_lines_whole() -> None:
    app = ReadingApp()
    async with app.run_test(size=(42, 30)) as pilot:
        reading = app.query_one(ReadingView)
        reading.feed(f"{UNAME}\r\ndemo:~# ".encode())
        reading.sync_now()
        await pilot.pause()
        shown = [line for line in reading.shown_text() if line]
        assert " ".join(shown[:-1]) == UNAME
        assert shown[-1] == "demo:~#"
        assert reading.lines == [UNAME]
