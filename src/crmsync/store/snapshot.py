"""Snapshot: each deal as last read (stored once, in columns), its forecast, category moves and stage history."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, func, select, update

from crmsync.model import Deal, DealStatus, Forecast, Owner, Pipeline, Stage
from crmsync.store import schema as t
from crmsync.store.base import StoreBase, aware, utc, utcnow
from crmsync.store.vocabulary import RunStatus


@dataclass(frozen=True)
class StoredDeal:
    """What the store remembers of a deal between runs, for planning."""

    stage_id: str | None
    category: str | None
    probability: Decimal | None


@dataclass(frozen=True)
class OwnWrite:
    """What the snapshot holds of a deal crmsync wrote: the modification time the CRM answered the write with, the
    fingerprint of the version listed before it, and the remote values since the write."""

    stamp: datetime
    fingerprint: str | None
    remote_category: str | None
    remote_probability: Decimal | None

    def covers(self, deal: Deal) -> bool:
        """Whether `deal` as listed now differs from the snapshot by crmsync's own write alone."""
        return (
            deal.updated_at == self.stamp
            and deal.remote_category == self.remote_category
            and _same_number(deal.remote_probability, self.remote_probability)
            and fingerprint(deal) == self.fingerprint
        )


def _same_number(a: Decimal | None, b: Decimal | None) -> bool:
    return a == b if a is None or b is None else a.compare(b) == 0


def fingerprint(deal: Deal) -> str:
    """A digest of every field of a deal but its modification time and remote category and probability (those
    crmsync writes), stable across processes."""
    owner, stage = deal.owner, deal.stage
    fields = (
        deal.source_id, deal.name, deal.pipeline.id, deal.pipeline.label, stage.id, stage.label, stage.order,
        stage.probability, stage.closed, stage.won, deal.status.value, deal.amount, deal.currency, deal.close_date,
        owner and (owner.id, owner.name, owner.email), deal.created_at, deal.closed_at, deal.writable,
        deal.probability_writable, deal.lost_reason, deal.lost_to, deal.group, sorted(deal.extra.items()),
    )  # fmt: skip
    return hashlib.blake2b(repr(fields).encode(), digest_size=16).hexdigest()


def _statements() -> tuple[Any, Any, Any]:
    """The per-page queries, built once (building a select costs more than SQLite's answer to it): the stages of
    finished runs and the forecasts of deals (`stored_deals`), and crmsync's own writes (`own_writes`), for the
    parameters `connection` and `ids` (a list, expanded as the query runs)."""
    sh, d, f = t.stage_history, t.deals, t.forecasts
    ids: Any = bindparam("ids", expanding=True)
    finished = select(t.runs.c.id).where(
        t.runs.c.connection == bindparam("connection"), t.runs.c.status.in_(RunStatus.finished())
    )
    latest = (
        select(func.max(sh.c.id))
        .where(sh.c.connection == bindparam("connection"), sh.c.source_id.in_(ids), sh.c.run_id.in_(finished))
        .group_by(sh.c.source_id)
    )
    stages = select(sh.c.source_id, sh.c.stage_id).where(sh.c.id.in_(latest))
    forecasts = select(f.c.source_id, f.c.category, f.c.probability).where(
        f.c.connection == bindparam("connection"), f.c.source_id.in_(ids)
    )
    own = select(d.c.source_id, d.c.written_stamp, d.c.fingerprint, d.c.remote_category, d.c.remote_probability)
    own = own.where(d.c.connection == bindparam("connection"), d.c.source_id.in_(ids), d.c.written_stamp.is_not(None))
    return stages, forecasts, own


_STORED_STAGES, _STORED_FORECASTS, _OWN_WRITES = _statements()


class Snapshot:
    """The deals, forecasts, forecast_changes and stage_history tables."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def stored_deal_chunks(self, connection: str, skip_run: int, size: int = 500) -> Iterator[list[Deal]]:
        """Every live stored deal not already handled by run `skip_run`, as canonical Deals, `size` at a time.

        The remote category/probability are the snapshot's, which crmsync keeps true after its own writes.
        """
        after = ""
        while True:
            query = (
                select(t.deals)
                .where(
                    t.deals.c.connection == connection,
                    t.deals.c.status != DealStatus.DELETED,
                    t.deals.c.last_run_id != skip_run,
                    t.deals.c.source_id > after,
                )
                .order_by(t.deals.c.source_id)
                .limit(size)
            )
            with self.db.tx() as conn:
                rows = conn.execute(query).mappings().all()
            if not rows:
                return
            yield [deal_from_row(row) for row in rows]
            after = rows[-1]["source_id"]

    def deals_by_id(self, connection: str, ids: Iterable[str]) -> list[Deal]:
        """These live stored deals as canonical Deals (ids the store does not know are left out)."""
        wanted = sorted(set(ids))
        found: list[Deal] = []
        for start in range(0, len(wanted), 500):
            query = select(t.deals).where(
                t.deals.c.connection == connection,
                t.deals.c.status != DealStatus.DELETED,
                t.deals.c.source_id.in_(wanted[start : start + 500]),
            )
            with self.db.tx() as conn:
                found += [deal_from_row(row) for row in conn.execute(query).mappings().all()]
        return found

    def stored_deals(self, connection: str, ids: Iterable[str]) -> dict[str, StoredDeal]:
        """Stage and forecast of the given deals as the last finished run left them.

        The stage comes from the stage history of finished runs, so a run that died after saving its snapshot
        but before writing does not hide a stage change from the run that repeats it.
        """
        ids = list(ids)
        if not ids:
            return {}
        params = {"connection": connection, "ids": ids}
        with self.db.tx() as conn:
            stage_of = {row.source_id: row.stage_id for row in conn.execute(_STORED_STAGES, params)}
            return {
                row.source_id: StoredDeal(stage_of.get(row.source_id), row.category, row.probability)
                for row in conn.execute(_STORED_FORECASTS, params)
            }

    def modified_at(self, connection: str, ids: Iterable[str]) -> dict[str, datetime | None]:
        """The remote modification time of each stored deal, as last read (for holding the cursor back)."""
        ids = list(ids)
        if not ids:
            return {}
        query = select(t.deals.c.source_id, t.deals.c.updated_at).where(
            t.deals.c.connection == connection, t.deals.c.source_id.in_(ids)
        )
        with self.db.tx() as conn:
            return {row.source_id: aware(row.updated_at) for row in conn.execute(query)}

    def record_written(
        self,
        connection: str,
        values: dict[str, dict[str, str | None]],
        stamps: dict[str, datetime] | None = None,
    ) -> None:
        """Keep the snapshot's remote values true after crmsync wrote them (deal id → field → remote value), and
        the modification time the CRM answered each write with (`stamps`; none: the deal has none kept)."""
        columns = {"category": "remote_category", "probability": "remote_probability"}
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}  # one executemany per set of fields written
        for source_id, fields in values.items():
            row: dict[str, Any] = {
                "connection": connection,
                "source_id": source_id,
                "written_stamp": utc((stamps or {}).get(source_id)),
            }
            for name, value in fields.items():
                if name == "probability":
                    row[columns[name]] = Decimal(value) if value not in (None, "") else None
                else:
                    row[columns[name]] = value or None
            groups.setdefault(tuple(sorted(row)), []).append(row)
        with self.db.tx() as conn:
            for rows in groups.values():
                self.db.update_many(t.deals, ["connection", "source_id"], rows, conn)

    def own_writes(self, connection: str, ids: Sequence[str]) -> dict[str, OwnWrite]:
        """These deals as crmsync's own writes left them, where the CRM answered the write with a modification
        time and no listing brought a newer version since."""
        if not ids:
            return {}
        with self.db.tx() as conn:
            return {
                row.source_id: OwnWrite(stamp, row.fingerprint, row.remote_category, row.remote_probability)
                for row in conn.execute(_OWN_WRITES, {"connection": connection, "ids": list(ids)})
                if (stamp := aware(row.written_stamp)) is not None
            }

    def save_page(
        self,
        run_id: int,
        digest: str,
        pairs: Sequence[tuple[Deal, Forecast]],
        previous: dict[str, StoredDeal],
    ) -> int:
        """Upsert deals and forecasts of one chunk of the listing, recording category moves and stage changes."""
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
                    "rule_ids": forecast.rule_ids,  # a tuple: dumped once per distinct value
                    "flags": forecast.flags,
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
                        "rule_ids": forecast.rule_ids,  # a tuple: dumped once per distinct value
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
        with self.db.tx() as conn:
            self.db.upsert(t.deals, ["connection", "source_id"], deal_rows, conn)
            self.db.upsert(t.forecasts, ["connection", "source_id"], forecast_rows, conn)
            self.db.insert_many(t.forecast_changes, changes, conn)
            self.db.insert_many(t.stage_history, stages, conn)
            self.db.grew(len(pairs), conn)
        return len(pairs)

    def mark_deleted(self, connection: str, ids: Sequence[str], run_id: int) -> int:
        """Mark deals the CRM no longer has as deleted (their forecast becomes omitted at 0 %)."""
        if not ids:
            return 0
        with self.db.tx() as conn:
            count = conn.execute(
                update(t.deals)
                .where(
                    t.deals.c.connection == connection,
                    t.deals.c.source_id.in_(list(ids)),
                    t.deals.c.status != DealStatus.DELETED,
                )
                .values(status=DealStatus.DELETED, last_run_id=run_id, synced_at=utcnow())
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
        with self.db.tx() as conn:
            return set(
                conn.execute(
                    select(t.deals.c.source_id).where(
                        t.deals.c.connection == connection, t.deals.c.status != DealStatus.DELETED
                    )
                ).scalars()
            )

    def count_deals(self, connection: str) -> int:
        with self.db.tx() as conn:
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
        "stage_probability": deal.stage.probability,
        "stage_closed": deal.stage.closed,
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
        # an odd remote value would overflow NUMERIC(9, 6) on PostgreSQL; the next listing reads it again
        "remote_probability": deal.remote_probability
        if deal.remote_probability is not None and abs(deal.remote_probability) < 1000
        else None,
        "writable": deal.writable,
        "probability_writable": deal.probability_writable,
        "lost_reason": deal.lost_reason,
        "lost_to": deal.lost_to,
        "extra": dict(deal.extra),
        "last_run_id": run_id,
        "synced_at": now,
        "written_stamp": None,  # this version came from a listing: crmsync's own write is not its last change
        "fingerprint": fingerprint(deal),
    }


def deal_from_row(row: Any) -> Deal:
    """The canonical Deal of a stored row; a closed stage is a won one when `status` says won (its only owner).

    Whether a person set the remote values is the API's answer at read time, which the snapshot does not keep.
    """
    status = DealStatus(row["status"])
    owner = Owner(id=row["owner_id"], name=row["owner_name"], email=row["owner_email"]) if row["owner_id"] else None
    return Deal(
        connection=row["connection"],
        source_id=row["source_id"],
        name=row["name"],
        pipeline=Pipeline(id=row["pipeline_id"], label=row["pipeline_label"]),
        stage=Stage(
            id=row["stage_id"],
            label=row["stage_label"],
            pipeline_id=row["pipeline_id"],
            order=row["stage_order"],
            probability=_decimal(row["stage_probability"]),
            closed=bool(row["stage_closed"]),
            won=bool(row["stage_closed"]) and status is DealStatus.WON,
        ),
        status=status,
        amount=_decimal(row["amount"]),
        currency=row["currency"],
        close_date=row["close_date"],
        owner=owner,
        created_at=aware(row["created_at"]),
        updated_at=aware(row["updated_at"]),
        closed_at=aware(row["closed_at"]),
        remote_category=row["remote_category"],
        remote_probability=_decimal(row["remote_probability"]),
        writable=bool(row["writable"]),
        probability_writable=bool(row["probability_writable"]),
        lost_reason=row["lost_reason"],
        lost_to=row["lost_to"],
        group=row["group_name"],
        extra=dict(row["extra"] or {}),
    )


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))
