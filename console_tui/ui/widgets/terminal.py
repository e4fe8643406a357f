"""The terminal widget: a Line-API view of a console's screen model.

It does not care where bytes come from: `feed(bytes)` draws them, and what the operator types comes
out as `TerminalView.Typed` messages. Rows are cached as strips by identity (the screen model hands
back the same row object while a row is unchanged), only changed rows are marked dirty, and the
picture is rebuilt at most once per refresh tick.
"""

from __future__ import annotations

from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.timer import Timer

from console_tui.core import keys
from console_tui.core.screen import Screen, ScreenRow, make_screen
from console_tui.ui.widgets._strips import RowPainter, Selection, restyle

FRAME_SECONDS = 1 / 60
"""At most one redraw per refresh tick, however fast bytes arrive."""


class TerminalView(ScrollView, can_focus=True):
    """A live console screen. Every key goes to the console except Ctrl+F6 and the palette key."""

    ALLOW_SELECT = False
    places_cursor = True
    """It puts the terminal's real cursor on the console cursor itself."""
    # The scrollbar's column is kept free (scrollbar-gutter: stable) and the console is sized to
    # what is left, so the scrollbar never covers the console's last column in the scrollback.
    DEFAULT_CSS = """
    TerminalView {
        background: $background;
        color: $foreground;
        overflow-x: hidden;
        scrollbar-size-vertical: 1;
        scrollbar-gutter: stable;
        border: tall $panel;
        &:focus { border: tall $primary; }
    }
    """
    BINDINGS = [
        Binding("ctrl+f6", "leave", "Leave console", priority=True, id="terminal.leave"),
        Binding(
            "shift+pageup",
            "history_page(-1)",
            "Scroll back",
            priority=True,
            id="terminal.scroll_back",
        ),
        Binding(
            "shift+pagedown",
            "history_page(1)",
            "Scroll forward",
            priority=True,
            id="terminal.scroll_forward",
        ),
    ]

    class Typed(Message):
        """Bytes the operator typed, for the console."""

        def __init__(self, view: TerminalView, data: bytes) -> None:
            super().__init__()
            self.view = view
            self.data = data

    class Pasted(Message):
        """Text the operator pasted; the owner decides (ask, bracket, pace)."""

        def __init__(self, view: TerminalView, text: str) -> None:
            super().__init__()
            self.view = view
            self.text = text

    class Resized(Message):
        """The view's size in cells changed."""

        def __init__(self, view: TerminalView, columns: int, rows: int) -> None:
            super().__init__()
            self.view = view
            self.columns = columns
            self.rows = rows

    class SacPrompt(Message):
        """The Windows SAC> prompt appeared (up) or went away."""

        def __init__(self, view: TerminalView, up: bool) -> None:
            super().__init__()
            self.view = view
            self.up = up

    class Left(Message):
        """The operator pressed Ctrl+F6 to leave the console."""

        def __init__(self, view: TerminalView) -> None:
            super().__init__()
            self.view = view

    def __init__(
        self,
        *,
        key_style: str = "xterm",
        scrollback_lines: int = 10000,
        watch_sac: bool = False,
        draw_cursor: bool = True,
        columns: int = 80,
        rows: int = 24,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.key_style = key_style
        self.watch_sac = watch_sac
        self.draw_cursor = draw_cursor
        """Draw the console cursor as a reversed cell; off where the real cursor is shown (in
        screen-reader mode), so a typed key writes only the key."""
        self.screen_model: Screen = make_screen(columns, rows, scrollback_lines=scrollback_lines)
        self.sac_prompt = False
        self.bytes_fed = 0
        self._rows: tuple[ScreenRow, ...] = self.screen_model.rows()
        self._cursor: tuple[int, int] | None = self.screen_model.cursor
        self._history: list[ScreenRow] | None = None
        self.painter = RowPainter()
        self._timer: Timer | None = None
        self._selection: Selection | None = None
        self._selecting = False
        self._highlight: tuple[int, int, int] | None = None
        self._reading_lines: list[str] = []
        self.virtual_size = Size(columns, rows)

    # -- bytes in ---------------------------------------------------------------------------

    def feed(self, data: bytes) -> None:
        """Draw console bytes; the picture follows at the next refresh tick."""
        self.screen_model.feed(data)
        self.bytes_fed += len(data)
        if self._timer is None:
            self._timer = self.set_timer(FRAME_SECONDS, self._sync, name="terminal frame")

    def reset(self, data: bytes) -> None:
        """Start over from a snapshot (on attach, or after this viewer fell behind)."""
        self.screen_model.feed(b"\x1bc" + data)
        self._sync()

    def sync_now(self) -> None:
        """Bring the picture up to date at once (tests and screenshots)."""
        self._sync()

    def take_scrolled_off(self) -> list[str]:
        """Plain lines that left the screen since last asked (for the reading view)."""
        lines, self._reading_lines = self._reading_lines, []
        return lines

    def _sync(self) -> None:
        self._timer = None
        model = self.screen_model
        rows = model.rows()
        scrolled = model.scrolled_off()
        if scrolled:
            self._reading_lines.extend(scrolled)
            if len(self._reading_lines) > 4 * len(rows) + 1000:
                del self._reading_lines[: -len(rows)]
        old_rows, old_cursor = self._rows, self._cursor
        self._rows, self._cursor = rows, model.cursor
        top = self._top
        if len(rows) != len(old_rows) or (scrolled and self._history is not None):
            if self._history is not None:
                self._history = model.history()
            self._update_virtual_size()
            self.refresh()
        else:
            for y, row in enumerate(rows):
                if row is not old_rows[y]:
                    self.refresh_line(top + y)
            if old_cursor != self._cursor:
                for cursor in (old_cursor, self._cursor):
                    if cursor is not None:
                        self.refresh_line(top + cursor[1])
        if self.watch_sac:
            self._check_sac_prompt()
        self._place_cursor()

    @property
    def _top(self) -> int:
        """The content line of the screen's first row (below the scrollback when it is shown)."""
        return len(self._history) if self._history is not None else 0

    def _update_virtual_size(self) -> None:
        columns, rows = self.screen_model.size
        self.virtual_size = Size(columns, self._top + rows)

    # -- what the console shows -------------------------------------------------------------

    def screen_text(self) -> str:
        """The visible console screen as plain text, trailing blanks trimmed."""
        self.sync_now()
        return "\n".join(row.text.rstrip() for row in self._rows)

    def all_text(self) -> str:
        """Scrollback and screen as plain text."""
        self.sync_now()
        history = self.screen_model.history()
        return "\n".join(row.text.rstrip() for row in (*history, *self._rows))

    def reading_lines(self) -> tuple[list[str], str]:
        """Scrollback and screen as lines up to the cursor's row, and that row up to the cursor."""
        self.sync_now()
        history = self.screen_model.history()
        rows = self._rows[: self._cursor[1]] if self._cursor is not None else self._rows
        return [row.text.rstrip() for row in (*history, *rows)], self.cursor_row_text

    @property
    def cursor_row_text(self) -> str:
        if self._cursor is None:
            return ""
        x, y = self._cursor
        return self._rows[y].text[:x] if y < len(self._rows) else ""

    def _check_sac_prompt(self) -> None:
        up = keys.at_sac_prompt(self.cursor_row_text)
        if up != self.sac_prompt:
            self.sac_prompt = up
            self.post_message(self.SacPrompt(self, up))

    # -- drawing ----------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self.painter.clear()

    def _line(self, index: int) -> ScreenRow | None:
        history = self._history
        if history is not None:
            if index < len(history):
                return history[index]
            index -= len(history)
        return self._rows[index] if 0 <= index < len(self._rows) else None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        row = self._line(index)
        strip = self.painter.strip(row) if row is not None else Strip.blank(width, self.rich_style)
        if self._selection is not None:
            columns = self._selection.columns(index, strip.cell_length)
            if columns is not None:
                strip = restyle(strip, *columns, Style(reverse=True))
        if self._highlight is not None and self._highlight[0] == index:
            _, start, end = self._highlight
            strip = restyle(strip, start, end, Style(reverse=True, underline=True))
        cursor = self._cursor
        on_cursor = cursor is not None and index == self._top + cursor[1]
        if self.draw_cursor and on_cursor and self.has_focus:
            strip = restyle(strip, cursor[0], cursor[0] + 1, Style(reverse=True))
        return strip.crop_extend(scroll_x, scroll_x + width, self.rich_style)

    def _place_cursor(self) -> None:
        """Put the terminal's real cursor on the console cursor, for magnifiers and screen readers.

        It asks the screen who has focus: this view's own focus handler runs before Textual's
        marks the view focused (`has_focus`), and it is when the focus arrives that this matters.
        """
        if self._cursor is None or not self.is_mounted or self.screen.focused is not self:
            return
        x, y = self._cursor
        region = self.scrollable_content_region
        line = self._top + y - self.scroll_offset.y
        if 0 <= line < region.height:
            self.app.cursor_position = Offset(region.x + x, region.y + line)

    # -- size -------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        region = self.scrollable_content_region
        columns, rows = max(region.width, 2), max(region.height, 2)
        if (columns, rows) != self.screen_model.size:
            self.screen_model.resize(columns, rows)
            self._sync()
            self.post_message(self.Resized(self, columns, rows))

    def on_focus(self) -> None:
        self.refresh_cursor_line()
        self._place_cursor()

    def on_blur(self) -> None:
        self.refresh_cursor_line()

    def refresh_cursor_line(self) -> None:
        if self._cursor is not None:
            self.refresh_line(self._top + self._cursor[1])

    # -- scrollback -------------------------------------------------------------------------

    @property
    def in_scrollback(self) -> bool:
        return self._history is not None

    @property
    def allow_vertical_scroll(self) -> bool:
        """Always: the view moves itself between the scrollback and the live screen. Textual lets
        a view scroll only while its scrollbar is laid out, which happens a refresh after the
        scrollback appears (and goes), so the first page up or search would land at the top of
        the history, and leaving it would not come back down."""
        return True

    def enter_scrollback(self) -> None:
        """Show the scrollback above the screen, holding the view still while output goes on."""
        if self._history is None:
            self._history = self.screen_model.history()
            self._update_virtual_size()
            self.scroll_to(y=len(self._history), animate=False, immediate=True)
            self.refresh()

    def leave_scrollback(self) -> None:
        if self._history is not None:
            self._history = None
            self._highlight = None
            self._update_virtual_size()
            self.scroll_to(y=0, animate=False, immediate=True)
            self.refresh()
            self._place_cursor()

    def action_history_page(self, direction: int) -> None:
        self.enter_scrollback()
        page = max(1, self.scrollable_content_region.height - 1)
        target = self.scroll_offset.y + direction * page
        if direction > 0 and target >= self._top:
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
        if self._history is None:
            return
        target = self.scroll_offset.y + 3
        if target >= self._top:
            self.leave_scrollback()
        else:
            self.scroll_to(y=target, animate=False, immediate=True)

    def search(self, text: str) -> bool:
        """Find `text` in scrollback and screen, upwards from the view; scroll to and mark it."""
        if not text:
            return False
        self.enter_scrollback()
        lines = [row.text for row in (*(self._history or ()), *self._rows)]
        start = (self._highlight[0] - 1) if self._highlight else len(lines) - 1
        needle = text.lower()
        for index in range(start, -1, -1):
            found = lines[index].lower().find(needle)
            if found >= 0:
                self._highlight = (index, found, found + len(text))
                height = self.scrollable_content_region.height
                self.scroll_to(y=max(0, index - height // 2), animate=False, immediate=True)
                self.refresh()
                return True
        self._highlight = None
        self.refresh()
        return False

    # -- selection and copy -----------------------------------------------------------------

    def _content_point(self, event: events.MouseEvent) -> tuple[int, int]:
        offset = event.get_content_offset(self) or Offset(0, 0)
        return offset.x + self.scroll_offset.x, offset.y + self.scroll_offset.y

    def on_mouse_down(self, event: events.MouseDown) -> None:
        point = self._content_point(event)
        self._selection = Selection(point, point)
        self._selecting = True
        self.capture_mouse()
        self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._selecting and self._selection is not None:
            self._selection = Selection(self._selection.start, self._content_point(event))
            self.refresh()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._selecting:
            self._selecting = False
            self.release_mouse()
            if self._selection is not None and self._selection.start == self._selection.end:
                self._selection = None
                self.refresh()

    def selected_text(self) -> str:
        """The selected text, or the visible screen when nothing is selected."""
        if self._selection is None:
            return self.screen_text()
        (x1, y1), (x2, y2) = self._selection.ordered()
        lines = []
        for index in range(y1, y2 + 1):
            row = self._line(index)
            text = row.text if row is not None else ""
            start = x1 if index == y1 else 0
            end = x2 + 1 if index == y2 else len(text)
            lines.append(text[start:end].rstrip())
        return "\n".join(lines)

    def clear_selection(self) -> None:
        if self._selection is not None:
            self._selection = None
            self.refresh()

    # -- keys out ---------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        try:
            data = keys.encode_key_event(
                event.key,
                event.character,
                self.key_style,
                app_cursor=self.screen_model.app_cursor_keys,
            )
        except ValueError:
            data = None
        if data is None:
            return
        self.clear_selection()
        self.leave_scrollback()
        self.post_message(self.Typed(self, data))

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        if event.text:
            self.post_message(self.Pasted(self, event.text))

    def action_leave(self) -> None:
        self.post_message(self.Left(self))
