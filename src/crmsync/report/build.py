"""Assemble the unified forecast report from the store (or from an already loaded dataset)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from crmsync.config import Config
from crmsync.model import DEFAULT_LABELS
from crmsync.report import figures, links, query, views
from crmsync.report.figures import Entry, OwnerIndex
from crmsync.report.funnel import build_funnels
from crmsync.report.locale import report_locale
from crmsync.report.model import Dataset, Filters, Period, Report
from crmsync.report.results import build_results
from crmsync.store import Store


def build_report(
    store: Store,
    config: Config,
    *,
    period: Period | None = None,
    filters: Filters | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> Report:
    """The unified forecast report over every connection in the store.

    Args:
        store: the state store (read only).
        config: base currency, rates, labels, owners, targets and time zone.
        period: which deals count (see `crmsync.report.period.resolve_period`); None: no period filter.
        filters: connection, pipeline, owner and team filters; None: everything.
        today: "this year" for the results; default today in the configured time zone.
        now: the report's timestamp; default the current time.
    """
    filters = filters or Filters()
    dataset = query.load(store, filters.connections)
    return report_from_dataset(dataset, config, period=period, filters=filters, today=today, now=now)


def report_from_dataset(
    dataset: Dataset,
    config: Config,
    *,
    period: Period | None = None,
    filters: Filters | None = None,
    today: date | None = None,
    now: datetime | None = None,
) -> Report:
    """Like `build_report`, from rows already read: every figure is computed here, without a database."""
    period = period or Period()
    filters = filters or Filters()
    tz = ZoneInfo(config.timezone)
    now = now or datetime.now(UTC)
    today = today or now.astimezone(tz).date()
    labels = {category: config.label(category) for category in DEFAULT_LABELS}

    owner_index = OwnerIndex(config.owners)
    everything = figures.prepare(dataset.deals, config, owner_index)
    chosen = figures.select(everything, filters)
    counted = figures.select(chosen, filters, period)
    funnels, funnel_totals = build_funnels(counted, dataset.history, everything, tz)
    unconverted = figures.unconverted(counted)
    owners = figures.owners(counted, config, period, filters)
    lines = views.lines(chosen, dataset.steps, links.templates(config), tz)
    counted_keys = {(e.row.connection, e.row.source_id) for e in counted}
    choices, period_key = views.choices(config, today, period)
    return Report(
        generated_at=now,
        today=today,
        base_currency=config.base_currency,
        period=period,
        filters=filters,
        labels=labels,
        runs=dataset.runs,
        categories=figures.categories(counted, labels),
        months=figures.months(counted, period),
        owners=owners,
        funnels=funnels,
        funnel_totals=funnel_totals,
        results=build_results(chosen, today.year),
        flags=figures.flags(chosen),
        moves=figures.moves(dataset.changes, chosen),
        unconverted=unconverted,
        warnings=_warnings(dataset, chosen, counted, period, config.base_currency),
        teams=views.teams(owners),
        deals=lines,
        trend=views.trend(
            [line for line in lines if (line.connection, line.source_id) in counted_keys],
            views.trend_days(dataset.steps, tz),
        ),
        choices=choices,
        period_key=period_key,
        locale=report_locale(config),
    )


def _warnings(dataset: Dataset, chosen: list[Entry], counted: list[Entry], period: Period, base: str) -> list[str]:
    notes = []
    dry = Counter(e.row.connection for e in chosen if e.row.dry_run)
    for connection, deals in sorted(dry.items()):
        notes.append(
            f"{connection}: dry run — {deals} deal{'s' if deals > 1 else ''} as the latest dry run evaluated "
            f"{'them' if deals > 1 else 'it'}; nothing of {'these forecasts' if deals > 1 else 'this forecast'} "
            "was written to the CRM"
        )
    missing = Counter(e.row.currency for e in counted if e.unconverted)
    if missing:
        deals = sum(missing.values())
        currencies = ", ".join(f"{code} ({n})" for code, n in sorted(missing.items(), key=lambda kv: kv[0] or ""))
        notes.append(
            f"{deals} deal{'s' if deals > 1 else ''} in a currency without a rate to {base}: {currencies}; "
            "counted, but left out of every amount (add the rate under [rates])"
        )
    unforecast = sum(1 for e in counted if e.row.category is None)
    if unforecast:
        notes.append(f"{unforecast} deal{'s' if unforecast > 1 else ''} have no forecast yet; shown as omitted")
    if period.bounded:
        undated = sum(1 for e in chosen if e.day is None)
        if undated:
            notes.append(
                f"{undated} deal{'s' if undated > 1 else ''} without a close date "
                "are not in this period; report without a period to see them in the 'no date' bucket"
            )
    if not dataset.runs:
        notes.append("the store has no finished sync run yet")
    return notes
