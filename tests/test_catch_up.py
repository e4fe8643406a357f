"""Catching up from a snapshot gives exactly what a continuous viewer has, on both screen backends.

For each screen of a corpus, one viewer is fed the console's bytes all along; another restarts
from a snapshot taken part way (as a lagging viewer or a late joiner does), into a fresh terminal or
one a console left in some other state, and is fed the rest. The two must then show the same cells
and cursor and be in the same state (margins, origin, modes, pen, character sets), and the bytes
after the snapshot must draw alike: they are what a lost mode would show in.
"""

from __future__ import annotations

import pytest

from console_tui.core._screen_base import TerminalState
from console_tui.core.screen import Screen, available_backends, make_screen

LINES = b"".join(b"line %d\r\n" % n for n in range(8))

CORPUS: dict[str, tuple[bytes, bytes]] = {
    # name: (what the console sent before the snapshot, what it sends after)
    "scroll margins": (
        LINES + b"\x1b[2;4r\x1b[4;1Hinside",
        b"\r\none\r\ntwo\r\nthree\x1b[1;1Htop",
    ),
    "character sets": (
        b"\x1b)0\x1b(B\x0eabc",
        b"lqqk\x0f lqqk \x1b(0x\x1b(Bx",
    ),
    "autowrap off": (b"\x1b[?7lnarrow", b"0123456789012345678901234567890\r\nnext"),
    "origin mode": (
        LINES + b"\x1b[3;5r\x1b[?6h\x1b[2;3Hin",
        b"\x1b[1;1Hhome\x1b[9;1Hclamped\r\n\r\n\r\nscrolled",
    ),
    "pen": (
        b"\x1b[1;3;38;5;208;48;2;1;2;3mstyled",
        b" still\x1b[K\r\n\x1b[2J\x1b[0mplain",
    ),
    "insert mode": (b"abcdef\x1b[1;3H\x1b[4h", b"XY\x1b[4lZ"),
    "hidden cursor": (b"prompt$ \x1b[?25l", b"typed\x1b[?25h more"),
    "tab stops": (b"\x1b[3g\x1b[5G\x1bH\x1b[13G\x1bH\x1b[1;3Hx", b"\ta\tb\tc\r\n\td"),
    "full-screen program": (
        b"shell$ top\r\n\x1b[?1049h\x1b[?1h\x1b[?2004h\x1b[2;5r\x1b[44m\x1b[2Jtop - 10:00",
        b"\x1b[5;1H\r\nrow\x1b[?1l",
    ),
    "everything at once": (
        LINES + b"\x1b[2;6r\x1b[?6h\x1b[?7l\x1b[4h\x1b)0\x0e\x1b[7;31m\x1b[?25l\x1b[3;4Hq",
        b"qqq\x0fend of a long line that does not wrap\x1b[1;1H\r\n\x1b[4l!",
    ),
}

DIRTY = b"\x1b[?1049h\x1b[3;4r\x1b[?6h\x1b[4h\x1b[?7l\x1b(0\x1b)0\x0e\x1b[1;32m\x1b[?1h\x1b[?25l"
"""A viewer's terminal as a console may have left it before the snapshot arrives."""


@pytest.fixture(params=available_backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def looks(screen: Screen) -> tuple[object, ...]:
    """All a viewer sees and keeps: cells, cursor, state and the modes the app reads."""
    return (
        [row.runs for row in screen.rows()],
        screen.cursor,
        screen.state(),
        screen.alternate_screen,
        screen.app_cursor_keys,
        screen.bracketed_paste,
    )


@pytest.mark.parametrize("case", list(CORPUS))
@pytest.mark.parametrize("start", ["fresh", "dirty", "late joiner"])
def test_snapshot_then_restore_equals_the_continuous_screen(
    backend: str, case: str, start: str
) -> None:
    before, after = CORPUS[case]
    continuous = make_screen(30, 8, backend=backend)
    continuous.feed(before)
    at_snapshot = looks(continuous)
    snapshot = continuous.snapshot(history=start == "late joiner")
    continuous.feed(after)

    restored = make_screen(30, 8, backend=backend)
    if start == "dirty":
        restored.feed(b"left over\r\n" + DIRTY + b"junk")
    restored.feed(snapshot)
    assert looks(restored) == at_snapshot
    restored.feed(after)
    assert looks(restored) == looks(continuous)


def test_the_corpus_sets_what_it_names(backend: str) -> None:
    """Each case leaves a state other than a fresh terminal's, so losing it would show."""
    fresh = make_screen(30, 8, backend=backend).state()
    for case, (before, _) in CORPUS.items():
        screen = make_screen(30, 8, backend=backend)
        screen.feed(before)
        state = screen.state()
        assert state != fresh.__class__(**{**_fields(fresh), "cursor": state.cursor}), case


def _fields(state: TerminalState) -> dict[str, object]:
    return {name: getattr(state, name) for name in TerminalState.__slots__}


def rows_of(backend: str, data: bytes, columns: int = 6, rows: int = 5) -> list[list[str]]:
    """Each row as `text/bg` per cell, to see both the characters and the erase colour."""
    screen = make_screen(columns, rows, backend=backend, scrollback_lines=100)
    screen.feed(data)
    return [
        [f"{char}/{style.bg}" for text, style in row.runs for char in text] for row in screen.rows()
    ]


def plain(*texts: str, bg: int | None = None, columns: int = 6) -> list[list[str]]:
    return [[f"{char}/{bg}" for char in text.ljust(columns)] for text in texts]


FIVE = b"1\r\n2\r\n3\r\n4\r\n5"


def test_scroll_up_and_down_inside_a_region(backend: str) -> None:
    assert rows_of(backend, FIVE + b"\x1b[2;4r\x1b[1S") == plain("1", "3", "4", "", "5")
    assert rows_of(backend, FIVE + b"\x1b[2;4r\x1b[2T") == plain("1", "", "", "2", "5")


def test_scroll_up_of_the_whole_screen_keeps_the_lines(backend: str) -> None:
    screen = make_screen(6, 5, backend=backend, scrollback_lines=100)
    screen.feed(FIVE + b"\x1b[2S")
    assert [row.text.rstrip() for row in screen.history()] == ["1", "2"]
    assert screen.scrolled_off() == ["1", "2"]
    assert [line.rstrip() for line in screen.display()] == ["3", "4", "5", "", ""]


def test_repeat_draws_the_last_character_again(backend: str) -> None:
    assert rows_of(backend, b"ab\x1b[3b-")[0] == plain("abbbb-")[0]
    assert rows_of(backend, b"\x1b(0q\x1b[2b")[0] == plain("───")[0]


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"x\x1b[44m\x1b[2J", [[" /4"] * 6] * 5),
        (b"xyz\x1b[44m\x1b[1G\x1b[1P", [["y/None", "z/None"] + [" /None"] * 3 + [" /4"]]),
        (b"xyz\x1b[44m\x1b[1G\x1b[1@", [[" /4", "x/None", "y/None", "z/None", " /None", " /None"]]),
        (b"x\x1b[44m\x1b[L", [[" /4"] * 6, ["x/None"] + [" /None"] * 5]),
        (b"x\x1b[44m\r\n\n\n\n\n", [[" /None"] * 6] * 4 + [[" /4"] * 6]),
        (b"x\x1b[44m\x1b[S", [[" /None"] * 6] * 4 + [[" /4"] * 6]),
    ],
    ids=["ED", "DCH", "ICH", "IL", "newline", "SU"],
)
def test_erasing_leaves_the_background_colour(
    backend: str, data: bytes, expected: list[list[str]]
) -> None:
    assert rows_of(backend, data)[: len(expected)] == expected
