"""Read what the report needs through the store's read API (`Store.reads`), into the report's rows.

Only the connection filter is applied by the store; every other filter needs the configured owners and is
applied in `crmsync.report.figures`. Won and lost come from the deal's status, their only owner.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from crmsync.model import DealStatus
from crmsync.report.model import ChangeRow, Dataset, DealRow, ForecastStep, HistoryRow, RunInfo
from crmsync.store import Store


def load(store: Store, connections: Collection[str] = ()) -> Dataset:
    """Every deal with its forecast, the stage history, the latest run per connection and its category moves."""
    runs = latest_runs(store, connections)
    return Dataset(
        deals=load_deals(store, connections),
        history=load_history(store, connections),
        changes=load_changes(store, [run.run_id for run in runs]),
        runs=runs,
        steps=load_steps(store, connections),
    )


def load_steps(store: Store, connections: Collection[str] = ()) -> list[ForecastStep]:
    """Every recorded forecast change, oldest first."""
    return [
        ForecastStep(row["connection"], row["source_id"], row["new_category"], row["new_probability"], row["at"])
        for row in store.reads.forecast_history(connections)
    ]


def load_deals(store: Store, connections: Collection[str] = ()) -> list[DealRow]:
    """The stored deals, overlaid with what later dry runs evaluated (marked `dry_run`).

    A dry run keeps no snapshot, so a connection that only dry-runs has its deals in `dry_run_deals` alone;
    one that dry-ran after its last applying run shows the dry run's view of the deals it read.
    """
    rows: dict[tuple[str, str], DealRow] = {}
    for row in store.reads.deals(connections):
        rows[row["connection"], row["source_id"]] = _deal_row(row, dry_run=False)
    for row in store.reads.dry_run_deals(connections):
        rows[row["connection"], row["source_id"]] = _deal_row(row, dry_run=True)
    return [rows[key] for key in sorted(rows)]


def _deal_row(row: dict[str, Any], *, dry_run: bool) -> DealRow:
    return DealRow(
        connection=row["connection"],
        source_id=row["source_id"],
        name=row["name"],
        pipeline_id=row["pipeline_id"],
        pipeline_label=row["pipeline_label"],
        stage_id=row["stage_id"],
        stage_label=row["stage_label"],
        stage_order=row["stage_order"],
        stage_closed=bool(row["stage_closed"]),
        stage_won=bool(row["stage_closed"]) and row["status"] == DealStatus.WON,
        status=row["status"],
        amount=row["amount"],
        currency=row["currency"].upper() if row["currency"] else None,
        close_date=row["close_date"],
        owner_id=row["owner_id"],
        owner_name=row["owner_name"],
        owner_email=row["owner_email"],
        group_name=row["group_name"],
        created_at=row["created_at"],
        closed_at=row["closed_at"],
        category=row["category"],
        probability=row["probability"],
        flags=row["flags"],
        rule_ids=row["rule_ids"],
        dry_run=dry_run,
    )


def load_history(store: Store, connections: Collection[str] = ()) -> list[HistoryRow]:
    return [
        HistoryRow(
            connection=row["connection"],
            source_id=row["source_id"],
            pipeline_id=row["pipeline_id"],
            stage_id=row["stage_id"],
            stage_order=row["stage_order"],
            entered_at=row["entered_at"],
        )
        for row in store.reads.stage_history(connections)
    ]


def latest_runs(store: Store, connections: Collection[str] = ()) -> list[RunInfo]:
    """The latest sync run of each connection that is no longer running."""
    return [
        RunInfo(row["connection"], row["id"], row["status"], row["mode"], row["finished_at"])
        for row in store.reads.latest_runs(connections)
    ]


def load_changes(store: Store, run_ids: Collection[int]) -> list[ChangeRow]:
    """Forecast changes recorded by the given runs where the category moved (new deals are not moves)."""
    return [
        ChangeRow(
            run_id=row["run_id"],
            connection=row["connection"],
            source_id=row["source_id"],
            old_category=row["old_category"],
            new_category=row["new_category"],
            old_probability=row["old_probability"],
            new_probability=row["new_probability"],
            rule_ids=row["rule_ids"],
            at=row["at"],
        )
        for row in store.reads.category_moves(run_ids)
    ]
