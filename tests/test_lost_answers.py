"""A write whose answer never arrives is `unknown`, not `failed`: the next run compares the deal with that value, so
an applied write is not taken for a person's edit (and respected for ever), and a dropped one is written again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from two_phase_fake import FakeConnector, FakeCrm, as_raw
from two_phase_fake import outcomes_by_deal as outcomes

from crmsync.connector import DealUpdate, WriteOutcome
from crmsync.errors import TransportError
from crmsync.kit import write_each, written
from crmsync.store import Outcome, Store
from crmsync.sync import SyncEngine

APPLIED, DROPPED = "d0001", "d0002"  # the CRM applied the first write but the answer was lost; dropped the second


class LostAnswers(FakeConnector):
    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        async def one(update: DealUpdate) -> WriteOutcome:
            if update.source_id == DROPPED:
                raise TransportError("PATCH /deals/d0002: timed out", connection=self.connection)
            [outcome] = await FakeConnector.write(self, [update])
            if update.source_id == APPLIED:
                raise TransportError("PATCH /deals/d0001: connection reset", connection=self.connection)
            return written(update) if outcome.status == "written" else outcome

        return await write_each(updates, one)


async def test_lost_answers_are_unknown_and_the_next_run_settles_them_by_the_remote_value(store: Store) -> None:
    crm = FakeCrm.seeded(6)
    await SyncEngine(store, FakeConnector(crm)).run()  # every deal written once: the ledger knows our values
    before = {deal_id: crm.records[deal_id].category for deal_id in (APPLIED, DROPPED)}
    for deal_id in (APPLIED, DROPPED):  # a stage change: the rules now want another category
        record = crm.records[deal_id]
        record.stage = "lead" if record.stage == "offer" else "offer"
        record.updated = crm.tick()

    second = await SyncEngine(store, LostAnswers(crm)).run()

    assert outcomes(store, second.run_id)[APPLIED] == outcomes(store, second.run_id)[DROPPED] == {Outcome.UNKNOWN}
    applied = crm.records[APPLIED].category
    assert applied != before[APPLIED] and crm.records[DROPPED].category == before[DROPPED]

    third = await SyncEngine(store, FakeConnector(crm), full=True).run()

    found = outcomes(store, third.run_id)
    assert APPLIED not in found, "the applied write is recognised as ours, not respected as a person's edit"
    assert found[DROPPED] == {Outcome.WRITTEN}, "the dropped write is written again"
    assert crm.records[APPLIED].category == applied
    assert crm.records[DROPPED].category != before[DROPPED]


class ReadsBack(LostAnswers):
    """The same lost answers, from a connector that can read deals by id."""

    edit_before_read: dict[str, str] = {}

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        for deal_id, category in self.edit_before_read.items():
            self.crm.records[deal_id].category = category
        self.crm.calls.append(("read", tuple(ids)))
        return [as_raw(self.crm.records[i]) for i in ids if i in self.crm.records]


async def test_unanswered_writes_are_read_back_and_settled_in_the_same_run(store: Store) -> None:
    crm = FakeCrm.seeded(6)
    await SyncEngine(store, FakeConnector(crm)).run()
    before = {deal_id: crm.records[deal_id].category for deal_id in (APPLIED, DROPPED)}
    for deal_id in (APPLIED, DROPPED):
        record = crm.records[deal_id]
        record.stage = "lead" if record.stage == "offer" else "offer"
        record.updated = crm.tick()

    second = await SyncEngine(store, ReadsBack(crm)).run()

    assert ("read", (APPLIED, DROPPED)) in crm.calls or ("read", (DROPPED, APPLIED)) in crm.calls
    found = outcomes(store, second.run_id)
    assert found[APPLIED] == {Outcome.WRITTEN}, "the CRM holds our value: written, known at once"
    assert found[DROPPED] == {Outcome.FAILED}, "the CRM still holds the old value: failed, written again next run"
    reasons = {row["source_id"]: row["reason"] for row in store.ledger(second.run_id)}
    assert "read back: the CRM applied it" in reasons[APPLIED]
    assert "did not apply it" in reasons[DROPPED]
    assert second.written >= 1 and second.failed == 1

    third = await SyncEngine(store, FakeConnector(crm)).run()
    found = outcomes(store, third.run_id)
    assert APPLIED not in found
    assert found[DROPPED] == {Outcome.WRITTEN}
    assert crm.records[DROPPED].category != before[DROPPED]


async def test_a_deal_changed_by_someone_else_before_the_read_back_stays_unknown(store: Store) -> None:
    crm = FakeCrm.seeded(6)
    await SyncEngine(store, FakeConnector(crm)).run()
    for deal_id in (APPLIED, DROPPED):
        record = crm.records[deal_id]
        record.stage = "lead" if record.stage == "offer" else "offer"
        record.updated = crm.tick()
    connector = ReadsBack(crm)
    connector.edit_before_read = {DROPPED: "omitted-by-hand"}
    second = await SyncEngine(store, connector).run()
    found = outcomes(store, second.run_id)
    assert found[DROPPED] == {Outcome.UNKNOWN}, "neither our value nor the old one: the next run decides"
    assert found[APPLIED] == {Outcome.WRITTEN}
