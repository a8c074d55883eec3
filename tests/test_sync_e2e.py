"""End to end: real HTTP over loopback against the fake CRM (crmsync.testing), into a SQLite store.

These are the issue's "done means": exact write-back, idempotence, manual overrides, rollback, dry run,
quarantine, crash recovery, mapping changes and fault injection.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from support import Served, same_values

from crmsync.connector import DealUpdate, WriteOutcome
from crmsync.mapping import Mapping, Overrides, StageRule
from crmsync.model import ForecastCategory
from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.sync import SyncEngine, rollback
from crmsync.sync.engine import RunResult
from crmsync.testing.fake import FakeConnector
from crmsync.testing.fake_crm import FakeCrm


async def sync(served: Served, store: Store, mapping: Mapping, **options: Any) -> RunResult:
    async with served.connector(mapping) as connector:
        return await SyncEngine(store, connector, **options).run()


def set_remote(served: Served, deal_id: str, category: str | None, probability: str | None, source: str) -> None:
    """Set the deal's forecast fields as an integration ('INTEGRATION') or a person ('CRM_UI') would."""
    served.box.edit(deal_id, by="api" if source == "INTEGRATION" else "ui", forecast=category, chance=probability)


def category_writes(served: Served, deal_id: str) -> list[tuple[str, str | None, str]]:
    """The deal's category history in the fake CRM, oldest first: (field, value, 'api' or 'ui')."""
    return [entry for entry in served.box.history.get(deal_id, []) if entry[0] == "forecast"]


def other_category(value: str) -> str:
    return "COMMIT" if value != "COMMIT" else "PIPELINE"


async def test_first_sync_writes_exactly_the_deals_whose_values_differ(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    today = date.today()
    reference = await served.reference(mapping)
    wanted = served.expected(mapping, reference, today)
    ids = sorted(wanted)
    already_right, category_only_right = ids[:5], ids[5:8]
    for deal_id in already_right:  # set by an integration: not a person's override
        set_remote(served, deal_id, wanted[deal_id][0], str(wanted[deal_id][1]), "INTEGRATION")
    for deal_id in category_only_right:
        set_remote(served, deal_id, wanted[deal_id][0], None, "INTEGRATION")
    before = served.remote()
    history_before = {i: len(category_writes(served, i)) for i in ids}

    result = await sync(served, sqlite_store, mapping, today=today)
    after = served.remote()

    assert result.status == "ok"
    assert all(same_values(after[i], wanted[i]) for i in ids), "every deal ends with the rules' values"
    changed = {i for i in ids if before[i] != after[i]}
    assert changed == set(ids) - set(already_right)
    assert result.written == len(changed)
    # the deals whose category was already right only received the probability
    ledger = sqlite_store.ledger(result.run_id)
    written_fields = {(row["source_id"], row["field"]) for row in ledger if row["outcome"] == "written"}
    assert {row["outcome"] for row in ledger} == {"written"}
    for deal_id in category_only_right:
        assert (deal_id, "probability") in written_fields
        assert (deal_id, "category") not in written_fields
        history = category_writes(served, deal_id)
        assert len(history) == history_before[deal_id], "the category was not written again"
    assert not {i for i, _ in written_fields} & set(already_right)
    assert result.fetched == result.stored == len(ids)


async def test_second_sync_writes_nothing_and_lists_once(served: Served, sqlite_store: Store, mapping: Mapping) -> None:
    first = await sync(served, sqlite_store, mapping)
    assert first.written == len(served.box.deal_ids())
    writes, listings, remote = served.box.requests["write"], served.box.listing_requests(), served.remote()

    second = await sync(served, sqlite_store, mapping)

    assert (second.status, second.full, second.planned, second.written, second.failed) == ("ok", False, 0, 0, 0)
    assert served.box.requests["write"] == writes
    assert served.box.listing_requests() - listings == 1
    assert served.remote() == remote
    assert sqlite_store.ledger(second.run_id) == []
    # the listing brought every deal crmsync wrote, each still stamped with its write: none mapped or stored again
    assert second.fetched == first.written
    assert (second.unchanged, second.stored) == (first.written, 0)
    full = await sync(served, sqlite_store, mapping, full=True)
    assert (full.unchanged, full.stored) == (0, len(served.box.deal_ids())), "a full run takes every deal afresh"


async def test_manual_override_is_respected_then_enforced(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    today = date.today()
    await sync(served, sqlite_store, mapping, today=today)
    deal_id = served.box.deal_ids()[0]
    ours_category, ours_probability = served.box.remote_values(deal_id)
    assert ours_category is not None
    assert ours_probability is not None
    by_hand = other_category(ours_category)
    served.box.edit_by_hand(deal_id, category=by_hand)

    respected = await sync(served, sqlite_store, mapping, today=today)

    assert served.box.remote_values(deal_id) == (by_hand, ours_probability)
    assert respected.written == 0
    rows = [row for row in sqlite_store.ledger(respected.run_id) if row["source_id"] == deal_id]
    assert [(r["field"], r["outcome"], r["old_value"], r["new_value"]) for r in rows] == [
        ("category", "respected", by_hand, ours_category)
    ]
    assert "set by hand" in rows[0]["reason"]
    assert "respect" in rows[0]["reason"]
    # the store keeps the forecast as it stands in the CRM: the person's category
    enforce = mapping.model_copy(update={"overrides": Overrides(category="enforce", probability="enforce")})
    enforced = await sync(served, sqlite_store, enforce, today=today)

    assert enforced.full, "a changed mapping re-reads every deal"
    assert served.box.remote_values(deal_id) == (ours_category, ours_probability)
    assert enforced.written == 1
    history = category_writes(served, deal_id)
    assert history[-1][2] == "api"
    assert history[-1][1] == ours_category


class EditedRightAfterItsWrite(FakeConnector):
    """A person changes the first deal's category right after crmsync's write of it, before the run ends."""

    hand: dict[str, str] = {}
    crm: FakeCrm

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        outcomes = await super().write(updates)
        if not self.hand:
            target = updates[0].source_id
            self.hand[target] = other_category(updates[0].category or "")
            self.crm.edit_by_hand(target, category=self.hand[target])  # stamped after our write
        return outcomes


async def test_a_persons_edit_right_after_our_write_is_seen_by_the_next_run(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    EditedRightAfterItsWrite.hand = {}
    EditedRightAfterItsWrite.crm = served.box
    today = date.today()
    async with served.connector(mapping, cls=EditedRightAfterItsWrite) as connector:
        first = await SyncEngine(sqlite_store, connector, today=today).run()
    ((deal_id, by_hand),) = EditedRightAfterItsWrite.hand.items()
    assert first.written > 0

    second = await sync(served, sqlite_store, mapping, today=today)

    assert not second.full, "an incremental run, from the first run's cursor"
    assert served.box.remote_values(deal_id)[0] == by_hand, "the person's value stands"
    rows = [r for r in sqlite_store.ledger(second.run_id) if r["source_id"] == deal_id and r["field"] == "category"]
    assert [(r["outcome"], r["old_value"]) for r in rows] == [("respected", by_hand)]
    assert second.stored == 1 and second.unchanged == first.written - 1, "only the edited deal is taken again"


class EditedBetweenListingAndWrite(FakeConnector):
    """A person renames the first deal of the first write batch after the listing read it, before crmsync writes
    it: the write's answer then carries a time that covers the person's edit too."""

    renamed: list[str] = []
    crm: FakeCrm

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        if not self.renamed:
            self.renamed.append(updates[0].source_id)
            self.crm.edit(updates[0].source_id, title="Renamed while crmsync was writing")
        return await super().write(updates)


async def test_an_edit_between_the_listing_and_our_write_is_not_taken_for_no_change(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    EditedBetweenListingAndWrite.renamed = []
    EditedBetweenListingAndWrite.crm = served.box
    async with served.connector(mapping, cls=EditedBetweenListingAndWrite) as connector:
        first = await SyncEngine(sqlite_store, connector).run()
    (deal_id,) = EditedBetweenListingAndWrite.renamed
    assert first.written > 1

    second = await sync(served, sqlite_store, mapping)

    assert second.unchanged == first.written - 1, "every other written deal is skipped"
    assert sqlite_store.deals_by_id("fake", {deal_id})[0].name == "Renamed while crmsync was writing"


async def test_respected_override_is_what_the_store_forecasts(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    from sqlalchemy import select

    from crmsync.store import schema as t

    await sync(served, sqlite_store, mapping)
    deal_id = served.box.deal_ids()[1]
    ours = served.box.remote_values(deal_id)[0]
    assert ours is not None
    by_hand = other_category(ours)
    served.box.edit_by_hand(deal_id, category=by_hand)
    await sync(served, sqlite_store, mapping)
    with sqlite_store.engine.connect() as conn:
        row = conn.execute(select(t.forecasts).where(t.forecasts.c.source_id == deal_id)).one()
    assert row.category == mapping.writeback.canonical_category(by_hand)
    assert "manual-override" in row.rule_ids


async def test_rollback_restores_the_previous_values(served: Served, sqlite_store: Store, mapping: Mapping) -> None:
    ids = served.box.deal_ids()
    set_remote(served, ids[0], "OMIT", "0.05", "INTEGRATION")  # values the rules will overwrite
    set_remote(served, ids[1], None, "0.33", "INTEGRATION")
    before = served.remote()
    run = await sync(served, sqlite_store, mapping)
    assert served.remote() != before

    async with served.connector(mapping) as connector:
        undo = await rollback(sqlite_store, connector, run.run_id)

    assert served.remote() == before
    assert undo.status == "ok"
    assert undo.failed == 0
    assert undo.written == run.written
    stored = sqlite_store.run(undo.run_id)
    assert stored is not None
    assert (stored["kind"], stored["rollback_of"]) == ("rollback", run.run_id)
    assert {row["outcome"] for row in sqlite_store.ledger(undo.run_id)} == {"written"}


async def test_rollback_leaves_fields_written_again_by_a_later_run(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    ids = served.box.deal_ids()
    first = await sync(served, sqlite_store, mapping)
    # a person resets one deal; under enforce the next run writes it again
    served.box.edit_by_hand(ids[0], category="OMIT", probability="0.01")
    enforce = mapping.model_copy(update={"overrides": Overrides(category="enforce", probability="enforce")})
    second = await sync(served, sqlite_store, enforce)
    assert second.written == 1
    rewritten = served.box.remote_values(ids[0])

    async with served.connector(enforce) as connector:
        undo = await rollback(sqlite_store, connector, first.run_id)

    assert served.box.remote_values(ids[0]) == rewritten
    assert served.box.remote_values(ids[1]) == (None, None)
    skipped = [row for row in sqlite_store.ledger(undo.run_id) if row["outcome"] == "skipped"]
    assert {(row["source_id"], row["field"]) for row in skipped} == {(ids[0], "category"), (ids[0], "probability")}
    assert all(f"after run {first.run_id}" in row["reason"] for row in skipped)


async def test_dry_run_writes_nothing_and_records_the_plan(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    before = served.remote()

    result = await sync(served, sqlite_store, mapping, mode="dry-run")

    assert served.box.requests["write"] == 0
    assert served.remote() == before
    ledger = sqlite_store.ledger(result.run_id)
    assert {row["outcome"] for row in ledger} == {"planned"}
    assert len(ledger) == 2 * len(before), "category and probability of every deal differ from the empty remote"
    assert result.planned == len(before)
    assert result.written == 0
    assert sqlite_store.cursor("fake") is None, "a dry run does not advance the cursor"
    run = sqlite_store.run(result.run_id)
    assert run is not None
    assert run["mode"] == "dry-run"
    # planned rows are not "our last write": a later real run still writes everything
    real = await sync(served, sqlite_store, mapping)
    assert real.full
    assert real.written == len(before)


async def test_malformed_records_are_quarantined_with_their_reason(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    template = served.box.records[served.box.deal_ids()[0]]

    def inject(deal_id: str, **changes: str) -> None:
        served.box.records[deal_id] = {**template, **changes, "id": deal_id}

    inject("99000001", value="abc")
    inject("99000002", stage="nosuchstage")

    result = await sync(served, sqlite_store, mapping)

    assert result.quarantined == 2
    assert result.fetched == result.stored + result.quarantined
    assert result.status == "partial"
    reasons = {row["source_id"]: row["reason"] for row in sqlite_store.quarantined(result.run_id)}
    assert reasons["99000001"] == "value: 'abc' is not a number"
    assert reasons["99000002"].startswith("stage: unknown stage 'nosuchstage'")
    payloads = {row["source_id"]: row["payload"] for row in sqlite_store.quarantined(result.run_id)}
    assert payloads["99000001"]["value"] == "abc"
    assert served.box.remote_values("99000001") == (None, None), "a quarantined deal is never written"
    assert sqlite_store.count_deals("fake") == result.stored


class DiesAfterFirstBatch(FakeConnector):
    """Writes in batches of 10 and 'dies' (a non-crmsync exception) on the second batch."""

    capabilities = FakeConnector.capabilities.model_copy(update={"write_batch_size": 10})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches = 0

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        size = self.capabilities.write_batch_size
        for start in range(0, len(updates), size):
            self.batches += 1
            if self.batches > 1:
                raise RuntimeError("the process was killed")
            outcomes += await super().write(updates[start : start + size])
        return outcomes


async def test_a_run_that_dies_half_way_converges_when_started_again(
    served: Served, sqlite_store: Store, mapping: Mapping, tmp_path: Path
) -> None:
    # the reference: an identical sandbox (same seed as the `served` fixture) synced without trouble
    box = FakeCrm(deals=40, seed=11)
    with serve(box.app()) as server:
        clean = Served(box, server.base_url)
        clean_store = Store(f"sqlite:///{tmp_path / 'clean.db'}")
        await sync(clean, clean_store, mapping)
        clean_store.close()
        expected = clean.remote()

    before = served.remote()
    async with served.connector(mapping, cls=DiesAfterFirstBatch) as connector:
        with pytest.raises(RuntimeError, match="killed"):
            await SyncEngine(sqlite_store, connector).run()
    half = served.remote()
    assert 0 < sum(half[i] != before[i] for i in half) < len(half), "the first batch reached the CRM, not more"
    died = sqlite_store.runs("fake")[0]
    assert died["status"] == "failed"
    assert "killed" in died["error"]
    assert sqlite_store.cursor("fake") is None, "the cursor does not move past unrecorded writes"

    again = await sync(served, sqlite_store, mapping)

    assert again.status == "ok"
    assert again.failed == 0
    assert served.remote() == expected
    assert again.written == len(half) - 10, "the deals the dead run wrote are already right"
    assert (await sync(served, sqlite_store, mapping)).written == 0


async def test_a_run_whose_writes_fail_is_partial_and_the_next_run_repairs_it(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    class FailingWrites(FakeConnector):
        async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
            return [WriteOutcome(source_id=u.source_id, status="failed", reason="503 from the CRM") for u in updates]

    async with served.connector(mapping, cls=FailingWrites) as connector:
        failed = await SyncEngine(sqlite_store, connector).run()
    assert failed.status == "partial"
    assert failed.failed == len(served.box.deal_ids())
    assert {row["outcome"] for row in sqlite_store.ledger(failed.run_id)} == {"failed"}
    assert all(value == (None, None) for value in served.remote().values())

    repaired = await sync(served, sqlite_store, mapping)

    assert repaired.written == len(served.box.deal_ids())
    assert all(value != (None, None) for value in served.remote().values())


async def test_a_mapping_change_recomputes_every_deal(served: Served, sqlite_store: Store, mapping: Mapping) -> None:
    today = date.today()
    await sync(served, sqlite_store, mapping, today=today)
    incremental = await sync(served, sqlite_store, mapping, today=today, overlap=timedelta(0))
    assert not incremental.full
    assert incremental.written == 0

    stages = [
        rule.model_copy(update={"probability": Decimal("0.95")}) if rule.stage == "Negotiation" else rule
        for rule in mapping.stages
    ]
    stages.insert(0, StageRule(pipeline="*", stage="Qualified", category=ForecastCategory.COMMIT))
    changed = mapping.model_copy(update={"stages": stages})
    assert changed.digest() != mapping.digest()
    listings = served.box.requests["list"]

    recomputed = await sync(served, sqlite_store, changed, today=today, overlap=timedelta(0))

    assert recomputed.full
    assert served.box.requests["list"] > listings, "a full re-read lists without `since`"
    assert recomputed.fetched == len(served.box.deal_ids())
    assert recomputed.written > 0
    reference = await served.reference(changed)
    wanted = served.expected(changed, reference, today)
    remote = served.remote()
    assert all(same_values(remote[i], wanted[i]) for i in wanted)
    stored = sqlite_store.run(recomputed.run_id)
    assert stored is not None
    assert stored["mapping_digest"] == changed.digest()


async def test_fault_injection_still_converges(served: Served, sqlite_store: Store, mapping: Mapping) -> None:
    today = date.today()
    reference = await served.reference(mapping)
    wanted = served.expected(mapping, reference, today)
    served.box.faults.rate_limit_rate = 0.2
    served.box.faults.error_rate = 0.15
    served.box.faults.drop_rate = 0.05
    served.box.faults.script = ["429", "503", "429-retry-after", "drop"]  # at least one of each, up front

    async with served.connector(mapping, max_retries=12) as connector:
        result = await SyncEngine(sqlite_store, connector, today=today).run()
        retried = connector.client.stats["retried"]

    assert retried >= 3
    assert result.failed == 0
    remote = served.remote()
    assert all(same_values(remote[i], wanted[i]) for i in wanted)
    again = await sync(served, sqlite_store, mapping, today=today)
    assert again.written == 0


async def test_failed_writes_of_an_incremental_run_are_retried_by_the_next_run(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    class FailingWrites(FakeConnector):
        async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
            return [WriteOutcome(source_id=u.source_id, status="failed", reason="409 conflict") for u in updates]

    await sync(served, sqlite_store, mapping)
    await sync(served, sqlite_store, mapping, overlap=timedelta(0))  # settles past our own writes
    moved = served.box.deal_ids()[:3]
    for deal_id in moved:  # a person wipes the forecast fields: the rules want them back
        set_remote(served, deal_id, None, None, "CRM_UI")

    async with served.connector(mapping, cls=FailingWrites) as connector:
        failed = await SyncEngine(sqlite_store, connector, overlap=timedelta(0)).run()
    assert not failed.full
    assert failed.failed == len(moved)

    retried = await sync(served, sqlite_store, mapping, overlap=timedelta(0))

    assert retried.written == len(moved), "the cursor was held back, so the failed deals were read again"
    assert all(served.box.remote_values(deal_id) != (None, None) for deal_id in moved)


async def test_a_deal_refused_twice_no_longer_holds_the_cursor(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    class FailingWrites(FakeConnector):
        async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
            return [WriteOutcome(source_id=u.source_id, status="failed", reason="refused") for u in updates]

    await sync(served, sqlite_store, mapping)
    await sync(served, sqlite_store, mapping, overlap=timedelta(0))
    stuck, later = served.box.deal_ids()[:2]
    set_remote(served, stuck, None, None, "CRM_UI")
    served.box.touch(later)  # a change after the stuck deal's, so a held-back cursor is visible
    cursors = []
    for _ in range(2):
        async with served.connector(mapping, cls=FailingWrites) as connector:
            run = await SyncEngine(sqlite_store, connector, overlap=timedelta(0)).run()
        assert run.failed == 1
        cursors.append(sqlite_store.cursor("fake"))
    modified = datetime.fromisoformat(served.box.records[stuck]["updated"])
    assert cursors[0] == modified, "the first failure holds the cursor back to the refused deal"
    assert cursors[1] is not None and cursors[1] > modified, "a second failure in a row lets the cursor move on"


async def test_a_full_round_trip_on_each_database(served: Served, store: Store, mapping: Mapping) -> None:
    """The same sync, rerun and rollback on SQLite and, when configured, PostgreSQL: the SQL stays portable."""
    before = served.remote()
    async with served.connector(mapping) as connector:
        first = await SyncEngine(store, connector).run()
    assert first.written > 0
    assert first.fetched == first.stored == len(before)
    async with served.connector(mapping) as connector:
        second = await SyncEngine(store, connector).run()
    assert second.planned == 0
    assert second.written == 0
    async with served.connector(mapping) as connector:
        undone = await rollback(store, connector, first.run_id)
    assert undone.written == first.written
    assert served.remote() == before


async def test_a_long_run_keeps_its_lock_fresh(
    served: Served, sqlite_store: Store, mapping: Mapping, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run refreshes its lock while it works, so a second process cannot take it over as stale."""
    import crmsync.sync.engine as engine_module

    beats: list[tuple[str, str]] = []
    original = sqlite_store.heartbeat

    def recording(name: str, holder: str) -> bool:
        beats.append((name, holder))
        return original(name, holder)

    monkeypatch.setattr(engine_module, "HEARTBEAT_SECONDS", 0.0)
    monkeypatch.setattr(sqlite_store, "heartbeat", recording)
    async with served.connector(mapping) as connector:
        engine = SyncEngine(sqlite_store, connector)
        await engine.run()
    assert beats, "the run never refreshed its lock"
    assert {name for name, _ in beats} == {"run:fake"}
    assert {holder for _, holder in beats} == {engine.holder}


async def test_a_new_day_reapplies_date_rules_to_deals_that_did_not_change(
    served: Served, sqlite_store: Store, mapping: Mapping
) -> None:
    """Deals whose close date passes overnight are capped by 'overdue-not-commit' without any remote change."""
    from datetime import date

    today = date.today()
    await sync(served, sqlite_store, mapping, today=today)
    await sync(served, sqlite_store, mapping, today=today, overlap=timedelta(0))
    later = today + timedelta(days=120)
    reference = await served.reference(mapping)
    wanted = served.expected(mapping, reference, later)
    lists_before = served.box.listing_requests()
    run = await sync(served, sqlite_store, mapping, today=later, overlap=timedelta(0))
    assert served.box.listing_requests() - lists_before == 1, "re-evaluation needs no extra listing"
    assert run.reevaluated > 0
    assert run.written > 0, "some open deals closed in the next 120 days and must be capped now"
    assert all(same_values(served.box.remote_values(i), wanted[i]) for i in served.box.deal_ids())
    again = await sync(served, sqlite_store, mapping, today=later, overlap=timedelta(0))
    assert again.reevaluated == 0, "the same day is not evaluated twice"
    assert again.written == 0


async def test_a_run_whose_lock_was_taken_over_stops(
    served: Served, sqlite_store: Store, mapping: Mapping, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a stalled run's lock went stale and another process took it, the stalled run must not go on writing."""
    import crmsync.sync.engine as engine_module
    from crmsync.errors import LockedError

    monkeypatch.setattr(engine_module, "HEARTBEAT_SECONDS", 0.0)

    class Stalls(FakeConnector):
        async def reference(self) -> Any:
            answer = await super().reference()
            with sqlite_store.engine.begin() as conn:  # meanwhile another process takes the lock over
                from crmsync.store.schema import locks

                conn.execute(locks.update().values(holder="someone-else"))
            return answer

    async with served.connector(mapping, cls=Stalls) as connector:
        with pytest.raises(LockedError, match="taken over"):
            await SyncEngine(sqlite_store, connector).run()
    assert served.box.requests["write"] == 0
