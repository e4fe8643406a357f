"""What both screen backends build on: cell styles, styled rows, the row interner and the abstract
`Screen` with its snapshot. `screen` is the public face; the backends import this, not `screen`, so
that `screen` can import them.
"""

from __future__ import annotations

import logging
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Any

log = logging.getLogger(__name__)

MAX_COLUMNS = 500
MAX_ROWS = 300
"""The largest screen a model holds; a larger size is clamped. A window-change request can ask for
any size, and a shared session's model must not grow with it (6000x6000 would hold over a GB)."""

Color = int | tuple[int, int, int] | None
"""A colour: `None` for the terminal's default, a palette index (0-255), or RGB."""


@dataclass(frozen=True, slots=True)
class CellStyle:
    """How a cell is drawn: its colours and SGR attributes."""

    fg: Color = None
    bg: Color = None
    bold: bool = False
    faint: bool = False
    italic: bool = False
    underline: bool = False
    blink: bool = False
    reverse: bool = False
    conceal: bool = False
    strike: bool = False


DEFAULT_STYLE = CellStyle()

_TEXT = itemgetter(0)
_STYLE = itemgetter(1)


@dataclass(frozen=True, slots=True)
class ScreenRow:
    """One row of the screen as runs of text that share a style, left to right."""

    runs: tuple[tuple[str, CellStyle], ...]

    @property
    def text(self) -> str:
        """The row's plain text."""
        return "".join(text for text, _ in self.runs)


def row_from_cells(cells: Iterable[tuple[Any, ...]]) -> ScreenRow:
    """Group cells, left to right, into a row of styled runs; a cell starts `(text, style)`."""
    return ScreenRow(
        tuple(("".join(map(_TEXT, group)), style) for style, group in groupby(cells, key=_STYLE))
    )


class RowInterner:
    """Hands out the same `ScreenRow` object for the same content, so a UI can cache by identity.

    A row is reused when its runs equal those of the row last shown at its index, or of any row
    of the last frame (a row that scrolling moved).
    """

    def __init__(self) -> None:
        self.rows: list[ScreenRow] = []
        self._by_runs: dict[tuple[tuple[str, CellStyle], ...], ScreenRow] | None = None

    def start(self, count: int) -> None:
        """Begin a frame of `count` rows; rows beyond the last frame start blank."""
        self._by_runs = None
        if len(self.rows) > count:
            del self.rows[count:]
        while len(self.rows) < count:
            self.rows.append(ScreenRow(()))

    def put(self, index: int, row: ScreenRow) -> ScreenRow:
        """Place `row` at `index`, or an equal row from the last frame; return the one kept."""
        old = self.rows[index]
        if old.runs == row.runs:
            return old
        if self._by_runs is None:
            self._by_runs = {r.runs: r for r in self.rows}
        kept = self._by_runs.get(row.runs, row)
        self.rows[index] = kept
        return kept


class Screen(ABC):
    """A terminal screen fed a console's bytes: what it shows, its scrollback and its modes."""

    backend: str = ""

    def __init__(
        self,
        columns: int,
        rows: int,
        *,
        scrollback_lines: int = 10000,
        on_reply: Callable[[bytes], None] | None = None,
    ) -> None:
        columns, rows = bounded_size(columns, rows)
        self.scrollback_lines = max(0, scrollback_lines)
        self._on_reply = on_reply
        self._start(columns, rows)

    @abstractmethod
    def _start(self, columns: int, rows: int) -> None:
        """Make the backend's emulator; `scrollback_lines` and `_reply` are ready."""

    @property
    @abstractmethod
    def size(self) -> tuple[int, int]:
        """`(columns, rows)`."""

    @abstractmethod
    def feed(self, data: bytes) -> None:
        """Draw what the console sent. Never raises."""

    @abstractmethod
    def resize(self, columns: int, rows: int) -> None:
        """Change the screen's size, keeping the cursor's line and what is above it."""

    @abstractmethod
    def rows(self) -> tuple[ScreenRow, ...]:
        """The styled rows, top to bottom; an unchanged row is the same object as last time."""

    @property
    @abstractmethod
    def cursor(self) -> tuple[int, int] | None:
        """The cursor's `(x, y)`, or `None` while the guest hides it."""

    @abstractmethod
    def history(self) -> list[ScreenRow]:
        """The scrollback, oldest first, at most `scrollback_lines` rows."""

    @abstractmethod
    def scrolled_off(self) -> list[str]:
        """Lines that scrolled off the top since the last call, oldest first."""

    def skip_scrolled(self) -> None:
        """Forget what scrolled off since the last `scrolled_off()`, unread: a reader starting
        now takes `history()` instead, without paying to turn every row into text."""
        self.scrolled_off()

    @property
    @abstractmethod
    def app_cursor_keys(self) -> bool:
        """Whether the guest asked for application cursor keys (DECCKM, mode ?1)."""

    @property
    @abstractmethod
    def bracketed_paste(self) -> bool:
        """Whether the guest asked for bracketed paste (mode ?2004)."""

    @property
    @abstractmethod
    def alternate_screen(self) -> bool:
        """Whether the guest is drawing on the alternate screen (full-screen programs)."""

    @property
    @abstractmethod
    def title(self) -> str:
        """The title the guest set with OSC 0 or 2, or an empty one."""

    def display(self) -> list[str]:
        """The plain text of each row, padded with spaces to the screen's width."""
        return [row.text for row in self.rows()]

    def cursor_row_text(self) -> str:
        """The text of the cursor's row before the cursor (empty while the cursor is hidden)."""
        cursor = self.cursor
        if cursor is None:
            return ""
        x, y = cursor
        rows = self.rows()
        return rows[y].text[:x] if y < len(rows) else ""

    def snapshot(self, *, history: bool = False) -> bytes:
        """VT bytes that redraw the visible screen on a fresh terminal of the same size; with
        `history`, the scrollback first, as lines that scroll into that terminal's own scrollback
        (what a late joiner is shown)."""
        parts: list[str] = []
        if history:
            for row in self.history():
                parts.extend(sgr(style) + text for text, style in _trimmed(row))
                parts.append("\x1b[0m\r\n")
            # Push the last history lines off the visible screen before it is redrawn.
            parts.append("\r\n" * self.size[1])
        if self.alternate_screen:
            parts.append("\x1b[?1049h")
        parts.append("\x1b[0m\x1b[H\x1b[2J")
        # The rows go down from the top, a line each, and the cursor is placed relative to the
        # last of them: a viewer's terminal shorter than the screen then keeps its bottom (the
        # prompt), where absolute positions would pile the lowest rows onto its last line.
        rows = [_trimmed(row) for row in self.rows()]
        cursor = self.cursor
        last = max((y for y, runs in enumerate(rows) if runs), default=0)
        if cursor is not None:
            last = max(last, min(cursor[1], len(rows) - 1))
        for y in range(last + 1):
            if y:
                parts.append("\r\n")
            if rows[y]:
                parts.extend(sgr(style) + text for text, style in rows[y])
                parts.append("\x1b[0m")
        if self.app_cursor_keys:
            parts.append("\x1b[?1h")
        if self.bracketed_paste:
            parts.append("\x1b[?2004h")
        title = "".join(c for c in self.title if c.isprintable())
        if title:
            parts.append(f"\x1b]2;{title}\x1b\\")
        if cursor is None:
            parts.append("\x1b[H\x1b[?25l")
        else:
            up = last - cursor[1]
            parts.append(f"\r\x1b[{up}A" if up > 0 else "\r")
            if cursor[0]:
                parts.append(f"\x1b[{cursor[0]}C")
        return "".join(parts).encode("utf-8", "replace")

    def _reply(self, data: bytes) -> None:
        """Pass a reply the guest asked for to `on_reply`, logging what that raises.

        Title and icon-label reports (`ESC [ 21 t`, `ESC [ 20 t`) are never answered: they would
        type text the console output chose (the title it set) into the console, with no writer."""
        if self._on_reply is None:
            return
        data = _TEXT_REPORT.sub(b"", data)
        if not data:
            return
        try:
            self._on_reply(data)
        except Exception:
            log.exception("on_reply raised while answering the guest")


def bounded_size(columns: int, rows: int) -> tuple[int, int]:
    """The size a screen takes for `columns` x `rows`: at most `MAX_COLUMNS` x `MAX_ROWS`.

    Refuses a screen smaller than one cell."""
    if columns < 1 or rows < 1:
        raise ValueError(f"a screen needs at least 1x1 cells, not {columns}x{rows}")
    return min(columns, MAX_COLUMNS), min(rows, MAX_ROWS)


_TEXT_REPORT = re.compile(rb"\x1b\][lL].*?(?:\x1b\\|\x07|\Z)", re.DOTALL)
"""A title (`OSC l`) or icon-label (`OSC L`) report, up to its terminator."""


_SGR_CACHE: dict[CellStyle, str] = {}


def _sgr_color(color: Color, base: int, bright: int, extended: int) -> str:
    if isinstance(color, tuple):
        r, g, b = color
        return f";{extended};2;{r};{g};{b}"
    assert color is not None
    if color < 8:
        return f";{base + color}"
    if color < 16:
        return f";{bright + color - 8}"
    return f";{extended};5;{color}"


def sgr(style: CellStyle) -> str:
    """The SGR sequence that sets exactly `style`, starting from a reset."""
    cached = _SGR_CACHE.get(style)
    if cached is not None:
        return cached
    params = "0"
    for flag, code in (
        (style.bold, "1"),
        (style.faint, "2"),
        (style.italic, "3"),
        (style.underline, "4"),
        (style.blink, "5"),
        (style.reverse, "7"),
        (style.conceal, "8"),
        (style.strike, "9"),
    ):
        if flag:
            params += ";" + code
    if style.fg is not None:
        params += _sgr_color(style.fg, 30, 90, 38)
    if style.bg is not None:
        params += _sgr_color(style.bg, 40, 100, 48)
    cached = _SGR_CACHE[style] = f"\x1b[{params}m"
    return cached


def _trimmed(row: ScreenRow) -> list[tuple[str, CellStyle]]:
    """A row's runs without the trailing blank cells in the default style."""
    runs = list(row.runs)
    while runs and runs[-1][1] == DEFAULT_STYLE:
        text = runs[-1][0].rstrip(" ")
        if text:
            runs[-1] = (text, DEFAULT_STYLE)
            break
        runs.pop()
    return runs
