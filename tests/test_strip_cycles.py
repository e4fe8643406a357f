"""A drawn line is freed when dropped, not left to the cyclic garbage collector (ui/frames/strip_cycles.py).

Textual's compositor cuts every line of every widget once at its end (`Strip.divide`); that used
to cache the strip inside itself, so every line of every frame was a reference cycle, and under a
flood the collections that freed them took 20-50 ms in the middle of a frame."""

from __future__ import annotations

import gc

from rich.segment import Segment
from textual.strip import Strip

from console_tui.ui.frames import strip_cycles

LINES = 200


def garbage_after_drawing(lines: int) -> int:
    """Objects the cyclic collector finds after `lines` lines were cut as the compositor cuts
    them and dropped."""
    gc.collect()
    gc.disable()
    try:
        for number in range(lines):
            strip = Strip([Segment(f"console line {number}")])
            strip.divide([strip.cell_length])
            del strip
        return gc.collect()
    finally:
        gc.enable()


def test_a_line_cut_once_at_its_end_is_freed_when_dropped() -> None:
    assert strip_cycles.prevent()
    assert strip_cycles.prevent(), "a second call changes nothing"
    assert garbage_after_drawing(LINES) < LINES // 4


def test_cutting_still_gives_textuals_pieces() -> None:
    strip_cycles.prevent()
    strip = Strip([Segment("console line")])
    assert strip.divide([strip.cell_length]) == [strip]
    assert strip.divide(iter([strip.cell_length, 99])) == [strip]  # cuts past the end are dropped
    assert [part.text for part in strip.divide([3, 7, strip.cell_length])] == [
        "con",
        "sole",
        " line",
    ]
