"""Cursor and hold-back policy: small pure functions, in the manner of singer-sdk's state helpers.

- The **signpost** is the run's start time. The cursor never moves past it, so an edit made while the run
  lists (stamped after the signpost) is read again by the next run instead of being skipped.
- A chunk's **checkpoint** is the latest modification time of the deals it brought, computed by the engine
  from the mapped `Deal.updated_at` values. Stamps beyond `now + tolerance` (a CRM clock running ahead, a
  record stamped 2999) are left out of it and reported, so they can never push the cursor forward.
- The stored cursor **advances** only after the run's writes are settled, to the latest checkpoint seen,
  bound by the signpost, and never moves backwards on its own.
- A whole listing also advances it to **what the CRM's clock vouches for**: the server time (HTTP `Date`) before
  the listing began, less the overlap. Every edit older than that was indexed when the listing ran, so it was
  read; the next run, starting a further overlap earlier, reads edits stamped up to two overlaps before this run.
  Without it a quiet CRM would be read again, run after run, from its latest edit, which is often crmsync's own
  write-back: every deal the last writing run wrote.
- A failed write **holds the cursor back** to the modification time of its deal, so the next incremental run
  reads that deal again and retries. A deal without a modification time keeps the cursor where it was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

FUTURE_TOLERANCE = timedelta(minutes=5)


@dataclass(frozen=True)
class Checkpoint:
    """The latest believable modification time among some deals, and the stamps left out as in the future."""

    value: datetime | None = None
    future: tuple[datetime, ...] = field(default=())


def checkpoint(stamps: Iterable[datetime | None], now: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> Checkpoint:
    """The checkpoint of one chunk: the latest stamp not beyond `now + tolerance`; later stamps are reported."""
    limit = now + tolerance
    believable: list[datetime] = []
    future: list[datetime] = []
    for stamp in stamps:
        if stamp is None:
            continue
        (future if stamp > limit else believable).append(stamp)
    return Checkpoint(max(believable, default=None), tuple(future))


def trusted(cursor: datetime | None, now: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> datetime | None:
    """A stored cursor, or None (read everything) when it lies beyond `now + tolerance`.

    Only a store written before future stamps were clamped can hold such a cursor; reading from it would
    miss every real edit, so the run reads everything once instead.
    """
    return None if cursor is not None and cursor > now + tolerance else cursor


def latest(first: datetime | None, second: datetime | None) -> datetime | None:
    """The later of two optional times (a progress marker folding page checkpoints)."""
    if first is None:
        return second
    if second is None:
        return first
    return max(first, second)


def advance(
    previous: datetime | None, seen: datetime | None, signpost: datetime, vouched: datetime | None = None
) -> datetime | None:
    """The cursor after a run without failed writes: the latest checkpoint seen, bound by the signpost, or the
    time the CRM's clock vouches for (`vouched`: its time before the listing, less the overlap) if later.

    It never goes back by itself: a listing that only re-read the overlap window leaves it where it was.
    """
    bounded = min(seen, signpost) if seen is not None else None
    return latest(previous, latest(bounded, vouched))


def vouched_for(
    server_time: datetime | None, now: datetime, overlap: timedelta, tolerance: timedelta
) -> datetime | None:
    """The time a whole listing vouches for: the CRM's clock before it began (`server_time`) less `overlap`;
    None without a server time, or when the CRM's clock and ours differ by more than `tolerance` (a clock that
    far off is trusted for nothing)."""
    if server_time is None or abs(server_time - now) > tolerance:
        return None
    return server_time - overlap


def hold_back(cursor: datetime | None, previous: datetime | None, failed: Iterable[datetime | None]) -> datetime | None:
    """The cursor held back for deals whose write failed (their modification times in `failed`).

    A failed deal without a modification time cannot be located by time: the cursor stays at `previous`.
    """
    stamps = list(failed)
    if not stamps:
        return cursor
    if any(stamp is None for stamp in stamps):
        return previous
    hold = min(stamp for stamp in stamps if stamp is not None)
    return hold if cursor is None else min(cursor, hold)


def next_cursor(
    previous: datetime | None,
    seen: datetime | None,
    signpost: datetime,
    failed: Iterable[datetime | None] = (),
    vouched: datetime | None = None,
) -> datetime | None:
    """The cursor a run stores once every write is settled (`advance`, then `hold_back`)."""
    return hold_back(advance(previous, seen, signpost, vouched), previous, failed)
