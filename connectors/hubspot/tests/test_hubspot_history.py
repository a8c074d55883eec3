"""Full reads list 100 deals a page without history; only deals whose value crmsync did not write are read again
by id with their history (50 a request at most), which tells a person's edit from a machine's."""

from __future__ import annotations

from pathlib import Path

from crmsync.mapping import Mapping
from crmsync.sandbox import serve
from crmsync.store import Outcome, Store
from crmsync.sync import SyncEngine
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox


async def test_history_is_read_only_for_unexplained_values_50_at_most(mapping: Mapping, tmp_path: Path) -> None:
    box = HubSpotSandbox(deals=230, seed=5)
    ids = box.deal_ids()
    by_person = ids[:70]  # set in HubSpot's UI before crmsync ever ran: respected
    by_machine = ids[70:75]  # set by another integration: taken over
    wanted = {"pipeline", "bestcase", "commit"}
    for deal_id in by_person:
        current = box.remote_values(deal_id)[0]
        box.edit_by_hand(deal_id, category=next(v for v in sorted(wanted) if v != current))
    with box.lock:
        for deal_id in by_machine:
            record = box.state.records[deal_id]
            current = record.properties.get("hs_manual_forecast_category")
            other = next(v for v in sorted(wanted) if v != current)
            box.state.update(record, {"hs_manual_forecast_category": other}, "INTEGRATION")
    before = {deal_id: box.remote_values(deal_id)[0] for deal_id in ids}
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with serve(box.app()) as server:
        settings = HubSpotSettings(base_url=server.base_url, token=box.token)
        async with HubSpotConnector("hs", settings, mapping) as connector:
            result = await SyncEngine(store, connector).run()
        listed = box.requests["list"]
    assert result.failed == 0
    assert box.history_reads and max(box.history_reads) <= 50, box.history_reads
    assert sum(box.history_reads) <= len(by_person) + len(by_machine) + 10, "only unexplained deals are read again"
    assert listed == 4, "230 deals in 3 pages of 100, and the archived sweep"
    outcomes = {(r["source_id"], r["field"]): r["outcome"] for r in store.ledger(result.run_id)}
    respected = [i for i in by_person if outcomes.get((i, "category")) == Outcome.RESPECTED]
    assert len(respected) == sum(1 for i in by_person if (i, "category") in outcomes)
    assert all(box.remote_values(i)[0] == before[i] for i in by_person)
    taken_over = [i for i in by_machine if outcomes.get((i, "category")) == Outcome.WRITTEN]
    assert taken_over == [i for i in by_machine if (i, "category") in outcomes] and taken_over
    store.close()
