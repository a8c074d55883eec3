"""AFAS time stamps: written `YYYY-MM-DDTHH:MM:SSZ`, but the Z lies — they are Amsterdam local time.

These small pure functions are the only place the connector turns AFAS's wall-clock values into aware UTC
datetimes and back (for filter values such as the incremental `since`).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def parse_local(value: str) -> datetime:
    """Parse an AFAS date-time (`2024-05-03T14:01:10Z`, Amsterdam wall clock) into an aware UTC datetime.

    Raises:
        ValueError: `value` is not an ISO date-time.
    """
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    naive = datetime.fromisoformat(text)
    if naive.tzinfo is not None:  # an explicit offset (not AFAS's habit) is taken at its word
        return naive.astimezone(UTC)
    return naive.replace(tzinfo=AMSTERDAM).astimezone(UTC)


def parse_date(value: str) -> date:
    """The calendar date of an AFAS date field (`2024-06-30T00:00:00Z` → 2024-06-30), no conversion."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1]
    return datetime.fromisoformat(text).date() if "T" in text else date.fromisoformat(text)


def filter_value(moment: datetime) -> str:
    """An aware datetime as the Amsterdam wall-clock value AFAS compares with: `2024-05-01T02:00:00`."""
    if moment.tzinfo is None:
        raise ValueError("a filter moment must carry a time zone")
    return moment.astimezone(AMSTERDAM).replace(tzinfo=None, microsecond=0).isoformat()


def format_local(moment: datetime) -> str:
    """An aware datetime as AFAS writes it: Amsterdam wall clock with the misleading Z."""
    return filter_value(moment) + "Z"
