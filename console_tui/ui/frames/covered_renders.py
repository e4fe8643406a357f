"""Draw a frame's changed area from the widgets on top only, not from every widget beneath too.

Textual's compositor draws an update front to back: for the area that changed it asks each
visible widget that overlaps it, top first, for its lines, cuts them where widgets meet, and
keeps, for each piece of each line, the first widget's. A console view sits in seven containers
(tabs, panes, the screen); when its rows change, all of them drew and were cut on every changed
line, only to be covered: 40 % of a frame while a console floods.

Once a widget on top covers the whole changed area, nothing beneath it can show there: pieces
outside that area are not written to the terminal. `skip_covered()` stops the compositor's walk
through the widgets at that point; every piece inside the area comes from the same widget as
before. It reaches into Textual's compositor (`Compositor._get_renders`), checked against the
Textual this project requires (>= 8): where it is not the generator described here, it is left
alone. `tests/test_ui_covered_renders.py` holds what reaches the terminal against Textual's own.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator

from textual._compositor import Compositor
from textual.geometry import Region
from textual.strip import Strip

__all__ = ["skip_covered"]

Render = tuple[Region, Region, list[Strip]]
_get_renders: Callable[[Compositor, Region | None], Iterable[Render]] = Compositor._get_renders


def _renders_until_covered(self: Compositor, crop: Region | None = None) -> Iterator[Render]:
    """Textual's renders, top first, up to the first that covers all of `crop`."""
    for render in _get_renders(self, crop):
        yield render
        region, clip, _ = render
        if crop is not None and region.intersection(clip).contains_region(crop):
            return


def skip_covered() -> bool:
    """Replace `Compositor._get_renders` (once); whether it is replaced."""
    if Compositor._get_renders is _renders_until_covered:
        return True
    if not inspect.isgeneratorfunction(_get_renders) or list(
        inspect.signature(_get_renders).parameters
    ) != ["self", "crop"]:
        return False
    Compositor._get_renders = _renders_until_covered  # type: ignore[method-assign]
    return True
