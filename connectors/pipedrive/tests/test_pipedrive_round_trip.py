"""Sync through SyncEngine into a SQLite store against the sandbox served on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from crmsync.mapping import Mapping
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync_pipedrive.connector import PipedriveConnector, PipedriveSettings
from crmsync_pipedrive.sandbox import PipedriveSandbox


@pytest.fixture
async def connect(sandbox: PipedriveSandbox, base_url: str, mapping: Mapping) -> AsyncIterator[object]:
    made: list[PipedriveConnector] = []

    def factory() -> PipedriveConnector:
        settings = PipedriveSettings.model_validate(sandbox.settings(base_url))
        connector = PipedriveConnector("pipedrive-test", settings, mapping)
        made.append(connector)
        return connector

    yield factory
    for connector in made:
        await connector.aclose()


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'sync.db'}")


async def test_round_trip_writes_once_and_respects_hand_edits(
    connect: object, sandbox: PipedriveSandbox, store: Store
) -> None:
    factory = connect  # type: ignore[assignment]
    partner_before = {
        i: sandbox.deal(i)["probability"] for i in sandbox.deal_ids() if sandbox.deal(i)["pipeline_id"] == 2
    }
    first = await SyncEngine(store, factory()).run()  # type: ignore[operator]
    assert first.status == "ok"
    assert first.written > 0
    assert first.failed == 0
    assert first.fetched == len(sandbox.deal_ids())
    labels = {"Pipeline", "Best case", "Commit", "Closed", "Omitted"}
    for deal_id in sandbox.deal_ids():
        category, probability = sandbox.remote_values(deal_id)
        assert category in labels, f"deal {deal_id} got no category"
        if sandbox.deal(deal_id)["pipeline_id"] == 1:
            assert probability is not None
            assert probability.isdigit(), "probability is an integer percent"
    # probability disabled on the partner pipeline: the deals' own probability is never written
    assert {i: sandbox.deal(i)["probability"] for i in partner_before} == partner_before
    won = next(i for i in sandbox.deal_ids() if sandbox.deal(i)["status"] == "won")
    assert sandbox.remote_values(won)[0] == "Closed"

    writes = sandbox.requests["write"]
    lists = sandbox.listing_requests()
    second = await SyncEngine(store, factory()).run()  # type: ignore[operator]
    assert second.planned == 0
    assert second.written == 0
    assert sandbox.requests["write"] == writes
    assert sandbox.listing_requests() - lists == 1  # one /deals page; the archived sweep waits for a reconciling run

    target = next(
        i for i in sandbox.deal_ids() if sandbox.deal(i)["pipeline_id"] == 1 and sandbox.deal(i)["status"] == "open"
    )
    current, _ = sandbox.remote_values(target)
    by_hand = next(label for label in sorted(labels) if label != current)
    sandbox.edit_by_hand(target, category=by_hand, probability="3")
    third = await SyncEngine(store, factory()).run()  # type: ignore[operator]
    assert sandbox.remote_values(target) == (by_hand, "3")
    rows = [r for r in store.ledger(third.run_id) if r["source_id"] == target]
    assert {r["field"] for r in rows} == {"category", "probability"}
    assert all(r["outcome"] == "respected" for r in rows)
    assert sandbox.requests["write"] == writes
    store.close()


async def test_archived_and_deleted_deals_are_marked_and_never_written(
    connect: object, sandbox: PipedriveSandbox, store: Store
) -> None:
    factory = connect  # type: ignore[assignment]
    await SyncEngine(store, factory()).run()  # type: ignore[operator]
    archived, deleted = sandbox.deal_ids()[:2]
    sandbox.archive(archived)
    sandbox.delete(deleted)
    sandbox.edit_by_hand(sandbox.deal_ids()[0], category="Omitted")
    writes = sandbox.requests["write"]
    result = await SyncEngine(store, factory(), reconcile=True).run()  # type: ignore[operator]
    assert result.deleted == 2
    assert store.known_ids("pipedrive-test") == set(sandbox.deal_ids())
    assert sandbox.requests["write"] == writes  # the hand edit is respected, the gone deals are left alone
    store.close()
