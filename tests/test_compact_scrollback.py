"""The evp screen keeps its scrollback as compressed console bytes and draws it again when read.

The reference is libghostty itself holding the whole scrollback, fed the same bytes: the rows
drawn again from the replay log must be the same, through resizes, styles and the alternate screen.
"""

from __future__ import annotations

import random

import pytest

from console_tui.core import _replay_log
from console_tui.core.screen import available_backends, make_screen

pytestmark = pytest.mark.skipif(
    "evp" not in available_backends(), reason="the compact scrollback is the evp backend's"
)


def console_output(lines: int, seed: int = 5) -> list[bytes]:
    """Kernel-log-like lines, some coloured, some longer than a row, in reads of varying size."""
    rng = random.Random(seed)
    text = b"".join(
        b"[%8.3f] \x1b[%dmunit %d\x1b[0m %s\r\n"
        % (n / 10, rng.choice((0, 1, 31, 32)), n, b"x" * rng.choice((5, 40, 150)))
        for n in range(lines)
    )
    reads, start = [], 0
    while start < len(text):
        size = rng.choice((100, 576, 4096))
        reads.append(text[start : start + size])
        start += size
    return reads


def reference_history(reads: list[bytes], resize_at: int, sizes: list[tuple[int, int]]) -> list:
    """The scrollback as a libghostty model holding all of it has it: `(text, styles)` rows."""
    import evp

    from console_tui.core._screen_evp import _cell_style

    terminal = evp.Terminal(*sizes[0], max_scrollback_bytes=1 << 30)
    for n, data in enumerate(reads):
        if n == resize_at:
            terminal.resize(*sizes[1])
        terminal.feed(data)
    history = evp.RenderState(terminal).history()
    table = [_cell_style(style) for style in history.new_styles]
    return [
        ("".join(row.graphemes), [table[index] for index in row.styles])
        for row in history.rows[-2000:]
    ]


def test_history_drawn_again_equals_a_model_holding_it_all() -> None:
    reads = console_output(6000)
    sizes = [(80, 24), (120, 30)]
    screen = make_screen(*sizes[0], backend="evp", scrollback_lines=2000)
    for n, data in enumerate(reads):
        if n == len(reads) // 2:
            screen.resize(*sizes[1])
        screen.feed(data)
    history = screen.history()
    assert len(history) == 2000
    expected = reference_history(reads, len(reads) // 2, sizes)
    got = [(row.text, [style for text, style in row.runs for _ in text]) for row in history]
    assert [text for text, _ in got] == [text for text, _ in expected]
    assert got == expected


def test_the_log_is_far_smaller_than_the_output_and_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_replay_log, "COMPRESS_AFTER", 0.0)  # as if the lines came slowly
    screen = make_screen(80, 24, backend="evp", scrollback_lines=1000)
    reads = console_output(20000)
    for data in reads:
        screen.feed(data)
    held = screen._log.size  # type: ignore[attr-defined]
    assert held < sum(map(len, reads)) / 10
    history = [row.text for row in screen.history()]
    assert len(history) == 1000
    assert any(text.startswith("[1990.000]") for text in history)
    assert not any(text.startswith("[1500.000]") for text in history)


def test_a_flood_is_not_compressed_but_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pieces a flood pushes out before they are old enough are dropped without compressing."""
    monkeypatch.setattr(_replay_log, "COMPRESS_AFTER", 3600.0)
    screen = make_screen(80, 24, backend="evp", scrollback_lines=1000)
    for data in console_output(20000):
        screen.feed(data)
    log = screen._log  # type: ignore[attr-defined]
    assert not any(piece.compressed for chunk in log.chunks for piece in chunk.pieces)
    assert log.size < 4 * _replay_log.CHUNK_BYTES + 1000 * 200
    assert len(screen.history()) == 1000


def test_replaying_never_answers_the_guest_again() -> None:
    replies: list[bytes] = []
    screen = make_screen(40, 10, backend="evp", on_reply=replies.append)
    screen.feed(b"\x1b[6n" + b"line\r\n" * 50)
    assert replies == [b"\x1b[1;1R"]
    screen.history()
    screen.resize(50, 12)
    screen.scrolled_off()
    screen.feed(b"more\r\n")
    assert replies == [b"\x1b[1;1R"]


def test_growing_pulls_rows_back_and_a_late_reader_gets_every_line() -> None:
    screen = make_screen(40, 10, backend="evp")
    screen.feed(b"".join(b"line %d\r\n" % n for n in range(3000)))
    screen.resize(40, 20)
    assert screen.display()[0].rstrip() == "line 2981"
    lines = screen.scrolled_off()
    assert lines[0] == "line 0" and lines[-1] == "line 2980"
    screen.feed(b"".join(b"after %d\r\n" % n for n in range(2000)))
    assert screen.scrolled_off() == [f"line {n}" for n in range(2981, 3000)] + [
        f"after {n}" for n in range(2000 - 19)
    ]
