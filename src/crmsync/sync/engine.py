"""SyncEngine: one sync run of one connection, and `rollback` of a run.

claim the run → reference data → fetch changed deals since the cursor (minus an overlap window) → to_deal
(bad records quarantined with their reason) → upsert snapshot → evaluate rules → plan write-back → write in
batches, each write in the ledger before and after → advance the cursor only once every write is recorded.
"""

from __future__ import annotations

import logging
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from crmsync.connector import Connector, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import ApiError, ConnectorError, CrmsyncError, LockedError, RecordError
from crmsync.model import Deal, Forecast
from crmsync.redact import redact
from crmsync.rules import evaluate
from crmsync.store import LedgerRow, Store
from crmsync.sync.plan import DealPlan, effective_forecast, plan_deal

log = logging.getLogger("crmsync.sync")

Mode = Literal["apply", "dry-run"]
LOCK_STALE_AFTER = timedelta(minutes=5)  # five missed heartbeats: the process holding it is gone
HEARTBEAT_SECONDS = 60.0  # a running sync refreshes its lock at least this often (at page and batch boundaries)


def holder_id() -> str:
    """Who holds a lock: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class RunResult:
    """Counts of one run, and what it wrote per category.

    `planned`, `written` and `failed` count deals; `skipped` counts fields left as they were (respected,
    archived, unmapped stage, or refused by the connector); `reevaluated` counts stored deals evaluated again
    on a new day without being fetched.
    """

    run_id: int
    connection: str
    mode: Mode
    status: str = "running"
    fetched: int = 0
    stored: int = 0
    quarantined: int = 0
    deleted: int = 0
    planned: int = 0
    written: int = 0
    skipped: int = 0
    failed: int = 0
    requests: int = 0
    reevaluated: int = 0
    full: bool = False
    written_by_category: Counter[str] = field(default_factory=Counter)
    error: str | None = None

    def counts(self) -> dict[str, int]:
        keys = (
            "fetched",
            "stored",
            "quarantined",
            "deleted",
            "planned",
            "written",
            "skipped",
            "failed",
            "requests",
        )
        return {key: getattr(self, key) for key in keys}


@dataclass
class PendingWrite:
    """An update about to be sent, with the ledger rows its outcome settles."""

    update: DealUpdate
    ledger_ids: dict[str, int]
    category: str | None = None  # the canonical category written, for the per-category counts


class SyncEngine:
    """Runs one sync of one connection into the store.

    Args:
        store: The state store.
        connector: The connection's connector.
        mode: 'apply' writes back; 'dry-run' only plans and records the plan.
        full: Re-read every deal instead of those changed since the cursor.
        overlap: How far before the cursor an incremental read starts, against clock skew and late indexing.
        reconcile: Ask the connector for a full id scan to find hard-deleted deals.
        today: The date rules compare close dates with (default: today).
        on_progress: Called with the number of deals fetched so far after each page.
    """

    def __init__(
        self,
        store: Store,
        connector: Connector,
        *,
        mode: Mode = "apply",
        full: bool = False,
        overlap: timedelta = timedelta(minutes=10),
        reconcile: bool = False,
        today: date | None = None,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.store = store
        self.connector = connector
        self.connection = connector.connection
        self.mapping = connector.mapping
        self.mode = mode
        self.full = full
        self.overlap = overlap
        self.reconcile = reconcile
        self.today = today or date.today()
        self.on_progress = on_progress
        self.batch_size = max(1, connector.capabilities.write_batch_size)
        self._buffer: list[tuple[DealPlan, str | None]] = []
        self._seen: set[str] = set()
        self.lock_name = f"run:{self.connection}"
        self.holder = holder_id()
        self._beat = time.monotonic()
        self._modified: dict[str, datetime | None] = {}  # modification time of each deal with a planned write
        self._failed_at: list[datetime | None] = []  # modification times of deals whose write failed

    async def run(self) -> RunResult:
        """Run the sync; the returned result says how it ended. Raises on auth, transport or store errors."""
        lock, holder = self.lock_name, self.holder
        self.store.acquire_lock(lock, holder, LOCK_STALE_AFTER)
        self._beat = time.monotonic()
        try:
            self.store.abandon_stale_runs(self.connection)
            return await self._run_locked()
        finally:
            self.store.release_lock(lock, holder)

    async def _run_locked(self) -> RunResult:
        digest = self.mapping.digest()
        previous_digest = self.store.last_digest(self.connection)
        cursor = self.store.cursor(self.connection)
        full = self.full or cursor is None or (previous_digest is not None and previous_digest != digest)
        if previous_digest is not None and previous_digest != digest and not self.full:
            log.info("[%s] mapping changed since the last run: recomputing every deal", self.connection)
        since = None if full or cursor is None else cursor - self.overlap
        run_id = self.store.start_run(
            self.connection,
            kind="sync",
            mode=self.mode,
            full=full,
            digest=digest,
            cursor_before=cursor,
            evaluated_on=self.today,
        )
        result = RunResult(run_id, self.connection, self.mode, full=full)
        try:
            latest = await self._sync(result, since)
        except BaseException as exc:
            result.status = "failed"
            result.error = str(exc) if isinstance(exc, CrmsyncError) else redact(f"{type(exc).__name__}: {exc}")
            result.requests = self._requests()
            self.store.finish_run(run_id, "failed", result.counts(), error=result.error)
            raise
        new_cursor = max(filter(None, (cursor, latest)), default=None)
        if self._failed_at:
            # hold the cursor back so the next run reads the deals whose writes failed again, and retries them
            if None in self._failed_at:
                new_cursor = cursor
            else:
                hold = min(filter(None, self._failed_at))
                new_cursor = hold if new_cursor is None else min(new_cursor, hold)
        if self.mode == "apply" and new_cursor is not None:
            self.store.set_cursor(self.connection, new_cursor, run_id)
        result.status = "partial" if (result.failed or result.quarantined) else "ok"
        result.requests = self._requests()
        self.store.finish_run(run_id, result.status, result.counts(), cursor_after=new_cursor)
        return result

    def _requests(self) -> int:
        client = self.connector.client
        return sum(v for k, v in client.stats.items() if k != "retried") if client is not None else 0

    async def _sync(self, result: RunResult, since: datetime | None) -> datetime | None:
        reference = await self.connector.reference()
        latest: datetime | None = None
        async for page in self.connector.deals(since, reconcile=self.reconcile):
            await self._page(result, page, reference)
            if page.checkpoint is not None and (latest is None or page.checkpoint > latest):
                latest = page.checkpoint
            if self.on_progress is not None:
                self.on_progress(result.fetched)
        if since is not None and self.store.last_evaluated_on(self.connection) != self.today:
            await self._reevaluate(result)
        await self._flush(result)
        return latest

    async def _reevaluate(self, result: RunResult) -> None:
        """A new day: rules relative to today (overdue, closing this quarter, deal age) may now decide otherwise
        for deals that did not change remotely, so every stored deal the listing did not bring is evaluated again
        from the snapshot. No request is made; only what now differs is written."""
        log.info("[%s] a new day since the last run: re-evaluating unchanged deals", self.connection)
        for deals in self.store.stored_deal_chunks(self.connection, result.run_id):
            fresh = [deal for deal in deals if deal.source_id not in self._seen]
            result.reevaluated += len(fresh)
            await self._evaluate(result, fresh, count=False)

    def _heartbeat(self) -> None:
        """Keep the run lock fresh during a long run, so no other process takes it over as stale."""
        if time.monotonic() - self._beat >= HEARTBEAT_SECONDS:
            if not self.store.heartbeat(self.lock_name, self.holder):
                raise LockedError(
                    f"{self.lock_name} was taken over by another process while this run stalled; stopping this run"
                )
            self._beat = time.monotonic()

    async def _page(self, result: RunResult, page: Page, reference: Reference) -> None:
        self._heartbeat()
        result.fetched += len(page.records)
        deals: list[Deal] = []
        for raw in page.records:
            deal = self._map(result, raw, reference)
            if deal is not None:
                deals.append(deal)
        await self._evaluate(result, deals)
        gone = list(page.deleted_ids)
        if page.live_ids is not None:
            gone += sorted(self.store.known_ids(self.connection) - set(page.live_ids))
        if self.mode == "apply":
            result.deleted += self.store.mark_deleted(self.connection, gone, result.run_id)
        else:
            result.deleted += len(set(gone) & self.store.known_ids(self.connection)) if gone else 0

    async def _evaluate(self, result: RunResult, deals: list[Deal], *, count: bool = True) -> None:
        """Evaluate the rules, plan write-back and (when applying) keep the snapshot of these deals.

        A dry run keeps no snapshot: the next real run must see the stages and values as the last real run left
        them, or a stage change would go unnoticed by the reset_on_stage_change policy.
        """
        ids = [deal.source_id for deal in deals]
        previous = self.store.stored_deals(self.connection, ids)
        marks = {name: self.store.marks(self.connection, ids, name) for name in ("category", "probability")}
        pairs: list[tuple[Deal, Forecast]] = []
        for deal in deals:
            forecast = evaluate(deal, self.mapping, self.today)
            before = previous.get(deal.source_id)
            known = {name: found[deal.source_id] for name, found in marks.items() if deal.source_id in found}
            plan = plan_deal(deal, forecast, self.mapping, known, before.stage_id if before else None)
            pairs.append((deal, effective_forecast(forecast, plan, self.mapping, deal.amount)))
            if plan.changes:
                self._buffer.append((plan, forecast.category.value))
                self._modified[deal.source_id] = deal.updated_at
        if self.mode == "apply":
            self.store.save_page(result.run_id, self.mapping.digest(), pairs, previous)
        else:
            self._seen.update(ids)  # a dry run keeps no snapshot: remember what it read, not to evaluate it twice
        if count:
            result.stored += len(pairs)
        if len(self._buffer) >= self.batch_size:
            await self._flush(result)

    def _map(self, result: RunResult, raw: dict[str, Any], reference: Reference) -> Deal | None:
        try:
            return self.connector.to_deal(raw, reference)
        except RecordError as exc:
            source_id, reason = exc.source_id, exc.reason
        except ValidationError as exc:
            first = exc.errors()[0]
            source_id = str(raw.get("id")) if raw.get("id") is not None else None
            reason = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
        except Exception as exc:  # a connector bug on one odd record must not stop the run
            source_id = str(raw.get("id")) if isinstance(raw, dict) and raw.get("id") is not None else None
            reason = f"cannot be mapped ({type(exc).__name__}: {exc})"
            log.exception("[%s] mapping record %s failed", self.connection, source_id)
        result.quarantined += 1
        log.warning("[%s] quarantined record %s: %s", self.connection, source_id, reason)
        self.store.quarantine(result.run_id, self.connection, source_id, reason, raw)
        return None

    async def _flush(self, result: RunResult) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        rows: list[LedgerRow] = []
        for plan, _category in batch:
            for change in plan.changes:
                if change.write:
                    outcome = "pending" if self.mode == "apply" else "planned"
                else:
                    outcome = "respected" if change.manual_override else "skipped"
                rows.append(
                    LedgerRow(
                        result.run_id,
                        self.connection,
                        plan.source_id,
                        change.field,
                        change.old,
                        change.new,
                        outcome,
                        change.reason,
                    )
                )
        ids = self.store.add_ledger(rows)
        id_iter = iter(ids)
        pending: list[PendingWrite] = []
        for plan, category in batch:
            ledger_ids = {change.field: next(id_iter) for change in plan.changes}
            for change in plan.changes:
                if not change.write:
                    result.skipped += 1
            update = plan.update
            if update is not None:
                result.planned += 1
                writes = {c.field for c in plan.changes if c.write}
                ids_to_settle = {name: ledger_id for name, ledger_id in ledger_ids.items() if name in writes}
                pending.append(PendingWrite(update, ids_to_settle, category if "category" in writes else None))
        if self.mode != "apply" or not pending:
            return
        await self.write_pending(result, pending)

    async def write_pending(self, result: RunResult, pending: Sequence[PendingWrite]) -> None:
        """Send the updates through the connector and settle their ledger rows with the outcomes."""
        self._heartbeat()
        try:
            outcomes = await self.connector.write([p.update for p in pending])
        except (ApiError, ConnectorError) as exc:
            fatal = not isinstance(exc, ApiError) or exc.status in (401, 403)
            self._settle(result, pending, {}, default=("failed", str(exc)))
            if fatal:
                raise
            return
        self._settle(
            result,
            pending,
            {o.source_id: o for o in outcomes},
            default=("failed", "the connector returned no outcome for this deal"),
        )

    def _settle(
        self,
        result: RunResult,
        pending: Sequence[PendingWrite],
        outcomes: dict[str, WriteOutcome],
        default: tuple[str, str],
    ) -> None:
        settled: list[tuple[int, str, str | None]] = []
        failed_ids = [
            item.update.source_id
            for item in pending
            if (o := outcomes.get(item.update.source_id)) is None or o.status == "failed"
        ]
        failed_again = self.store.failed_before(self.connection, failed_ids, result.run_id) if failed_ids else set()
        written_values: dict[str, dict[str, str | None]] = {}
        for item in pending:
            outcome = outcomes.get(item.update.source_id)
            status, reason = (outcome.status, outcome.reason) if outcome else default
            if status == "written":
                result.written += 1
                if item.category is not None:
                    result.written_by_category[item.category] += 1
                remote: dict[str, str | None] = {}
                if item.update.category is not None:
                    remote["category"] = item.update.category
                if item.update.probability is not None or item.update.clear_probability:
                    remote["probability"] = None if item.update.probability is None else str(item.update.probability)
                written_values[item.update.source_id] = remote
            elif status == "skipped":
                result.skipped += len(item.ledger_ids)  # skipped counts fields, as in _flush
            else:
                result.failed += 1
                if item.update.source_id not in failed_again:
                    # retried by the next run; a deal that failed twice in a row waits for its next remote change,
                    # so one deal the CRM always refuses cannot pin the cursor for ever
                    self._failed_at.append(self._modified.get(item.update.source_id))
                log.warning("[%s] write of deal %s failed: %s", self.connection, item.update.source_id, reason)
            settled.extend((ledger_id, status, reason) for ledger_id in item.ledger_ids.values())
            self._modified.pop(item.update.source_id, None)
        self.store.settle_ledger(settled)
        if written_values and self.mode == "apply":
            self.store.record_written(self.connection, written_values)
