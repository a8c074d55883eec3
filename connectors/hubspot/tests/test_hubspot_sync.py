"""Sync runs against the HubSpot sandbox over loopback: incremental reads under concurrent writes, archived sweeps
and malformed records, each through SyncEngine into a SQLite store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from crmsync.mapping import Mapping
from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync.sync.engine import RunResult
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox

WON = {"default": "closedwon", "1473529": "2038315"}  # closed-won stage of each seeded pipeline


class Served:
    def __init__(self, box: HubSpotSandbox, base_url: str, store: Store, mapping: Mapping) -> None:
        self.box, self.base_url, self.store, self.mapping = box, base_url, store, mapping

    @asynccontextmanager
    async def connector(self) -> AsyncIterator[HubSpotConnector]:
        settings = HubSpotSettings.model_validate({**self.box.settings(self.base_url), "max_retries": 2})
        connector = HubSpotConnector("hubspot", settings, self.mapping)
        try:
            yield connector
        finally:
            await connector.aclose()

    async def sync(self, **options: object) -> RunResult:
        async with self.connector() as connector:
            return await SyncEngine(self.store, connector, **options).run()  # type: ignore[arg-type]


def _served(tmp_path: Path, mapping: Mapping, deals: int) -> Iterator[Served]:
    box = HubSpotConnector.sandbox(deals=deals)
    store = Store(f"sqlite:///{tmp_path / 'hubspot.db'}")
    try:
        with serve(box.app()) as server:
            yield Served(box, server.base_url, store, mapping)
    finally:
        store.close()


@pytest.fixture
def big(tmp_path: Path, mapping: Mapping) -> Iterator[Served]:
    yield from _served(tmp_path, mapping, 900)


@pytest.fixture
def small(tmp_path: Path, mapping: Mapping) -> Iterator[Served]:
    yield from _served(tmp_path, mapping, 40)


async def test_deals_changed_while_an_incremental_read_writes_back_are_not_skipped(big: Served) -> None:
    first = await big.sync()
    assert first.status == "ok" and first.fetched == 900
    with big.box.lock:
        open_deals = sorted(
            (r for r in big.box.state.live() if r.properties["hs_is_closed"] == "false"), key=lambda r: int(r.id)
        )
        targets = open_deals[::2][:275]
        assert len(targets) == 275
        for record in targets:  # a person closes the deal as won in HubSpot's UI
            big.box.state.update(record, {"dealstage": WON[record.properties["pipeline"] or ""]}, "CRM_UI")

    run = await big.sync(overlap=timedelta(0))

    ids = [r.id for r in targets]
    stored = big.store.stored_deals("hubspot", ids)
    missed = [i for i in ids if stored[i].stage_id != WON[big.box.state.records[i].properties["pipeline"] or ""]]
    assert missed == [], f"{len(missed)} changed deals never reached the store"
    written = {r["source_id"] for r in big.store.ledger(run.run_id) if r["outcome"] == "written"}
    assert set(ids) <= written
    assert {big.box.remote_values(i)[0] for i in ids} == {"CLOSED"}


async def test_a_reconciling_run_sweeps_deals_archived_before_the_cursor(small: Served) -> None:
    await small.sync()
    gone = small.box.deal_ids()[0]
    small.box.delete(gone)  # archived between two reconciling sweeps
    await asyncio.sleep(0.002)  # edits within one millisecond share its stamp, as in HubSpot
    small.box.touch(small.box.deal_ids()[0])  # a later edit moves the cursor past the archive time
    quiet = await small.sync(overlap=timedelta(0))
    assert quiet.deleted == 0  # incremental reads never see archiving (search does not return archived deals)
    assert small.store.cursor("hubspot") > small.box.state.records[gone].archived_at  # type: ignore[operator]

    swept = await small.sync(overlap=timedelta(0), reconcile=True)

    assert swept.deleted == 1
    assert _status(small.store, gone) == "deleted"


def _status(store: Store, source_id: str) -> str:
    from sqlalchemy import select

    from crmsync.store import schema

    with store.engine.connect() as conn:
        return str(
            conn.execute(
                select(schema.deals.c.status).where(
                    schema.deals.c.connection == "hubspot", schema.deals.c.source_id == source_id
                )
            ).scalar_one()
        )


def _inject_bad_stamp(box: HubSpotSandbox) -> str:
    """A copy of a seeded deal whose hs_lastmodifieddate is not a timestamp."""
    with box.lock:
        model = next(iter(box.state.records.values()))
        bad = replace(
            model,
            id="9999991",
            properties={**model.properties, "hs_object_id": "9999991", "hs_lastmodifieddate": "yesterday"},
            history={},
        )
        box.state.records[bad.id] = bad
        box.state.version += 1  # drop the sandbox's cached listings
    return bad.id


async def test_a_malformed_modification_time_is_quarantined_not_fatal(small: Served) -> None:
    bad = _inject_bad_stamp(small.box)

    run = await small.sync()

    assert run.status == "partial"
    quarantined = small.store.quarantined(run.run_id)
    assert [q["source_id"] for q in quarantined] == [bad]
    assert quarantined[0]["reason"] == "hs_lastmodifieddate: 'yesterday' is not a timestamp"
    others = [i for i in small.box.deal_ids() if i != bad]
    assert run.stored == len(others) == 40
    assert sorted(small.store.stored_deals("hubspot", others)) == sorted(others)


async def test_a_rerun_skips_deals_whose_only_change_is_our_write_and_sees_a_later_edit(small: Served) -> None:
    first = await small.sync()
    assert first.written > 0
    edited = next(iter(small.store.own_writes("hubspot", small.box.deal_ids())))  # one crmsync wrote
    small.box.edit_by_hand(edited, category="COMMIT" if small.box.remote_values(edited)[0] != "COMMIT" else "OMIT")

    rerun = await small.sync()

    # HubSpot's search brings back every deal the write touched (they are inside its overlap window), but each
    # still stamped with the updatedAt of crmsync's write is skipped; the person's later edit is not
    assert rerun.fetched >= first.written
    assert rerun.unchanged == first.written - 1
    assert rerun.stored == rerun.fetched - rerun.unchanged
    assert edited not in small.store.own_writes("hubspot", [edited]), "the listed version replaced our write's"
    rows = [r for r in small.store.ledger(rerun.run_id) if r["source_id"] == edited and r["field"] == "category"]
    assert [r["outcome"] for r in rows] == ["respected"]


async def test_a_quiet_rerun_lists_one_page_once_hubspots_clock_has_passed_our_writes(small: Served) -> None:
    first = await small.sync(overlap=timedelta(0))
    assert first.written > 0
    # HubSpot's Date header counts whole seconds (uvicorn's, as the sandbox serves it, is renewed once a second):
    # a run that starts this much after the writes takes its clock from after them
    await asyncio.sleep(2.5)
    sees_our_writes = await small.sync(overlap=timedelta(0))
    assert sees_our_writes.fetched >= first.written, "the search brings back the deals our write moved"
    assert sees_our_writes.unchanged == first.written
    searches = small.box.requests["list-search"]

    quiet = await small.sync(overlap=timedelta(0))

    assert small.box.requests["list-search"] - searches == 1, "one search page, with nothing in it"
    assert quiet.requests == 1, "and nothing else: a listing that brings nothing needs no reference data"
    assert (quiet.fetched, quiet.written) == (0, 0)
    edited = small.box.deal_ids()[5]
    small.box.edit_by_hand(edited, category="COMMIT" if small.box.remote_values(edited)[0] != "COMMIT" else "OMIT")
    after = await small.sync(overlap=timedelta(0))
    assert after.fetched == 1, "a person's edit after the quiet run is read by the next"
    rows = [r for r in small.store.ledger(after.run_id) if r["source_id"] == edited and r["field"] == "category"]
    assert [r["outcome"] for r in rows] == ["respected"]
