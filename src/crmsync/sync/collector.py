"""The garbage collector during a run: what existed before it is left out of the collector's full collections.

A process that runs a sync holds its imports, settings, mapping and reference data, all long-lived. Python's
full collections scan every object the collector tracks, so each one a run sets off scans all of that again,
although none of it becomes garbage while the run lasts (measured: half of a 20,000-deal sync's collection time).
`gc.freeze()` moves the objects alive when a run starts out of the collector's sight; `gc.unfreeze()` gives them
back when the last run in the process ends, so anything of theirs that later dies in a cycle is still collected.

A run also holds a chunk of the listing (500 deals, with their records, forecasts and plans) while it works on it.
At Python's default of a young collection every 700 new objects, those survive into the older generations and are
scanned again and again before they die with their chunk (8 % of the engine's time, measured); during runs the
young generation is therefore collected every `YOUNG` new objects instead, which costs a few hundred kB at most.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_running = 0  # runs inside `frozen_before` in this process (the service runs several connections at once)
_before: tuple[int, int, int] | None = None  # the collector's thresholds before the first of them
YOUNG = 5_000  # the young generation's threshold during runs (never lowered below the process's own)


@contextmanager
def frozen_before() -> Iterator[None]:
    """Freeze the objects alive now, and collect the young generation less often, until this run (and every other
    run begun meanwhile) has ended."""
    global _running, _before
    with _lock:
        _running += 1
        gc.freeze()
        if _running == 1:
            _before = gc.get_threshold()
            if _before[0]:  # 0: the process turned automatic collection off, and it stays off
                gc.set_threshold(max(YOUNG, _before[0]), *_before[1:])
    try:
        yield
    finally:
        with _lock:
            _running -= 1
            if _running == 0:
                gc.unfreeze()
                if _before is not None:
                    gc.set_threshold(*_before)
                    _before = None
