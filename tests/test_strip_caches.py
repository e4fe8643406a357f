"""A new line makes no caches until one is used (ui/frames/strip_caches.py), and behaves as Textual's own.

While a console floods, a frame makes about four strips a line; each used to make seven small
caches as it was created, a quarter of the frame's time, though most strips never use one."""

from __future__ import annotations

import pytest
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._ansi_theme import DEFAULT_TERMINAL_THEME
from textual.color import Color
from textual.filter import ANSIToTruecolor
from textual.strip import Strip

from console_tui.ui.frames import strip_caches

SEGMENTS = [
    Segment("console ", Style(color="red", bold=True)),
    Segment("line", Style(bgcolor="blue")),
    Segment(" 42", None),
]


def made_the_original_way(segments: list[Segment]) -> Strip:
    strip = Strip.__new__(Strip)
    strip_caches._original_init(strip, segments)
    return strip


def test_a_new_line_makes_its_caches_only_when_used() -> None:
    assert strip_caches.make_lazy()
    assert strip_caches.make_lazy(), "a second call changes nothing"
    strip = Strip(SEGMENTS)
    crop_cache = Strip.__dict__["_crop_cache"]  # the slot itself: no cache made yet
    with pytest.raises(AttributeError):
        crop_cache.__get__(strip, Strip)
    first = strip.crop(2, 9)
    assert crop_cache.__get__(strip, Strip)._maxsize == 16  # Textual's size
    assert strip.crop(2, 9) is first, "the cache is used once made"
    with pytest.raises(AttributeError, match="no attribute 'not_a_field'"):
        strip.not_a_field  # noqa: B018


def test_a_lazy_line_draws_as_textuals_own() -> None:
    strip_caches.make_lazy()
    ours, theirs = Strip(SEGMENTS), made_the_original_way(SEGMENTS)
    truecolor = ANSIToTruecolor(DEFAULT_TERMINAL_THEME)
    background = Color(10, 20, 30)
    for cut in (
        lambda s: s.crop(2, 9),
        lambda s: s.divide([3, 8, 15]),
        lambda s: s.apply_style(Style(italic=True)),
        lambda s: s.apply_filter(truecolor, background),
        lambda s: s.crop_extend(1, 30, Style(bgcolor="green")),
        lambda s: s.adjust_cell_length(40, Style(bgcolor="green")),
        lambda s: s.extend_cell_length(20),
        lambda s: s.simplify(),
        lambda s: s.apply_offsets(3, 4),
    ):
        a, b = cut(ours), cut(theirs)
        a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
        assert [list(x) for x in a] == [list(x) for x in b]
        assert [x.cell_length for x in a] == [x.cell_length for x in b]
    console = Console(color_system="truecolor")
    assert ours.render(console) == theirs.render(console)
    assert ours.text == theirs.text and ours.link_ids == theirs.link_ids
