"""Store: every read and write of the state database, in portable SQL (SQLite and PostgreSQL).

Runs, locks, cursors, deals and forecasts live here; the ledger and quarantine in `ledger.py`; the engine,
migrations and transactions in `base.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from crmsync.errors import LockedError
from crmsync.model import Deal, Forecast
from crmsync.store import schema as t
from crmsync.store.base import aware, new_id, utc, utcnow
from crmsync.store.ledger import LedgerStore
from crmsync.store.vocabulary import RunKind, RunStatus


@dataclass(frozen=True)
class StoredDeal:
    """What the store remembers of a deal between runs, for planning."""

    stage_id: str | None
    category: str | None
    probability: Decimal | None


class Store(LedgerStore):
    """The state store at `url`; migrates the schema to the newest revision on open."""

    # -- locks -------------------------------------------------------------------------------------------

    def acquire_lock(self, name: str, holder: str, stale_after: timedelta) -> None:
        """Take the named lock, or take it over when its holder stopped heart-beating.

        Raises:
            LockedError: someone else holds it and is alive.
        """
        now = utcnow()
        try:
            with self.tx() as conn:
                conn.execute(insert(t.locks).values(name=name, holder=holder, acquired_at=now, heartbeat_at=now))
                return
        except IntegrityError:
            pass
        with self.tx() as conn:
            taken = conn.execute(
                update(t.locks)
                .where(t.locks.c.name == name, t.locks.c.heartbeat_at < now - stale_after)
                .values(holder=holder, acquired_at=now, heartbeat_at=now)
            ).rowcount
            if taken:
                return
            row = conn.execute(select(t.locks).where(t.locks.c.name == name)).one_or_none()
        if row is None:  # released between our two statements
            return self.acquire_lock(name, holder, stale_after)
        if row.holder == holder:
            return None
        raise LockedError(f"{name} is held by {row.holder} since {aware(row.acquired_at):%Y-%m-%d %H:%M:%S} UTC")

    def heartbeat(self, name: str, holder: str) -> bool:
        """Refresh a lock; False when `holder` no longer holds it (it went stale and was taken over)."""
        with self.tx() as conn:
            refreshed = conn.execute(
                update(t.locks).where(t.locks.c.name == name, t.locks.c.holder == holder).values(heartbeat_at=utcnow())
            ).rowcount
        return bool(refreshed)

    def release_lock(self, name: str, holder: str) -> None:
        with self.tx() as conn:
            conn.execute(t.locks.delete().where(t.locks.c.name == name, t.locks.c.holder == holder))

    # -- runs ----------------------------------------------------------------------------------------------

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
    ) -> int:
        with self.tx() as conn:
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
        with self.tx() as conn:
            conn.execute(
                update(t.runs)
                .where(t.runs.c.id == run_id)
                .values(status=status, finished_at=utcnow(), cursor_after=utc(cursor_after), error=error, **counts)
            )

    def run(self, run_id: int) -> dict[str, Any] | None:
        with self.tx() as conn:
            row = conn.execute(select(t.runs).where(t.runs.c.id == run_id)).mappings().one_or_none()
        return dict(row) if row else None

    def runs(self, connection: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        query = select(t.runs).order_by(t.runs.c.id.desc()).limit(limit)
        if connection:
            query = query.where(t.runs.c.connection == connection)
        with self.tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def last_digest(self, connection: str) -> str | None:
        query = (
            select(t.runs.c.mapping_digest)
            .where(
                t.runs.c.connection == connection,
                t.runs.c.kind == RunKind.SYNC,
                t.runs.c.status.in_(RunStatus.finished()),
                t.runs.c.mode == "apply",
            )
            .order_by(t.runs.c.id.desc())
            .limit(1)
        )
        with self.tx() as conn:
            return conn.execute(query).scalar_one_or_none()

    def last_evaluated_on(self, connection: str) -> date | None:
        """The rules' 'today' of the connection's last finished sync that applied its writes."""
        query = (
            select(t.runs.c.evaluated_on)
            .where(
                t.runs.c.connection == connection,
                t.runs.c.kind == RunKind.SYNC,
                t.runs.c.mode == "apply",
                t.runs.c.status.in_(RunStatus.finished()),
            )
            .order_by(t.runs.c.id.desc())
            .limit(1)
        )
        with self.tx() as conn:
            value = conn.execute(query).scalar_one_or_none()
        return value if isinstance(value, date) else None

    def stored_deal_chunks(self, connection: str, skip_run: int, size: int = 500) -> Iterator[list[Deal]]:
        """Every live stored deal not already handled by run `skip_run`, as canonical Deals, `size` at a time.

        The remote category/probability are the snapshot's, which crmsync keeps true after its own writes.
        """
        after = ""
        while True:
            query = (
                select(t.deals.c.source_id, t.deals.c.data, t.deals.c.remote_category, t.deals.c.remote_probability)
                .where(
                    t.deals.c.connection == connection,
                    t.deals.c.status != "deleted",
                    t.deals.c.last_run_id != skip_run,
                    t.deals.c.source_id > after,
                )
                .order_by(t.deals.c.source_id)
                .limit(size)
            )
            with self.tx() as conn:
                rows = conn.execute(query).all()
            if not rows:
                return
            deals = []
            for row in rows:
                data = dict(row.data)
                data.update(
                    remote_category=row.remote_category,
                    remote_probability=str(row.remote_probability) if row.remote_probability is not None else None,
                    category_is_manual=None,
                    probability_is_manual=None,
                )
                deals.append(Deal.model_validate(data))
            yield deals
            after = rows[-1].source_id

    def count_runs(self, connection: str) -> int:
        with self.tx() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(t.runs)
                    .where(t.runs.c.connection == connection, t.runs.c.kind == RunKind.SYNC)
                ).scalar_one()
            )

    # -- cursors ---------------------------------------------------------------------------------------------

    def cursor(self, connection: str) -> datetime | None:
        with self.tx() as conn:
            value = conn.execute(select(t.cursors.c.value).where(t.cursors.c.connection == connection)).scalar()
        return aware(value)

    def set_cursor(self, connection: str, value: datetime, run_id: int) -> None:
        with self.tx() as conn:
            self._upsert(
                t.cursors,
                ["connection"],
                [{"connection": connection, "value": utc(value), "run_id": run_id, "updated_at": utcnow()}],
                conn,
            )

    # -- deals and forecasts ---------------------------------------------------------------------------------

    def stored_deals(self, connection: str, ids: Iterable[str]) -> dict[str, StoredDeal]:
        """Stage and forecast of the given deals as the last finished run left them.

        The stage comes from the stage history of finished runs, so a run that died after saving its snapshot
        but before writing does not hide a stage change from the run that repeats it.
        """
        ids = list(ids)
        if not ids:
            return {}
        sh = t.stage_history
        finished = select(t.runs.c.id).where(
            t.runs.c.connection == connection, t.runs.c.status.in_(RunStatus.finished())
        )
        latest = (
            select(func.max(sh.c.id))
            .where(sh.c.connection == connection, sh.c.source_id.in_(ids), sh.c.run_id.in_(finished))
            .group_by(sh.c.source_id)
        )
        stages = select(sh.c.source_id, sh.c.stage_id).where(sh.c.id.in_(latest))
        forecasts = select(t.forecasts.c.source_id, t.forecasts.c.category, t.forecasts.c.probability).where(
            t.forecasts.c.connection == connection, t.forecasts.c.source_id.in_(ids)
        )
        with self.tx() as conn:
            stage_of = {row.source_id: row.stage_id for row in conn.execute(stages)}
            return {
                row.source_id: StoredDeal(stage_of.get(row.source_id), row.category, row.probability)
                for row in conn.execute(forecasts)
            }

    def modified_at(self, connection: str, ids: Iterable[str]) -> dict[str, datetime | None]:
        """The remote modification time of each stored deal, as last read (for holding the cursor back)."""
        ids = list(ids)
        if not ids:
            return {}
        query = select(t.deals.c.source_id, t.deals.c.updated_at).where(
            t.deals.c.connection == connection, t.deals.c.source_id.in_(ids)
        )
        with self.tx() as conn:
            return {row.source_id: aware(row.updated_at) for row in conn.execute(query)}

    def record_written(self, connection: str, values: dict[str, dict[str, str | None]]) -> None:
        """Keep the snapshot's remote values true after crmsync wrote them (deal id → field → remote value)."""
        columns = {"category": "remote_category", "probability": "remote_probability"}
        with self.tx() as conn:
            for source_id, fields in values.items():
                update_values: dict[str, Any] = {}
                for name, value in fields.items():
                    if name == "probability":
                        update_values[columns[name]] = Decimal(value) if value not in (None, "") else None
                    else:
                        update_values[columns[name]] = value or None
                conn.execute(
                    update(t.deals)
                    .where(t.deals.c.connection == connection, t.deals.c.source_id == source_id)
                    .values(**update_values)
                )

    def save_page(
        self,
        run_id: int,
        digest: str,
        pairs: Sequence[tuple[Deal, Forecast]],
        previous: dict[str, StoredDeal],
    ) -> int:
        """Upsert deals and forecasts of one page, recording category moves and stage changes."""
        if not pairs:
            return 0
        now = utcnow()
        deal_rows, forecast_rows, changes, stages = [], [], [], []
        for deal, forecast in pairs:
            deal_rows.append(_deal_row(deal, run_id, now))
            forecast_rows.append(
                {
                    "connection": deal.connection,
                    "source_id": deal.source_id,
                    "category": forecast.category.value,
                    "probability": forecast.probability,
                    "weighted_amount": forecast.weighted_amount,
                    "month": forecast.month,
                    "rule_ids": list(forecast.rule_ids),
                    "flags": list(forecast.flags),
                    "mapped": forecast.mapped,
                    "mapping_digest": digest,
                    "run_id": run_id,
                    "computed_at": now,
                }
            )
            before = previous.get(deal.source_id)
            if (
                before is None
                or before.category != forecast.category.value
                or before.probability != forecast.probability
            ):
                changes.append(
                    {
                        "run_id": run_id,
                        "connection": deal.connection,
                        "source_id": deal.source_id,
                        "old_category": before.category if before else None,
                        "new_category": forecast.category.value,
                        "old_probability": before.probability if before else None,
                        "new_probability": forecast.probability,
                        "rule_ids": list(forecast.rule_ids),
                        "at": now,
                    }
                )
            if before is None or before.stage_id != deal.stage.id:
                stages.append(
                    {
                        "connection": deal.connection,
                        "source_id": deal.source_id,
                        "pipeline_id": deal.pipeline.id,
                        "stage_id": deal.stage.id,
                        "stage_order": deal.stage.order,
                        "entered_at": utc(deal.updated_at) or now,
                        "run_id": run_id,
                    }
                )
        with self.tx() as conn:
            self._upsert(t.deals, ["connection", "source_id"], deal_rows, conn)
            self._upsert(t.forecasts, ["connection", "source_id"], forecast_rows, conn)
            if changes:
                conn.execute(insert(t.forecast_changes), changes)
            if stages:
                conn.execute(insert(t.stage_history), stages)
        return len(pairs)

    def mark_deleted(self, connection: str, ids: Sequence[str], run_id: int) -> int:
        """Mark deals the CRM no longer has as deleted (their forecast becomes omitted at 0 %)."""
        if not ids:
            return 0
        with self.tx() as conn:
            count = conn.execute(
                update(t.deals)
                .where(
                    t.deals.c.connection == connection,
                    t.deals.c.source_id.in_(list(ids)),
                    t.deals.c.status != "deleted",
                )
                .values(status="deleted", last_run_id=run_id, synced_at=utcnow())
            ).rowcount
            conn.execute(
                update(t.forecasts)
                .where(t.forecasts.c.connection == connection, t.forecasts.c.source_id.in_(list(ids)))
                .values(
                    category="omitted",
                    probability=Decimal(0),
                    weighted_amount=Decimal(0),
                    rule_ids=["deleted"],
                    run_id=run_id,
                    computed_at=utcnow(),
                )
            )
        return int(count)

    def known_ids(self, connection: str) -> set[str]:
        with self.tx() as conn:
            return set(
                conn.execute(
                    select(t.deals.c.source_id).where(t.deals.c.connection == connection, t.deals.c.status != "deleted")
                ).scalars()
            )

    def count_deals(self, connection: str) -> int:
        with self.tx() as conn:
            return int(
                conn.execute(
                    select(func.count()).select_from(t.deals).where(t.deals.c.connection == connection)
                ).scalar_one()
            )


def _deal_row(deal: Deal, run_id: int, now: datetime) -> dict[str, Any]:
    return {
        "connection": deal.connection,
        "source_id": deal.source_id,
        "name": deal.name,
        "pipeline_id": deal.pipeline.id,
        "pipeline_label": deal.pipeline.label,
        "stage_id": deal.stage.id,
        "stage_label": deal.stage.label,
        "stage_order": deal.stage.order,
        "status": deal.status.value,
        "amount": deal.amount,
        "currency": deal.currency,
        "close_date": deal.close_date,
        "owner_id": deal.owner.id if deal.owner else None,
        "owner_name": deal.owner.name if deal.owner else None,
        "owner_email": deal.owner.email if deal.owner else None,
        "group_name": deal.group,
        "created_at": utc(deal.created_at),
        "updated_at": utc(deal.updated_at),
        "closed_at": utc(deal.closed_at),
        "remote_category": (deal.remote_category or "")[:100] or None,
        # an odd remote value is kept in the deal's data but would overflow NUMERIC(9, 6) on PostgreSQL
        "remote_probability": deal.remote_probability
        if deal.remote_probability is not None and abs(deal.remote_probability) < 1000
        else None,
        "data": deal.model_dump(mode="json"),
        "last_run_id": run_id,
        "synced_at": now,
    }
