"""Write only the cells that changed: what a screen reader that speaks new text hears.

Textual repaints regions: a focus change repaints the whole screen, a dialog repaints its whole
box each time its layout settles, a typed key repaints the whole line. A reader that speaks what
is written to the terminal (or what changes on it) then hears the screen again. `CellDiff` keeps
a copy of every cell the terminal shows and passes on, from each write, only the cells whose
text or style differ, like curses' `doupdate`; `only_changed_cells` puts it in a Textual driver.

It understands what Textual draws with (cursor moves, SGR styles, OSC 8 links, text, CR, LF) and
passes every other sequence through; a sequence that changes the screen in ways it does not model
(clearing, scrolling, the alternate screen) makes it forget what it knew, so the next picture is
written whole. So does a change of the terminal's size.
"""

from __future__ import annotations

import os
import re
import sys

from rich.cells import get_character_cell_size
from textual.driver import Driver

Cell = tuple[str, str, str]
"""A cell as the terminal shows it: its text ("" for the right half of a wide character), the
SGR sequences and the OSC 8 link it was written with."""

_TOKENS = re.compile(
    r"(?P<cup>\x1b\[(?P<row>\d*);(?P<column>\d*)H)"
    r"|(?P<sgr>\x1b\[(?P<params>[0-9;:]*)m)"
    r"|(?P<link>\x1b\]8;[^\x07\x1b]*(?:\x07|\x1b\\))"
    r"|(?P<other>\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)"
    r"|\x1b[P^_X][^\x1b]*\x1b\\|\x1b[ -/]*[0-~])"
    r"|(?P<mover>[\r\n\x08])"
    r"|(?P<control>[\x00-\x1f\x7f])"
    r"|(?P<text>[^\x00-\x1f\x7f\x1b]+)"
)
"""What the app writes, a token at a time: cursor moves, styles, links, other sequences (passed
through), CR LF BS, other controls (passed through), text."""
SCREEN_SWITCHES = ("1049", "1047", "47")
"""Private modes that switch screens: what the terminal shows is unknown afterwards."""
HARMLESS_FINALS = "nctpqu"
"""Final bytes of CSI sequences that leave the picture alone (reports, queries, window ops,
cursor style, keyboard protocol): passed through without forgetting anything."""
LINK_END = "\x1b]8;;\x1b\\"
MERGE_GAP = 8
"""Unchanged cells between two changed ones on a row that are written again to keep one run."""
SYNC_START, SYNC_END = "\x1b[?2026h", "\x1b[?2026l"
"""Synchronized output around each frame; a frame left empty writes neither."""


class CellDiff:
    """The terminal's picture, cell by cell; `update` turns what the app writes into what the
    terminal needs to show the same picture."""

    def __init__(self) -> None:
        self.cells: dict[tuple[int, int], Cell] = {}
        self._x = self._y = 0
        self._sgr = ""
        self._link = ""
        self._shown_cursor: tuple[int, int] | None = None
        self._pending: dict[tuple[int, int], Cell] = {}
        self._out: list[str] = []

    def forget(self) -> None:
        """The terminal's picture is unknown (it was cleared, resized or switched): write the
        next one whole."""
        self.cells.clear()
        self._shown_cursor = None

    def update(self, data: str) -> str:
        """What to write instead of `data`: the changed cells, the sequences that are not
        drawing, and the cursor where `data` leaves it."""
        self._out = []
        moved = False
        for match in _TOKENS.finditer(data):
            kind = match.lastgroup
            if kind == "cup":
                self._y, self._x = int(match["row"] or 1) - 1, int(match["column"] or 1) - 1
                moved = True
            elif kind == "sgr":
                self._style(match["params"], match[0])
            elif kind == "link":
                self._link = "" if match[0].startswith(("\x1b]8;;\x07", LINK_END)) else match[0]
            elif kind == "other":
                self._pass(match[0])
            elif kind == "mover":
                self._move(match[0])
                moved = True
            elif kind == "control":
                self._out.append(match[0])
            else:
                self._put(match[0])
                moved = True
        self._flush()
        if moved and self._shown_cursor != (self._x, self._y):
            self._out.append(f"\x1b[{self._y + 1};{self._x + 1}H")
            self._shown_cursor = (self._x, self._y)
        return "".join(self._out)

    def _style(self, params: str, sequence: str) -> None:
        if params in ("", "0"):
            self._sgr = ""
        elif params.startswith("0;"):
            self._sgr = sequence
        else:
            self._sgr += sequence

    def _pass(self, sequence: str) -> None:
        """A sequence that draws nothing itself: written in order; if it changes the picture in a
        way not modelled here, what the terminal shows is forgotten."""
        self._flush()
        self._out.append(sequence)
        if sequence.startswith("\x1b[?"):
            changes_picture = sequence[3:-1] in SCREEN_SWITCHES
        else:
            csi = sequence.startswith("\x1b[")
            changes_picture = sequence == "\x1bc" or (csi and sequence[-1] not in HARMLESS_FINALS)
        if changes_picture:
            self.forget()

    def _move(self, char: str) -> None:
        if char == "\n":
            self._y += 1
            self._x = 0
        elif char == "\r":
            self._x = 0
        else:
            self._x = max(0, self._x - 1)

    def _put(self, text: str) -> None:
        pending = self._pending
        sgr, link, y, x = self._sgr, self._link, self._y, self._x
        for char in text:
            width = get_character_cell_size(char)
            if width == 0:  # a combining mark joins the character before it
                before = pending.get((x - 1, y))
                if before is not None:
                    pending[(x - 1, y)] = (before[0] + char, before[1], before[2])
                continue
            pending[(x, y)] = (char, sgr, link)
            if width == 2:
                pending[(x + 1, y)] = ("", sgr, link)
            x += width
        self._x = x

    def _flush(self) -> None:
        """Write the pending cells that differ from what the terminal shows, a run at a time;
        runs on a row close enough together are written as one, unchanged cells included, so a
        reader hears words whole rather than in the letters that happened to change."""
        pending, self._pending = self._pending, {}
        cells = self.cells
        changed = sorted((y, x) for (x, y), cell in pending.items() if cells.get((x, y)) != cell)
        if not changed:
            return
        written: list[tuple[int, int]] = []
        for y, x in changed:
            if written and written[-1][1] == y and 0 < x - written[-1][0] <= MERGE_GAP:
                last_x = written[-1][0]
                written.extend((gap, y) for gap in range(last_x + 1, x) if (gap, y) in pending)
            written.append((x, y))
        out = self._out
        sgr = link = ""
        at = self._shown_cursor
        for x, y in written:
            cell = pending[(x, y)]
            if cell[0] == "":  # the right half of a wide character: written with its left half
                if at == (x + 1, y) or (x - 1, y) not in pending:
                    continue
                x, cell = x - 1, pending[(x - 1, y)]
            wide = get_character_cell_size(cell[0][0]) == 2
            self._break_wide(x, y, wide)
            cells[(x, y)] = cell
            if wide:
                cells[(x + 1, y)] = ("", cell[1], cell[2])
            if at != (x, y):
                out.append(f"\x1b[{y + 1};{x + 1}H")
            if (cell[1], cell[2]) != (sgr, link):
                if link and cell[2] != link:
                    out.append(LINK_END)
                opened = cell[2] if cell[2] != link else ""
                out.append(("\x1b[0m" if sgr else "") + cell[1] + opened)
                sgr, link = cell[1], cell[2]
            out.append(cell[0])
            at = (x + (2 if wide else 1), y)
        if link:
            out.append(LINK_END)
        if sgr:
            out.append("\x1b[0m")
        self._shown_cursor = at

    def _break_wide(self, x: int, y: int, wide: bool) -> None:
        """Writing over half of a wide character blanks its other half on the terminal (how, the
        terminal decides): forget that half, so it is written the next time it is drawn."""
        cells = self.cells
        here = cells.get((x, y))
        if here is not None and here[0] == "":  # over the right half of one
            cells.pop((x - 1, y), None)
        if wide:  # over what was in the next cell too
            here = cells.get((x + 1, y))
        if here is not None and here[0] and get_character_cell_size(here[0][0]) == 2:
            cells.pop((x + (2 if wide else 1), y), None)


def _terminal_size() -> tuple[int, int] | None:
    for stream in (sys.__stderr__, sys.__stdout__, sys.__stdin__):
        try:
            size = os.get_terminal_size(stream.fileno()) if stream is not None else None
        except (OSError, ValueError):
            continue
        if size is not None:
            return size.columns, size.lines
    return None


def only_changed_cells(driver_class: type[Driver]) -> type[Driver]:
    """`driver_class`, made to write only the cells that changed (see `CellDiff`)."""

    class ChangedCellsDriver(driver_class):  # type: ignore[valid-type,misc]
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            self._cell_diff = CellDiff()
            self._cell_diff_size: tuple[int, int] | None = None
            self._held_sync = ""

        def start_application_mode(self) -> None:
            self._cell_diff = CellDiff()
            self._held_sync = ""
            super().start_application_mode()

        def write(self, data: str) -> None:
            if data == SYNC_START:  # held until the frame proves to have something in it
                self._held_sync = data
                return
            if data == SYNC_END and self._held_sync:
                self._held_sync = ""
                return
            size = _terminal_size()
            if size != self._cell_diff_size:
                self._cell_diff_size = size
                self._cell_diff.forget()
            data = self._cell_diff.update(data)
            if data:
                super().write(self._held_sync + data)
                self._held_sync = ""

    return ChangedCellsDriver
