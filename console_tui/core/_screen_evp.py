"""The screen model on evp, a binding to Ghostty's libghostty-vt.

The scrollback is kept as the compressed bytes that made it (core/_replay_log.py) and drawn again
when read, at a fraction of libghostty's memory. libghostty itself keeps no scrollback until
someone reads `scrolled_off` (a UI's reading view): then the model is restarted from its own
snapshot with a small scrollback to drain, and rows that scroll off are converted to text as
they go. A screen nobody reads (a line `serve` holds) costs little more than the emulation.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Sequence
from itertools import groupby

import evp

from console_tui.core._replay_log import ReplayLog
from console_tui.core._screen_base import (
    CellStyle,
    RowInterner,
    Screen,
    ScreenRow,
    TerminalState,
    bounded_size,
    tab_stops_vt,
)

log = logging.getLogger(__name__)

SCROLLBACK_BYTES_PER_CELL = 10
"""libghostty's cost of a plain cell in the scrollback, to turn a line budget into bytes."""

SCROLLBACK_SPARE_BYTES = 1 << 20
"""Room for the pages libghostty frees whole, so the scrollback holds at least the lines asked."""

LIVE_SCROLLBACK_LINES = 400
"""Rows of scrollback libghostty keeps once read: what `scrolled_off` drains from between calls
(libghostty keeps whole pages: about a thousand rows)."""
DRAIN_NEWLINES = LIVE_SCROLLBACK_LINES // 8
"""Newlines after which a screen that is read drains what scrolled off (a line may wrap into a few
rows, so well before the live scrollback could overflow)."""


def scrollback_bytes(columns: int, lines: int) -> int:
    """A byte budget that holds `lines` rows of `columns` cells, styled or wide, with room to spare.

    The scrollback holds the rows that scrolled off until `scrolled_off()` reads them, so it must
    keep at least `scrollback_lines` of them; reading them as they scroll instead would cost more
    than the emulation itself.
    """
    if lines <= 0:
        return 0
    return columns * SCROLLBACK_BYTES_PER_CELL * lines * 5 // 4 + SCROLLBACK_SPARE_BYTES


_MODES = re.compile(r"\x1b\[\??\d+[hl]")
_MODE_PREFIX = re.compile(r"(?:\x1b\[\??\d+[hl])*")
_MARGINS = re.compile(r"\x1b\[(\d+);(\d+)r")
_CURSOR = re.compile(r"\x1b\[(\d+);(\d+)H")
_PEN = re.compile(r"(?:\x1b\[[\d;:]*m)+")
_TAB_STOP = re.compile(r"\x1b\[(\d+)G\x1bH")
_CHARSETS = re.compile(r"\x1b[()*+][^B]|\x0e")
"""A character set other than ASCII designated, or G1 shifted in; ASCII is where a snapshot starts."""


def _cell_style(style: evp.Style) -> CellStyle:
    return CellStyle(
        fg=style.foreground,
        bg=style.background,
        bold=style.bold,
        faint=style.faint,
        italic=style.italic,
        underline=style.underline != 0,
        blink=style.blink,
        reverse=style.inverse,
        conceal=style.invisible,
        strike=style.strikethrough,
    )


class EvpScreen(Screen):
    """A screen on libghostty-vt: each row is converted once, then reused while evp reuses it."""

    backend = "evp"

    def _start(self, columns: int, rows: int) -> None:
        self._model(columns, rows, 0)
        self._interner = RowInterner()
        self._scrolled: deque[str] = deque(maxlen=self.scrollback_lines)
        self._log = ReplayLog(self.scrollback_lines, columns, rows)
        self._read = False
        """Whether anyone reads `scrolled_off`: then rows are drained before libghostty drops them."""
        self._undrained = 0

    def _model(self, columns: int, rows: int, scrollback_lines: int) -> None:
        """Make a fresh libghostty model, keeping `scrollback_lines` rows of its own."""
        budget = scrollback_bytes(columns, scrollback_lines)
        self._adopt(
            evp.Terminal(columns, rows, max_scrollback_bytes=budget, on_write_pty=self._reply)
        )

    def _adopt(self, terminal: evp.Terminal) -> None:
        """Draw from `terminal` from now on."""
        self._terminal = terminal
        self._render = evp.RenderState(terminal)
        self._styles: list[CellStyle] = []
        self._frame: evp.Frame | None = None
        self._by_row: dict[int, tuple[evp.Row, ScreenRow]] = {}

    @property
    def size(self) -> tuple[int, int]:
        return self._terminal.size()

    def feed(self, data: bytes) -> None:
        if self._read:
            newlines = data.count(b"\n")
            if self._undrained + newlines >= DRAIN_NEWLINES:
                self._feed_draining(data)
                return
            self._undrained += newlines
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        try:
            self._terminal.feed(data)
        except Exception:
            log.exception("libghostty-vt failed on %d bytes", len(data))
        self._frame = None
        log_ = self._log
        log_.feed(data)
        if log_.full:
            log_.seal(self.snapshot(), *self.size)

    def _feed_draining(self, data: bytes) -> None:
        """Feed `data` a few newlines at a time, draining what scrolled off in between."""
        start = 0
        while start < len(data):
            end = start
            for _ in range(DRAIN_NEWLINES - self._undrained):
                end = data.find(b"\n", end) + 1
                if not end:
                    end = len(data)
                    break
            self._feed(data[start:end])
            self._undrained += data.count(b"\n", start, end)
            if self._undrained >= DRAIN_NEWLINES:
                self._drain()
            start = end

    def resize(self, columns: int, rows: int) -> None:
        columns, rows = bounded_size(columns, rows)
        if self._read:
            self._drain()
            self._terminal.resize(columns, rows)
            self._frame = None
        else:
            # Growing pulls rows back from the scrollback, which this model does not hold: resize
            # a replay that does, then restart from its snapshot.
            self._adopt(self._replayed(LIVE_SCROLLBACK_LINES))
            self._terminal.resize(columns, rows)
            snapshot = self.snapshot()
            self._model(columns, rows, 0)
            self._terminal.feed(snapshot)
        self._log.seal(self.snapshot(), *self.size)

    def _take_styles(self, new_styles: Sequence[evp.Style]) -> None:
        self._styles.extend(_cell_style(style) for style in new_styles)

    def _drain(self) -> None:
        """Keep the text of rows that scrolled off, before libghostty drops them or a resize
        rewraps them."""
        scrolled = self._render.scrolled_off()
        self._take_styles(scrolled.new_styles)
        self._scrolled.extend("".join(row.graphemes).rstrip() for row in scrolled.rows)
        self._undrained = 0

    def _current_frame(self) -> evp.Frame:
        if self._frame is None:
            self._frame = self._render.frame()
            self._take_styles(self._frame.new_styles)
        return self._frame

    def _convert(self, row: evp.Row, table: list[CellStyle] | None = None) -> ScreenRow:
        indexes = row.styles
        graphemes = row.graphemes
        table = self._styles if table is None else table
        if not indexes or indexes.count(indexes[0]) == len(indexes):
            return ScreenRow((("".join(graphemes), table[indexes[0]]),) if indexes else ())
        runs: list[tuple[str, CellStyle]] = []
        start = 0
        for index, group in groupby(indexes):
            end = start + len(list(group))
            text, style = "".join(graphemes[start:end]), table[index]
            if runs and runs[-1][1] == style:
                text = runs.pop()[0] + text
            runs.append((text, style))
            start = end
        return ScreenRow(tuple(runs))

    def rows(self) -> tuple[ScreenRow, ...]:
        frame = self._current_frame()
        evp_rows = frame.rows
        interner = self._interner
        interner.start(len(evp_rows))
        by_row = self._by_row
        kept: dict[int, tuple[evp.Row, ScreenRow]] = {}
        for y, row in enumerate(evp_rows):
            cached = by_row.get(id(row))
            if cached is not None and cached[0] is row:
                screen_row = interner.put(y, cached[1])
            else:
                screen_row = interner.put(y, self._convert(row))
            kept[id(row)] = (row, screen_row)
        self._by_row = kept
        return tuple(interner.rows)

    @property
    def cursor(self) -> tuple[int, int] | None:
        cursor = self._current_frame().cursor
        return None if cursor is None else (cursor[0], cursor[1])

    def _replayed(self, scrollback_lines: int) -> evp.Terminal:
        """A scratch model fed the replay log: this screen, with `scrollback_lines` of scrollback.
        It answers nobody (the guest's questions in the log were answered when they came)."""
        scratch: evp.Terminal | None = None
        for columns, lines, data in self._log.replay():
            if scratch is None:
                budget = scrollback_bytes(columns, scrollback_lines)
                scratch = evp.Terminal(columns, lines, max_scrollback_bytes=budget)
            elif scratch.size() != (columns, lines):
                scratch.resize(columns, lines)
            scratch.feed(data)
        assert scratch is not None
        return scratch

    def history(self) -> list[ScreenRow]:
        """Drawn again from the replay log into a scratch model, which is then let go."""
        if not self.scrollback_lines:
            return []
        history = evp.RenderState(self._replayed(self.scrollback_lines)).history()
        table = [_cell_style(style) for style in history.new_styles]
        kept = history.rows[-self.scrollback_lines :]
        return [self._convert(row, table) for row in kept]

    def scrolled_off(self) -> list[str]:
        if not self._read:
            # The first reader gets all that scrolled off so far, from the replay log; from now
            # on the model keeps a scrollback to drain, restarted from its own exact snapshot.
            self._read = True
            snapshot = self.snapshot()
            self._model(*self.size, min(self.scrollback_lines, LIVE_SCROLLBACK_LINES))
            self._terminal.feed(snapshot)
            return [row.text.rstrip() for row in self.history()]
        self._drain()
        lines = list(self._scrolled)
        self._scrolled.clear()
        return lines

    def skip_scrolled(self) -> None:
        self._take_styles(self._render.scrolled_off().new_styles)
        self._scrolled.clear()

    @property
    def app_cursor_keys(self) -> bool:
        return self._terminal.mode(1)

    @property
    def bracketed_paste(self) -> bool:
        return self._terminal.mode(2004)

    @property
    def alternate_screen(self) -> bool:
        terminal = self._terminal
        return terminal.mode(1049) or terminal.mode(1047) or terminal.mode(47)

    @property
    def title(self) -> str:
        return self._terminal.title()

    def state(self) -> TerminalState:
        """Read from libghostty's formatter, which writes the state after the screen's content."""
        terminal = self._terminal
        vt = evp.FormatterFormat.VT
        content = evp.Formatter(terminal, format=vt).format()
        whole = evp.Formatter(
            terminal,
            format=vt,
            modes=True,
            scrolling_region=True,
            cursor=True,
            style=True,
            charsets=True,
            tabstops=True,
        ).format()
        prefix = _MODE_PREFIX.match(whole)
        start = prefix.end() if prefix else 0
        modes = _MODES.findall(whole[:start])
        after = whole[start + len(content) :]
        cursor = _CURSOR.search(after)
        row, column = (int(cursor[1]), int(cursor[2])) if cursor else (1, 1)
        margins = _MARGINS.search(after)
        pen = _PEN.search(after)
        return TerminalState(
            cursor=(column - 1, row - 1),
            margins=(int(margins[1]) - 1, int(margins[2]) - 1) if margins else None,
            origin=terminal.mode(6),
            modes=tuple(modes),
            pen=pen[0] if pen else "\x1b[0m",
            charsets="".join(_CHARSETS.findall(after)),
            tab_stops=tab_stops_vt(
                (int(column) - 1 for column in _TAB_STOP.findall(after)), self.size[0]
            ),
        )
