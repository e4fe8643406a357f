"""The console view as an operator moves in it: scrollback pages, search, every column kept."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.pilot import Pilot
from textual.strip import Strip

from console_tui.ui.widgets.terminal import TerminalView

CONSOLE = (83, 26)
"""An app size whose console (inside the view's border and scrollbar) is 80 columns by 24 rows."""


class ConsoleViewApp(App[None]):
    def compose(self) -> ComposeResult:
        yield TerminalView(key_style="xterm", scrollback_lines=1000)


def seq(first: int, last: int) -> bytes:
    """What `seq FIRST LAST` prints."""
    return b"".join(f"{n}\r\n".encode() for n in range(first, last + 1))


def shown(view: TerminalView) -> list[str]:
    """The console lines the view shows now, top to bottom, trailing blanks trimmed."""
    return [view.render_line(y).text.rstrip() for y in range(view.scrollable_content_region.height)]


async def after_output(pilot: Pilot[None], data: bytes) -> TerminalView:
    """The focused console view once `data` arrived and was drawn."""
    view = pilot.app.query_one(TerminalView)
    view.focus()
    await pilot.pause()
    assert view.screen_model.size == (80, 24), "the view keeps the console's width"
    view.feed(data)
    view.sync_now()
    await pilot.pause()
    return view


async def test_the_first_page_up_shows_the_page_above_the_screen() -> None:
    """After `seq 1 300`, Shift+PgUp shows the lines just above the screen (one line kept for
    context), not the oldest line kept; Shift+PgDn goes back to the live screen."""
    app = ConsoleViewApp()
    async with app.run_test(size=CONSOLE) as pilot:
        view = await after_output(pilot, seq(1, 300) + b"demo:~# ")
        live = shown(view)
        assert live[0] == "278" and live[-1] == "demo:~#"
        await pilot.press("shift+pageup")
        assert view.in_scrollback
        assert shown(view) == [str(n) for n in range(255, 279)]
        await pilot.press("shift+pageup")
        assert shown(view) == [str(n) for n in range(232, 256)]
        await pilot.press("shift+pagedown", "shift+pagedown")
        assert not view.in_scrollback
        assert shown(view) == live


def highlighted(strip: Strip) -> str:
    """The text of the strip drawn as a search match (reversed and underlined)."""
    return "".join(
        segment.text
        for segment in strip
        if segment.style is not None and segment.style.reverse and segment.style.underline
    )


async def test_the_first_search_shows_the_match_highlighted() -> None:
    """The first F7 search for a line in the scrollback scrolls it into view, highlighted;
    the next search for the same text goes further up."""
    app = ConsoleViewApp()
    async with app.run_test(size=CONSOLE) as pilot:
        view = await after_output(pilot, b"".join(f"row {n}\r\n".encode() for n in range(300)))
        for wanted in (150, 15):
            assert view.search(f"row {wanted}")
            await pilot.pause()
            lines = shown(view)
            assert f"row {wanted}" in lines, lines
            y = lines.index(f"row {wanted}")
            assert highlighted(view.render_line(y)) == f"row {wanted}"
        assert view.search("row 1")  # upwards from row 15: row 14 ... row 10, then row 1
        assert "row 14" in shown(view)


async def test_scrollback_keeps_every_column_of_a_full_width_line() -> None:
    """In the scrollback the scrollbar does not cover the console's last column: a line as wide as
    the console shows to its last character, and so does the live screen."""
    app = ConsoleViewApp()
    async with app.run_test(size=CONSOLE) as pilot:
        view = await after_output(pilot, b"")
        columns = view.screen_model.size[0]
        wide = "".join(str(n % 10) for n in range(1, columns)) + "Z"
        view.feed(wide.encode() + b"\r\n" + seq(1, 40))
        view.sync_now()
        await pilot.pause()
        await pilot.press("shift+pageup", "shift+pageup")
        assert view.in_scrollback
        assert view.show_vertical_scrollbar
        assert wide in shown(view)
        assert view.scrollable_content_region.width == columns
        await pilot.press("shift+pagedown", "shift+pagedown", "shift+pagedown")
        assert not view.in_scrollback
        view.feed(wide.encode())
        view.sync_now()
        assert wide in shown(view)
