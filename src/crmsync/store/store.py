"""Store: the state database, composed of parts that each own one concept.

`Store.parts` holds them — `runs`, `locks`, `cursors`, `snapshot` (deals and forecasts), `ledger` (writes and
quarantine), `preview` (what dry runs evaluated) — and `Store.reads` is the read API the report uses. The
methods below are the facade the engine, CLI and tests call; each forwards to the one part that owns it. The
engine, migrations and transactions are in `base.py`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from crmsync.model import Deal, Forecast
from crmsync.store.base import StoreBase
from crmsync.store.cursors import Cursors
from crmsync.store.ledger import Ledger, LedgerRow, Marks
from crmsync.store.locks import Locks
from crmsync.store.ops import Ops
from crmsync.store.preview import Preview
from crmsync.store.reads import Reads
from crmsync.store.runs import Runs
from crmsync.store.snapshot import OwnWrite, Snapshot, StoredDeal
from crmsync.store.vocabulary import Outcome, RunKind, RunStatus


@dataclass(frozen=True)
class Parts:
    runs: Runs
    locks: Locks
    cursors: Cursors
    snapshot: Snapshot
    ledger: Ledger
    preview: Preview


class Store(StoreBase):
    """The state store at `url`; migrates the schema to the newest revision on open."""

    def __init__(self, url: str, *, config_file: str | None = None) -> None:
        super().__init__(url, config_file=config_file)
        self.parts = Parts(Runs(self), Locks(self), Cursors(self), Snapshot(self), Ledger(self), Preview(self))
        self.reads = Reads(self)
        self.ops = Ops(self)  # what `crmsync status` and /metrics read

    # -- locks --------------------------------------------------------------------------------------------------

    def acquire_lock(self, name: str, holder: str, stale_after: timedelta) -> None:
        """Take the named lock, or take it over when its holder stopped heart-beating (LockedError if alive)."""
        self.parts.locks.acquire_lock(name, holder, stale_after)

    def heartbeat(self, name: str, holder: str) -> bool:
        """Refresh a lock; False when `holder` no longer holds it (it went stale and was taken over)."""
        return self.parts.locks.heartbeat(name, holder)

    def release_lock(self, name: str, holder: str) -> None:
        self.parts.locks.release_lock(name, holder)

    # -- runs ---------------------------------------------------------------------------------------------------

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
        return self.parts.runs.start_run(
            connection,
            kind=kind,
            mode=mode,
            full=full,
            digest=digest,
            cursor_before=cursor_before,
            rollback_of=rollback_of,
            evaluated_on=evaluated_on,
            trigger=trigger,
        )

    def finish_run(
        self,
        run_id: int,
        status: RunStatus,
        counts: dict[str, int],
        *,
        cursor_after: datetime | None = None,
        error: str | None = None,
    ) -> None:
        self.parts.runs.finish_run(run_id, status, counts, cursor_after=cursor_after, error=error)

    def run(self, run_id: int) -> dict[str, Any] | None:
        return self.parts.runs.run(run_id)

    def runs(self, connection: str | None = None, limit: int = 20) -> list[dict[str, Any]]:
        return self.parts.runs.runs(connection, limit)

    def last_digest(self, connection: str) -> str | None:
        return self.parts.runs.last_digest(connection)

    def last_evaluated_on(self, connection: str) -> date | None:
        """The rules' 'today' of the connection's last finished sync that applied its writes."""
        return self.parts.runs.last_evaluated_on(connection)

    def count_runs(self, connection: str) -> int:
        return self.parts.runs.count_runs(connection)

    def abandon_stale_runs(self, connection: str) -> None:
        """Runs left 'running' by a process that died are marked failed; their pending writes become 'unknown'."""
        self.parts.runs.abandon_stale_runs(connection)

    # -- cursors ------------------------------------------------------------------------------------------------

    def cursor(self, connection: str) -> datetime | None:
        return self.parts.cursors.cursor(connection)

    def set_cursor(self, connection: str, value: datetime, run_id: int) -> None:
        self.parts.cursors.set_cursor(connection, value, run_id)

    # -- snapshot: deals and forecasts --------------------------------------------------------------------------

    def deals_by_id(self, connection: str, ids: Iterable[str]) -> list[Deal]:
        """These live stored deals as canonical Deals."""
        return self.parts.snapshot.deals_by_id(connection, ids)

    def stored_deals(self, connection: str, ids: Iterable[str]) -> dict[str, StoredDeal]:
        """Stage and forecast of the given deals as the last finished run left them."""
        return self.parts.snapshot.stored_deals(connection, ids)

    def stored_deal_chunks(self, connection: str, skip_run: int, size: int = 500) -> Iterator[list[Deal]]:
        """Every live stored deal not already handled by run `skip_run`, as canonical Deals, `size` at a time."""
        return self.parts.snapshot.stored_deal_chunks(connection, skip_run, size)

    def modified_at(self, connection: str, ids: Iterable[str]) -> dict[str, datetime | None]:
        return self.parts.snapshot.modified_at(connection, ids)

    def record_written(
        self,
        connection: str,
        values: dict[str, dict[str, str | None]],
        stamps: dict[str, datetime] | None = None,
    ) -> None:
        self.parts.snapshot.record_written(connection, values, stamps)

    def own_writes(self, connection: str, ids: Sequence[str]) -> dict[str, OwnWrite]:
        """These deals as crmsync's own writes left them (none once a listing brought a newer version)."""
        return self.parts.snapshot.own_writes(connection, ids)

    def save_page(
        self, run_id: int, digest: str, pairs: Sequence[tuple[Deal, Forecast]], previous: dict[str, StoredDeal]
    ) -> int:
        return self.parts.snapshot.save_page(run_id, digest, pairs, previous)

    def save_preview(self, run_id: int, pairs: Sequence[tuple[Deal, Forecast]]) -> int:
        """Keep what a dry run read and evaluated, for the report (a dry run keeps no snapshot)."""
        return self.parts.preview.save_preview(run_id, pairs)

    def mark_deleted(self, connection: str, ids: Sequence[str], run_id: int) -> int:
        return self.parts.snapshot.mark_deleted(connection, ids, run_id)

    def known_ids(self, connection: str) -> set[str]:
        return self.parts.snapshot.known_ids(connection)

    def count_deals(self, connection: str) -> int:
        return self.parts.snapshot.count_deals(connection)

    # -- ledger and quarantine ----------------------------------------------------------------------------------

    def marks(self, connection: str, ids: Iterable[str], field: str) -> dict[str, Marks]:
        return self.parts.ledger.marks(connection, ids, field)

    def marks_of(self, connection: str, ids: Iterable[str], fields: Sequence[str]) -> dict[str, dict[str, Marks]]:
        return self.parts.ledger.marks_of(connection, ids, fields)

    def failed_before(self, connection: str, ids: Iterable[str], run_id: int) -> set[str]:
        return self.parts.ledger.failed_before(connection, ids, run_id)

    def written_after(self, connection: str, run_id: int) -> set[tuple[str, str]]:
        return self.parts.ledger.written_after(connection, run_id)

    def add_ledger(self, rows: Sequence[LedgerRow], *, ids: bool = True) -> list[int]:
        return self.parts.ledger.add_ledger(rows, ids=ids)

    def pending_rows(self, run_id: int, *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        return self.parts.ledger.pending_rows(run_id, after=after, limit=limit)

    def settle_ledger(self, outcomes: Sequence[tuple[int, Outcome, str | None]]) -> None:
        self.parts.ledger.settle_ledger(outcomes)

    def defer_pending(self, run_id: int, reason: str) -> int:
        """The run's pending rows wait for the next run (the daily budget share is spent); returns the deals."""
        return self.parts.ledger.defer_pending(run_id, reason)

    def deferred_ids(self, connection: str) -> set[str]:
        """Deals with a deferred write that no later run has planned again: the next run carries them."""
        return self.parts.ledger.deferred_ids(connection)

    def pending_deals(self, run_id: int) -> int:
        return self.parts.ledger.pending_deals(run_id)

    def requests_since(self, connection: str, since: datetime) -> int:
        return self.parts.runs.requests_since(connection, since)

    def abandon_pending(self, run_id: int, reason: str, outcome: Outcome = Outcome.UNKNOWN) -> None:
        self.parts.ledger.abandon_pending(run_id, reason, outcome)

    def ledger(self, run_id: int) -> list[dict[str, Any]]:
        return self.parts.ledger.ledger(run_id)

    def quarantine(self, run_id: int, connection: str, source_id: str | None, reason: str, payload: Any) -> None:
        self.parts.ledger.quarantine(run_id, connection, source_id, reason, payload)

    def quarantined(self, run_id: int) -> list[dict[str, Any]]:
        return self.parts.ledger.quarantined(run_id)
