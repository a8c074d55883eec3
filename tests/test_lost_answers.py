"""A write whose answer never arrives is `unknown`, not `failed`: the next run compares the deal with that value, so
an applied write is not taken for a person's edit (and respected for ever), and a dropped one is written again."""

from __future__ import annotations

from collections.abc import Sequence

from two_phase_fake import FakeConnector, FakeCrm

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


def outcomes(store: Store, run_id: int) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for row in store.ledger(run_id):
        found.setdefault(row["source_id"], set()).add(row["outcome"])
    return found


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
