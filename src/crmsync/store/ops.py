"""Ops: what `crmsync status` and `/metrics` read — run totals, the latest runs, open writes and the job queue.

Everything here is read from the database, so a scrape of any one process sees the runs of every worker.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, text

from crmsync.store import schema as t
from crmsync.store.base import StoreBase, aware
from crmsync.store.vocabulary import Outcome, RunKind, RunStatus

Row = dict[str, Any]
TOTALS = ("fetched", "written", "skipped", "failed", "requests", "throttled", "deferred")
FINISHED_WELL = (RunStatus.OK, RunStatus.PARTIAL)


class Ops:
    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def run_totals(self) -> list[Row]:
        """Per connection and status: the number of sync runs and the sums of their counts."""
        r = t.runs
        query = (
            select(
                r.c.connection,
                r.c.status,
                func.count().label("runs"),
                *(func.coalesce(func.sum(getattr(r.c, name)), 0).label(name) for name in TOTALS),
            )
            .where(r.c.kind == RunKind.SYNC)
            .group_by(r.c.connection, r.c.status)
        )
        with self.db.tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def outcomes(self, wanted: tuple[Outcome, ...]) -> dict[tuple[str, str], int]:
        """Ledger rows per (connection, outcome), for the outcomes asked."""
        lg = t.ledger
        query = (
            select(lg.c.connection, lg.c.outcome, func.count().label("n"))
            .where(lg.c.outcome.in_([str(o) for o in wanted]))
            .group_by(lg.c.connection, lg.c.outcome)
        )
        with self.db.tx() as conn:
            return {(row.connection, row.outcome): row.n for row in conn.execute(query)}

    def latest(self) -> dict[str, Row]:
        """Per connection: its newest sync run (maybe still running) and when a run last finished well."""
        r = t.runs
        newest = select(func.max(r.c.id)).where(r.c.kind == RunKind.SYNC).group_by(r.c.connection)
        good = (
            select(r.c.connection, func.max(r.c.finished_at).label("last_success"))
            .where(r.c.kind == RunKind.SYNC, r.c.status.in_([str(s) for s in FINISHED_WELL]))
            .group_by(r.c.connection)
        )
        with self.db.tx() as conn:
            runs = {
                row["connection"]: dict(row) for row in conn.execute(select(r).where(r.c.id.in_(newest))).mappings()
            }
            successes = {row.connection: aware(row.last_success) for row in conn.execute(good)}
        for name, row in runs.items():
            for key in ("started_at", "finished_at"):
                row[key] = aware(row[key])
            row["last_success"] = successes.get(name)
        return runs

    def queue(self) -> dict[tuple[str, str], int] | None:
        """Sync jobs per (connection, status) in the workers' queue; None when there is no queue (SQLite, or
        PostgreSQL without Procrastinate's tables)."""
        if self.db.engine.dialect.name != "postgresql":
            return None
        with self.db.tx() as conn:
            if not conn.execute(text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar():
                return None
            rows = conn.execute(
                text(
                    "SELECT args->>'connection' AS connection, status::text AS status, count(*) AS n "
                    "FROM procrastinate_jobs WHERE task_name = 'crmsync.sync' AND status IN ('todo', 'doing') "
                    "GROUP BY 1, 2"
                )
            )
            return {(row.connection, row.status): row.n for row in rows}


def age_seconds(moment: datetime | None, now: datetime) -> float | None:
    return None if moment is None else max(0.0, (now - moment).total_seconds())
