"""Owner emails from Simplicate's employees (GET /hrm/employee): a sale names its responsible employee only."""

from __future__ import annotations

from pathlib import Path

from simplicate_support import ROOT

from crmsync.mapping import load_mapping
from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync_simplicate.connector import SimplicateConnector, SimplicateSettings
from crmsync_simplicate.sandbox import SimplicateSandbox


async def test_synced_sales_carry_the_employees_name_and_work_email(tmp_path: Path) -> None:
    sandbox = SimplicateSandbox(deals=20, seed=11)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with serve(sandbox.app()) as server:
        settings = SimplicateSettings.model_validate(sandbox.settings(server.base_url))
        async with SimplicateConnector("sim", settings, load_mapping(ROOT / "mappings" / "simplicate.toml")) as made:
            reference = await made.reference()
            await SyncEngine(store, made).run()
    assert {o.email for o in reference.owners.values()} >= {"jan@example.com", "sanne@example.com"}
    deals = [deal for chunk in store.stored_deal_chunks("sim", skip_run=-1) for deal in chunk]
    owners = {d.owner.id: d.owner for d in deals if d.owner}
    assert owners and all(o.email and o.email.endswith("@example.com") and o.name for o in owners.values())
    store.close()
