"""Console output as a reader hears it: whole lines, and the line being written with the cursor.

A terminal shows a line edited in place (a shell echoing keys, backspace, a progress counter
rewritten after CR); a reader wants the line as it ends up. `ReadingText` applies what a terminal
does within one line (CR, BS, TAB, erase, cursor left and right, insert and delete characters)
and drops the rest (colours, cursor addressing, titles), keeping complete lines and the current
one (the prompt) with the column of the cursor on it. `wrap` breaks a line into rows of a width
at spaces, so a long line is shown whole rather than cut at the pane's edge.
"""

from __future__ import annotations

import codecs
import re
from itertools import dropwhile

from rich.cells import get_character_cell_size

_SEQUENCE = (
    r"(?P<csi>\x1b\[(?P<params>[0-?]*)[ -/]*(?P<final>[@-~]))"
    r"|(?P<string>\x1b[\]P^_X][^\x07\x1b]*(?:\x07|\x1b\\))"
    r"|(?P<escape>\x1b[ -/]*[0-OQ-WYZ\\`-~])"
)
"""A whole escape sequence: CSI, a string (OSC, DCS, PM, APC, SOS) with its end, or a short one."""
_WHOLE_SEQUENCE = re.compile(_SEQUENCE)
_TOKENS = re.compile(_SEQUENCE + r"|(?P<control>[\x00-\x1f\x7f])|(?P<text>[^\x00-\x1f\x7f\x1b]+)")
UNFINISHED_LIMIT = 256
"""An escape sequence cut off at the end of a chunk is kept for the next one, up to this long."""
LINE_LIMIT = 4096
"""A line that grows longer than this without an end is taken as complete."""


class ReadingText:
    """Complete lines (oldest dropped past `max_lines`) and the line being written."""

    def __init__(self, max_lines: int = 10000) -> None:
        self.max_lines = max_lines
        self.lines: list[str] = []
        self.dropped = 0
        """Lines dropped from the start so far (a line's number is `dropped + index`)."""
        self.column = 0
        """Where the cursor is on the current line (in characters)."""
        self._current: list[str] = []
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._unfinished = ""

    @property
    def current(self) -> str:
        """The line being written (the prompt and what is typed after it)."""
        return "".join(self._current)

    def seed(self, lines: list[str], current: str, column: int | None = None) -> None:
        """Start over from the console's text: its complete lines (blank ones before the first
        text left out: a screen's empty rows are not output) and the line the cursor is on."""
        self.dropped += len(self.lines)
        self.lines = []
        self._add(list(dropwhile(lambda line: not line, (line.rstrip() for line in lines))))
        self._current = list(current)
        self.column = len(current) if column is None else column
        self._unfinished = ""

    def feed(self, data: bytes) -> None:
        text = self._unfinished + self._decoder.decode(data)
        self._unfinished = ""
        last = text.rfind("\x1b")
        cut_off = last >= 0 and not _WHOLE_SEQUENCE.match(text, last)
        if cut_off and len(text) - last <= UNFINISHED_LIMIT:  # the rest comes with the next chunk
            text, self._unfinished = text[:last], text[last:]
        done: list[str] = []
        for match in _TOKENS.finditer(text):  # an ESC that starts no whole sequence is skipped
            kind = match.lastgroup
            if kind == "text":
                self._write(match[0])
            elif kind == "control":
                self._control(match[0], done)
            elif kind == "csi":
                self._csi(match["params"], match["final"])
            if len(self._current) > LINE_LIMIT:
                self._control("\n", done)
        self._add(done)

    def _add(self, done: list[str]) -> None:
        if not done:
            return
        self.lines.extend(done)
        excess = len(self.lines) - self.max_lines
        if excess > self.max_lines // 10:  # drop in batches, not a line at a time
            del self.lines[:excess]
            self.dropped += excess

    def _write(self, text: str) -> None:
        current, column = self._current, self.column
        if column > len(current):
            current.extend(" " * (column - len(current)))
        current[column : column + len(text)] = text
        self.column = column + len(text)

    def _control(self, char: str, done: list[str]) -> None:
        if char == "\n":
            done.append(self.current.rstrip())
            self._current = []
            self.column = 0
        elif char == "\r":
            self.column = 0
        elif char == "\b":
            self.column = max(0, self.column - 1)
        elif char == "\t":
            self.column = (self.column // 8 + 1) * 8

    def _csi(self, params: str, final: str) -> None:
        """The sequences that edit within a line; any other (colour, cursor addressing, modes)
        changes nothing a reader hears."""
        if params.startswith(("?", ">", "<", "=")):
            return
        numbers = [int(part) if part.isdigit() else 0 for part in params.split(";")]
        count = max(numbers[0], 1)
        current = self._current
        if final == "K" or (final == "J" and numbers[0] < 2):  # erase in the line (or onwards)
            if numbers[0] == 0:
                del current[self.column :]
            elif numbers[0] == 1:
                current[: self.column] = " " * min(self.column, len(current))
            else:
                current.clear()
        elif final == "C":
            self.column += count
        elif final == "D":
            self.column = max(0, self.column - count)
        elif final == "G":
            self.column = count - 1
        elif final == "P":
            del current[self.column : self.column + count]
        elif final == "@":
            current[self.column : self.column] = " " * count
        elif final == "X":
            end = min(self.column + count, len(current))
            current[self.column : end] = " " * max(0, end - self.column)


def wrap(line: str, width: int) -> list[tuple[int, int]]:
    """The rows `line` takes at `width` cells, as [start, end) character spans: broken after the
    last space that fits (a row ends with its space), or at the edge inside a word wider than the
    row."""
    width = max(width, 1)
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        cells = 0
        end = start
        space = -1
        while end < len(line):
            size = get_character_cell_size(line[end])
            if cells + size > width:
                break
            cells += size
            if line[end] == " ":
                space = end
            end += 1
        if end >= len(line):
            spans.append((start, len(line)))
            return spans
        if line[end] == " ":
            end += 1  # the space the row breaks at ends it (past the edge, where it shows nothing)
        elif space >= start:
            end = space + 1
        spans.append((start, max(end, start + 1)))
        start = max(end, start + 1)
