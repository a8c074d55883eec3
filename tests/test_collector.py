"""frozen_before: a run's pre-existing objects stay out of full collections, and come back when runs end."""

from __future__ import annotations

import gc
import weakref

import pytest

from crmsync.sync import collector
from crmsync.sync.collector import frozen_before


def test_objects_alive_before_are_frozen_until_the_last_run_ends() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with frozen_before():
        frozen = gc.get_freeze_count()
        assert frozen > 0  # this test's own objects among them
        with frozen_before():  # a second run begun meanwhile (the service runs connections side by side)
            assert gc.get_freeze_count() >= frozen
        assert gc.get_freeze_count() >= frozen  # the first run still runs: nothing given back yet
    assert gc.get_freeze_count() == 0


def test_a_failed_run_gives_the_objects_back() -> None:
    gc.unfreeze()

    def fail() -> None:
        with frozen_before():
            raise RuntimeError("the run failed")

    with pytest.raises(RuntimeError, match="the run failed"):
        fail()
    assert gc.get_freeze_count() == 0


def test_a_cycle_dead_during_a_run_is_collected_after_it() -> None:
    class Node:
        def __init__(self) -> None:
            self.me = self  # a cycle: only the collector frees it

    gc.unfreeze()
    node = Node()
    watch = weakref.ref(node)
    with frozen_before():
        del node
        gc.collect()
        assert watch() is not None  # frozen: left alone while the run lasts
    gc.collect()
    assert watch() is None  # given back, and collected


def test_the_young_generation_is_collected_less_often_during_runs_and_as_before_after() -> None:
    before = gc.get_threshold()
    with frozen_before():
        during = gc.get_threshold()
        assert during == (max(collector.YOUNG, before[0]), *before[1:])
        with frozen_before():  # a second run begun meanwhile keeps the same thresholds
            assert gc.get_threshold() == during
        assert gc.get_threshold() == during, "the first run still runs"
    assert gc.get_threshold() == before


@pytest.mark.parametrize("own", [collector.YOUNG * 4, 0])  # higher, or automatic collection turned off
def test_a_process_with_a_higher_or_no_threshold_keeps_it(own: int) -> None:
    before = gc.get_threshold()
    gc.set_threshold(own, *before[1:])
    try:
        with frozen_before():
            assert gc.get_threshold()[0] == own
        assert gc.get_threshold()[0] == own
    finally:
        gc.set_threshold(*before)
