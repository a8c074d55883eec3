"""A short forecast summary for the demo: per category across every connection, in the base currency."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from crmsync.app import App
from crmsync.model import ForecastCategory
from crmsync.store import schema as t


def print_summary(console: Console, app: App, directory: Path) -> None:
    config = app.config
    rates = {config.base_currency: Decimal(1), **config.rates}
    query = select(t.deals.c.amount, t.deals.c.currency, t.forecasts.c.category, t.forecasts.c.weighted_amount).join(
        t.forecasts,
        (t.forecasts.c.connection == t.deals.c.connection) & (t.forecasts.c.source_id == t.deals.c.source_id),
    )
    totals = {c: [0, Decimal(0), Decimal(0)] for c in ForecastCategory}
    unconverted: set[str] = set()
    with app.store.tx() as conn:
        for row in conn.execute(query):
            bucket = totals[ForecastCategory(row.category)]
            bucket[0] += 1
            if row.amount is None:
                continue
            rate = rates.get(row.currency or config.base_currency)
            if rate is None:
                unconverted.add(row.currency)
                continue
            bucket[1] += Decimal(row.amount) * rate
            bucket[2] += Decimal(row.weighted_amount or 0) * rate
    table = Table(title=f"Forecast across all CRMs ({config.base_currency})")
    for column in ("category", "deals", "amount", "weighted"):
        table.add_column(column, justify="right" if column != "category" else "left")
    for category, (count, amount, weighted) in totals.items():
        table.add_row(config.label(category), str(count), f"{amount:,.2f}", f"{weighted:,.2f}")
    console.print(table)
    if unconverted:
        console.print(f"[yellow]amounts in {', '.join(sorted(unconverted))} have no rate and are not in the sums[/]")
