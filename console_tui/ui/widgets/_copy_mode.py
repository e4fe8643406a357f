"""Keyboard selection over the console's rows, as in tmux's copy mode: move a cursor through the
screen and the scrollback, mark where the selection starts, copy it, leave.

Keys: arrows (or h j k l) move, PgUp and PgDn go a page, Home and End (or 0 and $) go to the
start and end of the row, g and G to the first and last row; Space or v marks (again: unmarks);
Enter or y copies; Esc or q leaves.
"""

from __future__ import annotations

from dataclasses import dataclass

from console_tui.ui.widgets._rows_view import Rows
from console_tui.ui.widgets._strips import Selection

MOVES = {
    "up": (0, -1),
    "k": (0, -1),
    "down": (0, 1),
    "j": (0, 1),
    "left": (-1, 0),
    "h": (-1, 0),
    "right": (1, 0),
    "l": (1, 0),
}
PAGES = {"pageup": -1, "pagedown": 1}
MARK_KEYS = ("space", "v")
COPY_KEYS = ("enter", "y")
LEAVE_KEYS = ("escape", "q")
HELP = "arrows move, Space marks, Enter copies, Esc leaves"


@dataclass
class CopyMode:
    """Where the copy cursor is (cell, row) and where the mark was set, if it was."""

    x: int
    line: int
    mark: tuple[int, int] | None = None

    @property
    def selection(self) -> Selection | None:
        return Selection(self.mark, (self.x, self.line)) if self.mark is not None else None

    def toggle_mark(self) -> bool:
        """Set the mark at the cursor, or take it away; True when it is set."""
        self.mark = None if self.mark is not None else (self.x, self.line)
        return self.mark is not None

    def move(self, key: str, rows: Rows, page: int) -> bool:
        """Move for `key`; False when `key` is not a move."""
        last = max(rows.count - 1, 0)
        if key in MOVES:
            dx, dy = MOVES[key]
            self.line = min(max(self.line + dy, 0), last)
            self.x += dx
        elif key in PAGES:
            self.line = min(max(self.line + PAGES[key] * max(page - 1, 1), 0), last)
        elif key in ("home", "0"):
            self.x = 0
        elif key in ("end", "dollar_sign"):
            self.x = len(_text(rows, self.line).rstrip()) - 1
        elif key == "g":
            self.line = 0
        elif key == "G":
            self.line = last
        else:
            return False
        self.x = min(max(self.x, 0), max(len(_text(rows, self.line).rstrip()) - 1, 0))
        return True

    def row_text(self, rows: Rows) -> str:
        """The text of the row the cursor is on (for announcing it)."""
        return _text(rows, self.line).rstrip()


def _text(rows: Rows, index: int) -> str:
    row = rows.row(index)
    return row.text if row is not None else ""


def selected_text(selection: Selection, rows: Rows) -> str:
    """The text from the selection's start to its end (inclusive): each row's trailing blanks
    dropped, rows joined by line ends except where a row goes on from the one before."""
    (x1, y1), (x2, y2) = selection.ordered()
    text = ""
    for index in range(y1, y2 + 1):
        row = _text(rows, index)
        start = x1 if index == y1 else 0
        end = x2 + 1 if index == y2 else len(row)
        if index > y1 and not rows.continues(index):
            text = text.rstrip(" ") + "\n"
        text += row[start:end]
    return text.rstrip(" ")
