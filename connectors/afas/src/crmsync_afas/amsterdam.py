"""AFAS time stamps: written `YYYY-MM-DDTHH:MM:SSZ`, but the Z lies — they are Amsterdam local time.

Only AFAS's string format lives here; the conversions between the Amsterdam wall clock and UTC (and how they
treat the repeated autumn hour and the skipped spring hour) are the core's, `crmsync.localtime`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from crmsync.localtime import local_to_utc, since_as_local, utc_to_local

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def parse_local(value: str) -> datetime:
    """Parse an AFAS date-time (`2024-05-03T14:01:10Z`, Amsterdam wall clock) into an aware UTC datetime.

    A wall time in the repeated autumn hour is its first occurrence; one in the skipped spring hour is shifted
    forward by the gap.

    Raises:
        ValueError: `value` is not an ISO date-time.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:  # an explicit offset (not AFAS's habit) is taken at its word
        return moment.astimezone(UTC)
    return local_to_utc(moment, AMSTERDAM)


def parse_date(value: str) -> date:
    """The calendar date of an AFAS date field (`2024-06-30T00:00:00Z` → 2024-06-30), no conversion."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)


def filter_value(moment: datetime) -> str:
    """An aware datetime as the Amsterdam wall-clock value AFAS compares with: `2024-05-01T02:00:00`.

    Raises:
        ValueError: `moment` carries no time zone.
    """
    if moment.tzinfo is None:
        raise ValueError("a filter moment must carry a time zone")
    return utc_to_local(moment, AMSTERDAM).replace(microsecond=0).isoformat()


def since_value(since: datetime) -> str:
    """The filter value (operator 2, >=) that returns every row modified at or after `since`.

    Profit compares wall-clock values, and in the autumn the hour 02:00-02:59 happens twice: a `since` in its first
    pass moves back by the jump (`crmsync.localtime.since_as_local`), at most an hour read again, never a row missed.

    Raises:
        ValueError: `since` carries no time zone.
    """
    if since.tzinfo is None:
        raise ValueError("a filter moment must carry a time zone")
    return since_as_local(since, AMSTERDAM).isoformat()


def format_local(moment: datetime) -> str:
    """An aware datetime as AFAS writes it: Amsterdam wall clock with the misleading Z."""
    return filter_value(moment) + "Z"
