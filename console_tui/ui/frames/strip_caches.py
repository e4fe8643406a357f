"""Make Textual's strips cheap to create: each cache a strip may use is made when first used.

A `Strip` (one drawn line) makes seven small caches as it is created: for its crops, cuts, styles,
filters, lengths and offsets. Most strips are made once, drawn once and dropped without ever
using one: while a console floods, a frame makes about four strips for each of its 50 lines, and
making their 1,400 caches was a quarter of the frame. `make_lazy()` replaces `Strip.__init__`
with one that sets the strip's plain fields only; the first use of a cache makes it, the same
kind and size as Textual's own (read from a strip made the original way).

Once per process, for every app in it (as `serve` runs many); checked against the Textual this
project requires (>= 8): where a new strip is not made as described here, nothing is replaced.
`tests/test_strip_caches.py` checks strips behave the same either way.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.segment import Segment
from textual.cache import FIFOCache
from textual.strip import Strip

__all__ = ["make_lazy"]

_original_init = Strip.__init__
_CACHE_SIZES: dict[str, int] = {}
"""The caches a strip makes, by attribute, and their sizes."""
_PLAIN: dict[str, Any] = {}
"""The other fields a new strip sets besides its segments and length, and their first values."""


def _lazy_init(self: Strip, segments: Iterable[Segment], cell_length: int | None = None) -> None:
    self._segments = list(segments)
    self._cell_length = cell_length
    for name, value in _PLAIN.items():
        setattr(self, name, value)


def _make_cache(self: Strip, name: str) -> Any:
    size = _CACHE_SIZES.get(name)
    if size is None:
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
    cache: FIFOCache[Any, Any] = FIFOCache(size)
    setattr(self, name, cache)
    return cache


def _described() -> bool:
    """Read how a strip is made; whether it is as described above (slots, caches, plain fields)."""
    slots = getattr(Strip, "__slots__", None)
    if not isinstance(slots, (list, tuple)) or "__getattr__" in vars(Strip):
        return False
    sample = Strip([Segment("x")], 1)
    for name in slots:
        value = getattr(sample, name, None)
        if isinstance(value, FIFOCache):
            if len(value) or not isinstance(getattr(value, "_maxsize", None), int):
                return False
            _CACHE_SIZES[name] = value._maxsize
        elif name not in ("_segments", "_cell_length"):
            if value is not None:  # a field that starts with a value of its own: not described
                return False
            _PLAIN[name] = value
    return bool(_CACHE_SIZES)


def make_lazy() -> bool:
    """Replace `Strip.__init__` (once); whether it is replaced."""
    if Strip.__init__ is _lazy_init:
        return True
    if Strip.__init__ is not _original_init or not _described():
        return False
    Strip.__getattr__ = _make_cache  # type: ignore[attr-defined]
    Strip.__init__ = _lazy_init  # type: ignore[method-assign]
    return True
