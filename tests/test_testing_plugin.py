"""The crmsync.testing plugin's fixtures and the fake CRM's knobs, as other suites use them."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from crmsync.connector import Connector
from crmsync.errors import AuthError
from crmsync.http import RateLimiter
from crmsync.mapping import Mapping
from crmsync.registry import Registry
from crmsync.sandbox import Sandbox
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync.testing.fake import FakeConnector, fake_mapping
from crmsync.testing.fake_crm import FakeCrm


async def test_connector_fixture_reaches_the_served_sandbox(connector: Connector, sandbox: Sandbox) -> None:
    assert isinstance(connector, FakeConnector)
    assert sandbox.base_url.startswith("http://127.0.0.1:")  # type: ignore[attr-defined]
    before = sandbox.answered
    await connector.check()
    assert sandbox.answered == before + 1


def test_mapping_fixture_is_the_connectors_own(mapping: Mapping) -> None:
    assert mapping.connector == "fake"
    assert mapping == fake_mapping()


async def test_store_fixture_runs_a_sync(store: Store, connector: Connector, sandbox: Sandbox) -> None:
    result = await SyncEngine(store, connector).run()
    assert result.status == "ok"
    assert store.count_deals("fake") == len(sandbox.deal_ids())


async def test_fast_limits_never_wait_and_count(fast_limits: Counter[str]) -> None:
    limiter = RateLimiter(1, 3600.0)  # a second slot only after an hour
    limiter.pause(3600.0)
    for _ in range(3):
        await limiter.acquire()
    assert fast_limits["acquired"] == 3
    assert fast_limits["paused"] == 1


async def test_in_process_transport_through_an_explicit_registry() -> None:
    crm = FakeCrm(deals=5)
    registry = Registry({"fake": FakeConnector.using(crm.transport())})
    connector = registry.build("fake", "fake", crm.settings("http://fake.invalid"), fake_mapping())
    try:
        pages = [page async for page in connector.deals(None)]
        assert sorted(r["id"] for p in pages for r in p.records) == crm.deal_ids()
        assert crm.requests["list"] == 1
    finally:
        await connector.aclose()


async def test_fake_knobs_edit_remotely_and_revoke(connector: Connector, sandbox: Sandbox) -> None:
    assert isinstance(sandbox, FakeCrm)
    deal_id = sandbox.deal_ids()[0]
    sandbox.edit(deal_id, title="Renamed by a person", forecast="COMMIT")
    reference = await connector.reference()
    pages = [page async for page in connector.deals(None)]
    raw = next(r for p in pages for r in p.records if r["id"] == deal_id)
    deal = connector.to_deal(raw, reference)
    assert (deal.name, deal.remote_category) == ("Renamed by a person", "COMMIT")
    assert sandbox.history[deal_id] == [("forecast", "COMMIT", "ui")]
    sandbox.faults.script = ["401"]
    with pytest.raises(AuthError):
        await connector.check()


async def test_the_fake_refuses_unknown_fields_and_the_wrong_token(sandbox: Sandbox) -> None:
    base = sandbox.base_url  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=base) as client:
        assert (await client.get("/v1/me", headers={"Authorization": "Bearer wrong"})).status_code == 401
        token = {"Authorization": f"Bearer {sandbox.settings(base)['token']}"}
        answer = await client.patch(f"/v1/deals/{sandbox.deal_ids()[0]}", json={"title": "x"}, headers=token)
        assert answer.status_code == 400
        assert "title" in answer.json()["error"]
