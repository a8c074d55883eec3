"""The run in two phases: phase 1 lists and plans into the ledger with no remote write; phase 2 drains it.

The `store` fixture (conftest) is SQLite, and PostgreSQL too when CRMSYNC_TEST_POSTGRES_URL is set.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from two_phase_fake import FakeConnector, FakeCrm, Record

from crmsync.errors import StoreError
from crmsync.store import LedgerRow, Outcome, RunStatus, Store
from crmsync.sync import RunResult, SyncEngine, chunks, rollback
from crmsync.sync.writer import Writer

TODAY = date(2026, 1, 10)


async def sync(store: Store, crm: FakeCrm, **options: Any) -> RunResult:
    return await SyncEngine(store, FakeConnector(crm), today=options.pop("today", TODAY), **options).run()


def outcomes(store: Store, run_id: int) -> dict[tuple[str, str], str]:
    return {(row["source_id"], row["field"]): row["outcome"] for row in store.ledger(run_id)}


async def test_no_remote_write_happens_before_the_listing_ends(store: Store) -> None:
    crm = FakeCrm.seeded(23)  # five pages; three deals per write batch

    result = await sync(store, crm)

    kinds = [kind for kind, _ in crm.calls]
    assert kinds.count("list") == 5
    first_write = kinds.index("write")
    assert "list" not in kinds[first_write:], f"a write came before the listing ended: {kinds}"
    writes = [ids for kind, ids in crm.calls if kind == "write"]
    assert [len(ids) for ids in writes] == [3] * 7 + [2]
    assert all(len(set(ids)) == len(ids) for ids in writes), "the write contract: each deal once per call"
    assert result.written == result.planned == 23
    assert set(outcomes(store, result.run_id).values()) == {Outcome.WRITTEN}


async def test_phase_two_settles_each_row_by_its_ledger_id(store: Store) -> None:
    """Outcomes come back in another order than sent and one deal is refused: each row gets its own outcome."""
    crm = FakeCrm.seeded(7)
    crm.reverse_outcomes = True
    crm.refuse = {"d0004"}

    result = await sync(store, crm)

    assert result.failed == 1
    assert result.written == 6
    rows = outcomes(store, result.run_id)
    assert rows[("d0004", "category")] == rows[("d0004", "probability")] == Outcome.FAILED
    assert {rows[key] for key in rows if key[0] != "d0004"} == {Outcome.WRITTEN}
    assert crm.records["d0004"].category is None
    assert crm.records["d0003"].category == "Commit"


async def test_the_writer_groups_interleaved_rows_per_deal(store: Store) -> None:
    """Rows of one deal need not be next to each other: the writer settles them by id, not by list order."""
    crm = FakeCrm.seeded(3)
    connector = FakeConnector(crm)
    run_id = store.start_run("fake", kind="sync", mode="apply", full=True, digest=None, cursor_before=None)
    rows = [
        LedgerRow(run_id, "fake", "d0000", "category", None, "Commit", Outcome.PENDING),
        LedgerRow(run_id, "fake", "d0001", "category", None, "Pipeline", Outcome.PENDING),
        LedgerRow(run_id, "fake", "d0002", "probability", None, "0.5", Outcome.PLANNED),  # not pending: left alone
        LedgerRow(run_id, "fake", "d0000", "probability", None, "0.9", Outcome.PENDING),
    ]
    ids = store.add_ledger(rows)
    crm.refuse = {"d0001"}
    result = RunResult(run_id, "fake", "apply")

    await Writer(store, connector, result, beat=lambda: None).drain()

    assert [ids for kind, ids in crm.calls if kind == "write"] == [("d0000", "d0001")]
    assert crm.records["d0000"].category == "Commit"
    assert crm.records["d0000"].probability == Decimal("0.9")
    settled = {row["id"]: row["outcome"] for row in store.ledger(run_id)}
    assert settled == {
        ids[0]: Outcome.WRITTEN,
        ids[1]: Outcome.FAILED,
        ids[2]: Outcome.PLANNED,
        ids[3]: Outcome.WRITTEN,
    }
    assert result.written_by_category == {"commit": 1}


async def test_phase_two_reads_pending_rows_in_chunks(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    crm = FakeCrm.seeded(260)
    limits: list[tuple[int, int]] = []
    original = store.pending_rows

    def recording(run_id: int, *, after: int = 0, limit: int = 500) -> list[dict[str, Any]]:
        rows = original(run_id, after=after, limit=limit)
        limits.append((limit, len(rows)))
        return rows

    monkeypatch.setattr(store, "pending_rows", recording)
    result = await sync(store, crm)

    assert result.written == 260
    assert len(limits) > 5, "the pending rows are read a chunk at a time, never all at once"
    assert all(found <= limit <= 100 for limit, found in limits)


async def test_a_failed_write_holds_the_cursor_and_the_next_run_retries_it(store: Store) -> None:
    crm = FakeCrm.seeded(10)
    crm.refuse = {"d0003"}

    first = await sync(store, crm)

    assert first.status == RunStatus.PARTIAL
    assert store.cursor("fake") == crm.records["d0003"].updated, "held back to the refused deal"
    held = store.cursor("fake")
    crm.refuse = set()
    second = await sync(store, crm, overlap=timedelta(0))
    assert not second.full
    assert second.written == 1
    assert crm.records["d0003"].category == "Commit"
    cursor = store.cursor("fake")
    assert cursor is not None and held is not None
    assert cursor > held, "with nothing failed the cursor moves on"


async def test_the_cursor_waits_until_every_write_is_settled(store: Store) -> None:
    """A write batch that raises leaves the cursor where it was and the unsent rows as 'unknown'."""
    crm = FakeCrm.seeded(9)

    class Dies(FakeConnector):
        async def write(self, updates: Any) -> Any:
            if any(kind == "write" for kind, _ in self.crm.calls):
                raise RuntimeError("the process was killed")
            return await super().write(updates)

    with pytest.raises(RuntimeError, match="killed"):
        await SyncEngine(store, Dies(crm), today=TODAY).run()

    assert store.cursor("fake") is None
    died = store.runs("fake")[0]
    assert died["status"] == RunStatus.FAILED
    rows = store.ledger(died["id"])
    assert {row["outcome"] for row in rows} == {Outcome.WRITTEN, Outcome.UNKNOWN}
    assert sum(row["outcome"] == Outcome.WRITTEN for row in rows) == 6  # the first batch: three deals, two fields

    again = await sync(store, crm)
    assert again.written == 6
    assert all(category is not None for category, _ in crm.remote().values())


async def test_a_dry_run_only_plans(store: Store) -> None:
    crm = FakeCrm.seeded(8)
    crm.records["d0001"].category = "Best case"  # a person's value the ledger never wrote: taken over on adoption
    before = crm.remote()

    result = await sync(store, crm, mode="dry-run")

    assert result.planned == 8
    assert result.written == 0
    assert "write" not in [kind for kind, _ in crm.calls]
    assert crm.remote() == before
    assert set(outcomes(store, result.run_id).values()) == {Outcome.PLANNED}
    assert store.cursor("fake") is None
    assert store.count_deals("fake") == 0, "a dry run keeps no snapshot"


async def test_rollback_restores_through_pending_rows_without_listing(store: Store) -> None:
    crm = FakeCrm.seeded(6)
    crm.records["d0002"].probability = Decimal("0.33")
    before = crm.remote()
    first = await sync(store, crm)
    assert crm.remote() != before
    crm.calls.clear()

    undone = await rollback(store, FakeConnector(crm), first.run_id)

    assert crm.remote() == before
    assert undone.written == first.written == 6
    assert [kind for kind, _ in crm.calls] == ["write", "write"], "a rollback lists nothing"
    rows = store.ledger(undone.run_id)
    assert {row["outcome"] for row in rows} == {Outcome.WRITTEN}
    restored = {(row["source_id"], row["field"]): row["new_value"] for row in rows}
    assert restored[("d0002", "probability")] == "0.33"
    assert restored[("d0002", "category")] is None
    stored = store.run(undone.run_id)
    assert stored is not None
    assert (stored["kind"], stored["rollback_of"], stored["status"]) == ("rollback", first.run_id, RunStatus.OK)


async def test_a_future_modification_time_does_not_move_the_cursor(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    crm = FakeCrm.seeded(4)
    crm.records["d0009"] = Record("d0009", updated=datetime(2999, 1, 1, tzinfo=UTC))
    listed = max(r.updated for r in crm.records.values() if r.id != "d0009")  # type: ignore[type-var]

    with caplog.at_level(logging.WARNING, logger="crmsync.sync"):
        await sync(store, crm)

    cursor = store.cursor("fake")
    assert cursor is not None
    assert cursor < datetime.now(UTC) + timedelta(minutes=5)
    assert cursor == listed
    assert any("d0009" in message and "future" in message for message in caplog.messages)


async def test_a_stored_cursor_in_the_future_is_replaced_by_a_full_read(store: Store) -> None:
    crm = FakeCrm.seeded(4)
    await sync(store, crm)
    run_id = store.runs("fake")[0]["id"]
    store.set_cursor("fake", datetime(2999, 1, 1, tzinfo=UTC), run_id)

    again = await sync(store, crm)

    assert again.full
    assert again.fetched == 4
    cursor = store.cursor("fake")
    assert cursor is not None
    assert cursor < datetime.now(UTC)


async def test_the_engine_ignores_the_connectors_page_checkpoint(store: Store) -> None:
    """The fake's pages claim a checkpoint in 2999; the cursor comes from the deals' own modification times."""
    crm = FakeCrm.seeded(5)
    await sync(store, crm, mode="dry-run")
    listed = max(r.updated for r in crm.records.values())  # type: ignore[type-var]
    result = await sync(store, crm)
    stored = store.run(result.run_id)
    assert stored is not None
    assert stored["cursor_after"] is not None
    assert store.cursor("fake") == listed


async def test_reevaluated_is_recorded_in_the_runs_table(store: Store) -> None:
    crm = FakeCrm.seeded(4)
    await sync(store, crm)
    await sync(store, crm, overlap=timedelta(0))

    later = await sync(store, crm, today=TODAY + timedelta(days=1), overlap=timedelta(0))

    stored = store.run(later.run_id)
    assert stored is not None
    assert later.reevaluated > 0
    assert stored["reevaluated"] == later.reevaluated


@pytest.mark.parametrize(("chunk", "rows_planned"), [(1, 10), (500, 8)])
async def test_a_deal_listed_twice_is_written_once_per_chunk_and_every_row_settled(
    store: Store, monkeypatch: pytest.MonkeyPatch, chunk: int, rows_planned: int
) -> None:
    """A record that moved between pages is listed twice: both sets of rows are settled, none stays pending. When
    both pages fall in one chunk of the listing, only the later version is planned."""
    crm = FakeCrm.seeded(4)
    monkeypatch.setattr(chunks, "CHUNK_RECORDS", chunk)

    class Twice(FakeConnector):
        async def deals(self, since: Any, *, reconcile: bool = False) -> Any:
            async for page in super().deals(since, reconcile=reconcile):
                yield page
            async for page in super().deals(since, reconcile=reconcile):
                yield page.model_copy(update={"records": page.records[:1]})

    result = await SyncEngine(store, Twice(crm), today=TODAY).run()

    rows = store.ledger(result.run_id)
    assert len(rows) == rows_planned  # four deals (and the repeated one, page by page), two fields each
    assert {row["outcome"] for row in rows} == {Outcome.WRITTEN}
    assert [ids for kind, ids in crm.calls if kind == "write"] == [("d0000", "d0001", "d0002"), ("d0003",)]
    assert store.pending_rows(result.run_id) == []


async def test_a_batch_is_settled_with_its_record_in_the_snapshot_or_not_at_all(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ledger's `written` and the snapshot's record of the write share a transaction: when recording the
    write fails, the batch's rows are not left `written` with no record; the run fails and they become unknown."""
    crm = FakeCrm.seeded(4)
    recorded = store.record_written

    def broken(*args: Any, **kwargs: Any) -> None:
        recorded(*args, **kwargs)
        raise RuntimeError("the disk filled up after the snapshot was updated")

    monkeypatch.setattr(store, "record_written", broken)
    with pytest.raises(RuntimeError, match="disk filled up"):
        await sync(store, crm)
    run_id = max(row["id"] for row in store.runs())
    assert set(outcomes(store, run_id).values()) == {Outcome.UNKNOWN}, "no row settled without its record"
    assert any(record.category is not None for record in crm.records.values()), "the CRM did apply a batch"


async def test_a_run_counts_its_pending_deals_once(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The engine counts the deals to write once and hands the count to the writer, which announces it."""
    counted: list[int] = []
    count = store.pending_deals

    def counting(run_id: int) -> int:
        counted.append(run_id)
        return count(run_id)

    monkeypatch.setattr(store, "pending_deals", counting)
    with caplog.at_level(logging.INFO, logger="crmsync.sync"):
        result = await sync(store, FakeCrm.seeded(7))
    assert counted == [result.run_id]
    assert result.written == 7
    assert "writing 7 deal(s)" in caplog.text  # the writer announced the engine's count


async def test_a_run_that_fails_before_writing_defers_its_writes_to_the_next(store: Store) -> None:
    """Nothing was sent, so the rows are not 'unknown' (which would make the next run suspect its own value): they
    are deferred, with the error, counted, and the next run writes every deal once."""
    crm = FakeCrm.seeded(12)

    class Breaks(FakeConnector):
        async def deals(self, since: datetime | None, *, reconcile: bool = False) -> Any:
            pages = 0
            async for page in super().deals(since, reconcile=reconcile):
                pages += 1
                if pages == 3:
                    raise RuntimeError("the listing broke off")
                yield page

    with pytest.raises(RuntimeError, match="broke off"):
        await SyncEngine(store, Breaks(crm), today=TODAY).run()
    died = store.runs("fake")[0]
    rows = store.ledger(died["id"])
    assert len(rows) == 20  # two pages of five deals, two fields each
    assert {row["outcome"] for row in rows} == {Outcome.DEFERRED}
    assert all("failed before writing (RuntimeError: the listing broke off)" in row["reason"] for row in rows)
    assert died["deferred"] == 10
    assert not [kind for kind, _ in crm.calls if kind == "write"]

    result = await sync(store, crm)
    writes = [deal_id for kind, ids in crm.calls if kind == "write" for deal_id in ids]
    assert sorted(writes) == sorted(crm.records) and len(writes) == len(set(writes)) == 12
    assert result.written == 12
    assert all(record.category is not None for record in crm.records.values())


async def test_a_store_that_fails_too_does_not_hide_the_runs_own_error(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The listing fails, and so does the store when the run records its end: the listing's error is raised,
    the store's is logged, and the next run abandons the run left running and writes every deal."""
    crm = FakeCrm.seeded(12)

    class Breaks(FakeConnector):
        async def deals(self, since: datetime | None, *, reconcile: bool = False) -> Any:
            async for page in super().deals(since, reconcile=reconcile):
                yield page
                raise RuntimeError("the listing broke off")

    def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreError("store error: OperationalError: disk I/O error")

    with monkeypatch.context() as patched:
        patched.setattr(store, "abandon_pending", broken)
        with caplog.at_level(logging.ERROR, logger="crmsync.sync"), pytest.raises(RuntimeError, match="broke off"):
            await SyncEngine(store, Breaks(crm), today=TODAY).run()
    assert "failed, and the store could not record it: StoreError: store error: OperationalError" in caplog.text
    died = store.runs("fake")[0]
    assert died["status"] == RunStatus.RUNNING  # as a process that died would leave it

    result = await sync(store, crm)
    assert store.runs("fake")[1]["status"] == RunStatus.FAILED
    assert result.written == 12
    assert all(record.category is not None for record in crm.records.values())


async def test_a_lock_that_cannot_be_released_leaves_the_runs_result(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise StoreError("store error: OperationalError: database is locked")

    monkeypatch.setattr(store, "release_lock", broken)
    with caplog.at_level(logging.ERROR, logger="crmsync.sync"):
        result = await sync(store, FakeCrm.seeded(4))
    assert result.status == RunStatus.OK and result.written == 4
    assert "could not release run:fake: StoreError" in caplog.text


async def test_the_mapping_digest_is_computed_once_a_run(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The digest (a JSON dump of the whole mapping) is the run's, not recomputed for every page it stores."""
    crm = FakeCrm.seeded(23)  # five pages
    connector = FakeConnector(crm)
    calls: list[str] = []
    digest = type(connector.mapping).digest

    def counted(mapping: Any) -> str:
        calls.append("digest")
        return digest(mapping)

    monkeypatch.setattr(type(connector.mapping), "digest", counted)
    result = await SyncEngine(store, connector, today=TODAY).run()
    assert result.stored == 23
    assert calls == ["digest"]
    assert store.runs("fake")[0]["mapping_digest"] == digest(connector.mapping)
