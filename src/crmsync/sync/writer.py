"""Phase 2 of a run: drain the run's pending ledger rows into the CRM and settle each row by its id.

The writer reads pending rows from the store a chunk at a time (memory stays flat however many deals a run
plans), groups them per deal, sends `write_batch_size` deals per `connector.write` and settles every ledger row
it sent by its own ledger id. A sync and a rollback both end here.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from crmsync import bare
from crmsync.connector import Connector, DealUpdate, Reference, WriteOutcome
from crmsync.errors import ApiError, ConnectorError, CrmsyncError, TransportError
from crmsync.model import Deal
from crmsync.store import Outcome, Store
from crmsync.sync.flight import Flight
from crmsync.sync.result import RunResult

log = logging.getLogger("crmsync.sync")

NO_OUTCOME = "the connector returned no outcome for this deal"
# an outcome's status as the ledger's Outcome, and the members read per deal (from the enum class: 90 ns a read)
_OUTCOMES = {str(outcome): outcome for outcome in Outcome}
_WRITTEN, _SKIPPED, _UNKNOWN = Outcome.WRITTEN, Outcome.SKIPPED, Outcome.UNKNOWN
PROGRESS_EVERY = 5.0  # seconds between `run.progress` log records while writing


@dataclass(slots=True)
class PendingDeal:
    """The pending ledger rows of one deal: the value to write per field, and the ids of every row it settles.

    A deal listed twice in one run, in two chunks of the listing (a record that moved between pages), has two rows
    per field: the later value is written and both rows are settled with its outcome.
    """

    source_id: str
    values: dict[str, str | None] = field(default_factory=dict)
    before: dict[str, str | None] = field(default_factory=dict)  # the values the CRM held when planned
    ledger_ids: list[int] = field(default_factory=list)

    def update(self) -> DealUpdate:
        """The update these rows ask for; an empty value clears the field."""
        probability = self.values.get("probability")
        number = Decimal(probability) if probability not in (None, "") else None
        values: dict[str, Any] = {
            "source_id": self.source_id,
            "category": (self.values["category"] or "") if "category" in self.values else None,
            "probability": number,
            "clear_probability": "probability" in self.values and probability in (None, ""),
        }
        # the ledger's texts give valid values but for a number the model refuses (NaN): that one is validated
        if _FAST_UPDATES and (number is None or number.is_finite()):
            return _bare_update(values)
        return DealUpdate(**values)


_UPDATE_FIELDS = set(DealUpdate.model_fields)
_bare_update = bare.builder(DealUpdate, _UPDATE_FIELDS)
_FAST_UPDATES = bare.works(
    DealUpdate, {"source_id": "1", "category": "COMMIT", "probability": Decimal("0.5"), "clear_probability": False}
)


def group(rows: Sequence[dict[str, object]]) -> list[PendingDeal]:
    """Ledger rows (id, source_id, field, old_value, new_value) in id order, per deal, in the order of each deal's
    first row."""
    deals: dict[str, PendingDeal] = {}
    for row in rows:
        source_id = str(row["source_id"])
        value = row["new_value"]
        ledger_id = row["id"]
        assert isinstance(ledger_id, int)
        deal = deals.get(source_id)
        if deal is None:
            deal = deals[source_id] = PendingDeal(source_id, {}, {}, [])
        deal.values[str(row["field"])] = None if value is None else str(value)
        old = row.get("old_value")
        deal.before.setdefault(str(row["field"]), None if old is None else str(old))
        deal.ledger_ids.append(ledger_id)
    return list(deals.values())


class Writer:
    """Writes one run's pending rows.

    Args:
        store: The state store.
        connector: The connection's connector (its `write` is the only remote call made here).
        result: The run's counts, updated as rows settle.
        beat: Called before every batch; raises when the run lost its lock.
        holds_cursor: Whether a failed write holds the cursor back (a sync) or not (a rollback).
        reference: The CRM's reference data; with it, writes whose answer was lost are read back at the end.
        allowance: Write requests the run may send (its share of the CRM's daily budget); None: no limit. The
            deals beyond it are `deferred`, and the next run writes them.
    """

    def __init__(
        self,
        store: Store,
        connector: Connector,
        result: RunResult,
        *,
        beat: Callable[[], None],
        holds_cursor: bool = True,
        reference: Reference | None = None,
        allowance: int | None = None,
        pending: int | None = None,
    ) -> None:
        self.store = store
        self.connector = connector
        self.result = result
        self.beat = beat
        self.holds_cursor = holds_cursor
        self.batch_size = max(1, connector.capabilities.write_batch_size)
        self.failed_at: list[datetime | None] = []  # modification times of deals whose write failed
        self.reference = reference
        self.allowance = allowance
        self.unknown: dict[str, PendingDeal] = {}  # deals whose write got no answer: read back at the end
        self.to_write = 0  # deals pending when phase 2 began
        self._pending = pending  # that count, when the caller has it already
        self._started = self._reported = time.monotonic()

    async def drain(self) -> list[datetime | None]:
        """Write every pending row of the run; returns the modification times that hold the cursor back.

        Where one request carries a whole batch (HubSpot's batch update), up to the connector's concurrency of
        batches are in flight at once; elsewhere a batch is already spread over that many requests.
        """
        self._announce()
        capabilities = self.connector.capabilities
        flight = Flight(self.connector.concurrency() if capabilities.deals_per_request > 1 else 1)
        try:
            await self._drain(flight)
        except asyncio.CancelledError:
            await flight.abandon(cancel=True)
            raise
        except BaseException:
            await flight.abandon(cancel=False)  # the batches already sent settle before the error goes up
            raise
        return self.failed_at

    async def _drain(self, flight: Flight) -> None:
        after = 0
        limit = max(2 * self.batch_size, 100)
        while True:
            if self.allowance is not None and self.allowance <= 0:
                await flight.land()  # rows in flight stay pending until they settle: they must not be deferred
                self._defer()
            rows = self.store.pending_rows(self.result.run_id, after=after, limit=limit)
            if not rows:
                await flight.land()
                await self.read_back()
                return
            deals = group(rows)
            if len(rows) == limit and len(deals) > 1:
                deals.pop()  # its rows may go on in the next chunk: read it whole then
            after = max(ledger_id for deal in deals for ledger_id in deal.ledger_ids)
            for start in range(0, len(deals), self.batch_size):
                batch = self._affordable(deals[start : start + self.batch_size])
                if not batch:
                    break  # the daily budget share is spent: the rest is deferred at the top of the loop
                await flight.start(self._write_one(batch))

    async def _write_one(self, batch: Sequence[PendingDeal]) -> None:
        await self.write(batch)
        self._progress()

    def _affordable(self, batch: list[PendingDeal]) -> list[PendingDeal]:
        """As much of `batch` as the remaining allowance pays for (all of it when there is no budget)."""
        if self.allowance is None:
            return batch
        per_request = self.connector.capabilities.deals_per_request
        affordable = batch[: max(0, self.allowance) * per_request]
        self.allowance -= -(-len(affordable) // per_request)
        return affordable

    def _announce(self) -> None:
        """Say before writing how many requests the plan needs and what the daily budget allows."""
        deals = self._pending if self._pending is not None else self.store.pending_deals(self.result.run_id)
        self.to_write = deals
        self._started = self._reported = time.monotonic()
        if not deals:
            return
        needed = -(-deals // self.connector.capabilities.deals_per_request)
        allowed = "no daily budget known" if self.allowance is None else f"{self.allowance} allowed today"
        log.info(
            "[%s] writing %d deal(s) in about %d request(s) (%s)",
            self.connector.connection,
            deals,
            needed,
            allowed,
            extra={
                "connection": self.connector.connection,
                "event": "run.plan",
                "fields": {"deals": deals, "requests": needed, "allowance": self.allowance},
            },
        )

    def _progress(self) -> None:
        """A `run.progress` record at most every PROGRESS_EVERY seconds: written, failed, left, and an ETA."""
        now = time.monotonic()
        if now - self._reported < PROGRESS_EVERY:
            return
        self._reported = now
        done = self.result.written + self.result.failed + self.result.skipped
        left = max(0, self.to_write - done)
        rate = done / (now - self._started) if now > self._started else 0.0
        eta = round(left / rate, 1) if rate else None
        connection = self.connector.connection
        log.info(
            "[%s] writing: %d written, %d failed, %d left, about %s s to go",
            connection,
            self.result.written,
            self.result.failed,
            left,
            eta if eta is not None else "?",
            extra={
                "connection": connection,
                "event": "run.progress",
                "fields": {
                    "run_id": self.result.run_id,
                    "written": self.result.written,
                    "failed": self.result.failed,
                    "left": left,
                    "eta_s": eta,
                },
            },
        )

    def _defer(self) -> None:
        reason = (
            "over this connection's share of the CRM's daily request budget (max_daily_share); the next run writes it"
        )
        deferred = self.store.defer_pending(self.result.run_id, reason)
        if deferred:
            self.result.deferred += deferred
            log.warning("[%s] %d deal(s) deferred to the next run: %s", self.connector.connection, deferred, reason)

    async def write(self, batch: Sequence[PendingDeal]) -> None:
        """Send one batch through the connector and settle its rows."""
        self.beat()
        try:
            outcomes = await self.connector.write([deal.update() for deal in batch])
        except (ApiError, ConnectorError) as exc:
            fatal = not isinstance(exc, ApiError) or exc.status in (401, 403)
            lost = isinstance(exc, TransportError)  # the batch went out and no answer came: it may be applied
            self._settle(batch, {}, str(exc), Outcome.UNKNOWN if lost else Outcome.FAILED)
            if fatal:
                raise
            return
        self._settle(batch, {o.source_id: o for o in outcomes}, NO_OUTCOME)

    def _settle(
        self,
        batch: Sequence[PendingDeal],
        outcomes: dict[str, WriteOutcome],
        default: str,
        unanswered: Outcome = Outcome.FAILED,
    ) -> None:
        result, connection = self.result, self.connector.connection
        failed_ids = [
            deal.source_id
            for deal in batch
            if (o := outcomes.get(deal.source_id)) is None or o.status in ("failed", "unknown")
        ]
        failed_again: set[str] = set()
        modified: dict[str, datetime | None] = {}
        if failed_ids and self.holds_cursor:
            failed_again = self.store.failed_before(connection, failed_ids, result.run_id)
            modified = self.store.modified_at(connection, failed_ids)
        settled: list[tuple[int, Outcome, str | None]] = []
        written: dict[str, dict[str, str | None]] = {}
        stamps: dict[str, datetime] = {}
        for deal in batch:
            answer = outcomes.get(deal.source_id)
            status, reason = (_OUTCOMES[answer.status], answer.reason) if answer else (unanswered, default)
            if status is _WRITTEN:
                result.written += 1
                if "category" in deal.values:
                    remote = deal.values["category"]
                    category = self.connector.mapping.writeback.canonical_category(remote)
                    result.written_by_category[category.value if category else (remote or "")] += 1
                written[deal.source_id] = dict(deal.values)
                if answer is not None and answer.modified_at is not None:
                    stamps[deal.source_id] = answer.modified_at
            elif status is _SKIPPED:
                result.skipped += len(deal.values)  # skipped counts fields
            else:
                result.failed += 1
                if self.holds_cursor and deal.source_id not in failed_again:
                    # retried by the next run; a deal that failed twice in a row waits for its next remote change,
                    # so one deal the CRM always refuses cannot pin the cursor for ever
                    self.failed_at.append(modified.get(deal.source_id))
                log.warning("[%s] write of deal %s failed: %s", connection, deal.source_id, reason)
            if status is _UNKNOWN:
                self.unknown[deal.source_id] = deal
            settled.extend((ledger_id, status, reason) for ledger_id in deal.ledger_ids)
        with self.store.together():  # the ledger's outcome and the snapshot's record of our write, or neither
            self.store.settle_ledger(settled)
            if written:
                self.store.record_written(connection, written, stamps)

    async def read_back(self) -> None:
        """Read the deals whose write got no answer and settle what the CRM shows: our values → `written`, the
        values before → `failed` (written again by the next run), anything else stays `unknown` (a person may have
        changed it since; the next run decides). A connector that cannot read by id leaves them all `unknown`."""
        if not self.unknown or self.reference is None:
            return
        try:
            raws = await self.connector.read(list(self.unknown))
        except CrmsyncError as exc:
            log.warning(
                "[%s] could not read back %s unanswered write(s): %s", self.connector.connection, len(self.unknown), exc
            )
            return
        if raws is None:
            return
        settled: list[tuple[int, Outcome, str | None]] = []
        written: dict[str, dict[str, str | None]] = {}
        for raw in raws:
            try:
                deal = self.connector.to_deal(raw, self.reference)
            except CrmsyncError:
                continue
            pending = self.unknown.pop(deal.source_id, None)
            if pending is None:
                continue
            verdict = self._compare(pending, deal)
            if verdict is None:
                continue
            if verdict is Outcome.WRITTEN:
                self.result.failed -= 1
                self.result.written += 1
                written[pending.source_id] = dict(pending.values)
                reason = "the answer was lost; read back: the CRM applied it"
            else:
                reason = "the answer was lost; read back: the CRM did not apply it (the next run writes it again)"
            settled.extend((ledger_id, verdict, reason) for ledger_id in pending.ledger_ids)
        with self.store.together():
            self.store.settle_ledger(settled)
            if written:
                self.store.record_written(self.connector.connection, written)

    @staticmethod
    def _compare(pending: PendingDeal, deal: Deal) -> Outcome | None:
        """WRITTEN when the CRM holds every value we sent, FAILED when it still holds every value from before,
        else None (someone else changed the deal)."""
        ours = all(_holds(deal, name, value) for name, value in pending.values.items())
        if ours:
            return Outcome.WRITTEN
        untouched = all(_holds(deal, name, pending.before.get(name)) for name in pending.values)
        return Outcome.FAILED if untouched else None


def _holds(deal: Deal, field: str, value: str | None) -> bool:
    """Whether the deal as read holds `value` (a ledger value: the remote text, or a probability) in `field`."""
    if field == "category":
        return (deal.remote_category or "") == (value or "")
    wanted = Decimal(value) if value not in (None, "") else None
    held = deal.remote_probability
    return held == wanted if held is None or wanted is None else held.compare(wanted) == 0
