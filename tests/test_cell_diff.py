"""Writing only the cells that changed: the terminal shows the same picture from fewer bytes."""

from __future__ import annotations

import random

from rich.cells import cell_len
from rich.style import Style

from console_tui.core.screen import Screen, make_screen
from console_tui.ui.cell_diff import CellDiff

COLUMNS, ROWS = 40, 12
STYLES = [
    Style(),
    Style(bold=True),
    Style(color="color(74)", bgcolor="color(16)"),
    Style(reverse=True, underline=True),
    Style(color="#ff8800", italic=True),
]
WORDS = ["demo", "login:", "漢字", "e\u0301t\u00e9", "▔▔▔", "┃", " ", "x", "connected"]


def cup(x: int, y: int) -> str:
    return f"\x1b[{y + 1};{x + 1}H"


def styled(text: str, style: Style) -> str:
    """A segment as Textual writes it (Rich's own rendering)."""
    return style.render(text) if style else text


def picture(screen: Screen) -> tuple[object, ...]:
    """Everything a terminal shows: each row's styled runs, and the cursor."""
    return (*screen.rows(), screen.cursor)


def random_frame(rng: random.Random) -> str:
    """A write as Textual makes one: chops of styled text at cursor positions (one a row, so
    they do not overlap), the odd other sequence, and the cursor where the app wants it."""
    parts = []
    for y in rng.sample(range(ROWS), rng.randrange(1, 6)):
        x = rng.randrange(COLUMNS - 12)
        parts.append(cup(x, y))
        for _ in range(rng.randrange(1, 5)):
            word = rng.choice(WORDS)
            if x + cell_len(word) > COLUMNS:  # Textual never writes past the right margin
                break
            parts.append(styled(word, rng.choice(STYLES)))
            x += cell_len(word)
        if rng.random() < 0.1:
            parts.append(rng.choice(["\x07", "\x1b[?25h", "\x1b]52;c;aGk=\x07", "\x1b[2J"]))
    parts.append(cup(rng.randrange(COLUMNS), rng.randrange(ROWS)))
    return "".join(parts)


def test_the_same_picture_from_fewer_bytes() -> None:
    """200 random frames, each twice (as Textual repaints what did not change), written straight
    to one terminal and through CellDiff to another: both show the same cells, styles and cursor
    after every write; through CellDiff less than half as much is written."""
    rng = random.Random(12)
    direct, diffed = make_screen(COLUMNS, ROWS), make_screen(COLUMNS, ROWS)
    diff = CellDiff()
    written = through = 0
    for frame in (random_frame(rng) for _ in range(200)):
        for _ in range(2):
            out = diff.update(frame)
            direct.feed(frame.encode())
            diffed.feed(out.encode())
            assert picture(diffed) == picture(direct), (frame, out)
            written += len(frame)
            through += len(out)
    assert through < written / 2


def test_an_unchanged_frame_writes_nothing_and_a_typed_key_one_cell() -> None:
    diff = CellDiff()
    line = cup(0, 3) + styled("demo:~# ", Style()) + styled(" " * 30, Style(bgcolor="color(16)"))
    first = diff.update(line + cup(8, 3))
    assert "demo:~#" in first
    assert diff.update(line + cup(8, 3)) == ""
    typed = line.replace("demo:~# ", "demo:~# x", 1).replace(" " * 30, " " * 29, 1)
    assert diff.update(typed + cup(9, 3)) == "x"  # the cursor was there already


def test_words_are_written_whole() -> None:
    """Letters that happen to be the same in the old and the new text are written again, so a
    reader that speaks what is written hears words, not letters."""
    diff = CellDiff()
    diff.update(cup(1, 0) + "demo: connected" + cup(0, 0))
    out = diff.update(cup(1, 0) + "left the console" + cup(0, 0))
    assert "left the console" in out


def test_clearing_or_switching_screens_forgets_the_picture() -> None:
    diff = CellDiff()
    frame = cup(0, 0) + "hello" + cup(5, 0)
    diff.update(frame)
    assert diff.update(frame) == ""
    assert diff.update("\x1b[2J" + frame) == "\x1b[2J" + cup(0, 0) + "hello"
    assert diff.update("\x1b[?1049h") == "\x1b[?1049h"
    assert "hello" in diff.update(frame)
    assert diff.update("\x1b[?25h" + frame) == "\x1b[?25h"  # a mode: the picture stays known
