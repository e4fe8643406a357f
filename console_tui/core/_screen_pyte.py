"""The screen model on pyte, for where evp is not available.

pyte's `Screen` is extended here where it falls short of a console's needs: the alternate screen,
scrollback that leaves scroll regions and the alternate screen alone, faint and conceal, palette
indexes kept as indexes, resize that keeps the cursor's line, and a parser loop that survives any
input. pyte's `HistoryScreen` is not used: it wraps every attribute access, which halves
throughput, and it records lines scrolled inside a scroll region.

It is one file past 400 lines on purpose: each of those extensions overrides a piece of the same
`pyte.Screen`, and they only make sense read together against the conformance suite.
"""

from __future__ import annotations

import codecs
import logging
from collections import defaultdict, deque
from collections.abc import Callable
from functools import lru_cache
from typing import Any, NamedTuple

import pyte
from pyte import modes
from pyte.screens import Margins, StaticDefaultDict
from wcwidth import wcwidth as _wcwidth

from console_tui.core._screen_base import (
    DEFAULT_STYLE,
    CellStyle,
    Color,
    RowInterner,
    Screen,
    ScreenRow,
    bounded_size,
    row_from_cells,
)

log = logging.getLogger(__name__)

wcwidth: Callable[[str], int] = lru_cache(maxsize=4096)(_wcwidth)

ALTERNATE_SCREEN_MODES = (47, 1047, 1049)
IGNORED_PRIVATE_MODES = (3, 5)
"""DECCOLM would resize the screen behind the session's back; DECSCNM has no per-cell form."""

CURSOR_KEYS_MODE = 1 << 5
BRACKETED_PASTE_MODE = 2004 << 5
"""pyte keeps private modes shifted left by 5 to tell them from ANSI ones."""

PRIMARY_DEVICE_ATTRIBUTES = "\x1b[?62;22c"
"""A VT220 with ANSI colour: what Ghostty answers, so both backends answer alike."""


class Cell(NamedTuple):
    """One cell: its text (empty for a wide character's second column) and style.

    `pen` is only set on the cursor's cell: the style new text is drawn with. The cursor's
    `style` is what erasing leaves, which carries only the background colour, as in xterm.
    """

    data: str
    style: CellStyle
    pen: CellStyle = DEFAULT_STYLE


BLANK = Cell(" ", DEFAULT_STYLE)

Line = StaticDefaultDict[int, Cell]

_ANSI_COLORS = {**{30 + i: i for i in range(8)}, **{90 + i: 8 + i for i in range(8)}}
_ANSI_BACKGROUNDS = {**{40 + i: i for i in range(8)}, **{100 + i: 8 + i for i in range(8)}}
_FLAGS_ON = {
    1: "bold",
    2: "faint",
    3: "italic",
    4: "underline",
    5: "blink",
    7: "reverse",
    8: "conceal",
    9: "strike",
}
_FLAGS_OFF = {
    22: ("bold", "faint"),
    23: ("italic",),
    24: ("underline",),
    25: ("blink",),
    27: ("reverse",),
    28: ("conceal",),
    29: ("strike",),
}


def _extended_color(params: list[int]) -> Color:
    """Read a `5;N` or `2;R;G;B` colour off the front of `params`, or `None` if malformed."""
    kind = params.pop(0) if params else None
    if kind == 5 and params:
        index = params.pop(0)
        return index if 0 <= index <= 255 else None
    if kind == 2 and len(params) >= 3:
        r, g, b = (min(255, params.pop(0)) for _ in range(3))
        return (r, g, b)
    return None


def apply_sgr(style: CellStyle, params: list[int]) -> CellStyle:
    """The style after SGR `params` (semicolon-separated) on top of `style`."""
    if not params:
        return DEFAULT_STYLE
    changes: dict[str, Any] = {}
    while params:
        code = params.pop(0)
        if code == 0:
            style, changes = DEFAULT_STYLE, {}
        elif code in _FLAGS_ON:
            changes[_FLAGS_ON[code]] = True
        elif code in _FLAGS_OFF:
            changes.update(dict.fromkeys(_FLAGS_OFF[code], False))
        elif code == 21:
            changes["underline"] = True
        elif code in _ANSI_COLORS:
            changes["fg"] = _ANSI_COLORS[code]
        elif code in _ANSI_BACKGROUNDS:
            changes["bg"] = _ANSI_BACKGROUNDS[code]
        elif code == 39:
            changes["fg"] = None
        elif code == 49:
            changes["bg"] = None
        elif code in (38, 48):
            color = _extended_color(params)
            if color is not None:
                changes["fg" if code == 38 else "bg"] = color
    if not changes:
        return style
    fields = {name: getattr(style, name) for name in CellStyle.__slots__}
    fields.update(changes)
    return CellStyle(**fields)


class _Stream(pyte.Stream):
    """pyte's stream with a feed loop that drops what a handler raises on and carries on."""

    def feed(self, data: str) -> None:
        listener = self.listener
        assert listener is not None
        draw = listener.draw
        match_text = self._text_pattern.match
        send = self._send_to_parser
        plain = self._taking_plain_text
        length = len(data)
        offset = 0
        while offset < length:
            if plain:
                match = match_text(data, offset)
                if match:
                    start, offset = match.span()
                    try:
                        draw(data[start:offset])
                    except Exception:
                        log.debug("pyte could not draw %r", data[start:offset], exc_info=True)
                    continue
                plain = False
            try:
                plain = send(data[offset])
            except Exception:
                log.debug("pyte dropped a sequence at %r", data[offset], exc_info=True)
                plain = self._taking_plain_text
            offset += 1
        self._taking_plain_text = plain


class _Emulator(pyte.Screen):
    """pyte's screen with the extensions the module docstring lists."""

    buffer: dict[int, Line]  # type: ignore[assignment]

    def __init__(self, columns: int, lines: int, owner: PyteScreen) -> None:
        self.owner = owner
        self.alternate: bool = False
        self.main_buffer: dict[int, Line] | None = None
        self.scrollback: deque[Line] = deque(maxlen=owner.scrollback_lines)
        self.scrolled: deque[Line] = deque(maxlen=owner.scrollback_lines)
        self._cells_pen: CellStyle | None = None
        self._cells_by_char: dict[str, Cell] = {}
        super().__init__(columns, lines)

    @property
    def default_char(self) -> Cell:  # type: ignore[override]
        return BLANK

    def reset(self) -> None:
        self.alternate = False
        self.main_buffer = None
        super().reset()
        self.cursor.attrs = BLANK  # type: ignore[assignment]
        self.scrollback.clear()

    def new_buffer(self) -> dict[int, Line]:
        return defaultdict(lambda: StaticDefaultDict[int, Cell](BLANK))

    def _cells(self, pen: CellStyle) -> dict[str, Cell]:
        """Cells drawn with `pen`, one per character, shared to save making a tuple a character."""
        if pen is not self._cells_pen:
            self._cells_pen = pen
            self._cells_by_char = {}
        return self._cells_by_char

    def draw(self, data: str) -> None:
        data = data.translate(self.g1_charset if self.charset else self.g0_charset)
        pen = self.cursor.attrs.pen  # type: ignore[attr-defined]
        cells = self._cells(pen)
        narrow = data.isascii() and data.isprintable()
        if narrow and modes.IRM not in self.mode and modes.DECAWM in self.mode:
            self._draw_narrow(data, cells, pen)
            return
        columns = self.columns
        cursor = self.cursor
        autowrap = modes.DECAWM in self.mode
        insert = modes.IRM in self.mode
        line = self.buffer[cursor.y]
        for char in data:
            width = wcwidth(char)
            if width <= 0:
                if width == 0:
                    self._combine(line, char)
                continue
            if cursor.x + width > columns:
                if autowrap:
                    self.dirty.add(cursor.y)
                    cursor.x = 0
                    self.index()
                    line = self.buffer[cursor.y]
                else:
                    cursor.x = columns - width
            if insert:
                self.insert_characters(width)
            x = cursor.x
            self._split_wide(line, x, x + width)
            cell = cells.get(char)
            if cell is None:
                cell = cells[char] = Cell(char, pen)
            line[x] = cell
            if width == 2 and x + 1 < columns:
                line[x + 1] = Cell("", pen)
            cursor.x = x + width
        self.dirty.add(cursor.y)

    def _draw_narrow(self, data: str, cells: dict[str, Cell], pen: CellStyle) -> None:
        """Draw printable ASCII a row's worth at a time, wrapping at the right edge."""
        columns = self.columns
        cursor = self.cursor
        for char in set(data).difference(cells):
            cells[char] = Cell(char, pen)
        cell_for = cells.__getitem__
        while data:
            if cursor.x >= columns:
                self.dirty.add(cursor.y)
                cursor.x = 0
                self.index()
            x = cursor.x
            part, data = data[: columns - x], data[columns - x :]
            end = x + len(part)
            line = self.buffer[cursor.y]
            self._split_wide(line, x, end)
            line.update(zip(range(x, end), map(cell_for, part), strict=True))
            cursor.x = end
        self.dirty.add(cursor.y)

    @staticmethod
    def _split_wide(line: Line, start: int, end: int) -> None:
        """Blank the halves of wide characters that drawing over `start..end` cuts."""
        first = line.get(start)
        if first is not None and not first.data and start:
            line[start - 1] = BLANK
        after = line.get(end)
        if after is not None and not after.data:
            line[end] = BLANK

    def _combine(self, line: Line, char: str) -> None:
        """Join a zero-width character to the cell before the cursor."""
        x = min(self.cursor.x, self.columns) - 1
        if x > 0 and not line[x].data:
            x -= 1
        if x >= 0:
            cell = line[x]
            line[x] = cell._replace(data=cell.data + char)

    def select_graphic_rendition(self, *attrs: int, private: bool = False) -> None:
        if private:
            return
        pen = apply_sgr(self.cursor.attrs.pen, list(attrs))  # type: ignore[attr-defined]
        erase = DEFAULT_STYLE if pen.bg is None else CellStyle(bg=pen.bg)
        self.cursor.attrs = Cell(" ", erase, pen)  # type: ignore[assignment]

    def set_mode(self, *modes_: int, **kwargs: Any) -> None:
        super().set_mode(*self._screen_modes(modes_, kwargs, self.enter_alternate), **kwargs)

    def reset_mode(self, *modes_: int, **kwargs: Any) -> None:
        super().reset_mode(*self._screen_modes(modes_, kwargs, self.leave_alternate), **kwargs)

    def _screen_modes(
        self, modes_: tuple[int, ...], kwargs: dict[str, Any], switch: Callable[[int], None]
    ) -> tuple[int, ...]:
        """Switch screens for the alternate screen modes; return the modes left for pyte."""
        if not kwargs.get("private"):
            return modes_
        for mode in modes_:
            if mode in ALTERNATE_SCREEN_MODES:
                switch(mode)
        return tuple(m for m in modes_ if m not in IGNORED_PRIVATE_MODES)

    def enter_alternate(self, mode: int) -> None:
        if self.alternate:
            return
        if mode == 1049:
            self.save_cursor()
        self.main_buffer = self.buffer
        self.buffer = self.new_buffer()
        self.alternate = True
        self.dirty.update(range(self.lines))

    def leave_alternate(self, mode: int) -> None:
        if not self.alternate or self.main_buffer is None:
            return
        self.buffer = self.main_buffer
        self.main_buffer = None
        self.alternate = False
        if mode == 1049:
            self.restore_cursor()
        self.dirty.update(range(self.lines))

    def index(self) -> None:
        top, bottom = self.margins or Margins(0, self.lines - 1)
        if self.cursor.y == bottom and top == 0 and not self.alternate:
            line = self.buffer[0]
            self.scrollback.append(line)
            self.scrolled.append(line)
        super().index()

    def erase_in_display(self, how: int = 0, *args: Any, **kwargs: Any) -> None:
        if how == 3:
            self.scrollback.clear()
        elif how in (0, 1, 2):
            super().erase_in_display(how)

    def erase_in_line(self, how: int = 0, private: bool = False) -> None:
        if how in (0, 1, 2):
            super().erase_in_line(how)

    def report_device_attributes(self, mode: int = 0, **kwargs: bool) -> None:
        if mode == 0 and not kwargs.get("private"):
            self.write_process_input(PRIMARY_DEVICE_ATTRIBUTES)

    def write_process_input(self, data: str) -> None:
        self.owner._reply(data.encode())

    def resize_keeping_cursor_line(self, columns: int, lines: int) -> None:
        """Resize as a terminal window does: shrink from blank rows below the cursor first, then
        push rows off the top into the scrollback; grow by pulling rows back from it."""
        buffer = self.buffer
        cursor = self.cursor
        old = self.lines
        if lines < old:
            excess = old - lines
            bottom = old - 1
            while excess and bottom > cursor.y and _is_blank(buffer.get(bottom)):
                buffer.pop(bottom, None)
                bottom -= 1
                excess -= 1
            if excess:
                if not self.alternate:
                    self.scrollback.extend(buffer[y] for y in range(excess))
                self._shift(-excess, old)
                cursor.y -= excess
        elif lines > old and not self.alternate:
            pulled = min(lines - old, len(self.scrollback))
            if pulled:
                self._shift(pulled, old)
                for y in range(pulled - 1, -1, -1):
                    buffer[y] = self.scrollback.pop()
                cursor.y += pulled
        if columns < self.columns:
            for line in buffer.values():
                for x in [x for x in line if x >= columns]:
                    del line[x]
                if columns - 1 in line and wcwidth(line[columns - 1].data[:1] or " ") == 2:
                    line[columns - 1] = BLANK
        for y in [y for y in buffer if y >= lines]:
            del buffer[y]
        old_columns = self.columns
        self.lines, self.columns = lines, columns
        first_new_stop = -(-old_columns // 8) * 8
        self.tabstops = {t for t in self.tabstops if t < columns} | set(
            range(max(8, first_new_stop), columns, 8)
        )
        self.margins = None
        cursor.x = min(cursor.x, columns - 1)
        cursor.y = max(0, min(cursor.y, lines - 1))
        self.dirty.update(range(lines))

    def _shift(self, delta: int, count: int) -> None:
        """Move rows `0..count-1` by `delta` (down for positive); rows moved off are dropped."""
        moved = {y + delta: self.buffer[y] for y in range(count) if y in self.buffer}
        self.buffer.clear()
        self.buffer.update({y: line for y, line in moved.items() if y >= 0})


def _is_blank(line: Line | None) -> bool:
    return line is None or all(cell == BLANK for cell in line.values())


class PyteScreen(Screen):
    """A screen on pyte: rebuilds only the rows pyte marked dirty."""

    backend = "pyte"

    def _start(self, columns: int, rows: int) -> None:
        self._emulator = _Emulator(columns, rows, self)
        self._stream = _Stream(self._emulator)
        self._stream.use_utf8 = False
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._interner = RowInterner()
        self._history_rows: dict[int, tuple[Line, int, ScreenRow]] = {}

    @property
    def size(self) -> tuple[int, int]:
        return (self._emulator.columns, self._emulator.lines)

    def feed(self, data: bytes) -> None:
        try:
            self._stream.feed(self._decoder.decode(data))
        except Exception:
            log.exception("pyte failed on %d bytes", len(data))

    def resize(self, columns: int, rows: int) -> None:
        columns, rows = bounded_size(columns, rows)
        self._emulator.resize_keeping_cursor_line(columns, rows)

    def _convert(self, line: Line) -> ScreenRow:
        return row_from_cells(line[x] for x in range(self._emulator.columns))

    def rows(self) -> tuple[ScreenRow, ...]:
        emulator = self._emulator
        interner = self._interner
        fresh = len(interner.rows) != emulator.lines
        interner.start(emulator.lines)
        dirty = range(emulator.lines) if fresh else sorted(emulator.dirty)
        buffer = emulator.buffer
        for y in dirty:
            if y < emulator.lines:
                interner.put(y, self._convert(buffer[y]))
        emulator.dirty.clear()
        return tuple(interner.rows)

    @property
    def cursor(self) -> tuple[int, int] | None:
        cursor = self._emulator.cursor
        if cursor.hidden:
            return None
        return (min(cursor.x, self._emulator.columns - 1), cursor.y)

    def history(self) -> list[ScreenRow]:
        cached = self._history_rows
        columns = self._emulator.columns
        kept: dict[int, tuple[Line, int, ScreenRow]] = {}
        rows = []
        for line in self._emulator.scrollback:
            entry = cached.get(id(line))
            if entry is None or entry[0] is not line or entry[1] != columns:
                entry = (line, columns, self._convert(line))
            kept[id(line)] = entry
            rows.append(entry[2])
        self._history_rows = kept
        return rows

    def scrolled_off(self) -> list[str]:
        scrolled = self._emulator.scrolled
        lines = [
            "".join(line[x].data for x in range(max(line, default=-1) + 1)).rstrip()
            for line in scrolled
        ]
        scrolled.clear()
        return lines

    def skip_scrolled(self) -> None:
        self._emulator.scrolled.clear()

    @property
    def app_cursor_keys(self) -> bool:
        return CURSOR_KEYS_MODE in self._emulator.mode

    @property
    def bracketed_paste(self) -> bool:
        return BRACKETED_PASTE_MODE in self._emulator.mode

    @property
    def alternate_screen(self) -> bool:
        return self._emulator.alternate

    @property
    def title(self) -> str:
        return self._emulator.title
