"""Simplicate's zone-less timestamps (`YYYY-MM-DD HH:MM:SS`, the account's Europe/Amsterdam wall clock).

Only Simplicate's string format lives here; the conversions, and how they treat the repeated autumn hour and the
skipped spring hour, are the core's (`crmsync.localtime`): a wall time in the repeated hour is its first
occurrence, one in the skipped hour is shifted forward by the gap, and a `since` in the first pass of the repeated
hour moves back by the jump so the `>=` filter never misses a sale stamped in the second pass.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from crmsync.localtime import local_to_utc, since_as_local, utc_to_local

AMSTERDAM = ZoneInfo("Europe/Amsterdam")
WIRE_FORMAT = "%Y-%m-%d %H:%M:%S"


def parse_local(text: str, zone: ZoneInfo = AMSTERDAM) -> datetime:
    """A Simplicate wall-clock timestamp as an aware UTC datetime.

    Raises:
        ValueError: the text is not `YYYY-MM-DD HH:MM:SS` (a bare date is read as midnight).
    """
    text = text.strip()
    wall = datetime.strptime(text, "%Y-%m-%d") if len(text) == 10 else datetime.strptime(text, WIRE_FORMAT)
    return local_to_utc(wall, zone)


def format_local(instant: datetime, zone: ZoneInfo = AMSTERDAM) -> str:
    """An aware instant in Simplicate's wire format (wall-clock time in `zone`)."""
    return utc_to_local(instant, zone).strftime(WIRE_FORMAT)


def since_filter(since: datetime, zone: ZoneInfo = AMSTERDAM) -> str:
    """The `q[updated_at][ge]` value that returns every record changed at or after `since` (to the second)."""
    return since_as_local(since, zone).strftime(WIRE_FORMAT)


def parse_date(text: str) -> date:
    """A Simplicate date (`YYYY-MM-DD`)."""
    return date.fromisoformat(text.strip()[:10])


def now_wall(zone: ZoneInfo = AMSTERDAM) -> datetime:
    """The current wall-clock time in `zone`, to the second (what Simplicate stamps)."""
    return utc_to_local(datetime.now(UTC), zone).replace(microsecond=0)


__all__ = [
    "AMSTERDAM",
    "WIRE_FORMAT",
    "format_local",
    "now_wall",
    "parse_date",
    "parse_local",
    "since_filter",
]
