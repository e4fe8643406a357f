"""A Line-API view of numbered rows (the terminal view and the reading view share it): rows drawn
as cached strips, the view following the live rows or held still to look back (Shift+PgUp, the
mouse wheel, search), the real cursor placed on the rows' cursor for magnifiers and screen
readers.
"""

from __future__ import annotations

from typing import Protocol

from rich.style import Style
from textual import events
from textual.geometry import Offset, Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from console_tui.core.screen import ScreenRow
from console_tui.ui.frames import line_frame
from console_tui.ui.widgets._strips import RowPainter, restyle

FRAME_SECONDS = 1 / 60
"""At most one redraw per refresh tick, however fast bytes arrive."""
MATCH = Style(reverse=True, underline=True)


class Rows(Protocol):
    """What a rows view shows: numbered rows, a cursor, and where the live rows start."""

    @property
    def count(self) -> int: ...

    def row(self, index: int) -> ScreenRow | None: ...

    def continues(self, index: int) -> bool: ...

    @property
    def cursor(self) -> tuple[int, int] | None: ...

    def live_top(self, height: int) -> int: ...


class RowsView(ScrollView):
    """Draws `rows`; while `following`, keeps their live rows in view."""

    places_cursor = True
    """It puts the terminal's real cursor on its own cursor (see ui/cursor.py)."""

    def __init__(self, rows: Rows, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        line_frame.install(self)  # content lines framed without Textual's pass per line
        self.rows = rows
        self.painter = RowPainter()
        self.following = True
        self._live_top = 0
        self.highlight: tuple[int, int, int] | None = None
        """The search match shown: row, first and last cell (exclusive)."""
        self._frame_style: tuple[Style, int] | None = None
        """The view's own style and width, worked out once a frame rather than once a line."""

    @property
    def allow_vertical_scroll(self) -> bool:
        """Always: the view moves itself. Textual lets a view scroll only while its scrollbar is
        laid out, which happens a refresh after the rows grow (or shrink), so the first page up
        or search would land at the top, and going back would not come down again."""
        return True

    @property
    def page_height(self) -> int:
        return max(self.scrollable_content_region.height, 1)

    def on_focus(self) -> None:
        self.place_cursor()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._frame_style = None
        self.painter.clear()

    def frame_style(self) -> tuple[Style, int]:
        """The view's style (for blank cells) and its width in cells, for this frame."""
        if self._frame_style is None:
            self._frame_style = (self.rich_style, self.scrollable_content_region.width)
        return self._frame_style

    def render_lines(self, crop: Region) -> list[Strip]:
        self._frame_style = None  # worked out again once a frame, not once a line
        return super().render_lines(crop)

    def show_changes(self, changed: set[int] | None) -> None:
        """Draw what changed (rows by number, or None for everything), follow the live rows,
        and put the cursor back."""
        self._frame_style = None
        height = self.page_height
        if self.following:
            self._live_top = self.rows.live_top(height)
        self.update_virtual_size()
        if changed is None:
            self.refresh()
        else:
            top = self.scroll_offset.y
            shown = [index for index in changed if top <= index < top + height]
            if shown:  # one refresh over the rows that changed, not one call a row
                first = min(shown)
                self.refresh_rows(first, max(shown) - first + 1)
        if self.following and self.scroll_offset.y != self._live_top:
            self.scroll_to(y=self._live_top, animate=False, immediate=True)
        self.place_cursor()

    def refresh_rows(self, first: int, count: int) -> None:
        """Repaint rows across the whole view, border included: Textual writes a line it
        draws whole as it is, but cuts a copy of one repainted only inside its border."""
        gutter = self.styles.gutter
        self.refresh(
            Region(-gutter.left, first - self.scroll_offset.y, self.outer_size.width, count)
        )

    def update_virtual_size(self) -> None:
        """As tall as the rows, and while following, as the live page (which may reach past the
        last row, when a fresh page has begun)."""
        height = self.rows.count
        if self.following:
            height = max(height, self._live_top + self.page_height)
        self.virtual_size = Size(self.scrollable_content_region.width, height)

    def follow(self) -> None:
        """Follow the live rows again (and draw the view there)."""
        self.following = True
        self.show_changes(None)

    def shown_text(self) -> list[str]:
        """The rows the view shows now, top to bottom, trailing blanks trimmed."""
        top = self.scroll_offset.y
        return [
            row.text.rstrip() if (row := self.rows.row(index)) is not None else ""
            for index in range(top, top + self.page_height)
        ]

    def row_strip(self, index: int) -> Strip:
        """The row drawn as a strip (a view lays selections and cursors over it)."""
        row = self.rows.row(index)
        if row is not None:
            return self.painter.strip(row)
        style, width = self.frame_style()
        return Strip.blank(width, style)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        strip = self.decorate(scroll_y + y, self.row_strip(scroll_y + y))
        style, width = self.frame_style()
        if scroll_x or strip.cell_length != width:  # a console row is as wide as the view
            strip = strip.crop_extend(scroll_x, scroll_x + width, style)
        return strip

    def decorate(self, index: int, strip: Strip) -> Strip:
        """Lay what the view marks (a search match; a view may add more) over row `index`."""
        if self.highlight is not None and self.highlight[0] == index:
            _, start, end = self.highlight
            strip = restyle(strip, start, end, MATCH)
        return strip

    # -- looking back -----------------------------------------------------------------------

    @property
    def in_scrollback(self) -> bool:
        return not self.following

    def hold(self) -> None:
        """The view stops following: what it shows to look back over (a view may add rows)."""

    def release(self) -> None:
        """The view follows again: what it added to look back over goes."""

    def live_row(self) -> int:
        """Where the live rows start, while the view is held still."""
        return self._live_top

    def may_leave_scrollback(self) -> bool:
        """Whether paging or scrolling down past the live rows goes back to following them."""
        return True

    def enter_scrollback(self) -> None:
        """Hold the view still while output goes on, to look back."""
        if self.following:
            self.following = False
            self.hold()
            self.refresh()

    def leave_scrollback(self) -> None:
        if not self.following:
            self.highlight = None
            self.release()
            self.follow()

    def action_history_page(self, direction: int) -> None:
        self.enter_scrollback()
        target = self.scroll_offset.y + direction * max(1, self.page_height - 1)
        if direction > 0 and target >= self.live_row() and self.may_leave_scrollback():
            self.leave_scrollback()
            return
        self.scroll_to(y=max(0, target), animate=False, immediate=True)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        event.stop()
        event.prevent_default()
        self.enter_scrollback()
        self.scroll_to(y=max(0, self.scroll_offset.y - 3), animate=False, immediate=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        event.stop()
        event.prevent_default()
        if self.following:
            return
        target = self.scroll_offset.y + 3
        if target >= self.live_row() and self.may_leave_scrollback():
            self.leave_scrollback()
        else:
            self.scroll_to(y=target, animate=False, immediate=True)

    def show_row(self, index: int, *, middle: bool = False) -> None:
        """Scroll (looking back) so row `index` is in view: in the middle, or just."""
        self.enter_scrollback()
        top, height = self.scroll_offset.y, self.page_height
        if middle:
            self.scroll_to(y=max(0, index - height // 2), animate=False, immediate=True)
        elif not top <= index < top + height:
            target = index if index < top else index - height + 1
            self.scroll_to(y=max(0, target), animate=False, immediate=True)

    def search(self, text: str) -> bool:
        """Find `text` in the rows, upwards from the last match (or the end); scroll to it and
        mark it."""
        if not text:
            return False
        self.enter_scrollback()
        rows = self.rows
        start = (self.highlight[0] - 1) if self.highlight else rows.count - 1
        needle = text.lower()
        for index in range(start, -1, -1):
            row = rows.row(index)
            found = row.text.lower().find(needle) if row is not None else -1
            if found >= 0:
                self.highlight = (index, found, found + len(text))
                self.show_row(index, middle=True)
                self.refresh()
                return True
        self.highlight = None
        self.refresh()
        return False

    # -- the cursor -------------------------------------------------------------------------

    def cursor_cell(self) -> tuple[int, int] | None:
        """Where the real cursor belongs, as (cell, row): the rows' cursor."""
        return self.rows.cursor

    def place_cursor(self) -> None:
        """Put the terminal's real cursor on this view's cursor, for magnifiers and screen readers.

        It asks the screen who has focus: a view's own focus handler runs before Textual marks
        it focused (`has_focus`), and it is when the focus arrives that this matters.
        """
        cursor = self.cursor_cell()
        if cursor is None or not self.is_mounted or self.screen.focused is not self:
            return
        x, index = cursor
        region = self.scrollable_content_region
        line = index - self.scroll_offset.y
        if 0 <= line < region.height:
            self.app.cursor_position = Offset(region.x + min(x, region.width - 1), region.y + line)
