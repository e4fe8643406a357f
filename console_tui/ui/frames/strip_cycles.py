"""Keep Textual's strips out of reference cycles, so a frame's lines are freed when dropped.

`Strip.divide` caches what it returns in the strip itself; cut once at its own end it returns
`[self]`, so the strip holds a list that holds the strip. Textual's compositor divides every line
of every widget it draws that way, so each drawn line (with its seven caches and their dicts) was
garbage only the cyclic collector could free: while a console floods, 2,000 such strips piled up
between collections and one collection of the younger objects took 20-50 ms, in the middle of a
frame, and a key's echo waited for it. Cut once at its end, the strip is returned in a new list
and nothing is cached: as quick, and freed by its reference count.

`prevent()` replaces `Strip.divide` once per process, for every app in it (as `serve` runs many);
checked against the Textual this project requires (>= 8): where the method is not the one
described here, it leaves it alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from textual.strip import Strip

__all__ = ["prevent"]

_divide: Callable[[Strip, Iterable[int]], Sequence[Strip]] = Strip.divide


def _divide_without_cycle(self: Strip, cuts: Iterable[int]) -> Sequence[Strip]:
    cell_length = self.cell_length
    kept = [cut for cut in cuts if cut <= cell_length]
    if kept == [cell_length]:
        return [self]
    return _divide(self, kept)


def prevent() -> bool:
    """Replace `Strip.divide` (once); whether it is replaced."""
    if Strip.divide is _divide_without_cycle:
        return True
    if not hasattr(Strip, "_divide_cache"):  # not the Strip described above
        return False
    Strip.divide = _divide_without_cycle  # type: ignore[method-assign]
    return True
