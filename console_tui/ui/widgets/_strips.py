"""Rows of a screen model drawn as Rich strips for the terminal view: styles cached per cell
style, strips cached per row object as a bounded LRU (the screen model hands back the same row
object while a row is unchanged), and selection or search highlights laid over a strip."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from rich.cells import cell_len
from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip

from console_tui.core.screen import CellStyle, Color, ScreenRow

STRIP_CACHE_LIMIT = 4096
"""Rows kept drawn as strips; past this many, the least recently drawn row goes."""


def rich_color(color: Color) -> RichColor | None:
    """A screen-model colour as a Rich colour (palette colours follow the theme's ANSI palette)."""
    if color is None:
        return None
    if isinstance(color, tuple):
        return RichColor.from_rgb(*color)
    return RichColor.from_ansi(color)


class RowPainter:
    """Draws screen rows as strips, remembering the last `limit` it drew."""

    def __init__(self, limit: int = STRIP_CACHE_LIMIT) -> None:
        self.limit = limit
        self.strips: OrderedDict[int, tuple[ScreenRow, Strip]] = OrderedDict()
        self._styles: dict[CellStyle, Style] = {}
        self.base = Style()
        """The theme's colours, for cells in the console's default colours: without them those
        cells show the operator's terminal default (grey, or white) instead of the theme."""

    def set_base(self, base: Style) -> None:
        if base != self.base:
            self.base = base
            self.clear()

    def clear(self) -> None:
        """Forget every style and strip (the theme changed)."""
        self._styles.clear()
        self.strips.clear()

    def style(self, cell: CellStyle) -> Style:
        style = self._styles.get(cell)
        if style is None:
            style = Style(
                color=rich_color(cell.fg) or self.base.color,
                bgcolor=rich_color(cell.bg) or self.base.bgcolor,
                bold=cell.bold or None,
                dim=cell.faint or None,
                italic=cell.italic or None,
                underline=cell.underline or None,
                strike=cell.strike or None,
                reverse=cell.reverse or None,
            )
            self._styles[cell] = style
        return style

    def strip(self, row: ScreenRow) -> Strip:
        """The row drawn as a strip, cached by the row's identity (least recently used goes)."""
        strips = self.strips
        cached = strips.get(id(row))
        if cached is not None and cached[0] is row:
            strips.move_to_end(id(row))
            return cached[1]
        segments = [
            Segment(" " * cell_len(text) if cell.conceal else text, self.style(cell))
            for text, cell in row.runs
        ]
        strip = Strip(segments)
        strips[id(row)] = (row, strip)
        if len(strips) > self.limit:
            strips.popitem(last=False)
        return strip


@dataclass(frozen=True)
class Selection:
    """A stream selection from `start` to `end` in content coordinates (x, line), inclusive."""

    start: tuple[int, int]
    end: tuple[int, int]

    def ordered(self) -> tuple[tuple[int, int], tuple[int, int]]:
        a, b = (self.start[1], self.start[0]), (self.end[1], self.end[0])
        (y1, x1), (y2, x2) = sorted((a, b))
        return (x1, y1), (x2, y2)

    def columns(self, line: int, width: int) -> tuple[int, int] | None:
        """The selected columns [from, to) of `line`, if any."""
        (x1, y1), (x2, y2) = self.ordered()
        if not y1 <= line <= y2:
            return None
        start = x1 if line == y1 else 0
        end = x2 + 1 if line == y2 else width
        return (start, end) if end > start else None


def restyle(strip: Strip, start: int, end: int, style: Style) -> Strip:
    """The strip with `style` laid over cells [start, end)."""
    length = strip.cell_length
    if start >= length:
        strip = strip.extend_cell_length(end)
        length = strip.cell_length
    start, end = max(0, start), min(end, length)
    if end <= start:
        return strip
    before, middle, after = strip.divide([start, end, length])
    middle = Strip(
        [
            Segment(text, (seg_style or Style()) + style, control)
            for text, seg_style, control in middle
        ]
    )
    return Strip.join([before, middle, after])
