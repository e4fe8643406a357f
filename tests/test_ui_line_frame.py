"""Console and reading views frame their content lines themselves (ui/frames/line_frame.py): every line
they draw equals the line Textual's own styling pass draws, cell for cell and style for style, in
each state the frame can be in (focused or not, each bundled theme, ANSI colours kept, a
selection and the cursor on the line, a crop that cuts the border, the view scrolled back), and
a view whose styles change its content (tinted) is drawn by Textual's pass as before."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual._styles_cache import StylesCache
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget

from console_tui.ui.frames.line_frame import FramedLines
from console_tui.ui.themes import BUNDLED_THEMES, load_themes
from console_tui.ui.widgets._strips import Selection
from console_tui.ui.widgets.reading_view import ReadingView
from console_tui.ui.widgets.terminal import TerminalView

COLOURED = b"".join(
    b"\x1b[%d;%dm row %02d \x1b[1mbold\x1b[0m \x1b[38;2;10;200;30mrgb\x1b[0m \x1b[2mdim\x1b[0m\r\n"
    % (30 + i % 8, 40 + (i + 3) % 8, i)
    for i in range(30)
)


class Views(App[None]):
    CSS = "TerminalView { height: 14; } ReadingView { height: 8; }"

    def compose(self) -> ComposeResult:
        yield TerminalView(columns=60, rows=12)
        yield ReadingView()


@pytest.fixture
def styled_lines(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The lines that go through Textual's styling pass, by row."""
    lines: list[int] = []
    render_line = StylesCache.render_line

    def counted(self: StylesCache, styles: object, y: int, *args: object) -> Strip:
        lines.append(y)
        return render_line(self, styles, y, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(StylesCache, "render_line", counted)
    yield lines


def cells(strips: list[Strip]) -> list[list[tuple[str, object]]]:
    """Each line as (text, style) per cell, so two ways of cutting segments compare equal."""
    return [[(char, style) for text, style, _ in strip for char in text] for strip in strips]


def assert_same(widget: Widget, styled_lines: list[int]) -> None:
    assert isinstance(widget._styles_cache, FramedLines)
    width, height = widget.region.size
    crops = [Region(0, 0, width, height), Region(0, 2, width, 3), Region(1, 0, width - 3, height)]
    for crop in crops:
        widget._styles_cache.clear()
        styled_lines.clear()
        ours = widget._styles_cache.render_widget(widget, crop)
        # one framed blank line, and the border rows in the crop
        assert len(styled_lines) == 1 + len({0, height - 1} & set(crop.line_range)), crop
        theirs = StylesCache().render_widget(widget, crop)
        assert [s.cell_length for s in ours] == [s.cell_length for s in theirs], crop
        assert cells(ours) == cells(theirs), crop


@pytest.mark.parametrize("theme", ["console-dark", "console-light", "high-contrast"])
async def test_framed_lines_equal_textuals(theme: str, styled_lines: list[int]) -> None:
    app = Views()
    async with app.run_test(size=(70, 24)) as pilot:
        for loaded in load_themes([BUNDLED_THEMES])[0]:
            app.register_theme(loaded)
        app.theme = theme
        view = app.query_one(TerminalView)
        reading = app.query_one(ReadingView)
        view.feed(COLOURED)
        reading.feed(COLOURED)
        reading.sync_now()
        await pilot.pause()
        assert view.screen_text().count("row") == 11  # the last rows of the coloured lines
        assert "row 29" in "\n".join(reading.shown_text())
        assert_same(view, styled_lines)
        assert_same(reading, styled_lines)
        view.focus()  # the border's colour changes, the cursor is drawn
        await pilot.pause()
        assert_same(view, styled_lines)
        view._selection = Selection((3, 2), (20, 4))
        assert_same(view, styled_lines)
        view.hold()  # the scrollback above the screen
        await pilot.pause()
        assert_same(view, styled_lines)
        app.ansi_color = True  # the ANSI colours go to the terminal as they are: no filter
        await pilot.pause()
        assert_same(view, styled_lines)


async def test_a_view_textual_must_draw_goes_through_textual(styled_lines: list[int]) -> None:
    app = Views()
    async with app.run_test(size=(70, 24)) as pilot:
        view = app.query_one(TerminalView)
        view.feed(COLOURED)
        view.styles.tint = "red 40%"
        await pilot.pause()
        crop = Region(0, 0, *view.region.size)
        view._styles_cache.clear()
        styled_lines.clear()
        ours = view._styles_cache.render_widget(view, crop)
        assert styled_lines == list(range(view.region.height))  # every line, as Textual does
        assert cells(ours) == cells(StylesCache().render_widget(view, crop))
