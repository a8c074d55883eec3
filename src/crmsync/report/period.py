"""Report periods: named ones relative to today, calendar ones (2026, 2026-Q2, 2026-05) and --from/--to."""

from __future__ import annotations

from datetime import date

from crmsync.errors import ConfigError
from crmsync.periods import calendar_bounds, named_bounds, quarter_label
from crmsync.report.model import Period

NAMED = ("this_month", "this_quarter", "this_year", "last_month", "last_quarter", "last_year", "all")


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
    if spec in NAMED:
        first, last = named_bounds(spec, today)
        label = {"m": first.strftime("%Y-%m"), "q": quarter_label(first), "y": str(first.year)}[spec.split("_")[1][0]]
        return Period(first, last, label)
    bounds = calendar_bounds(spec)
    if bounds is None:
        allowed = ", ".join(NAMED)
        raise ConfigError(f"unknown period {spec!r}; use one of {allowed}, or 2026, 2026-Q2, 2026-05")
    return Period(bounds[0], bounds[1], spec)
