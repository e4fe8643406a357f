"""Full garbage collections while the app is quiet, not in the middle of a frame.

Python runs a full collection every so many younger ones, wherever the program is. With a
console's scrollback and Textual's widgets on the heap, one took 90-180 ms on a loaded machine
and landed in the middle of drawing a flood, so a key's echo waited for it (the worst echo times
under a flood were all such collections). The app turns the automatic full collection off and
runs it itself: once the console has been quiet for QUIET_SECONDS (no frame drawn, no key typed)
and enough younger collections are owed, or at the latest every LONGEST_SECONDS, so memory held
by reference cycles stays bounded under a flood that never stops.
"""

from __future__ import annotations

import gc
import time
from typing import Any

from textual.app import App

QUIET_SECONDS = 1.0
LONGEST_SECONDS = 60.0
OWED = 10
"""Younger collections since the last full one before a quiet spell is used (Python's own
threshold for a full collection)."""
CHECK_SECONDS = 0.5
NEVER = 1 << 30
"""A threshold for full collections that is never reached: they are run here instead."""

_busy_at = 0.0
_collected_at = time.monotonic()


def busy() -> None:
    """The app is drawing or the operator typing: no full collection for a while."""
    global _busy_at
    _busy_at = time.monotonic()


def collect_if_due(now: float | None = None) -> bool:
    """Run a full collection if one is owed and the app is quiet, or the last one is too long
    ago; whether it ran."""
    global _collected_at
    now = time.monotonic() if now is None else now
    owed = gc.get_count()[2]
    quiet_and_owed = now - _busy_at >= QUIET_SECONDS and owed >= OWED
    if not owed or not (quiet_and_owed or now - _collected_at >= LONGEST_SECONDS):
        return False
    gc.collect()
    _collected_at = time.monotonic()
    return True


def collect_when_quiet(app: App[Any]) -> None:
    """From now on, full collections in this process happen while `app` is quiet."""
    young, middle, _ = gc.get_threshold()
    gc.set_threshold(young, middle, NEVER)
    app.set_interval(CHECK_SECONDS, collect_if_due, name="full garbage collection")
