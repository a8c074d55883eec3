"""Read what the report needs from the state store, with SQLAlchemy Core selects (SQLite and PostgreSQL).

Only the connection filter is applied in SQL; every other filter needs the configured owners and is applied
in `crmsync.report.figures`.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, func, select

from crmsync.report.model import ChangeRow, Dataset, DealRow, HistoryRow, RunInfo
from crmsync.store import Store
from crmsync.store import schema as t
from crmsync.store.base import aware


def load(store: Store, connections: Collection[str] = ()) -> Dataset:
    """Every deal with its forecast, the stage history, the latest run per connection and its category moves."""
    with store.engine.connect() as conn:
        runs = latest_runs(conn, connections)
        return Dataset(
            deals=load_deals(conn, connections),
            history=load_history(conn, connections),
            changes=load_changes(conn, [run.run_id for run in runs]),
            runs=runs,
        )


def _tuple(value: Any) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(str(item) for item in value)


def load_deals(conn: Connection, connections: Collection[str] = ()) -> list[DealRow]:
    d, f = t.deals, t.forecasts
    query = (
        select(
            d.c.connection,
            d.c.source_id,
            d.c.name,
            d.c.pipeline_id,
            d.c.pipeline_label,
            d.c.stage_id,
            d.c.stage_label,
            d.c.stage_order,
            d.c.data[("stage", "closed")].as_boolean().label("stage_closed"),
            d.c.data[("stage", "won")].as_boolean().label("stage_won"),
            d.c.status,
            d.c.amount,
            d.c.currency,
            d.c.close_date,
            d.c.owner_id,
            d.c.owner_name,
            d.c.owner_email,
            d.c.group_name,
            d.c.created_at,
            d.c.closed_at,
            f.c.category,
            f.c.probability,
            f.c.flags,
            f.c.rule_ids,
        )
        .select_from(d.outerjoin(f, and_(f.c.connection == d.c.connection, f.c.source_id == d.c.source_id)))
        .order_by(d.c.connection, d.c.source_id)
    )
    if connections:
        query = query.where(d.c.connection.in_(list(connections)))
    rows = []
    for row in conn.execute(query):
        rows.append(
            DealRow(
                connection=row.connection,
                source_id=row.source_id,
                name=row.name,
                pipeline_id=row.pipeline_id,
                pipeline_label=row.pipeline_label,
                stage_id=row.stage_id,
                stage_label=row.stage_label,
                stage_order=row.stage_order,
                stage_closed=bool(row.stage_closed),
                stage_won=bool(row.stage_won),
                status=row.status,
                amount=Decimal(row.amount) if row.amount is not None else None,
                currency=row.currency.upper() if row.currency else None,
                close_date=row.close_date,
                owner_id=row.owner_id,
                owner_name=row.owner_name,
                owner_email=row.owner_email,
                group_name=row.group_name,
                created_at=aware(row.created_at),
                closed_at=aware(row.closed_at),
                category=row.category,
                probability=Decimal(row.probability) if row.probability is not None else None,
                flags=_tuple(row.flags),
                rule_ids=_tuple(row.rule_ids),
            )
        )
    return rows


def load_history(conn: Connection, connections: Collection[str] = ()) -> list[HistoryRow]:
    h = t.stage_history
    query = select(h).order_by(h.c.connection, h.c.source_id, h.c.entered_at, h.c.id)
    if connections:
        query = query.where(h.c.connection.in_(list(connections)))
    return [
        HistoryRow(
            connection=row.connection,
            source_id=row.source_id,
            pipeline_id=row.pipeline_id,
            stage_id=row.stage_id,
            stage_order=row.stage_order,
            entered_at=aware(row.entered_at) or row.entered_at,
        )
        for row in conn.execute(query)
    ]


def latest_runs(conn: Connection, connections: Collection[str] = ()) -> list[RunInfo]:
    """The latest sync run of each connection that is no longer running."""
    r = t.runs
    latest = select(func.max(r.c.id)).where(r.c.kind == "sync", r.c.status != "running").group_by(r.c.connection)
    query = select(r).where(r.c.id.in_(latest)).order_by(r.c.connection)
    if connections:
        query = query.where(r.c.connection.in_(list(connections)))
    return [
        RunInfo(row.connection, row.id, row.status, row.mode, aware(row.finished_at)) for row in conn.execute(query)
    ]


def load_changes(conn: Connection, run_ids: Collection[int]) -> list[ChangeRow]:
    """Forecast changes recorded by the given runs where the category moved (new deals are not moves)."""
    if not run_ids:
        return []
    c = t.forecast_changes
    query = (
        select(c)
        .where(
            c.c.run_id.in_(list(run_ids)),
            c.c.old_category.is_not(None),
            c.c.old_category != c.c.new_category,
        )
        .order_by(c.c.connection, c.c.id)
    )
    return [
        ChangeRow(
            run_id=row.run_id,
            connection=row.connection,
            source_id=row.source_id,
            old_category=row.old_category,
            new_category=row.new_category,
            old_probability=Decimal(row.old_probability) if row.old_probability is not None else None,
            new_probability=Decimal(row.new_probability),
            rule_ids=_tuple(row.rule_ids),
            at=aware(row.at) or row.at,
        )
        for row in conn.execute(query)
    ]
