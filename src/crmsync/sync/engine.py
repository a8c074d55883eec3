"""SyncEngine: one sync run of one connection, in two phases around the write ledger.

Phase 1 (listing, no remote write): claim the run → stream the deals changed since the cursor (minus an overlap
window), read one page ahead and handled in chunks of pages (`crmsync.sync.chunks`) → the reference data, once
(first in a full run, else when records come) → to_deal (bad records quarantined with their reason) → rules →
plan → upsert the snapshot and record ledger rows: pending (to write), planned (dry run), respected or skipped.
Phase 2 (`crmsync.sync.writer`): drain the run's pending rows in batches → connector.write → settle each row by
its ledger id. The cursor advances only after every write is settled (`crmsync.sync.cursor`).

Because nothing is written while the CRM is listed, a listing never races the run's own writes: no page shifts
under an offset, and no deal comes back modified by us in the middle of its own listing. A dry run is phase 1
alone. After a crash, the run's pending rows become `unknown` (the next run's `abandon_stale_runs`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from crmsync import periods
from crmsync.connector import Connector, Page, Reference
from crmsync.errors import CrmsyncError, MappingError, RecordError
from crmsync.model import Deal, Forecast
from crmsync.redact import redact
from crmsync.rules_compiled import compiled
from crmsync.store import LedgerRow, Outcome, RunKind, RunStatus, Store
from crmsync.store.ledger import Marks
from crmsync.sync import cursor as policy
from crmsync.sync import storable
from crmsync.sync.ahead import one_ahead
from crmsync.sync.chunks import gathered
from crmsync.sync.collector import frozen_before
from crmsync.sync.explain import Evaluated, explain
from crmsync.sync.lock import HEARTBEAT_SECONDS, LOCK_STALE_AFTER, RunLock, holder_id
from crmsync.sync.plan import DealPlan, effective_forecast, marked_ids, marks_for, plan_deal
from crmsync.sync.result import Mode, RunResult
from crmsync.sync.writer import Writer

log = logging.getLogger("crmsync.sync")

__all__ = ["HEARTBEAT_SECONDS", "LOCK_STALE_AFTER", "Mode", "RunResult", "SyncEngine", "holder_id"]


class SyncEngine:
    """Runs one sync of one connection into the store.

    Args:
        store: The state store.
        connector: The connection's connector.
        mode: 'apply' writes back; 'dry-run' only plans and records the plan (phase 1 alone).
        full: Re-read every deal instead of those changed since the cursor.
        overlap: How far before the cursor an incremental read starts, against clock skew and late indexing.
        reconcile: Ask the connector for a full id scan to find hard-deleted deals.
        today: The date rules compare close dates with (default: today).
        on_progress: Called with the number of deals fetched so far after each chunk of the listing.
        future_tolerance: How far beyond now a modification time may lie and still count for the cursor.
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
        future_tolerance: timedelta = policy.FUTURE_TOLERANCE,
        trigger: str = "manual",
        daily_share: float = 0.5,
    ) -> None:
        self.store = store
        self.connector = connector
        self.connection = connector.connection
        self.mapping = connector.mapping
        self.mode = mode
        self.full = full
        self.overlap = overlap
        self.reconcile = reconcile
        self.today = today or periods.today()
        self.on_progress = on_progress
        self.future_tolerance = future_tolerance
        self.trigger = trigger
        self.daily_share = daily_share
        self.lock = RunLock(store, self.connection)
        self.lock_name = self.lock.name
        self.holder = self.lock.holder
        self._seen: set[str] = set()
        self._reference: Reference | None = None  # phase 1's, for phase 2's read-back of unanswered writes
        self._latest: datetime | None = None  # the latest believable modification time listed (progress marker)
        self._vouched: datetime | None = None  # what the CRM's clock vouches a whole listing read (see cursor)
        self._digest = ""  # the mapping's digest, computed once a run (a JSON dump of the whole mapping)

    async def run(self) -> RunResult:
        """Run the sync; the returned result says how it ended. Raises on auth, transport or store errors."""
        self.lock.acquire()
        try:
            self.store.abandon_stale_runs(self.connection)
            with frozen_before():  # the process's long-lived objects stay out of the run's full collections
                return await self._run_locked()
        finally:
            try:
                self.lock.release()
            except Exception as exc:  # the run's own outcome stands: an unreleased lock lapses when it goes stale
                log.error("[%s] could not release %s: %s", self.connection, self.lock_name, redact(repr(exc)))

    def _beat(self) -> None:
        self.lock.beat(HEARTBEAT_SECONDS)

    def _fence(self) -> None:
        """Before every write batch: this run must still hold its lock (a run frozen past the stale time and taken
        over by another must not write another deal)."""
        self.lock.beat(0)

    async def _run_locked(self) -> RunResult:
        signpost = datetime.now(UTC)
        digest = self._digest = self.mapping.digest()
        previous_digest = self.store.last_digest(self.connection)
        stored_cursor = self.store.cursor(self.connection)
        cursor = policy.trusted(stored_cursor, signpost, self.future_tolerance)
        if cursor != stored_cursor:
            log.warning(
                "[%s] the stored cursor %s lies in the future: reading every deal once", self.connection, stored_cursor
            )
        mapping_changed = previous_digest is not None and previous_digest != digest
        full = self.full or cursor is None or mapping_changed
        if mapping_changed and not self.full:
            log.info("[%s] mapping changed since the last run: recomputing every deal", self.connection)
        since = None if full or cursor is None else cursor - self.overlap
        run_id = self.store.start_run(
            self.connection,
            kind=RunKind.SYNC,
            mode=self.mode,
            full=full,
            digest=digest,
            cursor_before=cursor,
            evaluated_on=self.today,
            trigger=self.trigger,
        )
        result = RunResult(run_id, self.connection, self.mode, full=full)
        failed_at: list[datetime | None] = []
        writing = False  # whether phase 2 may have sent a batch
        try:
            started = time.monotonic()
            await self._list(result, since)
            self._phase(
                "listed", result, started, ("fetched", "unchanged", "stored", "quarantined", "deleted", "planned")
            )
            if self.mode == "apply":
                started = time.monotonic()
                pending = self.store.pending_deals(run_id)
                writer = Writer(
                    self.store,
                    self.connector,
                    result,
                    beat=self._fence,
                    # what the read-back of unanswered writes maps with; read now if the listing brought nothing
                    reference=await self._referenced() if pending else self._reference,
                    allowance=self._allowance(result),
                    pending=pending,
                )
                writing = True
                failed_at = await writer.drain()
                self._phase("written", result, started, ("written", "skipped", "failed"))
        except BaseException as exc:
            result.status = RunStatus.FAILED
            result.error = str(exc) if isinstance(exc, CrmsyncError) else redact(f"{type(exc).__name__}: {exc}")
            result.requests, result.throttled = self._requests(), self._throttled()
            self._failed(result, writing)
            raise
        new_cursor = policy.next_cursor(cursor, self._latest, signpost, failed_at, self._vouched)
        if self.mode == "apply" and new_cursor is not None:
            self.store.set_cursor(self.connection, new_cursor, run_id)
        result.status = RunStatus.PARTIAL if (result.failed or result.quarantined) else RunStatus.OK
        result.requests, result.throttled = self._requests(), self._throttled()
        self.store.finish_run(run_id, result.status, result.counts(), cursor_after=new_cursor)
        return result

    def _failed(self, result: RunResult, writing: bool) -> None:
        """Keep a failed run's end in the store. The store may be what failed: then the run's own error is the one
        raised and this one is logged, and the next run finds this one still running and abandons it (its pending
        rows become unknown). The run is finished only once its rows are settled: a failed run never keeps
        pending rows, which the next run would take for crmsync's own writes."""
        run_id = result.run_id
        try:
            if writing:  # a batch may have reached the CRM: the next run compares before taking a value for a person's
                self.store.abandon_pending(run_id, "the run stopped before the CRM confirmed this write")
            else:  # nothing was sent: the writes wait for the next run, which carries them as it carries deferred ones
                result.deferred += self.store.pending_deals(run_id)
                reason = f"the run failed before writing ({result.error}); the next run writes it"
                self.store.abandon_pending(run_id, reason, Outcome.DEFERRED)
            self.store.finish_run(run_id, RunStatus.FAILED, result.counts(), error=result.error)
        except Exception as exc:
            log.error(
                "[%s] run %s failed, and the store could not record it: %s",
                self.connection,
                run_id,
                redact(f"{type(exc).__name__}: {exc}"),
            )

    def _phase(self, name: str, result: RunResult, started: float, counts: tuple[str, ...]) -> None:
        """One structured record per finished phase (`event: run.listed` / `run.written`): its counts as keys."""
        fields = {"run_id": result.run_id, **{k: getattr(result, k) for k in counts}}
        fields["duration_s"] = round(time.monotonic() - started, 3)
        fields["requests"] = self._requests()
        log.info(
            "[%s] run %s %s: %s",
            self.connection,
            result.run_id,
            name,
            ", ".join(f"{k} {fields[k]}" for k in counts),
            extra={"connection": self.connection, "event": f"run.{name}", "fields": fields},
        )

    def _requests(self) -> int:
        client = self.connector.client
        return sum(v for k, v in client.stats.items() if k not in ("retried", "throttled")) if client else 0

    def _throttled(self) -> int:
        client = self.connector.client
        return client.stats["throttled"] if client is not None else 0

    # -- phase 1: list, map, evaluate, plan; no remote write -------------------------------------------------

    async def _list(self, result: RunResult, since: datetime | None) -> None:
        if result.full:  # everything is read anyway: a mapping that does not fit fails before anything is fetched
            await self._referenced()
        client = self.connector.client
        if client is not None:
            client.mark_clock()  # the CRM's time when the listing's first request reached it vouches for the cursor
        # closed on the way out, so a page error also cancels the next page's request at once
        listing = one_ahead(self.connector.deals(since, reconcile=self.reconcile))
        async with contextlib.aclosing(gathered(listing)) as pages:
            async for page in pages:
                await self._page(result, page)
                if self.on_progress is not None:
                    self.on_progress(result.fetched)
        first = client.first_clock if client is not None else None  # the CRM's clock, by ours when it was read
        if first is not None:  # once the whole listing is read
            self._vouched = policy.vouched_for(first[0], first[1], self.overlap, self.future_tolerance)
        self._carry_deferred(result)
        if since is not None and self.store.last_evaluated_on(self.connection) != self.today:
            self._reevaluate(result)

    def _carry_deferred(self, result: RunResult) -> None:
        """Deals an earlier run left over the daily budget share are planned again here, from the snapshot (the
        listing brought them already if they changed since)."""
        carried = self.store.deferred_ids(self.connection) - self._seen
        if not carried or self.mode != "apply":
            return
        fresh = self.store.deals_by_id(self.connection, carried)
        log.info("[%s] carrying %d deal(s) an earlier run deferred", self.connection, len(fresh))
        self._seen.update(deal.source_id for deal in fresh)
        self._evaluate(result, fresh, count=False)

    def _allowance(self, result: RunResult) -> int | None:
        """Write requests this run may still send: its share of the CRM's daily budget, less what crmsync spent on
        the connection in the last 24 hours (and never more than the CRM says is left beyond the others' share).
        None: no budget is known, so none is kept to."""
        client = self.connector.client
        limit = client.daily_limit or self.connector.settings.daily_request_budget
        if limit is None:
            return None
        share = int(limit * self.daily_share)
        spent = self.store.requests_since(self.connection, datetime.now(UTC) - timedelta(days=1)) + self._requests()
        allowance = share - spent
        if client.daily_remaining is not None:
            allowance = min(allowance, client.daily_remaining - (limit - share))
        return max(0, allowance)

    def _reevaluate(self, result: RunResult) -> None:
        """A new day: rules relative to today (overdue, closing this quarter, deal age) may now decide otherwise
        for deals that did not change remotely, so every stored deal the listing did not bring is evaluated again
        from the snapshot. No request is made; only what now differs is written."""
        log.info("[%s] a new day since the last run: re-evaluating unchanged deals", self.connection)
        for deals in self.store.stored_deal_chunks(self.connection, result.run_id):
            self._beat()
            fresh = [deal for deal in deals if deal.source_id not in self._seen]
            result.reevaluated += len(fresh)
            self._evaluate(result, fresh, count=False)

    async def _referenced(self) -> Reference:
        """The CRM's reference data, read once a run: before a full listing, else when first needed (a listing
        that brings nothing needs none, so a quiet run is one request). It is checked against the mapping before
        any deal is mapped (the checks of `crmsync check`), so a misspelt field fails no write; a mapping edit
        makes the next run a full one, so it fails before anything is fetched."""
        if self._reference is None:
            reference = await self.connector.reference()
            problems = self.connector.mapping_problems(reference)
            if problems:
                raise MappingError(
                    "the mapping does not fit the CRM (see `crmsync check`): " + "; ".join(problems),
                    file=self.connector.mapping.path,
                )
            self._reference = reference
        return self._reference

    async def _page(self, result: RunResult, page: Page) -> None:
        self._beat()
        result.fetched += len(page.records)
        if page.records:
            await self._take(result, page, await self._referenced())
        gone = list(page.deleted_ids)
        if page.live_ids is not None:
            gone += sorted(self.store.known_ids(self.connection) - set(page.live_ids))
        if self.mode == "apply":
            result.deleted += self.store.mark_deleted(self.connection, gone, result.run_id)
        else:
            result.deleted += len(set(gone) & self.store.known_ids(self.connection)) if gone else 0

    async def _take(self, result: RunResult, page: Page, reference: Reference) -> None:
        """Map, check, evaluate, plan and store the records of one chunk of the listing."""
        deals: list[Deal] = []
        for raw in page.records:
            deal = self._map(result, raw, reference)
            if deal is None:
                continue
            reason = storable.problem(deal)
            if reason is None:
                deals.append(storable.without_nul(deal))
            else:
                self._quarantine(result, deal.source_id, reason, raw)
        deals = storable.last_versions(deals)
        self._checkpoint(deals)
        deals = self._changed(result, deals)
        marks = self._marks(deals)
        evaluated: Evaluated = {}
        if self.connector.capabilities.history_by_id and deals:
            deals, evaluated = await explain(self.connector, deals, reference, marks, self.today)
        self._evaluate(result, deals, marks=marks, evaluated=evaluated)

    def _changed(self, result: RunResult, deals: list[Deal]) -> list[Deal]:
        """The deals changed since crmsync's own write of them. One still carrying exactly the modification time
        the CRM answered that write with, the remote values written and the fields of the version listed before
        (an edit between that listing and the write is covered by the write's time) has no other change, and is
        not planned or stored again; a full run takes every deal afresh. A later change moves the time."""
        if result.full or self.mode != "apply" or not deals:
            return deals
        ours = self.store.own_writes(self.connection, [deal.source_id for deal in deals])
        if not ours:
            return deals
        changed = [deal for deal in deals if (own := ours.get(deal.source_id)) is None or not own.covers(deal)]
        result.unchanged += len(deals) - len(changed)
        return changed

    def _marks(self, deals: list[Deal]) -> dict[str, dict[str, Marks]]:
        """What the ledger says of each deal's category and probability (field → deal id → Marks)."""
        ids = [deal.source_id for deal in deals]
        return self.store.marks_of(self.connection, ids, ("category", "probability"))

    def _checkpoint(self, deals: list[Deal]) -> None:
        """Fold the chunk's modification times into the run's progress marker; flag stamps in the future."""
        mark = policy.checkpoint((deal.updated_at for deal in deals), datetime.now(UTC), self.future_tolerance)
        if mark.future:
            ahead = [deal.source_id for deal in deals if deal.updated_at is not None and deal.updated_at in mark.future]
            log.warning(
                "[%s] deal(s) %s carry a modification time in the future (%s); it does not move the cursor",
                self.connection,
                ", ".join(ahead),
                max(mark.future).isoformat(),
            )
        self._latest = policy.latest(self._latest, mark.value)

    def _evaluate(
        self,
        result: RunResult,
        deals: list[Deal],
        *,
        count: bool = True,
        marks: dict[str, dict[str, Marks]] | None = None,
        evaluated: Evaluated | None = None,
    ) -> None:
        """Evaluate the rules, plan write-back, keep the snapshot (when applying) and record the ledger rows.

        A dry run keeps no snapshot: the next real run must see the stages and values as the last real run left
        them, or a stage change would go unnoticed by the reset_on_stage_change policy.
        """
        ids = [deal.source_id for deal in deals]
        previous = self.store.stored_deals(self.connection, ids)
        marks = marks if marks is not None else self._marks(deals)
        pairs: list[tuple[Deal, Forecast]] = []
        plans: list[DealPlan] = []
        marked = marked_ids(marks)
        evaluate = compiled(self.mapping).evaluate
        for deal in deals:
            done = evaluated.get(deal.source_id) if evaluated else None
            forecast = done[0] if done else evaluate(deal, self.today)
            before = previous.get(deal.source_id)
            stage = before.stage_id if before else None
            if done and stage is None:  # planned by `explain` with the same marks and no stored stage
                plan = done[1]
            else:
                known = marks_for(marks, deal.source_id) if deal.source_id in marked else {}
                plan = plan_deal(deal, forecast, self.mapping, known, stage)
            pairs.append((deal, effective_forecast(forecast, plan, self.mapping, deal.amount)))
            if plan.changes:
                plans.append(plan)
        with self.store.together():  # the chunk's snapshot and its ledger rows are kept together, or neither
            if self.mode == "apply":
                self.store.save_page(result.run_id, self._digest, pairs, previous)
            else:
                self._seen.update(ids)  # a dry run keeps no snapshot: remember what it read, not to evaluate it twice
                self.store.save_preview(result.run_id, pairs)  # but the report shows what it evaluated
            self._record(result, plans)
        if count:
            result.stored += len(pairs)

    def _record(self, result: RunResult, plans: list[DealPlan]) -> None:
        """Ledger rows for the plans: pending (or planned in a dry run) to write, respected or skipped."""
        to_write = Outcome.PENDING if self.mode == "apply" else Outcome.PLANNED
        rows: list[LedgerRow] = []
        for plan in plans:
            if any(change.write for change in plan.changes):
                result.planned += 1
            for change in plan.changes:
                if change.write:
                    outcome = to_write
                else:
                    outcome = Outcome.RESPECTED if change.manual_override else Outcome.SKIPPED
                    result.skipped += 1
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
        if rows:
            self.store.add_ledger(rows, ids=False)  # phase 2 reads them back by run

    def _map(self, result: RunResult, raw: dict[str, Any], reference: Reference) -> Deal | None:
        try:
            return reference.owner(self.connector.to_deal(raw, reference))
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
        self._quarantine(result, source_id, reason, raw)
        return None

    def _quarantine(self, result: RunResult, source_id: str | None, reason: str, raw: Any) -> None:
        result.quarantined += 1
        log.warning("[%s] quarantined record %s: %s", self.connection, (source_id or "")[:80], reason)
        self.store.quarantine(result.run_id, self.connection, source_id, reason, raw)
