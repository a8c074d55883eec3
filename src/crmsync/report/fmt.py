"""Display formatting shared by the renderers: amounts to two places, ratios as percentages."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from crmsync.report.model import Period, RunInfo, Tally

CENT = Decimal("0.01")
DASH = "—"
NO_DATE = "no date"


def cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def money(value: Decimal | None) -> str:
    """10000 → '10,000.00'; None → '—'."""
    return DASH if value is None else f"{cents(value):,.2f}"


def plain(value: Decimal | None, places: int = 2) -> str | None:
    """A Decimal as a plain string with `places` decimals (for JSON and CSV); None stays None."""
    if value is None:
        return None
    return str(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP))


def pct(value: Decimal | None) -> str:
    """0.6667 → '66.7 %'; None → '—'."""
    if value is None:
        return DASH
    return f"{(value * 100).quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} %"


def days(value: Decimal | None) -> str:
    return DASH if value is None else f"{value.quantize(Decimal('0.1'), rounding=ROUND_HALF_UP)} d"


def tally(value: Tally) -> str:
    """'1,800.00 (1)': amount and count in one cell."""
    return f"{money(value.amount)} ({value.count})"


def month(value: str | None) -> str:
    return NO_DATE if value is None else value


def period_text(period: Period) -> str:
    if not period.bounded:
        return "all dates (no period filter)"
    start = period.start.isoformat() if period.start else "…"
    end = period.end.isoformat() if period.end else "…"
    return f"{period.label} ({start} – {end})" if period.label != f"{start} – {end}" else period.label


def run_text(run: RunInfo) -> str:
    """'hubspot run 4 (ok)'; a dry run says so: 'afas run 5 (ok, dry run)'."""
    return f"{run.connection} run {run.run_id} ({run.status}{', dry run' if run.mode == 'dry-run' else ''})"
