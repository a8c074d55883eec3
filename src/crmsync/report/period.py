"""Report periods: named ones relative to today, calendar ones (2026, 2026-Q2, 2026-05) and --from/--to."""

from __future__ import annotations

import re
from datetime import date, timedelta

from crmsync.errors import ConfigError
from crmsync.report.model import Period

NAMED = ("this_month", "this_quarter", "this_year", "last_month", "last_quarter", "last_year", "all")
_CALENDAR = re.compile(r"^(\d{4})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


def month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1) - timedelta(days=1)


def calendar_bounds(spec: str) -> tuple[date, date] | None:
    """First and last day of `YYYY`, `YYYY-Qn` or `YYYY-MM`; None when `spec` is none of these."""
    match = _CALENDAR.match(spec)
    if not match:
        return None
    year = int(match.group(1))
    if match.group(2):
        first = 3 * (int(match.group(2)) - 1) + 1
        return date(year, first, 1), month_end(date(year, first + 2, 1))
    if match.group(3):
        start = date(year, int(match.group(3)), 1)
        return start, month_end(start)
    return date(year, 1, 1), date(year, 12, 31)


def _quarter(day: date) -> str:
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def resolve_period(
    spec: str | None = None, *, today: date, start: date | None = None, end: date | None = None
) -> Period:
    """Turn what the user asked for into a Period.

    Args:
        spec: None or "all" (no period filter), "this_month", "this_quarter", "this_year", "last_month",
            "last_quarter", "last_year", or a calendar period "2026", "2026-Q2", "2026-05".
        today: the day "this" is relative to (in the configured time zone).
        start: --from; with or without `end`, it replaces `spec`.
        end: --to (inclusive).

    Raises:
        ConfigError: an unknown period, or --from after --to.
    """
    if start is not None or end is not None:
        if spec not in (None, "all"):
            raise ConfigError("give either a period or --from/--to, not both")
        if start is not None and end is not None and start > end:
            raise ConfigError(f"--from {start} is after --to {end}")
        label = f"{start.isoformat() if start else '…'} – {end.isoformat() if end else '…'}"
        return Period(start, end, label)
    if spec is None or spec == "all":
        return Period()
    if spec in ("this_month", "last_month"):
        first = today.replace(day=1)
        if spec == "last_month":
            first = (first - timedelta(days=1)).replace(day=1)
        return Period(first, month_end(first), first.strftime("%Y-%m"))
    if spec in ("this_quarter", "last_quarter"):
        first = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
        if spec == "last_quarter":
            first = date((first - timedelta(days=1)).year, (first - timedelta(days=1)).month - 2, 1)
        return Period(first, month_end(date(first.year, first.month + 2, 1)), _quarter(first))
    if spec in ("this_year", "last_year"):
        year = today.year - (spec == "last_year")
        return Period(date(year, 1, 1), date(year, 12, 31), str(year))
    bounds = calendar_bounds(spec)
    if bounds is None:
        allowed = ", ".join(NAMED)
        raise ConfigError(f"unknown period {spec!r}; use one of {allowed}, or 2026, 2026-Q2, 2026-05")
    return Period(bounds[0], bounds[1], spec)
