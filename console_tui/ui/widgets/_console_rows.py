"""What the terminal view shows, as numbered rows: the console's screen (with its scrollback while
the operator looks back), or its output as whole lines wrapped to the view (the reading
presentation, for screen readers). The view draws, scrolls, searches and selects over rows and
does not care which it is.
"""

from __future__ import annotations

from rich.cells import cell_len

from console_tui.core.screen import CellStyle, Screen, ScreenRow
from console_tui.ui.widgets._reading_text import ReadingText, wrap


class GridRows:
    """The console's screen model as rows; the scrollback is above the screen while it is shown
    (it is fetched only then: the live view needs only the screen)."""

    def __init__(self, model: Screen) -> None:
        self.model = model
        self.screen: tuple[ScreenRow, ...] = model.rows()
        self.console_cursor: tuple[int, int] | None = model.cursor
        self.history: list[ScreenRow] | None = None

    @property
    def top(self) -> int:
        """The row of the screen's first line (below the scrollback when it is shown)."""
        return len(self.history) if self.history is not None else 0

    @property
    def count(self) -> int:
        return self.top + len(self.screen)

    def row(self, index: int) -> ScreenRow | None:
        history = self.history
        if history is not None:
            if 0 <= index < len(history):
                return history[index]
            index -= len(history)
        return self.screen[index] if 0 <= index < len(self.screen) else None

    def continues(self, index: int) -> bool:
        """Whether the row goes on from the one before (a wrapped line); the grid cannot tell."""
        return False

    @property
    def cursor(self) -> tuple[int, int] | None:
        cursor = self.console_cursor
        return (cursor[0], self.top + cursor[1]) if cursor is not None else None

    def live_top(self, height: int) -> int:
        return self.top

    def show_history(self, shown: bool) -> None:
        """Fetch the scrollback to show (and from then on, what scrolls off), or drop it."""
        if shown:
            self.model.skip_scrolled()
        self.history = self.model.history() if shown else None

    def sync(self) -> set[int] | None:
        """Take the model's new picture: the rows that changed, or None when all may have.

        What scrolled off is read only while the scrollback is shown: turning those rows into
        text costs more than the emulation, and the live view does not need them."""
        model = self.model
        rows = model.rows()
        scrolled = self.history is not None and model.scrolled_off()
        old_rows, old_cursor = self.screen, self.console_cursor
        self.screen, self.console_cursor = rows, model.cursor
        if len(rows) != len(old_rows) or (scrolled and self.history is not None):
            if self.history is not None:
                self.history = model.history()
            return None
        top = self.top
        changed = {top + y for y, row in enumerate(rows) if row is not old_rows[y]}
        for cursor in (old_cursor, self.console_cursor):
            if old_cursor != self.console_cursor and cursor is not None:
                changed.add(top + cursor[1])
        return changed


class ReadingRows:
    """The console's output as whole lines wrapped at spaces to the view's width, the line being
    written (the prompt) last, with the cursor on it. Complete lines never change, so only new
    rows are drawn. `paged`: new rows start a fresh page instead of scrolling the old ones up,
    so nothing already written is written again (what a reader that speaks new text needs)."""

    def __init__(self, text: ReadingText, *, paged: bool) -> None:
        self.text = text
        self.paged = paged
        self.width = 80
        self.page = 0
        """The first row of the page shown while following the output (`paged`)."""
        self._height = 0
        self._done: list[ScreenRow] = []
        self._done_continues: list[bool] = []
        self._per_line: list[int] = []
        self._wrapped = text.dropped
        """Complete lines wrapped so far, counted from the first line ever (dropped included)."""
        self._current: list[ScreenRow] = []
        self._current_text = ""
        self._current_spans: list[tuple[int, int]] = [(0, 0)]
        self._current_key: tuple[str, int] | None = None

    def set_width(self, width: int) -> None:
        """Wrap at `width` from now on: every line again."""
        if width != self.width:
            self.width = max(width, 1)
            self._rewrap()

    def _rewrap(self) -> None:
        self._done, self._done_continues, self._per_line = [], [], []
        self._wrapped = self.text.dropped
        self._current_key = None

    @property
    def count(self) -> int:
        return len(self._done) + len(self._current)

    def row(self, index: int) -> ScreenRow | None:
        done = self._done
        if 0 <= index < len(done):
            return done[index]
        index -= len(done)
        return self._current[index] if 0 <= index < len(self._current) else None

    def continues(self, index: int) -> bool:
        """Whether the row goes on from the one before (the same line, wrapped)."""
        done = len(self._done)
        if index < done:
            return index >= 0 and self._done_continues[index]
        return 0 < index - done < len(self._current)

    @property
    def cursor(self) -> tuple[int, int] | None:
        column, spans = self.text.column, self._current_spans
        for number, (start, end) in enumerate(spans):
            if start <= column < end or number == len(spans) - 1:
                x = cell_len(self._current_text[start:column])
                return min(x, self.width - 1), len(self._done) + number
        return None

    def live_top(self, height: int) -> int:
        count = self.count
        if not self.paged:
            return max(0, count - height)
        if height != self._height:  # a new size: the last page's worth of rows, from the top
            self._height = height
            self.page = max(0, count - height)
        elif count <= self.page:
            self.page = max(0, count - height)
        elif count > self.page + height:
            self.page = max(self.page + height, count - height)
        return self.page

    def sync(self) -> set[int] | None:
        """Wrap what is new: the rows that changed, or None when all may have (lines dropped at
        the start move every row)."""
        text = self.text
        moved = text.dropped > self._wrapped
        if moved:
            self._drop(text.dropped - self._wrapped)
        first = len(self._done)
        old_count = self.count
        width = self.width
        for line in text.lines[self._wrapped - text.dropped :]:
            spans = wrap(line, width)
            self._done.extend(_plain_row(line[start:end]) for start, end in spans)
            self._done_continues.extend(number > 0 for number in range(len(spans)))
            self._per_line.append(len(spans))
        self._wrapped = text.dropped + len(text.lines)
        key = (text.current, text.column)
        if key != self._current_key or len(self._done) != first:
            self._current_key = key
            current = text.current.ljust(text.column)
            self._current_text = current
            self._current_spans = wrap(current, width)
            self._current = [_plain_row(current[start:end]) for start, end in self._current_spans]
        return None if moved else set(range(first, max(old_count, self.count)))

    def _drop(self, lines: int) -> None:
        """Forget the rows of lines dropped from the start of the text."""
        if lines >= len(self._per_line):
            self._rewrap()
            self.page = 0
            return
        rows = sum(self._per_line[:lines])
        del self._done[:rows], self._done_continues[:rows], self._per_line[:lines]
        self._wrapped += lines
        self.page = max(0, self.page - rows)


PLAIN = CellStyle()


def _plain_row(text: str) -> ScreenRow:
    return ScreenRow(((text, PLAIN),))
