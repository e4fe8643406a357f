"""The terminal widget: a Line-API view of a console's screen model.

It does not care where bytes come from: `feed(bytes)` draws them, and what the operator types comes
out as `TerminalView.Typed` messages. Rows are cached as strips by identity (the screen model hands
back the same row object while a row is unchanged), only changed rows are marked dirty, and the
picture is rebuilt at once when output comes after a quiet spell (a key's echo), and at most once
per refresh tick while it floods.

It shows the console's screen (the grid, the scrollback above it on Shift+PgUp), or, in the reading
presentation (screen-reader mode), its output as whole lines wrapped to the view and paged, so a
reader hears each line once. Copy mode (Ctrl+F5) selects with the keyboard over either.

Past 400 lines: the view, its scrolling and its keys; drawing rows is _strips.py's, the reading text
_reading_text.py's and copy mode _copy_mode.py's.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Offset, Size
from textual.message import Message
from textual.strip import Strip
from textual.timer import Timer

from console_tui.core import keys
from console_tui.core.screen import Screen, make_screen
from console_tui.ui.frames import idle_gc, key_pending
from console_tui.ui.frames.draw_now import draw_now
from console_tui.ui.messages import Announce
from console_tui.ui.widgets import _copy_mode
from console_tui.ui.widgets._console_rows import GridRows, ReadingRows
from console_tui.ui.widgets._copy_mode import CopyMode, selected_text
from console_tui.ui.widgets._reading_text import ReadingText
from console_tui.ui.widgets._rows_view import FRAME_SECONDS, RowsView
from console_tui.ui.widgets._strips import Selection, restyle

FRAME_COST_SHARE = 6
"""The least time between frames while output floods, in multiples of the last frame's work."""
FRAME_GAP_MAX = 0.1
"""The most time between frames while output floods."""
ECHO_WINDOW = 0.25
ECHO_SETTLE = 0.003
"""For ECHO_WINDOW seconds after typed bytes are sent, output read after them is drawn as it
comes, flood or not, and waits for no frame gap: the key's echo is in one of them. While output
floods, the frame waits ECHO_SETTLE for the bytes right behind it (a flooding far end sends the
echo behind the piece it was sending), so one frame, not two, carries the echo; after a quiet
spell it is drawn at once. (A fixed count of such frames was spent on output read before the key,
and the echo then waited for the frame gap.)"""
KEY_WAIT = 0.003
ECHO_AWAIT = 0.012
"""While a key the terminal sent is on its way through Textual's message hops (`key_pending`), a
frame waits KEY_WAIT at a time, at most `key_pending.WAIT_MAX` after the key came; and for
ECHO_AWAIT after the key is sent, until output comes: a 15-20 ms frame drawn first made the key,
or the reading of its echo, wait for it."""
SELECTED = Style(reverse=True)
CURSOR = Style(reverse=True)


class TerminalView(RowsView, can_focus=True):
    """A live console. Every key goes to the console except Ctrl+F6, Ctrl+F5, Shift+PgUp/PgDn
    and the palette key."""

    ALLOW_SELECT = False
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
        Binding("ctrl+f5", "copy_mode", "Copy mode", priority=True, id="terminal.copy_mode"),
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
        reading: bool = False,
        columns: int = 80,
        rows: int = 24,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        self.screen_model: Screen = make_screen(columns, rows, scrollback_lines=scrollback_lines)
        self.scrollback_lines = scrollback_lines
        self.shared = False
        """Whether the model is a session's own (see `share_model`): it is fed, and sized, there."""
        self.grid = GridRows(self.screen_model)
        self.reading_text = ReadingText(max_lines=scrollback_lines)
        """The console's output as whole lines (what the reading presentation and view show);
        kept only while one of them is in use (see `keep_reading_text`)."""
        self._keeping = reading
        self.lines = ReadingRows(self.reading_text, paged=True)
        super().__init__(self.lines if reading else self.grid, id=id, classes=classes)
        self.key_style = key_style
        self.watch_sac = watch_sac
        self.draw_cursor = draw_cursor
        """Draw the console cursor as a reversed cell; off where the real cursor is shown (in
        screen-reader mode), so a typed key writes only the key."""
        self.sac_prompt = False
        self.bytes_fed = 0
        self._timer: Timer | None = None
        self._synced_at = 0.0
        self._frame_gap = FRAME_SECONDS
        self._echo_until = 0.0
        self._echo_skip = 0
        self._frame_due = 0.0
        self._echo_awaited_until = 0.0
        self.send: Callable[[bytes], None] | None = None
        """Where typed bytes go at once (the console pane's outbox); without it, a `Typed`
        message carries them (a message waits behind every other for its owner)."""
        self._selection: Selection | None = None
        self._selecting = False
        self.copy_mode: CopyMode | None = None
        self.virtual_size = Size(columns, rows)

    # -- bytes in ---------------------------------------------------------------------------

    def share_model(self, model: Screen) -> None:
        """Draw `model` (an in-process session's, already fed every byte) instead of feeding a
        model of our own the same bytes again; a remote viewer keeps its own."""
        self.screen_model = model
        self.grid.model = model
        self.shared = True
        self._sync()

    def own_model(self, snapshot: bytes) -> None:
        """Draw a model of our own again, started from `snapshot` (the session's screen is sized
        for another window, so it is not what this view shows)."""
        region = self.scrollable_content_region
        columns, rows = max(region.width, 2), max(region.height, 2)
        self.screen_model = make_screen(columns, rows, scrollback_lines=self.scrollback_lines)
        self.grid.model = self.screen_model
        self.shared = False
        self.screen_model.feed(snapshot)
        self._sync()

    def feed(self, data: bytes) -> None:
        """Draw console bytes: at once after a quiet refresh tick, else at the next tick."""
        if not self.shared:
            self.screen_model.feed(data)
        if self._keeping:
            self.reading_text.feed(data)
        self.bytes_fed += len(data)
        now = time.monotonic()
        wait = self._synced_at + self._frame_gap - now
        if self._echo_skip:  # read before the typed bytes went out: no echo in it
            self._echo_skip -= 1
        elif now < self._echo_until:  # it may hold a key's echo: no frame gap for it
            wait = min(wait, ECHO_SETTLE)
            self._echo_awaited_until = 0.0
        if wait <= 0:  # idle: draw at once
            if self._timer is not None:
                self._timer.stop()
            self._frame()
        elif self._timer is None or now + wait < self._frame_due:
            # busy: at most one frame a refresh tick, the bytes until then in it
            if self._timer is not None:
                self._timer.stop()
            self._frame_due = now + wait
            self._timer = self.set_timer(wait, self._frame, name="terminal frame")

    def reset(self, data: bytes) -> None:
        """Start over from a snapshot (on attach, or after this viewer fell behind); the reading
        text starts from the snapshot's lines when it has none yet. A shared model is already
        the session's picture: it is only drawn again."""
        if not self.shared:
            self.screen_model.feed(b"\x1bc" + data)
        if self._keeping and not self.reading_text.lines and not self.reading_text.current:
            self.reading_text.seed(*self.reading_lines())
        self._sync()

    def keep_reading_text(self, keep: bool) -> None:
        """Keep the reading text from now on (from the console's text so far), or stop: it costs
        a pass over every byte, which only the reading presentation and view need."""
        if keep and not self._keeping:
            self.reading_text.seed(*self.reading_lines())
        self._keeping = keep

    def sync_now(self) -> None:
        """Bring the picture up to date at once (tests and screenshots)."""
        self._sync()

    def _frame(self) -> None:
        """Bring the picture up to date and put it on the operator's terminal now.

        Frames are skipped while drawing cannot keep up: the next frame waits until this one's
        work is at most 1/FRAME_COST_SHARE of the time, so reading the console is not starved
        by drawing; but never longer than FRAME_GAP_MAX."""
        began = time.monotonic()
        if (
            key_pending.on_its_way(self.app, began)
            or began < self._echo_awaited_until  # its echo is, with nothing read since
        ):  # let it through first
            self._frame_due = began + KEY_WAIT
            self._timer = self.set_timer(KEY_WAIT, self._frame, name="terminal frame")
            return
        idle_gc.busy()
        self._sync()
        drawn = draw_now(self)
        cost = time.monotonic() - began
        if not drawn:  # Textual draws it later: about as much work again
            cost *= 2
        self._frame_gap = min(max(FRAME_SECONDS, FRAME_COST_SHARE * cost), FRAME_GAP_MAX)

    def _sync(self) -> None:
        self._timer = None
        self._synced_at = time.monotonic()
        changed = self.grid.sync()
        if self.rows is self.lines:
            changed = self.lines.sync()
        self.show_changes(changed)
        if self.watch_sac:
            self._check_sac_prompt()

    @property
    def reading(self) -> bool:
        """Whether the view shows the reading presentation (whole lines) instead of the grid."""
        return self.rows is self.lines

    def set_reading(self, reading: bool) -> None:
        """Show the console's output as whole lines (True) or its screen (False)."""
        self.copy_mode = None
        self._selection = None
        self.highlight = None
        self.grid.show_history(False)
        self.keep_reading_text(True)
        self.rows = self.lines if reading else self.grid
        self.lines.set_width(self.scrollable_content_region.width or self.lines.width)
        self.lines.sync()
        self.follow()

    # -- what the console shows -------------------------------------------------------------

    def screen_text(self) -> str:
        """The visible console screen as plain text, trailing blanks trimmed."""
        self.sync_now()
        return "\n".join(row.text.rstrip() for row in self.grid.screen)

    def all_text(self) -> str:
        """Scrollback and screen as plain text."""
        self.sync_now()
        history = self.screen_model.history()
        return "\n".join(row.text.rstrip() for row in (*history, *self.grid.screen))

    def reading_lines(self) -> tuple[list[str], str]:
        """Scrollback and screen as lines up to the cursor's row, and that row up to the cursor."""
        self.grid.sync()
        history = self.screen_model.history()
        screen, cursor = self.grid.screen, self.grid.console_cursor
        rows = screen[: cursor[1]] if cursor is not None else screen
        return [row.text.rstrip() for row in (*history, *rows)], self.cursor_row_text

    @property
    def cursor_row_text(self) -> str:
        cursor, screen = self.grid.console_cursor, self.grid.screen
        if cursor is None:
            return ""
        x, y = cursor
        return screen[y].text[:x] if y < len(screen) else ""

    def _check_sac_prompt(self) -> None:
        up = keys.at_sac_prompt(self.cursor_row_text)
        if up != self.sac_prompt:
            self.sac_prompt = up
            self.post_message(self.SacPrompt(self, up))

    # -- drawing ----------------------------------------------------------------------------

    def decorate(self, index: int, strip: Strip) -> Strip:
        selection = self.copy_mode.selection if self.copy_mode else self._selection
        if selection is not None:
            columns = selection.columns(index, strip.cell_length)
            if columns is not None:
                strip = restyle(strip, *columns, SELECTED)
        strip = super().decorate(index, strip)
        cursor = self.cursor_cell()
        if self.draw_cursor and cursor is not None and cursor[1] == index and self.has_focus:
            strip = restyle(strip, cursor[0], cursor[0] + 1, CURSOR)
        return strip

    def cursor_cell(self) -> tuple[int, int] | None:
        """The copy cursor in copy mode, else the console cursor."""
        if self.copy_mode is not None:
            return self.copy_mode.x, self.copy_mode.line
        return self.rows.cursor

    def refresh_cursor_line(self) -> None:
        cursor = self.cursor_cell()
        if cursor is not None:
            self.refresh_line(cursor[1])

    # -- size -------------------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        region = self.scrollable_content_region
        columns, rows = max(region.width, 2), max(region.height, 2)
        self.lines.set_width(columns)
        if (columns, rows) != self.screen_model.size:
            if not self.shared:  # a shared model is sized by the Hub, for the write lock's holder
                self.screen_model.resize(columns, rows)
            self.post_message(self.Resized(self, columns, rows))
        self._sync()

    def on_focus(self) -> None:
        self.refresh_cursor_line()
        self.place_cursor()

    def on_blur(self) -> None:
        self.refresh_cursor_line()

    # -- scrollback -------------------------------------------------------------------------

    def hold(self) -> None:
        """The grid shows its scrollback above the screen while the view is held."""
        if not self.reading:
            self.grid.show_history(True)
            self.update_virtual_size()
            self.scroll_to(y=self.grid.top, animate=False, immediate=True)

    def release(self) -> None:
        self.copy_mode = None
        self.grid.show_history(False)

    def live_row(self) -> int:
        return self.grid.top if not self.reading else self.lines.page

    def may_leave_scrollback(self) -> bool:
        return self.copy_mode is None

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
        return selected_text(self._selection, self.rows)

    def clear_selection(self) -> None:
        if self._selection is not None:
            self._selection = None
            self.refresh()

    def action_copy_mode(self) -> None:
        """Select with the keyboard: a cursor starts on the console cursor (or the bottom of the
        view in the scrollback) and moves over the screen and the scrollback."""
        if self.copy_mode is not None:
            return
        self.clear_selection()
        self.enter_scrollback()
        top, height = self.scroll_offset.y, self.page_height
        cursor = self.rows.cursor
        if cursor is None or not top <= cursor[1] < top + height:
            cursor = (0, min(top + height, self.rows.count) - 1)
        self.copy_mode = CopyMode(*cursor)
        self.post_message(Announce(f"copy mode: {_copy_mode.HELP}"))
        self.refresh()
        self.place_cursor()

    def leave_copy_mode(self, words: str = "left copy mode") -> None:
        if self.copy_mode is not None:
            self.copy_mode = None
            self.leave_scrollback()
            self.post_message(Announce(words))

    def _copy_key(self, key: str, character: str | None) -> None:
        """A key in copy mode: it moves, marks, copies or leaves; nothing goes to the console."""
        copy = self.copy_mode
        assert copy is not None
        name = character if character in ("g", "G", "0", "$", "q", "v", "y") else key
        if name in _copy_mode.LEAVE_KEYS:
            self.leave_copy_mode()
        elif name in _copy_mode.MARK_KEYS:
            marked = copy.toggle_mark()
            self.post_message(Announce("mark set: move to select" if marked else "mark cleared"))
            self.refresh()
        elif name in _copy_mode.COPY_KEYS:
            self._copy()
        else:
            line = copy.line
            if copy.move("dollar_sign" if name == "$" else name, self.rows, self.page_height):
                self.show_row(copy.line)
                self.refresh()
                if copy.line != line:
                    self.post_message(Announce(copy.row_text(self.rows) or "blank line"))
                self.place_cursor()

    def _copy(self) -> None:
        copy = self.copy_mode
        assert copy is not None
        selection = copy.selection or Selection((0, copy.line), (1 << 16, copy.line))
        text = selected_text(selection, self.rows)
        self.app.copy_to_clipboard(text)
        preview = text.replace("\n", " / ")  # one announcement line
        preview = preview if len(preview) <= 60 else preview[:57] + "..."
        self.leave_copy_mode(f"copied {len(text)} characters: {preview}")

    # -- keys out ---------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        event.stop()
        event.prevent_default()
        if self.copy_mode is not None:
            key_pending.handled(self.app)
            self._copy_key(event.key, event.character)
            return
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
            key_pending.handled(self.app)
            return
        self.clear_selection()
        self.leave_scrollback()
        idle_gc.busy()
        if self.send is not None:
            self.send(data)  # its owner calls `sent` once the bytes are on their way
        else:
            self.post_message(self.Typed(self, data))
            self.sent()

    def sent(self, read_before: int = 0) -> None:
        """Typed bytes went to the console: outputs from now on may hold their echo, but not the
        next `read_before` ones (read before the bytes went out, not drawn yet)."""
        key_pending.handled(self.app)  # frames waited for the key until it went out
        now = time.monotonic()
        self._echo_until = now + ECHO_WINDOW
        self._echo_awaited_until = now + ECHO_AWAIT
        self._echo_skip = read_before

    def on_paste(self, event: events.Paste) -> None:
        event.stop()
        event.prevent_default()
        if event.text and self.copy_mode is None:
            self.post_message(self.Pasted(self, event.text))

    def action_leave(self) -> None:
        self.leave_copy_mode()
        self.post_message(self.Left(self))
