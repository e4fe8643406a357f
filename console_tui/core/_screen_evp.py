"""The screen model on evp, a binding to Ghostty's libghostty-vt."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from itertools import groupby

import evp

from console_tui.core._screen_base import (
    CellStyle,
    RowInterner,
    Screen,
    ScreenRow,
    bounded_size,
)

log = logging.getLogger(__name__)

SCROLLBACK_BYTES_PER_CELL = 10
"""libghostty's cost of a plain cell in the scrollback, to turn a line budget into bytes."""

SCROLLBACK_SPARE_BYTES = 1 << 20
"""Room for the pages libghostty frees whole, so the scrollback holds at least the lines asked."""


def scrollback_bytes(columns: int, lines: int) -> int:
    """A byte budget that holds `lines` rows of `columns` cells, styled or wide, with room to spare.

    The scrollback holds the rows that scrolled off until `scrolled_off()` reads them, so it must
    keep at least `scrollback_lines` of them; reading them as they scroll instead would cost more
    than the emulation itself.
    """
    if lines <= 0:
        return 0
    return columns * SCROLLBACK_BYTES_PER_CELL * lines * 5 // 4 + SCROLLBACK_SPARE_BYTES


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
        self._terminal = evp.Terminal(
            columns,
            rows,
            max_scrollback_bytes=scrollback_bytes(columns, self.scrollback_lines),
            on_write_pty=self._reply,
        )
        self._render = evp.RenderState(self._terminal)
        self._styles: list[CellStyle] = []
        self._frame: evp.Frame | None = None
        self._by_row: dict[int, tuple[evp.Row, ScreenRow]] = {}
        self._interner = RowInterner()
        self._scrolled: deque[str] = deque(maxlen=self.scrollback_lines)

    @property
    def size(self) -> tuple[int, int]:
        return self._terminal.size()

    def feed(self, data: bytes) -> None:
        try:
            self._terminal.feed(data)
        except Exception:
            log.exception("libghostty-vt failed on %d bytes", len(data))
        self._frame = None

    def resize(self, columns: int, rows: int) -> None:
        columns, rows = bounded_size(columns, rows)
        self._drain()
        self._terminal.resize(columns, rows)
        self._frame = None

    def _take_styles(self, new_styles: Sequence[evp.Style]) -> None:
        self._styles.extend(_cell_style(style) for style in new_styles)

    def _drain(self) -> None:
        """Keep the text of rows that scrolled off, before a resize rewraps them."""
        scrolled = self._render.scrolled_off()
        self._take_styles(scrolled.new_styles)
        self._scrolled.extend("".join(row.graphemes).rstrip() for row in scrolled.rows)

    def _current_frame(self) -> evp.Frame:
        if self._frame is None:
            self._frame = self._render.frame()
            self._take_styles(self._frame.new_styles)
        return self._frame

    def _convert(self, row: evp.Row) -> ScreenRow:
        indexes = row.styles
        graphemes = row.graphemes
        table = self._styles
        if not indexes or indexes.count(indexes[0]) == len(indexes):
            return ScreenRow((("".join(graphemes), table[indexes[0]]),) if indexes else ())
        runs: list[tuple[str, CellStyle]] = []
        start = 0
        for index, group in groupby(indexes):
            end = start + sum(1 for _ in group)
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

    def history(self) -> list[ScreenRow]:
        history = self._render.history()
        self._take_styles(history.new_styles)
        rows = history.rows
        if len(rows) > self.scrollback_lines:
            rows = rows[len(rows) - self.scrollback_lines :]
        return [self._convert(row) for row in rows]

    def scrolled_off(self) -> list[str]:
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
