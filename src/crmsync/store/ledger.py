"""Ledger: what crmsync wrote, planned or left alone, and why; and the quarantine of records it could not map."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import bindparam, func, insert, select, update

from crmsync.errors import StoreError
from crmsync.redact import clip, redact
from crmsync.store import schema as t
from crmsync.store.base import StoreBase, utcnow
from crmsync.store.vocabulary import Outcome


def _pending_rows_query() -> Any:
    """`pending_rows`' query, built once (building a select cost a writer's chunk 1.4 ms, more than running it)."""
    lg = t.ledger
    return (
        select(lg.c.id, lg.c.source_id, lg.c.field, lg.c.old_value, lg.c.new_value)
        .where(lg.c.run_id == bindparam("run_id"), lg.c.outcome == Outcome.PENDING, lg.c.id > bindparam("after"))
        .order_by(lg.c.id)
        .limit(bindparam("limit"))
    )


_PENDING_ROWS = _pending_rows_query()
# Settling: one set-based update per outcome and reason, by ids (as many as SQLite allows in one statement safely)
_SETTLE = (
    update(t.ledger)
    .where(t.ledger.c.id.in_(bindparam("ids", expanding=True)))
    .values(outcome=bindparam("outcome"), reason=bindparam("reason"), at=bindparam("at"))
)
_IDS_PER_STATEMENT = 500


class LedgerRow(NamedTuple):
    """One row to add to the ledger (a tuple: a run adds two a deal, and a frozen dataclass costs 1.5 µs each)."""

    run_id: int
    connection: str
    source_id: str
    field: str
    old_value: str | None
    new_value: str | None
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True)
class Marks:
    """What the ledger says about crmsync and one field of one deal.

    Attributes:
        written: The value crmsync last wrote (or is writing now).
        unsure: The value of a newer write whose outcome is unknown (its process died mid-write).
        respected: The latest decision about the field was to leave a person's value alone.
    """

    written: str | None = None
    unsure: str | None = None
    respected: bool = False


def _marks_query() -> Any:
    """`marks_of`'s query, built once: per field and deal, the latest row of each outcome that marks a value (for
    the parameters `connection`, `fields` and `ids`, lists expanded as the query runs)."""
    lg = t.ledger
    latest = (
        select(lg.c.field, lg.c.source_id, lg.c.outcome, func.max(lg.c.id).label("id"))
        .where(
            lg.c.connection == bindparam("connection"),
            lg.c.field.in_(bindparam("fields", expanding=True)),
            lg.c.source_id.in_(bindparam("ids", expanding=True)),
            lg.c.outcome.in_((Outcome.WRITTEN, Outcome.PENDING, Outcome.UNKNOWN, Outcome.RESPECTED)),
        )
        .group_by(lg.c.field, lg.c.source_id, lg.c.outcome)
    ).subquery()
    return select(latest.c.field, latest.c.source_id, latest.c.outcome, latest.c.id, lg.c.new_value).join(
        lg, lg.c.id == latest.c.id
    )


_MARKS = _marks_query()


class Ledger:
    """The ledger and quarantine tables."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def marks(self, connection: str, ids: Iterable[str], field: str) -> dict[str, Marks]:
        """What the ledger says about crmsync and `field` of each deal (see `Marks`)."""
        return self.marks_of(connection, ids, (field,))[field]

    def marks_of(self, connection: str, ids: Iterable[str], fields: Sequence[str]) -> dict[str, dict[str, Marks]]:
        """`marks` of several fields in one query: field → deal id → Marks (every field a key, maybe empty)."""
        ids = list(ids)
        if not ids:
            return {name: {} for name in fields}
        rows: dict[tuple[str, str], dict[Outcome, tuple[int, str | None]]] = {}
        with self.db.tx() as conn:
            params = {"connection": connection, "fields": list(fields), "ids": ids}
            for row in conn.execute(_MARKS, params):
                rows.setdefault((row.field, row.source_id), {})[Outcome(row.outcome)] = (row.id, row.new_value)
        marks: dict[str, dict[str, Marks]] = {name: {} for name in fields}
        for (field, source_id), by_outcome in rows.items():
            written = max((by_outcome[o] for o in (Outcome.WRITTEN, Outcome.PENDING) if o in by_outcome), default=None)
            unknown = by_outcome.get(Outcome.UNKNOWN)
            newest = max(by_outcome.values())
            marks[field][source_id] = Marks(
                written=written[1] if written else None,
                unsure=unknown[1] if unknown and (written is None or unknown[0] > written[0]) else None,
                respected=by_outcome.get(Outcome.RESPECTED) == newest,
            )
        return marks

    def failed_before(self, connection: str, ids: Iterable[str], run_id: int) -> set[str]:
        """Deals whose latest write attempt before run `run_id` failed too."""
        ids = list(ids)
        if not ids:
            return set()
        latest = (
            select(func.max(t.ledger.c.id))
            .where(
                t.ledger.c.connection == connection,
                t.ledger.c.source_id.in_(ids),
                t.ledger.c.run_id < run_id,
                t.ledger.c.outcome.in_((Outcome.WRITTEN, Outcome.FAILED)),
            )
            .group_by(t.ledger.c.source_id)
        )
        query = select(t.ledger.c.source_id).where(t.ledger.c.id.in_(latest), t.ledger.c.outcome == Outcome.FAILED)
        with self.db.tx() as conn:
            return set(conn.execute(query).scalars())

    def written_after(self, connection: str, run_id: int) -> set[tuple[str, str]]:
        """(deal, field) pairs a run later than `run_id` wrote (or was about to write)."""
        query = (
            select(t.ledger.c.source_id, t.ledger.c.field)
            .where(
                t.ledger.c.connection == connection,
                t.ledger.c.run_id > run_id,
                t.ledger.c.outcome.in_((Outcome.WRITTEN, Outcome.PENDING)),
            )
            .distinct()
        )
        with self.db.tx() as conn:
            return {(row.source_id, row.field) for row in conn.execute(query)}

    # -- quarantine and ledger ---------------------------------------------------------------------------------

    def quarantine(self, run_id: int, connection: str, source_id: str | None, reason: str, payload: Any) -> None:
        with self.db.tx() as conn:
            conn.execute(
                insert(t.quarantine).values(
                    run_id=run_id,
                    connection=connection,
                    source_id=source_id.replace("\x00", "\ufffd")[:200] if source_id else source_id,
                    reason=(clip(reason) or "").replace("\x00", "\ufffd"),
                    # PostgreSQL's JSON refuses \u0000: the payload is kept with the explicit replacement
                    payload=json.loads(redact(json.dumps(payload, default=str)).replace("\\u0000", "\\ufffd")),
                    at=utcnow(),
                )
            )

    def quarantined(self, run_id: int) -> list[dict[str, Any]]:
        with self.db.tx() as conn:
            query = select(t.quarantine).where(t.quarantine.c.run_id == run_id).order_by(t.quarantine.c.id)
            return [dict(row) for row in conn.execute(query).mappings()]

    def add_ledger(self, rows: Sequence[LedgerRow], *, ids: bool = True) -> list[int]:
        """Record ledger rows (pending, planned, respected or skipped); returns their ids, or none when `ids` is
        False (one statement, without reading the ids back)."""
        if not rows:
            return []
        now = utcnow()
        # each row's dict built directly (`_asdict` and a merge cost twice as much, two rows a deal)
        values = [
            {
                "run_id": run_id,
                "connection": connection,
                "source_id": source_id,
                "field": field,
                "old_value": old_value,
                "new_value": new_value,
                "outcome": str(outcome),
                "reason": clip(reason),
                "at": now,
            }
            for run_id, connection, source_id, field, old_value, new_value, outcome, reason in rows
        ]
        lg = t.ledger
        with self.db.tx() as conn:
            if not ids:
                self.db.insert_many(lg, values, conn)
                return []
            if self.db.engine.dialect.name != "sqlite" or len({row.run_id for row in rows}) > 1:
                # PostgreSQL answers SQLAlchemy's ordered RETURNING in batches; SQLite only a statement per row
                stmt = insert(lg).returning(lg.c.id, sort_by_parameter_order=True)
                return [int(i) for i in conn.execute(stmt, values).scalars().all()]
            # SQLite: one executemany, then the run's rows above its previous highest id. A run is one process and
            # the database is locked for writing until this transaction ends, so they are these rows, in order.
            run = lg.c.run_id == rows[0].run_id
            before = conn.execute(select(func.coalesce(func.max(lg.c.id), 0)).where(run)).scalar_one()
            self.db.insert_many(lg, values, conn)
            found = conn.execute(select(lg.c.id).where(run, lg.c.id > before).order_by(lg.c.id)).scalars().all()
            if len(found) != len(values):  # raised inside the transaction: nothing of it is kept
                raise StoreError(f"ledger: {len(values)} rows inserted, {len(found)} found after (another writer?)")
        return [int(i) for i in found]

    def pending_rows(self, run_id: int, *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        """Up to `limit` pending rows of a run with an id above `after`, in id order (phase 2 reads in chunks)."""
        keys = ("id", "source_id", "field", "old_value", "new_value")
        params = {"run_id": run_id, "after": after, "limit": limit}
        with self.db.tx() as conn:  # plain rows zipped with their keys: a RowMapping per row costs more
            return [dict(zip(keys, row, strict=True)) for row in conn.execute(_PENDING_ROWS, params)]

    def settle_ledger(self, outcomes: Sequence[tuple[int, Outcome, str | None]]) -> None:
        """Fill in outcome and reason of ledger rows by id."""
        if not outcomes:
            return
        now = utcnow()
        groups: dict[tuple[str, str | None], list[int]] = {}  # a batch's rows mostly share one outcome and reason
        for ledger_id, outcome, reason in outcomes:
            groups.setdefault((str(outcome), clip(reason)), []).append(ledger_id)
        with self.db.tx() as conn:
            for (status, why), ids in groups.items():
                for start in range(0, len(ids), _IDS_PER_STATEMENT):
                    chunk = ids[start : start + _IDS_PER_STATEMENT]
                    conn.execute(_SETTLE, {"outcome": status, "reason": why, "at": now, "ids": chunk})

    def defer_pending(self, run_id: int, reason: str) -> int:
        """The run's pending rows wait for the next run; returns how many deals that is."""
        lg = t.ledger
        pending = (lg.c.run_id == run_id, lg.c.outcome == Outcome.PENDING)
        with self.db.tx() as conn:
            deals = conn.execute(select(func.count(func.distinct(lg.c.source_id))).where(*pending)).scalar() or 0
            conn.execute(update(t.ledger).where(*pending).values(outcome=Outcome.DEFERRED, reason=reason, at=utcnow()))
        return int(deals)

    def deferred_ids(self, connection: str) -> set[str]:
        """Deals with a deferred write no later ledger row of the same field has replaced."""
        lg = t.ledger
        latest = select(func.max(lg.c.id)).where(lg.c.connection == connection).group_by(lg.c.source_id, lg.c.field)
        query = select(lg.c.source_id).where(lg.c.id.in_(latest), lg.c.outcome == Outcome.DEFERRED)
        with self.db.tx() as conn:
            return {row.source_id for row in conn.execute(query)}

    def pending_deals(self, run_id: int) -> int:
        lg = t.ledger
        query = select(func.count(func.distinct(lg.c.source_id))).where(
            lg.c.run_id == run_id, lg.c.outcome == Outcome.PENDING
        )
        with self.db.tx() as conn:
            return int(conn.execute(query).scalar() or 0)

    def abandon_pending(self, run_id: int, reason: str, outcome: Outcome = Outcome.UNKNOWN) -> None:
        """A run stopped: its pending rows may or may not have reached the CRM, so they become 'unknown' (or, when
        the run stopped before sending any, `deferred`: the next run writes them)."""
        with self.db.tx() as conn:
            conn.execute(
                update(t.ledger)
                .where(t.ledger.c.run_id == run_id, t.ledger.c.outcome == Outcome.PENDING)
                .values(outcome=outcome, reason=clip(reason), at=utcnow())
            )

    def ledger(self, run_id: int) -> list[dict[str, Any]]:
        with self.db.tx() as conn:
            query = select(t.ledger).where(t.ledger.c.run_id == run_id).order_by(t.ledger.c.id)
            return [dict(row) for row in conn.execute(query).mappings()]
