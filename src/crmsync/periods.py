"""Calendar arithmetic, in one place: month and quarter bounds, named periods relative to a day, "today".

The rules (`close_date_in = "this_quarter"`), the report (`--period 2026-Q2`) and the simulation (per quarter)
all count days here, so they cannot disagree about where a quarter ends.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

_CALENDAR = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


def today(zone: str | None = None) -> date:
    """Today in the time zone `zone` (an IANA name), or in UTC."""
    return datetime.now(ZoneInfo(zone) if zone else UTC).date()


def month_end(day: date) -> date:
    """The last day of the month of `day`."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def next_month(day: date) -> date:
    """The first day of the month after the month of `day`."""
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def quarter_start(day: date) -> date:
    """The first day of the quarter of `day`."""
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quarter_end(day: date) -> date:
    """The last day of the quarter of `day`."""
    start = quarter_start(day)
    return month_end(date(start.year, start.month + 2, 1))


def quarter_label(day: date) -> str:
    """`2026-Q2`."""
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def named_bounds(period: str, day: date) -> tuple[date, date]:
    """First and last day (inclusive) of a period named relative to `day`: this/next/last month, quarter, year.

    Raises:
        ValueError: an unknown name.
    """
    if period == "this_month":
        return day.replace(day=1), month_end(day)
    if period == "next_month":
        return next_month(day), month_end(next_month(day))
    if period == "last_month":
        first = (day.replace(day=1) - timedelta(days=1)).replace(day=1)
        return first, month_end(first)
    if period == "this_quarter":
        return quarter_start(day), quarter_end(day)
    if period == "next_quarter":
        following = quarter_end(day) + timedelta(days=1)
        return following, quarter_end(following)
    if period == "last_quarter":
        previous = quarter_start(day) - timedelta(days=1)
        return quarter_start(previous), previous
    if period == "this_year":
        return date(day.year, 1, 1), date(day.year, 12, 31)
    if period == "last_year":
        return date(day.year - 1, 1, 1), date(day.year - 1, 12, 31)
    raise ValueError(f"unknown period {period!r}")


def calendar_bounds(spec: str) -> tuple[date, date] | None:
    """First and last day of `YYYY`, `YYYY-Qn` or `YYYY-MM`; None when `spec` is none of these."""
    match = _CALENDAR.match(spec)
    if not match:
        return None
    year = int(match.group(1))
    if match.group(2):
        first = date(year, 3 * (int(match.group(2)) - 1) + 1, 1)
        return first, quarter_end(first)
    if match.group(3):
        start = date(year, int(match.group(3)), 1)
        return start, month_end(start)
    return date(year, 1, 1), date(year, 12, 31)
