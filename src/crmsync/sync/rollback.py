"""Rollback: put back the values one run overwrote, as a run of its own with every write in the ledger."""

from __future__ import annotations

from decimal import Decimal

from crmsync.connector import Connector, DealUpdate
from crmsync.errors import CrmsyncError
from crmsync.store import LedgerRow, Store
from crmsync.sync.engine import LOCK_STALE_AFTER, PendingWrite, RunResult, SyncEngine


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
    engine = SyncEngine(store, connector)  # writes go through the engine, so outcomes settle the same way
    store.acquire_lock(engine.lock_name, engine.holder, LOCK_STALE_AFTER)
    try:
        return await _rollback(store, engine, run_id)
    finally:
        store.release_lock(engine.lock_name, engine.holder)


async def _rollback(store: Store, engine: SyncEngine, run_id: int) -> RunResult:
    connection = engine.connection
    new_run = store.start_run(
        connection, kind="rollback", mode="apply", full=False, digest=None, cursor_before=None, rollback_of=run_id
    )
    result = RunResult(new_run, connection, "apply")
    later = store.written_after(connection, run_id)
    rows: list[LedgerRow] = []
    for entry in store.ledger(run_id):
        if entry["outcome"] != "written":
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
                "skipped" if again else "pending",
                f"written again after run {run_id}; left as is" if again else None,
            )
        )
    ids: dict[str, dict[str, int]] = {}
    values: dict[str, dict[str, str | None]] = {}
    for ledger_id, row in zip(store.add_ledger(rows), rows, strict=True):
        if row.outcome == "skipped":
            result.skipped += 1
            continue
        ids.setdefault(row.source_id, {})[row.field] = ledger_id
        values.setdefault(row.source_id, {})[row.field] = row.new_value
    pending = [
        PendingWrite(_update(source_id, fields), ids[source_id], fields.get("category"))
        for source_id, fields in values.items()
    ]
    result.planned = len(pending)
    try:
        if pending:
            await engine.write_pending(result, pending)
    finally:
        result.status = "partial" if result.failed else "ok"
        store.finish_run(new_run, result.status, result.counts())
    return result


def _update(source_id: str, fields: dict[str, str | None]) -> DealUpdate:
    """The update that puts back earlier values; an earlier empty value clears the field."""
    probability = fields.get("probability")
    return DealUpdate(
        source_id=source_id,
        category=(fields["category"] or "") if "category" in fields else None,
        probability=None if probability is None else Decimal(probability),
        clear_probability="probability" in fields and probability is None,
    )
