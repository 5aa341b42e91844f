"""The collector tuning `tessera-server run` applies once started (server/main.py `tune_gc`)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from server.main import GC_YOUNG, tune_gc


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


def test_start_up_objects_are_set_aside_and_the_young_generation_is_collected_less_often(restored_gc: None) -> None:
    gc.unfreeze()
    _young, middle, old = gc.get_threshold()
    tune_gc()
    assert gc.get_freeze_count() > 0  # what was loaded so far is out of the collector's sight
    assert gc.get_threshold() == (GC_YOUNG, middle, old)  # only the youngest generation's threshold moves
    # a cycle made after start-up is not set aside: the collector still frees it, and without being asked,
    # within a few young-generation thresholds' worth of allocations
    cycle = Node()
    cycle.me = cycle
    gone = weakref.ref(cycle)
    del cycle
    kept: list[list[int]] = []  # live container allocations (what is freed at once does not count)
    while gone() is not None and len(kept) < 4 * GC_YOUNG:
        kept.append([len(kept)])
    allocated = len(kept)
    assert gone() is None, f"a cycle was not collected after {allocated} allocations"


class Node:
    me: object = None
