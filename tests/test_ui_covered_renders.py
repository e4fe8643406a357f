"""A changed area is drawn from the widgets on top only (ui/frames/covered_renders.py): what reaches the
terminal is cell for cell what Textual's own walk through every widget gives, for a console view
nested in containers as the app nests it, with a notice laid over it, and for the whole screen;
the containers under the view are not asked for their lines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual._compositor import ChopsUpdate, Compositor
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Static, TabbedContent, TabPane

from console_tui.ui.frames import covered_renders
from console_tui.ui.widgets.terminal import TerminalView

Cells = dict[tuple[int, int], tuple[str, object]]


class Nested(App[None]):
    CSS = """
    Screen { layers: base notices; }
    Static#targets { width: 20; }
    TerminalView { height: 1fr; }
    Static#notice { layer: notices; dock: bottom; width: 36; offset-x: 30; display: none; }
    """

    def compose(self) -> ComposeResult:
        yield Static("a notice laid over the console", id="notice")
        with Horizontal():
            yield Static("targets\n" * 5, id="targets")
            with Vertical(), TabbedContent(), TabPane("demo"):
                yield TerminalView(columns=50, rows=12)


def cells(update: ChopsUpdate) -> Cells:
    """The cells an update writes: each span's part of each piece of its line."""
    written: Cells = {}
    for y, x1, x2 in update.spans:
        for end, (x, strip) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
            if strip is None or x >= x2 or end <= x1:
                continue
            for text, style, _ in strip:
                for char in text:
                    if x1 <= x < x2:
                        written[x, y] = (char, style)
                    x += 1
    return written


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The widgets asked for their lines, by class name."""
    names: list[str] = []
    render_lines = Widget.render_lines

    def counted(self: Widget, crop: Region) -> list:  # type: ignore[type-arg]
        names.append(type(self).__name__)
        return render_lines(self, crop)

    monkeypatch.setattr(Widget, "render_lines", counted)
    yield names


def both_ways(compositor: Compositor, regions: list[Region], asked: list[str]) -> tuple:
    """The update for `regions` drawn Textual's way and this module's, and who was asked."""
    results = []
    for walk in (covered_renders._get_renders, covered_renders._renders_until_covered):
        Compositor._get_renders = walk  # type: ignore[method-assign]
        asked.clear()
        compositor._dirty_regions.update(regions)
        update = compositor.render_partial_update()
        assert isinstance(update, ChopsUpdate)
        results.append((cells(update), list(asked)))
    return results[0], results[1]


async def test_a_changed_console_is_drawn_as_textual_draws_it(asked: list[str]) -> None:
    original = Compositor._get_renders
    app = Nested()
    try:
        async with app.run_test(size=(80, 20)) as pilot:
            view = app.query_one(TerminalView)
            view.feed(b"".join(b"\x1b[3%dmline %d\r\n" % (i % 8, i) for i in range(30)))
            await pilot.pause()
            compositor = app.screen._compositor
            region = compositor.visible_widgets[view][0]
            rows = Region(region.x, region.y + 2, region.width, 5)
            (theirs, all_asked), (ours, ours_asked) = both_ways(compositor, [rows], asked)
            assert ours == theirs and len(ours) == rows.area
            assert "TerminalView" in ours_asked
            assert {"TabPane", "TabbedContent", "Vertical", "Horizontal"} <= set(all_asked)
            assert not {"TabPane", "TabbedContent", "Vertical", "Horizontal"} & set(ours_asked)

            app.query_one("#notice").display = True  # as a toast is laid over the screen
            await pilot.pause()
            whole_view = Region(region.x, region.y, region.width, region.height)
            (theirs, _), (ours, _) = both_ways(compositor, [whole_view], asked)
            assert ours == theirs
            assert "a notice" in "".join(char for char, _ in ours.values())

            screen = compositor.size.region
            (theirs, _), (ours, _) = both_ways(compositor, [screen], asked)
            assert ours == theirs and len(ours) == screen.area
    finally:
        Compositor._get_renders = original  # type: ignore[method-assign]


def test_the_walk_is_replaced_once() -> None:
    assert covered_renders.skip_covered()
    assert covered_renders.skip_covered(), "a second call changes nothing"
    assert Compositor._get_renders is covered_renders._renders_until_covered
