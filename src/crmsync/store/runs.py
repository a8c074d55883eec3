"""Runs: one row per sync or rollback, with its counts, status, mapping digest and the day it evaluated."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import func, insert, select, update

from crmsync.redact import clip
from crmsync.store import schema as t
from crmsync.store.base import StoreBase, new_id, utc, utcnow
from crmsync.store.vocabulary import Outcome, RunKind, RunStatus


class Runs:
    """The runs table."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def start_run(
        self,
        connection: str,
        *,
        kind: RunKind,
        mode: str,
        full: bool,
        digest: str | None,
        cursor_before: datetime | None,
        rollback_of: int | None = None,
        evaluated_on: date | None = None,
        trigger: str | None = None,
    ) -> int:
        with self.db.tx() as conn:
            result = conn.execute(
                insert(t.runs).values(
                    connection=connection,
                    kind=kind,
                    evaluated_on=evaluated_on,
                    status=RunStatus.RUNNING,
                    mode=mode,
                    full=full,
                    started_at=utcnow(),
                    mapping_digest=digest,
                    cursor_before=utc(cursor_before),
                    rollback_of=rollback_of,
                    trigger=trigger,
                    fetched=0,
                    stored=0,
                    quarantined=0,
                    deleted=0,
                    planned=0,
                    written=0,
                    skipped=0,
                    failed=0,
                    requests=0,
                    reevaluated=0,
                )
            )
            return new_id(result)

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        counts: dict[str, int],
        *,
        cursor_after: datetime | None = None,
        error: str | None = None,
    ) -> None:
        with self.db.tx() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(
                    status=status,
                    finished_at=utcnow(),
                    cursor_after=utc(cursor_after),
                    error=clip(error, 2000),
                    **counts,
                )
            )

    def requests_since(self, connection: str, since: datetime) -> int:
        """Requests crmsync's runs of the connection made since `since` (the daily budget it already used)."""
        r = t.runs
        query = select(func.coalesce(func.sum(r.c.requests), 0)).where(
            r.c.connection == connection, r.c.started_at >= since
        )
        with self.db.tx() as conn:
            return int(conn.execute(query).scalar() or 0)

    def run(self, run_id: int) -> dict[str, Any] | None:
        with self.db.tx() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).mappings().one_or_none()
        return dict(row) if row else None

    def runs(self, connection: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if connection:
            query = query.where(t.runs.c.connection == connection)
        with self.db.tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def _of_last_applied_sync(self, connection: str, column: str) -> Any:
        """A column of the connection's last finished sync that applied its writes (None without one)."""
        query = (
            select(t.runs.c[column])
            .where(
                t.runs.c.connection == connection,
                t.runs.c.kind == RunKind.SYNC,
                t.runs.c.status.in_(RunStatus.finished()),
                t.runs.c.mode == "apply",
            )
            .order_by(t.runs.c.id.desc())
            .limit(1)
        )
        with self.db.tx() as conn:
            return conn.execute(query).scalar_one_or_none()

    def last_digest(self, connection: str) -> str | None:
        value = self._of_last_applied_sync(connection, "mapping_digest")
        return value if isinstance(value, str) else None

    def last_evaluated_on(self, connection: str) -> date | None:
        """The rules' 'today' of the connection's last finished sync that applied its writes."""
        value = self._of_last_applied_sync(connection, "evaluated_on")
        return value if isinstance(value, date) else None

    def count_runs(self, connection: str) -> int:
        with self.db.tx() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.runs)
                    .where(t.runs.c.connection == connection, t.runs.c.kind == RunKind.SYNC)
                ).scalar_one()
            )

    def abandon_stale_runs(self, connection: str) -> None:
        """Runs left 'running' by a process that died are marked failed; their pending writes become 'unknown'.

        An unknown write may or may not have reached the CRM: the next run compares with the remote value and
        never takes that value for a person's.
        """
        with self.db.tx() as conn:
            dead = select(t.runs.c.id).where(t.runs.c.connection == connection, t.runs.c.status == RunStatus.RUNNING)
            conn.execute(
                update(t.ledger)
                .where(t.ledger.c.run_id.in_(dead), t.ledger.c.outcome == Outcome.PENDING)
                .values(outcome=Outcome.UNKNOWN, reason="the process writing it stopped before the CRM answered")
            )
            conn.execute(
                update(t.runs)
                .where(t.runs.c.connection == connection, t.runs.c.status == RunStatus.RUNNING)
                .values(status=RunStatus.FAILED, error="the process running it stopped", finished_at=utcnow())
            )
