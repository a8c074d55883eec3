"""Reads: what the report reads from the store, as plain rows (no SQL outside the store).

Every row is a dict of Python values: timestamps aware in UTC, amounts and probabilities `Decimal`, JSON lists
as tuples. Only the connection filter is applied here.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, and_, func, select

from crmsync.store import schema as t
from crmsync.store.base import StoreBase, aware
from crmsync.store.vocabulary import RunKind, RunStatus

Row = dict[str, Any]


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if value else ()


def _deal_row(row: Row) -> Row:
    """A deal row in Python values: aware timestamps, Decimal amounts, tuples for the JSON lists."""
    for name in ("created_at", "updated_at", "closed_at"):
        row[name] = aware(row[name])
    for name in ("amount", "probability"):
        row[name] = _decimal(row[name])
    row["flags"], row["rule_ids"] = _tuple(row["flags"]), _tuple(row["rule_ids"])
    return row


class Reads:
    """Read-only queries for reports."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def _rows(self, query: Select[Any]) -> list[Row]:
        with self.db.tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def deal_names(self, connection: str, ids: Collection[str]) -> dict[str, str]:
        """The names of these deals of one connection: as last stored, else as a dry run last read them
        (a dry run keeps no snapshot); deals the store knows neither way are left out."""
        names: dict[str, str] = {}
        wanted = sorted(set(ids))
        for table in (t.deals, t.dry_run_deals):
            missing = [sid for sid in wanted if sid not in names]
            for start in range(0, len(missing), 500):
                chunk = missing[start : start + 500]
                query = select(table.c.source_id, table.c.name).where(
                    table.c.connection == connection, table.c.source_id.in_(chunk)
                )
                names.update({row["source_id"]: row["name"] for row in self._rows(query)})
        return names

    def deals(self, connections: Collection[str] = ()) -> list[Row]:
        """Every stored deal with its forecast (category, probability, flags, rule ids; None when never computed)."""
        d, f = t.deals, t.forecasts
        query = (
            select(
                *(d.c[name] for name in _DEAL_COLUMNS),
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
        return [_deal_row(row) for row in self._rows(query)]

    def dry_run_deals(self, connections: Collection[str] = ()) -> list[Row]:
        """Deals as a connection's dry runs evaluated them, where no applying sync run is newer.

        Same keys as `deals`, plus `run_id`: the dry run that read the deal last.
        """
        p, r = t.dry_run_deals, t.runs
        applied = (
            select(func.coalesce(func.max(r.c.id), 0))
            .where(
                r.c.connection == p.c.connection,
                r.c.kind == RunKind.SYNC,
                r.c.mode == "apply",
                r.c.status != RunStatus.RUNNING,
            )
            .scalar_subquery()
        )
        query = select(p).where(p.c.run_id > applied).order_by(p.c.connection, p.c.source_id)
        if connections:
            query = query.where(p.c.connection.in_(list(connections)))
        return [_deal_row(row) for row in self._rows(query)]

    def stage_history(self, connections: Collection[str] = ()) -> list[Row]:
        """Every stage a deal was seen entering, in order per deal."""
        h = t.stage_history
        query = select(h).order_by(h.c.connection, h.c.source_id, h.c.entered_at, h.c.id)
        if connections:
            query = query.where(h.c.connection.in_(list(connections)))
        rows = self._rows(query)
        for row in rows:
            row["entered_at"] = aware(row["entered_at"])
        return rows

    def latest_runs(self, connections: Collection[str] = ()) -> list[Row]:
        """The latest sync run of each connection that is no longer running."""
        r = t.runs
        latest = (
            select(func.max(r.c.id))
            .where(r.c.kind == RunKind.SYNC, r.c.status != RunStatus.RUNNING)
            .group_by(r.c.connection)
        )
        query = select(r).where(r.c.id.in_(latest)).order_by(r.c.connection)
        if connections:
            query = query.where(r.c.connection.in_(list(connections)))
        rows = self._rows(query)
        for row in rows:
            row["finished_at"] = aware(row["finished_at"])
            row["status"] = RunStatus(row["status"])
        return rows

    def forecast_history(self, connections: Collection[str] = ()) -> list[Row]:
        """Every recorded forecast change (category and probability after it, when), in the order recorded."""
        c = t.forecast_changes
        query = select(
            c.c.run_id, c.c.connection, c.c.source_id, c.c.new_category, c.c.new_probability, c.c.at
        ).order_by(c.c.id)
        if connections:
            query = query.where(c.c.connection.in_(list(connections)))
        rows = self._rows(query)
        for row in rows:
            row["at"] = aware(row["at"])
            row["new_probability"] = _decimal(row["new_probability"])
        return rows

    def category_moves(self, run_ids: Collection[int]) -> list[Row]:
        """Forecast changes recorded by the given runs where the category moved (new deals are not moves)."""
        if not run_ids:
            return []
        c = t.forecast_changes
        query = (
            select(c)
            .where(c.c.run_id.in_(list(run_ids)), c.c.old_category.is_not(None), c.c.old_category != c.c.new_category)
            .order_by(c.c.connection, c.c.id)
        )
        rows = self._rows(query)
        for row in rows:
            row["at"] = aware(row["at"])
            row["old_probability"] = _decimal(row["old_probability"])
            row["new_probability"] = _decimal(row["new_probability"])
            row["rule_ids"] = _tuple(row["rule_ids"])
        return rows


_DEAL_COLUMNS = (
    "connection",
    "source_id",
    "name",
    "pipeline_id",
    "pipeline_label",
    "stage_id",
    "stage_label",
    "stage_order",
    "stage_closed",
    "status",
    "amount",
    "currency",
    "close_date",
    "owner_id",
    "owner_name",
    "owner_email",
    "group_name",
    "created_at",
    "updated_at",
    "closed_at",
)
