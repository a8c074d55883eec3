"""Phase 2 with batch writes in flight at once (a CRM whose one request carries a whole batch, as HubSpot's)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Sequence
from typing import ClassVar

import pytest
from two_phase_fake import FakeConnector, FakeCrm, outcomes_by_deal

from crmsync.connector import Capabilities, DealUpdate, WriteOutcome
from crmsync.errors import AuthError
from crmsync.store import Outcome, Store
from crmsync.sync import SyncEngine
from crmsync.sync.flight import Flight


class BatchConnector(FakeConnector):
    """The fake CRM behind a batch endpoint: one request writes up to three deals, and takes a while to answer."""

    capabilities: ClassVar[Capabilities] = Capabilities(
        page_size=5, write_batch_size=3, deals_per_request=3, max_concurrency=3
    )

    def __init__(self, crm: FakeCrm, *, fail_batch: int | None = None) -> None:
        super().__init__(crm)
        self.fail_batch = fail_batch
        self.started = 0
        self.in_flight = 0
        self.most_in_flight = 0

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        self.started += 1
        number = self.started
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.01 * (1 + number % 2))  # answers come back out of order
            if number == self.fail_batch:
                raise AuthError("the token was revoked", connection=self.connection)
            return await super().write(updates)
        finally:
            self.in_flight -= 1


class OneDealPerRequest(BatchConnector):
    capabilities: ClassVar[Capabilities] = Capabilities(page_size=5, write_batch_size=3, max_concurrency=3)


async def test_batches_go_out_up_to_the_connectors_concurrency_and_every_row_settles(store: Store) -> None:
    crm = FakeCrm.seeded(23)
    connector = BatchConnector(crm)

    result = await SyncEngine(store, connector).run()

    assert connector.most_in_flight == 3
    assert connector.started == 8
    assert result.written == result.planned == 23
    assert set().union(*outcomes_by_deal(store, result.run_id).values()) == {Outcome.WRITTEN}
    assert {record.category for record in crm.records.values()} == {"Pipeline", "Commit"}


async def test_a_connector_that_spreads_a_batch_over_requests_gets_one_batch_at_a_time(store: Store) -> None:
    connector = OneDealPerRequest(FakeCrm.seeded(10))

    result = await SyncEngine(store, connector).run()

    assert connector.most_in_flight == 1
    assert result.written == 10


async def test_a_fatal_error_lets_the_batches_in_flight_settle_before_it_stops_the_run(store: Store) -> None:
    crm = FakeCrm.seeded(23)
    connector = BatchConnector(crm, fail_batch=2)

    with pytest.raises(AuthError, match="revoked"):
        await SyncEngine(store, connector).run()

    run_id = max(run["id"] for run in store.runs("fake"))
    rows = outcomes_by_deal(store, run_id)
    sent = [ids for kind, ids in crm.calls if kind == "write"]  # batches the CRM applied, in order
    assert connector.started >= 3, "batches 1 and 3 were in flight when batch 2 failed"
    assert len(sent) == connector.started - 1
    for ids in sent:
        assert all(rows[deal_id] == {Outcome.WRITTEN} for deal_id in ids), "a batch sent is settled, not lost"
        assert all(crm.records[deal_id].category is not None for deal_id in ids)
    written = {deal_id for ids in sent for deal_id in ids}
    failed = {deal_id for deal_id, outcomes in rows.items() if Outcome.FAILED in outcomes}
    assert len(failed) == 3, "the refused batch's three deals"
    assert not failed & written
    unsent = set(crm.records) - written - failed
    assert unsent, "no batch starts once the error is known"
    assert all(crm.records[deal_id].category is None for deal_id in unsent)


async def test_flight_raises_the_first_error_when_the_next_task_starts() -> None:
    flight = Flight(1)

    async def broken() -> None:
        raise ValueError("boom")

    async def fine() -> None:
        return None

    await flight.start(broken())
    with pytest.raises(ValueError, match="boom"):
        await flight.start(fine())
    await flight.land()


async def test_flight_abandon_cancels_what_is_in_flight() -> None:
    flight = Flight(2)
    never = asyncio.get_running_loop().create_future()

    async def waiting() -> None:
        await never

    await flight.start(waiting())
    await asyncio.sleep(0)
    await flight.abandon(cancel=True)
    assert never.cancelled()
    await flight.land()  # nothing is left


async def test_flight_retrieves_every_error_of_tasks_that_end_together(caplog: pytest.LogCaptureFixture) -> None:
    """Two batches fail at once: the first error is raised, and the other is retrieved, not reported by asyncio
    as an exception never retrieved when its task is collected."""
    flight = Flight(2)

    async def broken(number: int) -> None:
        raise ValueError(f"boom {number}")

    await flight.start(broken(1))
    await flight.start(broken(2))
    await asyncio.sleep(0)  # both have ended
    with pytest.raises(ValueError, match="boom"):
        await flight.land()
    assert flight._tasks == set()
    with caplog.at_level(logging.ERROR, logger="asyncio"):
        gc.collect()
    assert "never retrieved" not in caplog.text
