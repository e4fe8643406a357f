"""Full garbage collections run while the app is quiet (real collections, no stand-ins)."""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator

import pytest
from textual.app import App

from console_tui.ui.frames import idle_gc


@pytest.fixture
def thresholds() -> Iterator[None]:
    """Python's own collection thresholds again after the test (the process is shared)."""
    saved = gc.get_threshold()
    try:
        yield
    finally:
        gc.set_threshold(*saved)
        gc.collect()


def owe_full_collection() -> None:
    """Run younger collections until a full one is owed."""
    while gc.get_count()[2] < idle_gc.OWED:
        gc.collect(1)


def test_a_full_collection_waits_for_a_quiet_spell(thresholds: None) -> None:
    gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], idle_gc.NEVER)
    owe_full_collection()
    # Start from a full collection just run, whatever ran earlier in this process.
    assert idle_gc.collect_if_due(time.monotonic() + idle_gc.LONGEST_SECONDS)
    owe_full_collection()
    idle_gc.busy()
    now = time.monotonic()
    assert not idle_gc.collect_if_due(now)  # drawing: it waits
    assert gc.get_count()[2] >= idle_gc.OWED
    assert idle_gc.collect_if_due(now + idle_gc.QUIET_SECONDS)  # quiet: it runs
    assert gc.get_count()[2] == 0
    assert not idle_gc.collect_if_due(now + 2 * idle_gc.QUIET_SECONDS)  # nothing owed


def test_a_flood_that_never_stops_still_gets_full_collections(thresholds: None) -> None:
    gc.set_threshold(gc.get_threshold()[0], gc.get_threshold()[1], idle_gc.NEVER)
    gc.collect(1)
    idle_gc.busy()
    now = time.monotonic()
    assert not idle_gc.collect_if_due(now)
    assert idle_gc.collect_if_due(now + idle_gc.LONGEST_SECONDS)
    assert gc.get_count()[2] == 0


async def test_the_app_turns_automatic_full_collections_off(thresholds: None) -> None:
    saved = gc.get_threshold()
    app = App[None]()
    async with app.run_test():
        idle_gc.collect_when_quiet(app)
        assert gc.get_threshold()[2] == idle_gc.NEVER
        assert gc.get_threshold()[:2] == saved[:2]  # younger collections as before
