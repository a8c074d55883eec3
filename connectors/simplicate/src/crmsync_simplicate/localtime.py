"""Simplicate's zone-less timestamps: Europe/Amsterdam wall-clock time, converted to and from UTC.

Simplicate sends `YYYY-MM-DD HH:MM:SS` without an offset; the wall clock is the account's (Europe/Amsterdam).
Two hours a year need a decision:

- autumn (clocks back, 03:00 → 02:00): 02:00-02:59 happens twice. A wall time in it is read as the *first*
  occurrence (summer time, the earlier instant), which is what PHP does and keeps a checkpoint on the early side.
- spring (clocks forward, 02:00 → 03:00): 02:00-02:59 does not exist. A wall time in it is read with the
  offset in force before the change, i.e. shifted forward by the gap (02:30 → 03:30 CEST), as PHP does.

For the incremental filter the opposite direction matters: every instant at or after `since` must have a wall
time at or after the filter value. In the repeated autumn hour that fails for the second pass, so a `since` in the
first pass is moved back by the size of the jump (at most an hour's over-fetch, once a year, never a miss).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_local(text: str, zone: ZoneInfo = AMSTERDAM) -> datetime:
    """A Simplicate wall-clock timestamp as an aware UTC datetime.

    Raises:
        ValueError: the text is not `YYYY-MM-DD HH:MM:SS` (a bare date is read as midnight).
    """
    text = text.strip()
    wall = datetime.strptime(text, "%Y-%m-%d") if len(text) == 10 else datetime.strptime(text, WIRE_FORMAT)
    # fold=0: first occurrence of a repeated hour; for a skipped hour, the offset before the change.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def to_wall(instant: datetime, zone: ZoneInfo = AMSTERDAM) -> datetime:
    """The naive wall-clock time of an aware instant in `zone`."""
    if instant.tzinfo is None:
        raise ValueError("instant must carry a time zone")
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def format_local(instant: datetime, zone: ZoneInfo = AMSTERDAM) -> str:
    """An aware instant in Simplicate's wire format (wall-clock time in `zone`)."""
    return to_wall(instant, zone).strftime(WIRE_FORMAT)


def since_filter(since: datetime, zone: ZoneInfo = AMSTERDAM) -> str:
    """The `q[updated_at][ge]` value that returns every record changed at or after `since`.

    Seconds are truncated (the filter's resolution), and a `since` in the first pass of a repeated autumn hour
    moves back by the size of the jump so records stamped in the second pass are not missed.
    """
    if since.tzinfo is None:
        raise ValueError("since must carry a time zone")
    local = since.astimezone(zone)
    wall = local.replace(tzinfo=None, microsecond=0)
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    first_offset = first.utcoffset() or timedelta(0)
    second_offset = second.utcoffset() or timedelta(0)
    repeated = first_offset > second_offset
    if repeated and local.fold == 0:
        wall -= first_offset - second_offset
    return wall.strftime(WIRE_FORMAT)


def parse_date(text: str) -> date:
    """A Simplicate date (`YYYY-MM-DD`)."""
    return date.fromisoformat(text.strip()[:10])


def now_wall(zone: ZoneInfo = AMSTERDAM) -> datetime:
    """The current wall-clock time in `zone`, to the second (what Simplicate stamps)."""
    return to_wall(datetime.now(UTC), zone).replace(microsecond=0)


__all__ = [
    "AMSTERDAM",
    "WIRE_FORMAT",
    "format_local",
    "now_wall",
    "parse_date",
    "parse_local",
    "since_filter",
    "to_wall",
]
