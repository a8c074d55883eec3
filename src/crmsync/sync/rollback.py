"""Rollback: put back the values one run overwrote, as a run of its own with every write in the ledger.

The rollback records a pending ledger row per field holding the value the run overwrote, then phase 2 (the same
writer a sync uses) drains and settles them. Fields a later run wrote again are recorded as skipped.
"""

from __future__ import annotations

from crmsync.connector import Connector
from crmsync.errors import CrmsyncError
from crmsync.store import LedgerRow, Outcome, RunKind, RunStatus, Store
from crmsync.sync.lock import RunLock
from crmsync.sync.result import RunResult
from crmsync.sync.writer import Writer


async def rollback(store: Store, connector: Connector, run_id: int) -> RunResult:
    """Restore the values run `run_id` overwrote, unless a later run wrote the field again.

    A field written again later (possibly with the same value, over a person's edit) is left as it is and
    recorded as skipped. Raises CrmsyncError for an unknown run or one of another connection.
    """
    original = store.run(run_id)
    if original is None:
        raise CrmsyncError(f"no run {run_id} in the store")
    if original["connection"] != connector.connection:
        raise CrmsyncError(f"run {run_id} belongs to connection {original['connection']!r}")
    lock = RunLock(store, connector.connection)
    lock.acquire()
    try:
        return await _rollback(store, connector, lock, run_id)
    finally:
        lock.release()


def preview(store: Store, run_id: int) -> list[LedgerRow]:
    """What a rollback of `run_id` would do, without starting it: pending rows restore, skipped rows stay."""
    original = store.run(run_id)
    if original is None:
        raise CrmsyncError(f"no run {run_id} in the store")
    return _restore_rows(store, original["connection"], run_id, 0)


def _restore_rows(store: Store, connection: str, run_id: int, new_run: int) -> list[LedgerRow]:
    later = store.written_after(connection, run_id)
    rows: list[LedgerRow] = []
    for entry in store.ledger(run_id):
        if entry["outcome"] != Outcome.WRITTEN:
            continue
        again = (entry["source_id"], entry["field"]) in later
        rows.append(
            LedgerRow(
                new_run,
                connection,
                entry["source_id"],
                entry["field"],
                entry["new_value"],
                entry["old_value"],
                Outcome.SKIPPED if again else Outcome.PENDING,
                f"written again after run {run_id}; left as is" if again else None,
            )
        )
    return rows


async def _rollback(store: Store, connector: Connector, lock: RunLock, run_id: int) -> RunResult:
    connection = connector.connection
    new_run = store.start_run(
        connection,
        kind=RunKind.ROLLBACK,
        mode="apply",
        full=False,
        digest=None,
        cursor_before=None,
        rollback_of=run_id,
    )
    result = RunResult(new_run, connection, "apply")
    rows = _restore_rows(store, connection, run_id, new_run)
    store.add_ledger(rows, ids=False)
    result.skipped = sum(1 for row in rows if row.outcome is Outcome.SKIPPED)
    result.planned = len({row.source_id for row in rows if row.outcome is Outcome.PENDING})
    try:
        await Writer(store, connector, result, beat=lambda: lock.beat(0), holds_cursor=False).drain()
    except BaseException as exc:
        result.status = RunStatus.FAILED
        result.error = str(exc)
        store.abandon_pending(new_run, "the rollback stopped before the CRM confirmed this write")
        store.finish_run(new_run, result.status, result.counts(), error=result.error)
        raise
    result.status = RunStatus.PARTIAL if result.failed else RunStatus.OK
    store.finish_run(new_run, result.status, result.counts())
    return result
