"""Owner names and emails from HubSpot's owners API (GET /crm/v3/owners), active and archived owners alike."""

from __future__ import annotations

import logging
from pathlib import Path

import httpx
import pytest
import respx

from crmsync.errors import AuthError
from crmsync.mapping import Mapping
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox

BASE = "https://hubspot.test"


def connector(mapping: Mapping, base_url: str, token: str = "pat-eu1-sandbox-0000") -> HubSpotConnector:
    return HubSpotConnector("hs", HubSpotSettings(base_url=base_url, token=token, max_retries=0), mapping)


async def test_synced_deals_carry_the_owners_name_and_email(
    served: tuple[HubSpotSandbox, str], mapping: Mapping, tmp_path: Path
) -> None:
    _, url = served
    async with connector(mapping, url) as made:
        reference = await made.reference()
    assert reference.owners["101"].name == "Fatima El Amrani"
    assert reference.owners["101"].email == "fatima@example.com"
    assert reference.owners["105"].name == "Kees de Zwart", "archived owners are read too"
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    async with connector(mapping, url) as made:
        await SyncEngine(store, made).run()
    deals = [deal for chunk in store.stored_deal_chunks("hs", skip_run=-1) for deal in chunk]
    assert deals and all(d.owner is not None and d.owner.email for d in deals)
    by_id = {d.owner.id: d.owner for d in deals if d.owner}
    assert by_id["102"].name == "Jan Jansen" and by_id["102"].email == "jan@example.com"
    store.close()


async def test_without_the_owners_scope_deals_keep_ids_and_the_run_goes_on(
    served: tuple[HubSpotSandbox, str], mapping: Mapping, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    box, url = served
    box.owners_scope = False
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with caplog.at_level(logging.WARNING):
        async with connector(mapping, url) as made:
            result = await SyncEngine(store, made).run()
    assert result.stored == len(box.deal_ids())
    assert "crm.objects.owners.read" in caplog.text
    deals = [deal for chunk in store.stored_deal_chunks("hs", skip_run=-1) for deal in chunk]
    assert deals and all(d.owner is None or d.owner.name is None for d in deals)
    store.close()


@respx.mock
async def test_owners_are_read_page_by_page_and_a_401_still_stops(mapping: Mapping) -> None:
    def page(request: httpx.Request) -> httpx.Response:
        archived = request.url.params["archived"] == "true"
        after = request.url.params.get("after")
        assert request.url.params["limit"] == "500"
        if archived:
            return httpx.Response(200, json={"results": [{"id": "9", "firstName": "Old", "email": "old@x.nl"}]})
        if after is None:
            return httpx.Response(
                200,
                json={
                    "results": [{"id": "1", "firstName": "Eva", "lastName": "Smit", "email": "eva@x.nl"}],
                    "paging": {"next": {"after": "1"}},
                },
            )
        return httpx.Response(200, json={"results": [{"id": "2", "firstName": "Tom", "email": "not-an-email"}]})

    respx.get(f"{BASE}/crm/v3/pipelines/deals").mock(return_value=httpx.Response(200, json={"results": []}))
    respx.get(f"{BASE}/crm/v3/properties/deals").mock(return_value=httpx.Response(200, json={"results": []}))
    owners = respx.get(f"{BASE}/crm/v3/owners").mock(side_effect=page)
    async with connector(mapping, BASE) as made:
        reference = await made.reference()
    assert owners.call_count == 3
    assert {k: (v.name, v.email) for k, v in reference.owners.items()} == {
        "1": ("Eva Smit", "eva@x.nl"),
        "2": ("Tom", None),
        "9": ("Old", "old@x.nl"),
    }
    owners.mock(return_value=httpx.Response(401, json={"status": "error", "message": "expired"}))
    async with connector(mapping, BASE) as made:
        with pytest.raises(AuthError):
            await made.reference()
