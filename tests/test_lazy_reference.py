"""The CRM's reference data is read once a run, when the first listed record needs it (or a write's read-back
does): a run whose listing brings nothing is one request."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from two_phase_fake import FakeConnector, FakeCrm

from crmsync.connector import ConnectorSettings, Page
from crmsync.errors import MappingError
from crmsync.store import Store
from crmsync.sync import SyncEngine


class Quiet(FakeConnector):
    """A CRM in which nothing changed since the cursor: the listing answers one empty page."""

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        self.crm.calls.append(("list", ()))
        yield Page(records=[])


class Budgeted(FakeConnector):
    """The fake CRM with a daily request budget of `budget`."""

    def __init__(self, crm: FakeCrm, budget: int, **kwargs: Any) -> None:
        super().__init__(crm, **kwargs)
        self.settings = ConnectorSettings(base_url="http://127.0.0.1:9", daily_request_budget=budget)


def kinds(crm: FakeCrm) -> list[str]:
    return [kind for kind, _ in crm.calls]


async def test_a_listing_that_brings_nothing_reads_no_reference_data(store: Store) -> None:
    crm = FakeCrm.seeded(4)
    await SyncEngine(store, FakeConnector(crm)).run()  # the first run is a full one
    crm.calls.clear()

    result = await SyncEngine(store, Quiet(crm)).run()

    assert not result.full
    assert kinds(crm) == ["list"]
    assert (result.fetched, result.planned, result.written) == (0, 0, 0)


async def test_a_full_run_reads_the_reference_first_an_incremental_one_when_records_come(store: Store) -> None:
    crm = FakeCrm.seeded(23)  # five pages
    full = await SyncEngine(store, FakeConnector(crm)).run()
    assert full.full and full.written == 23
    assert kinds(crm)[:2] == ["reference", "list"]
    crm.records["d0007"].stage = "won"  # a person's edit
    crm.records["d0007"].updated = crm.tick()
    crm.calls.clear()

    incremental = await SyncEngine(store, FakeConnector(crm)).run()

    calls = kinds(crm)
    assert not incremental.full and incremental.fetched >= 1
    assert calls.count("reference") == 1
    assert calls.index("list") < calls.index("reference")


async def test_a_mapping_that_does_not_fit_fails_before_anything_is_fetched_stored_or_written(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = FakeCrm.seeded(7)
    connector = FakeConnector(crm)
    monkeypatch.setattr(connector, "mapping_problems", lambda reference: ["property 'forecast' does not exist"])

    with pytest.raises(MappingError, match=r"does not fit the CRM.*'forecast' does not exist"):
        await SyncEngine(store, connector).run()  # the first run is a full one

    assert kinds(crm) == ["reference"]
    assert store.count_deals("fake") == 0


async def test_in_an_incremental_run_a_mapping_that_no_longer_fits_stops_it_before_any_deal_is_stored(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    crm = FakeCrm.seeded(7)
    await SyncEngine(store, FakeConnector(crm)).run()
    before = crm.records["d0003"].stage
    crm.records["d0003"].stage = "won"
    crm.records["d0003"].updated = crm.tick()
    crm.calls.clear()
    connector = FakeConnector(crm)  # the CRM lost a field since: its reference no longer fits the mapping
    monkeypatch.setattr(connector, "mapping_problems", lambda reference: ["property 'forecast' does not exist"])

    with pytest.raises(MappingError, match="forecast"):
        await SyncEngine(store, connector).run()

    assert "write" not in kinds(crm)
    assert crm.records["d0003"].category != "Closed", "nothing written"
    assert store.stored_deals("fake", ["d0003"])["d0003"].stage_id == before, "the edit is not stored"


async def test_writes_carried_into_a_quiet_run_read_the_reference_for_their_read_back(store: Store) -> None:
    crm = FakeCrm.seeded(6)
    first = await SyncEngine(store, Budgeted(crm, budget=6), daily_share=0.5).run()  # 3 writes, the rest deferred
    assert first.deferred > 0
    crm.calls.clear()

    carried = await SyncEngine(store, Quiet(crm), daily_share=0.5).run()  # no budget known: no limit

    assert kinds(crm)[:2] == ["list", "reference"], "read for the writer, once the listing brought nothing"
    assert kinds(crm).count("reference") == 1
    assert carried.written == first.deferred
