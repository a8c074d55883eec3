"""Round trip through SyncEngine and a SQLite store against the sandbox on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from simplicate_support import ROOT

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox import RunningServer, serve
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync_simplicate.connector import SimplicateConnector, SimplicateSettings
from crmsync_simplicate.sandbox import SimplicateSandbox

TODAY = date(2024, 6, 1)


@pytest.fixture
def served() -> Iterator[tuple[SimplicateSandbox, RunningServer]]:
    sandbox = SimplicateSandbox(deals=140, seed=11)
    with serve(sandbox.app()) as server:
        yield sandbox, server


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    made = Store(f"sqlite:///{tmp_path / 'simplicate.db'}")
    yield made
    made.close()


def make(sandbox: SimplicateSandbox, server: RunningServer, mapping: Mapping) -> SimplicateConnector:
    settings = SimplicateSettings.model_validate(sandbox.settings(server.base_url))
    return SimplicateConnector("simplicate-nl", settings, mapping)


async def run(sandbox: SimplicateSandbox, server: RunningServer, store: Store, **kwargs: object) -> object:
    connector = make(sandbox, server, load_mapping(ROOT / "mappings" / "simplicate.toml"))
    try:
        return await SyncEngine(store, connector, today=TODAY, **kwargs).run()  # type: ignore[arg-type]
    finally:
        await connector.aclose()


def hand_set_open_sales(sandbox: SimplicateSandbox) -> list[str]:
    return [
        s["id"]
        for s in sandbox.state.list_sales()
        if s["status"]["label"] == "OpportunityStatus_open"
        and s["chance_to_score"] != int(s["progress"]["chance_to_score"])
    ]


async def test_round_trip(served: tuple[SimplicateSandbox, RunningServer], store: Store) -> None:
    sandbox, server = served
    manual = hand_set_open_sales(sandbox)
    assert manual, "the seed should hold sales whose chance a person set"
    manual_before = {i: sandbox.remote_values(i)[1] for i in manual}

    first = await run(sandbox, server, store)
    assert first.fetched == 140  # type: ignore[attr-defined]
    assert first.written > 0  # type: ignore[attr-defined]
    assert first.failed == 0  # type: ignore[attr-defined]
    # a chance set by hand before crmsync ever wrote the sale is left alone under 'respect'
    assert {i: sandbox.remote_values(i)[1] for i in manual} == manual_before
    skipped = [
        r
        for r in store.ledger(first.run_id)
        if r["source_id"] in manual  # type: ignore[attr-defined]
        and r["field"] == "probability"
    ]
    assert skipped
    assert {r["outcome"] for r in skipped} == {"respected"}
    # every other open sale got the forecast category
    open_ids = [s["id"] for s in sandbox.state.list_sales() if s["status"]["label"] == "OpportunityStatus_open"]
    assert all(sandbox.remote_values(i)[0] is not None for i in open_ids)

    listings_before = sandbox.listing_requests()
    writes_before = sandbox.requests["write"]
    second = await run(sandbox, server, store)
    assert second.planned == 0  # type: ignore[attr-defined]
    assert second.written == 0  # type: ignore[attr-defined]
    assert sandbox.requests["write"] == writes_before
    assert sandbox.listing_requests() - listings_before <= 2  # the changed sales fit in one or two pages

    # a salesperson now changes the chance of a sale crmsync wrote: respected, not overwritten
    target = next(i for i in open_ids if i not in manual)
    sandbox.edit_by_hand(target, probability="42")
    third = await run(sandbox, server, store)
    assert sandbox.remote_values(target)[1] == "42"
    rows = [r for r in store.ledger(third.run_id) if r["source_id"] == target]  # type: ignore[attr-defined]
    assert [(r["field"], r["outcome"]) for r in rows] == [("probability", "respected")]


async def test_deleted_sale_is_found_by_reconciliation(
    served: tuple[SimplicateSandbox, RunningServer], store: Store
) -> None:
    sandbox, server = served
    await run(sandbox, server, store)
    gone = sandbox.deal_ids()[3]
    sandbox.delete(gone)
    result = await run(sandbox, server, store, reconcile=True)
    assert result.deleted == 1  # type: ignore[attr-defined]
    known = store.known_ids("simplicate-nl")
    assert gone not in known
    assert len(known) == 139
