"""Owner names and emails from Pipedrive's users (GET /api/v1/users; v2 has no users endpoint)."""

from __future__ import annotations

from pathlib import Path

import httpx

from crmsync.mapping import Mapping
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync_pipedrive.connector import PipedriveConnector, PipedriveSettings
from crmsync_pipedrive.sandbox import PipedriveSandbox


async def test_synced_deals_carry_the_users_name_and_email(
    sandbox: PipedriveSandbox, base_url: str, mapping: Mapping, tmp_path: Path
) -> None:
    async with httpx.AsyncClient(base_url=base_url) as http:
        users = (await http.get("/api/v1/users", headers={"x-api-token": sandbox.state.api_token})).json()
        assert (await http.get("/api/v1/users")).status_code == 401
    assert users["success"] is True and {u["id"] for u in users["data"]} == {101, 102, 103, 104, 105}

    settings = PipedriveSettings.model_validate(sandbox.settings(base_url))
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    async with PipedriveConnector("pd", settings, mapping) as connector:
        reference = await connector.reference()
        assert reference.owners["105"].name == "Mark Smit", "deactivated users keep their name"
        await SyncEngine(store, connector).run()
    deals = [deal for chunk in store.stored_deal_chunks("pd", skip_run=-1) for deal in chunk]
    owners = {d.owner.id: d.owner for d in deals if d.owner}
    assert owners and all(o.email and o.name for o in owners.values())
    assert (owners["101"].name, owners["101"].email) == ("Anne Visser", "anne@example.com")
    store.close()
