"""One conformance suite for both terminal screen backends (evp and pyte).

Every test runs on each backend; evp is skipped only where it does not import. Where pyte truly
falls short, the single case is a strict xfail on pyte whose reason is listed in `KNOWN_GAPS`.
"""

from __future__ import annotations

import random
import unicodedata

import pytest

from console_tui.core import screen as screen_module
from console_tui.core._screen_base import SOFT_RESET
from console_tui.core.screen import (
    KNOWN_GAPS,
    CellStyle,
    Screen,
    available_backends,
    make_screen,
)

BACKENDS = [
    pytest.param(
        "evp",
        marks=pytest.mark.skipif(
            "evp" not in available_backends(), reason="evp needs Python 3.13+ and its wheel"
        ),
    ),
    "pyte",
]

ST = b"\x1b\\"


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def gap(request: pytest.FixtureRequest, backend: str, reason: str) -> None:
    """Mark this case a strict xfail on pyte, for a gap that KNOWN_GAPS lists."""
    assert reason in KNOWN_GAPS["pyte"]
    if backend == "pyte":
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def new(backend: str, columns: int = 20, rows: int = 5, **kwargs: object) -> Screen:
    return make_screen(columns, rows, backend=backend, **kwargs)  # type: ignore[arg-type]


def text(screen: Screen) -> list[str]:
    return [line.rstrip() for line in screen.display()]


def cells(screen: Screen, y: int) -> list[tuple[str, CellStyle]]:
    """Row `y` as one `(character, style)` per character (one column each for ASCII)."""
    return [(char, style) for run, style in screen.rows()[y].runs for char in run]


def test_backend_names_and_selection(backend: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert new(backend).backend == backend
    assert available_backends()[-1] == "pyte"
    monkeypatch.setenv("CONSOLE_TUI_SCREEN", "pyte")
    assert make_screen(10, 3).backend == "pyte"
    monkeypatch.delenv("CONSOLE_TUI_SCREEN")
    assert make_screen(10, 3).backend == available_backends()[0]
    with pytest.raises(ValueError):
        make_screen(10, 3, backend="vt100")
    with pytest.raises(ValueError):
        new(backend, 0, 3)


def test_plain_text_crlf_and_bare_lf(backend: str) -> None:
    screen = new(backend)
    screen.feed(b"hello\r\nworld\nX")
    assert screen.display()[0] == "hello" + " " * 15
    assert text(screen)[:3] == ["hello", "world", "     X"]
    assert screen.cursor == (6, 2)
    assert screen.size == (20, 5)


def test_wrapping(backend: str) -> None:
    screen = new(backend, 10, 4)
    screen.feed(b"abcdefghijkl")
    assert text(screen)[:2] == ["abcdefghij", "kl"]
    assert screen.cursor == (2, 1)
    screen.feed(b"\r\n0123456789\r\nx")
    assert text(screen)[2:] == ["0123456789", "x"]


def test_sgr_colours(backend: str) -> None:
    screen = new(backend, 30, 3)
    screen.feed(
        b"\x1b[31ma\x1b[91mb\x1b[42mc\x1b[102md\x1b[0m"
        b"\x1b[38;5;200me\x1b[48;5;17mf\x1b[0m"
        b"\x1b[38;2;1;2;3mg\x1b[48;2;250;128;0mh\x1b[39mi\x1b[49mj"
    )
    assert cells(screen, 0)[:10] == [
        ("a", CellStyle(fg=1)),
        ("b", CellStyle(fg=9)),
        ("c", CellStyle(fg=9, bg=2)),
        ("d", CellStyle(fg=9, bg=10)),
        ("e", CellStyle(fg=200)),
        ("f", CellStyle(fg=200, bg=17)),
        ("g", CellStyle(fg=(1, 2, 3))),
        ("h", CellStyle(fg=(1, 2, 3), bg=(250, 128, 0))),
        ("i", CellStyle(bg=(250, 128, 0))),
        ("j", CellStyle()),
    ]


def test_sgr_attributes_set_and_reset(backend: str) -> None:
    screen = new(backend, 30, 3)
    screen.feed(
        b"\x1b[1;2;3;4;5;7;8;9mA\x1b[22mB\x1b[23;24mC\x1b[25;27mD\x1b[28;29mE\x1b[1mF\x1b[mG"
    )
    everything = CellStyle(
        bold=True,
        faint=True,
        italic=True,
        underline=True,
        blink=True,
        reverse=True,
        conceal=True,
        strike=True,
    )
    styles = [style for _, style in cells(screen, 0)[:7]]
    assert styles == [
        everything,
        CellStyle(italic=True, underline=True, blink=True, reverse=True, conceal=True, strike=True),
        CellStyle(blink=True, reverse=True, conceal=True, strike=True),
        CellStyle(conceal=True, strike=True),
        CellStyle(),
        CellStyle(bold=True),
        CellStyle(),
    ]


def test_erase_leaves_only_the_background(backend: str) -> None:
    screen = new(backend, 10, 2)
    screen.feed(b"\x1b[1;4;41mab\x1b[K")
    assert cells(screen, 0)[1] == ("b", CellStyle(bold=True, underline=True, bg=1))
    assert cells(screen, 0)[2:] == [(" ", CellStyle(bg=1))] * 8


def test_colon_sgr_parameters(backend: str, request: pytest.FixtureRequest) -> None:
    gap(request, backend, KNOWN_GAPS["pyte"][1])
    screen = new(backend, 10, 2)
    screen.feed(b"\x1b[38:2::10:20:30mX")
    assert cells(screen, 0)[0] == ("X", CellStyle(fg=(10, 20, 30)))


def test_dec_special_graphics_boxes(backend: str) -> None:
    screen = new(backend, 20, 4)
    screen.feed(b"\x1b(0lqqk\r\nx  x\r\nmqqj\x1b(B done\r\n\x1b)0\x0eqx\x0fqx")
    assert text(screen) == ["┌──┐", "│  │", "└──┘ done", "─│qx"]


def test_alternate_screen_restores_main(backend: str) -> None:
    screen = new(backend, 20, 4)
    screen.feed(b"main text\r\nprompt$ ")
    assert not screen.alternate_screen
    screen.feed(b"\x1b[?1049h\x1b[H\x1b[2Jfull screen app\x1b[3;5H")
    assert screen.alternate_screen
    assert text(screen) == ["full screen app", "", "", ""]
    assert screen.cursor == (4, 2)
    screen.feed(b"\x1b[?1049l")
    assert not screen.alternate_screen
    assert text(screen) == ["main text", "prompt$", "", ""]
    assert screen.cursor == (8, 1)


def test_alternate_screen_scrolls_nothing_into_history(backend: str) -> None:
    screen = new(backend, 10, 3)
    screen.feed(b"\x1b[?1049h" + b"x\r\n" * 10 + b"\x1b[?1049l")
    assert screen.scrolled_off() == []
    assert screen.history() == []


def test_scroll_region(backend: str) -> None:
    screen = new(backend, 10, 5)
    screen.feed(b"top\r\n\x1b[2;4r\x1b[2;1Ha\r\nb\r\nc\r\nd\r\ne\x1b[5;1Hbottom")
    assert text(screen) == ["top", "c", "d", "e", "bottom"]
    assert screen.cursor == (6, 4)
    assert screen.scrolled_off() == []
    screen.feed(b"\x1b[2;1H\x1bM\x1bMnew")
    assert text(screen) == ["top", "new", "", "c", "bottom"]


def test_insert_and_delete_lines(backend: str) -> None:
    screen = new(backend, 10, 5)
    screen.feed(b"1\r\n2\r\n3\r\n4\r\n5\x1b[2;1H\x1b[L")
    assert text(screen) == ["1", "", "2", "3", "4"]
    screen.feed(b"\x1b[3;5H\x1b[2M")
    assert text(screen) == ["1", "", "4", "", ""]
    assert screen.cursor == (0, 2)


def test_erase_in_line_and_display(backend: str) -> None:
    screen = new(backend, 10, 4)
    rows = b"\x1b[H" + b"\r\n".join([b"0123456789"] * 4)
    screen.feed(rows + b"\x1b[1;4H\x1b[K\x1b[2;4H\x1b[1K\x1b[3;4H\x1b[2K")
    assert text(screen) == ["012", "    456789", "", "0123456789"]
    screen.feed(rows + b"\x1b[2;4H\x1b[J")
    assert text(screen) == ["0123456789", "012", "", ""]
    screen.feed(rows + b"\x1b[3;4H\x1b[1J")
    assert text(screen) == ["", "", "    456789", "0123456789"]
    screen.feed(b"\x1b[2J")
    assert text(screen) == ["", "", "", ""]
    assert screen.cursor == (3, 2)


def test_wide_characters(backend: str) -> None:
    screen = new(backend, 10, 3)
    screen.feed("日本語".encode())
    assert screen.display()[0] == "日本語    "
    assert screen.cursor == (6, 0)
    screen.feed("\x1b[2;10H字".encode())
    assert text(screen)[1:] == ["", "字"]
    screen.feed("\x1b[3;1H日本\x1b[3;2Hx".encode())
    assert text(screen)[2] == " x本"


def test_combining_characters(backend: str) -> None:
    screen = new(backend, 10, 2)
    screen.feed("cafe\u0301!".encode())
    assert unicodedata.normalize("NFC", text(screen)[0]) == "café!"
    assert screen.cursor == (5, 0)


def test_utf8_split_across_feeds_at_every_byte(backend: str) -> None:
    data = "héllo 日本 ─ 👍 ok".encode()
    whole = new(backend, 30, 2)
    whole.feed(data)
    expected = whole.display()
    assert expected[0].rstrip() == "héllo 日本 ─ 👍 ok"
    for cut in range(len(data) + 1):
        screen = new(backend, 30, 2)
        screen.feed(data[:cut])
        screen.feed(data[cut:])
        assert screen.display() == expected, cut
    screen = new(backend, 30, 2)
    for byte in data:
        screen.feed(bytes([byte]))
    assert screen.display() == expected
    assert screen.cursor == whole.cursor


def test_cursor_position_report_and_device_attributes(backend: str) -> None:
    replies: list[bytes] = []
    screen = new(backend, on_reply=replies.append)
    screen.feed(b"\x1b[3;5H\x1b[6n")
    assert replies == [b"\x1b[3;5R"]
    screen.feed(b"# \x1b[6n\x1b[c")
    assert replies[1:] == [b"\x1b[3;7R", b"\x1b[?62;22c"]


def test_secondary_device_attributes(backend: str, request: pytest.FixtureRequest) -> None:
    gap(request, backend, KNOWN_GAPS["pyte"][4])
    replies: list[bytes] = []
    screen = new(backend, on_reply=replies.append)
    screen.feed(b"\x1b[>c")
    assert len(replies) == 1
    assert replies[0].startswith(b"\x1b[>")


def test_failing_on_reply_does_not_break_feed(backend: str) -> None:
    def broken(data: bytes) -> None:
        raise OSError("console gone")

    screen = new(backend, on_reply=broken)
    screen.feed(b"\x1b[6nstill here")
    assert text(screen)[0] == "still here"


def test_resize_keeps_cursor_line_and_pulls_scrollback_back(backend: str) -> None:
    screen = new(backend, 10, 5)
    screen.feed(b"a\r\nb\r\nc\r\nd\r\ne")
    screen.resize(10, 3)
    assert screen.size == (10, 3)
    assert text(screen) == ["c", "d", "e"]
    assert screen.cursor == (1, 2)
    assert [row.text.rstrip() for row in screen.history()] == ["a", "b"]
    screen.resize(10, 5)
    assert text(screen) == ["a", "b", "c", "d", "e"]
    assert screen.cursor == (1, 4)
    screen.resize(6, 5)
    assert screen.display() == [c + " " * 5 for c in "abcde"]
    screen.resize(20, 5)
    assert screen.display()[4] == "e" + " " * 19
    screen.feed(b"\tX\tY")
    assert screen.display()[4].rstrip() == "e       X       Y"


def test_resize_smaller_drops_blank_rows_below_cursor_first(backend: str) -> None:
    screen = new(backend, 10, 5)
    screen.feed(b"a\r\nb\r\nc")
    screen.resize(10, 3)
    assert text(screen) == ["a", "b", "c"]
    assert screen.cursor == (1, 2)
    assert screen.history() == []


def test_resize_narrower_rewraps(backend: str, request: pytest.FixtureRequest) -> None:
    gap(request, backend, KNOWN_GAPS["pyte"][0])
    screen = new(backend, 10, 4)
    screen.feed(b"abcdefgh\r\nxy")
    screen.resize(4, 4)
    assert text(screen) == ["abcd", "efgh", "xy", ""]


def test_scrollback_is_bounded(backend: str) -> None:
    screen = new(backend, 10, 5, scrollback_lines=5)
    screen.feed(b"".join(b"line%02d\r\n" % i for i in range(50)))
    assert text(screen) == ["line46", "line47", "line48", "line49", ""]
    assert [row.text.rstrip() for row in screen.history()] == [f"line{i}" for i in range(41, 46)]
    assert screen.scrolled_off() == [f"line{i}" for i in range(41, 46)]


def test_scrolled_off_returns_each_line_once_in_order(backend: str) -> None:
    screen = new(backend, 20, 5)
    screen.feed(b"".join(b"boot %d\r\n" % i for i in range(12)))
    assert screen.scrolled_off() == [f"boot {i}" for i in range(8)]
    assert screen.scrolled_off() == []
    screen.feed(b"boot 12\r\nboot 13\r\n")
    assert screen.scrolled_off() == ["boot 8", "boot 9"]


def test_scrolled_off_keeps_up_with_one_large_feed(backend: str) -> None:
    screen = new(backend, 80, 24)
    screen.feed(b"".join(b"[%8d] kernel line\r\n" % i for i in range(15000)))
    lines = screen.scrolled_off()
    assert len(lines) == 10000
    assert lines[0] == f"[{14977 - 10000:8d}] kernel line"
    assert lines[-1] == f"[{14976:8d}] kernel line"
    assert len(screen.history()) == 10000


def _busy_screen(backend: str) -> Screen:
    screen = new(backend, 30, 6)
    screen.feed(
        "\x1b]2;web-01\x07\x1b[?1h\x1b[?2004h"
        "\x1b[1;31mFAILED\x1b[0m unit \x1b[38;5;208mnginx\x1b[0m\r\n"
        "\x1b[48;2;10;20;30m\x1b[Kbar\x1b[0m \x1b[3;4;9mx\x1b[0m\r\n"
        "\x1b(0lqqk\x1b(B 日本 cafe\u0301\r\n"
        "\x1b[7m inverse \x1b[27m\x1b[2;8mdim hidden\x1b[0m\r\n"
        "0123456789012345678901234567890"
        "\x1b[4;12H".encode()
    )
    return screen


@pytest.mark.parametrize("alternate", [False, True])
@pytest.mark.parametrize("hidden_cursor", [False, True])
def test_snapshot_round_trip(backend: str, alternate: bool, hidden_cursor: bool) -> None:
    screen = new(backend, 30, 6)
    if alternate:
        screen.feed(b"main screen\r\n\x1b[?1049h")
    # The busy screen's bytes, without the reset that would leave the alternate screen.
    screen.feed(_busy_screen(backend).snapshot().removeprefix(SOFT_RESET.encode()))
    if hidden_cursor:
        screen.feed(b"\x1b[?25l")
    copy = new(backend, 30, 6)
    copy.feed(screen.snapshot())
    assert copy.display() == screen.display()
    assert [row.runs for row in copy.rows()] == [row.runs for row in screen.rows()]
    assert copy.cursor == screen.cursor == (None if hidden_cursor else (11, 3))
    assert copy.alternate_screen == screen.alternate_screen == alternate
    assert copy.app_cursor_keys and copy.bracketed_paste
    assert copy.title == "web-01"


def test_snapshot_reproduces_the_original(backend: str) -> None:
    screen = _busy_screen(backend)
    copy = new(backend, 30, 6)
    copy.feed(screen.snapshot())
    assert [row.runs for row in copy.rows()] == [row.runs for row in screen.rows()]
    assert text(copy)[:3] == ["FAILED unit nginx", "bar x", "┌──┐ 日本 " + text(copy)[2][-5:]]
    assert copy.cursor == (11, 3)


def test_rows_keep_identity_when_unchanged(backend: str) -> None:
    screen = new(backend, 20, 6)
    screen.feed(b"one\r\ntwo\r\nthree\r\nfour\r\nfive")
    before = screen.rows()
    assert screen.rows() == before
    assert all(a is b for a, b in zip(screen.rows(), before, strict=True))
    screen.feed(b"\x1b[2;1HTWO")
    after = screen.rows()
    assert after[1] is not before[1]
    assert after[1].text.rstrip() == "TWO"
    for y in (0, 2, 3, 4, 5):
        assert after[y] is before[y], y
    screen.feed(b"\x1b[6;1H\r\nsix")
    scrolled = screen.rows()
    assert scrolled[0] is after[1]
    assert scrolled[3] is after[4]


def test_modes_follow_the_guest(backend: str) -> None:
    screen = new(backend)
    assert not screen.app_cursor_keys and not screen.bracketed_paste
    screen.feed(b"\x1b[?1h\x1b[?2004h")
    assert screen.app_cursor_keys and screen.bracketed_paste
    screen.feed(b"\x1b[?1l")
    assert not screen.app_cursor_keys and screen.bracketed_paste
    screen.feed(b"\x1b[?2004l")
    assert not screen.bracketed_paste
    screen.feed(b"\x1b[?25l")
    assert screen.cursor is None
    screen.feed(b"\x1b[?25h")
    assert screen.cursor == (0, 0)


def test_title_via_osc(backend: str) -> None:
    screen = new(backend)
    assert screen.title == ""
    screen.feed(b"\x1b]2;root@web-01: ~\x07")
    assert screen.title == "root@web-01: ~"
    screen.feed(b"\x1b]0;other\x1b\\after")
    assert screen.title == "other"
    assert text(screen)[0] == "after"


def test_random_bytes_never_raise(backend: str) -> None:
    rng = random.Random(20240601)
    screen = new(backend, 80, 24, scrollback_lines=100)
    data = rng.randbytes(200_000)
    offset = 0
    while offset < len(data):
        size = rng.randint(1, 4096)
        screen.feed(data[offset : offset + size])
        offset += size
        screen.rows()
    assert screen.size == (80, 24)
    assert len(screen.display()) == 24
    screen.history()
    screen.scrolled_off()
    screen.snapshot()
    screen.feed(b"\x1b\\\x18\x1bc\x1b[?25hok")
    assert text(screen)[0] == "ok"
    assert screen.cursor == (2, 0)


@pytest.mark.parametrize(
    "truncated",
    [
        b"\x1b[",
        b"\x1b[38;2;",
        b"\x1b]0;unterminated",
        b"\x1bP",
        b"\x1bPq#0;2;0;0;0",
        b"\xff",
        b"\xc3",
    ],
)
def test_truncated_sequences_leave_the_screen_usable(backend: str, truncated: bytes) -> None:
    """What follows a truncated sequence belongs to it, as on any terminal; ST ends it."""
    screen = new(backend)
    screen.feed(truncated)
    screen.rows()
    screen.snapshot()
    screen.feed(ST + b"\r\nok")
    assert text(screen)[1] == "ok"
    assert screen.cursor == (2, 1)


def test_dcs_payload_is_not_drawn(backend: str, request: pytest.FixtureRequest) -> None:
    gap(request, backend, KNOWN_GAPS["pyte"][2])
    screen = new(backend)
    screen.feed(b"\x1bPq#0;2;0;0;0" + ST + b"ok")
    assert text(screen)[0] == "ok"


def test_osc_ends_on_cancel(backend: str, request: pytest.FixtureRequest) -> None:
    gap(request, backend, KNOWN_GAPS["pyte"][3])
    screen = new(backend)
    screen.feed(b"\x1b]0;unterminated\x18ok")
    assert text(screen)[0] == "ok"


def test_known_gaps_are_documented() -> None:
    assert set(KNOWN_GAPS) == {"evp", "pyte"}
    doc = screen_module.__doc__ or ""
    assert len(KNOWN_GAPS["pyte"]) == doc.count("\n- ", doc.index("Known gaps of the pyte"))
