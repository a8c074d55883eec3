"""Round trip through SyncEngine into a SQLite store against the sandbox on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from crmsync.mapping import Mapping, load_mapping
from crmsync.sandbox.server import RunningServer, serve
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync_afas.connector import AfasConnector
from crmsync_afas.sandbox import AfasSandbox
from crmsync_afas.settings import AfasSettings

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def world() -> Iterator[tuple[AfasSandbox, RunningServer]]:
    sandbox = AfasSandbox(deals=80, seed=11)
    with serve(sandbox.app()) as server:
        yield sandbox, server


@pytest.fixture
def mapping() -> Mapping:
    return load_mapping(ROOT / "mappings" / "afas.toml")


async def sync(
    store: Store, sandbox: AfasSandbox, server: RunningServer, mapping: Mapping, *, reconcile: bool = False
) -> tuple[int, dict[str, int]]:
    settings = AfasSettings.model_validate({**sandbox.settings(server.base_url), "page_size": 30})
    connector = AfasConnector("afas", settings, mapping)
    async with connector:
        result = await SyncEngine(store, connector, reconcile=reconcile).run()
    return result.run_id, result.counts()


async def test_round_trip(world: tuple[AfasSandbox, RunningServer], mapping: Mapping, tmp_path: Path) -> None:
    sandbox, server = world
    store = Store(f"sqlite:///{tmp_path / 'afas.db'}")
    _, first = await sync(store, sandbox, server, mapping)
    assert first["fetched"] == 80
    assert first["quarantined"] == 0
    assert first["written"] > 0
    assert first["failed"] == 0
    assert sandbox.listing_requests() == 3  # 30 + 30 + 20 rows

    # Nothing changed: the forecasts our writes touched are read again (their modified date moved, and the
    # overlap window covers them), but nothing is planned or written.
    sandbox.requests.clear()
    _, second = await sync(store, sandbox, server, mapping)
    assert second["fetched"] >= first["planned"]
    assert second["planned"] == 0
    assert second["written"] == 0
    assert sandbox.requests["write"] == 0

    # A salesperson sets the category and the chance by hand: respected under 'respect'.
    await asyncio.sleep(1.1)  # Profit's times have whole seconds
    target = next(f for f in sandbox.world.forecasts.values() if f.result == "O").key
    category, _ = sandbox.remote_values(target)
    by_hand = next(v for v in mapping.writeback.category_values.values() if v != category)
    sandbox.edit_by_hand(target, category=by_hand, probability="13")
    run_id, third = await sync(store, sandbox, server, mapping)
    assert sandbox.remote_values(target) == (by_hand, "13")
    assert third["written"] == 0
    ledger = [r for r in store.ledger(run_id) if r["source_id"] == target]
    assert {r["field"]: r["outcome"] for r in ledger} == {"category": "respected", "probability": "respected"}

    # A forecast deleted in Profit disappears from the store through the key scan.
    gone = sandbox.deal_ids()[5]
    sandbox.delete(gone)
    _, fourth = await sync(store, sandbox, server, mapping, reconcile=True)
    assert fourth["deleted"] == 1
    assert fourth["written"] == 0
    assert gone not in store.known_ids("afas") or store.stored_deals("afas", [gone])[gone].status == "deleted"
    store.close()


async def test_written_values_match_the_rules(
    world: tuple[AfasSandbox, RunningServer], mapping: Mapping, tmp_path: Path
) -> None:
    sandbox, server = world
    store = Store(f"sqlite:///{tmp_path / 'afas.db'}")
    await sync(store, sandbox, server, mapping)
    values = mapping.writeback.category_values
    for forecast in sandbox.world.forecasts.values():
        category, probability = sandbox.remote_values(forecast.key)
        if forecast.result == "G":
            assert (category, probability) == (values["closed"], "100")  # type: ignore[index]
        elif forecast.result == "N":
            assert (category, probability) == (values["omitted"], "0")  # type: ignore[index]
        else:
            assert category in values.values()
            assert probability is not None
            assert Decimal(probability) == Decimal(probability).to_integral_value()
    store.close()
