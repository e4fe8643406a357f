"""The terminal screen model: the picture a console's bytes draw, behind one small interface.

Two backends implement it. `evp` (Ghostty's libghostty-vt, Python 3.13+ on the platforms it has
wheels for) is used where it imports; `pyte` everywhere else. `CONSOLE_TUI_SCREEN=pyte` forces pyte.
Both pass one conformance suite (tests/test_screen.py); what pyte cannot do is listed in
`KNOWN_GAPS` and below.

Conventions shared by both backends:

- `display()` and `ScreenRow.text` keep each row as wide as the screen: blank cells are spaces and a
  wide (CJK) character is one character that covers two columns.
- `scrolled_off()` returns lines for reading, with trailing blanks stripped; when more than
  `scrollback_lines` scrolled off between two calls, only the newest that many are kept.
- `feed()` never raises: broken input is drawn as a terminal would, and an error raised by the
  `on_reply` callback is logged, not passed on.
- Replies carry no text the console chose: a title or icon-label report is not answered.
- A screen is at most `MAX_COLUMNS` x `MAX_ROWS`: a larger size is clamped.
- The reverse-video screen mode (DECSCNM) is not passed on: a cell style cannot say it.
- `snapshot()` first resets the viewer's terminal (whatever state it was left in), then carries
  the visible screen with its styles, the title and `state()`: cursor position and visibility,
  scroll margins, origin, insert and autowrap modes, every other mode set away from its default
  (cursor keys, bracketed paste, the alternate screen, ...), the pen, the character sets and the
  tab stops. A viewer restarted from it is in the state of one that saw every byte
  (tests/test_catch_up.py). Not carried: a cursor saved with DECSC, a wrap pending at the right
  edge, and the main screen behind the alternate one (it comes back blank when the program leaves).
- evp keeps its scrollback as the compressed bytes that drew it and draws it again when read
  (core/_replay_log.py): `history()` costs a replay, and a resize of a screen nobody reads
  restarts the model from one (so it too forgets a DECSC cursor).

Known gaps of the pyte backend:

- Resizing does not rewrap lines: narrowing cuts lines at the new width, widening does not join
  lines that wrapped.
- SGR parameters written with colons (`ESC[38:2::R:G:Bm`) are not understood, and what follows the
  colon is drawn as text.
- DCS, APC, PM and SOS strings are not recognised: their payload is drawn as text.
- An OSC string is ended only by BEL or ST (not by CAN or SUB).
- The secondary device attributes query (`ESC[>c`) is answered like the primary one.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from console_tui.core._screen_base import (
    MAX_COLUMNS,
    MAX_ROWS,
    CellStyle,
    Color,
    Screen,
    ScreenRow,
    bounded_size,
)

__all__ = [
    "KNOWN_GAPS",
    "MAX_COLUMNS",
    "MAX_ROWS",
    "CellStyle",
    "Color",
    "Screen",
    "ScreenRow",
    "available_backends",
    "bounded_size",
    "make_screen",
]

KNOWN_GAPS: dict[str, list[str]] = {
    "evp": [],
    "pyte": [
        "resize does not rewrap lines: narrowing cuts them, widening does not join wrapped lines",
        "colon-separated SGR parameters (ESC[38:2::R:G:Bm) are not understood",
        "DCS, APC, PM and SOS strings are not recognised: their payload is drawn as text",
        "an OSC string is ended only by BEL or ST, not by CAN or SUB",
        "the secondary device attributes query (ESC[>c) is answered like the primary one",
    ],
}

ENV_BACKEND = "CONSOLE_TUI_SCREEN"


def _evp_importable() -> bool:
    try:
        import evp  # noqa: F401
    except ImportError:
        return False
    return True


def available_backends() -> list[str]:
    """The backends that work here, preferred first."""
    return ["evp", "pyte"] if _evp_importable() else ["pyte"]


def make_screen(
    columns: int,
    rows: int,
    *,
    scrollback_lines: int = 10000,
    on_reply: Callable[[bytes], None] | None = None,
    backend: str | None = None,
) -> Screen:
    """Make a screen with `backend`, else `$CONSOLE_TUI_SCREEN`, else the best one available."""
    choice = backend or os.environ.get(ENV_BACKEND) or available_backends()[0]
    if choice == "evp" and not _evp_importable():
        raise ValueError("the evp screen backend needs Python 3.13+ and the evp package: use pyte")
    if choice == "evp":
        from console_tui.core._screen_evp import EvpScreen

        return EvpScreen(columns, rows, scrollback_lines=scrollback_lines, on_reply=on_reply)
    if choice == "pyte":
        from console_tui.core._screen_pyte import PyteScreen

        return PyteScreen(columns, rows, scrollback_lines=scrollback_lines, on_reply=on_reply)
    raise ValueError(f"unknown screen backend {choice!r}: use one of {available_backends()}")
