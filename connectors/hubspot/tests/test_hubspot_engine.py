"""HubSpot end to end through the engine (moved from the core's tests/test_sync_e2e.py, which now runs on the
fake connector): what depends on HubSpot's property history, its record format and its search/list split.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hubspot_support import HUBSPOT_MAPPING, Served, same_values, serve_hubspot

from crmsync.connector import DealUpdate, WriteOutcome
from crmsync.mapping import Mapping, Overrides, StageRule, load_mapping
from crmsync.model import ForecastCategory
from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.sync import SyncEngine
from crmsync.sync.engine import RunResult
from crmsync_hubspot.connector import HubSpotConnector
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.sandbox.state import Record


@pytest.fixture
def served() -> Iterator[Served]:
    yield from serve_hubspot()


@pytest.fixture
def hubspot_mapping() -> Mapping:
    return load_mapping(HUBSPOT_MAPPING)


async def sync(served: Served, store: Store, mapping: Mapping, **options: Any) -> RunResult:
    async with served.connector(mapping) as connector:
        return await SyncEngine(store, connector, **options).run()


def set_remote(served: Served, deal_id: str, category: str | None, probability: str | None, source: str) -> None:
    """Set the deal's forecast fields as an integration ('INTEGRATION') or a person ('CRM_UI') would."""
    with served.box.lock:
        record = served.box.state.records[deal_id]
        served.box.state.update(
            record, {"hs_manual_forecast_category": category, "hs_forecast_probability": probability}, source
        )


def other_category(value: str) -> str:
    return "COMMIT" if value != "COMMIT" else "PIPELINE"


async def test_first_sync_writes_exactly_the_deals_whose_values_differ(
    served: Served, sqlite_store: Store, hubspot_mapping: Mapping
) -> None:
    today = date.today()
    reference = await served.reference(hubspot_mapping)
    wanted = served.expected(hubspot_mapping, reference, today)
    ids = sorted(wanted)
    already_right, category_only_right = ids[:5], ids[5:8]
    for deal_id in already_right:  # set by an integration: not a person's override
        set_remote(served, deal_id, wanted[deal_id][0], str(wanted[deal_id][1]), "INTEGRATION")
    for deal_id in category_only_right:
        set_remote(served, deal_id, wanted[deal_id][0], None, "INTEGRATION")
    before = served.remote()
    history_before = {i: len(served.box.state.records[i].history.get("hs_manual_forecast_category", [])) for i in ids}

    result = await sync(served, sqlite_store, hubspot_mapping, today=today)
    after = served.remote()

    assert result.status == "ok"
    assert all(same_values(after[i], wanted[i]) for i in ids), "every deal ends with the rules' values"
    changed = {i for i in ids if before[i] != after[i]}
    assert changed == set(ids) - set(already_right)
    assert result.written == len(changed)
    # the deals whose category was already right only received the probability
    ledger = sqlite_store.ledger(result.run_id)
    written_fields = {(row["source_id"], row["field"]) for row in ledger if row["outcome"] == "written"}
    assert {row["outcome"] for row in ledger} == {"written"}
    for deal_id in category_only_right:
        assert (deal_id, "probability") in written_fields
        assert (deal_id, "category") not in written_fields
        history = served.box.state.records[deal_id].history["hs_manual_forecast_category"]
        assert len(history) == history_before[deal_id], "the category was not written again"
    assert not {i for i, _ in written_fields} & set(already_right)
    assert result.fetched == result.stored == len(ids)


async def test_manual_override_is_respected_then_enforced(
    served: Served, sqlite_store: Store, hubspot_mapping: Mapping
) -> None:
    today = date.today()
    await sync(served, sqlite_store, hubspot_mapping, today=today)
    deal_id = served.box.deal_ids()[0]
    ours_category, ours_probability = served.box.remote_values(deal_id)
    assert ours_category is not None
    assert ours_probability is not None
    by_hand = other_category(ours_category)
    served.box.edit_by_hand(deal_id, category=by_hand)

    respected = await sync(served, sqlite_store, hubspot_mapping, today=today)

    assert served.box.remote_values(deal_id) == (by_hand, ours_probability)
    assert respected.written == 0
    rows = [row for row in sqlite_store.ledger(respected.run_id) if row["source_id"] == deal_id]
    assert [(r["field"], r["outcome"], r["old_value"], r["new_value"]) for r in rows] == [
        ("category", "respected", by_hand, ours_category)
    ]
    assert "set by hand" in rows[0]["reason"]
    assert "respect" in rows[0]["reason"]
    # the store keeps the forecast as it stands in the CRM: the person's category
    enforce = hubspot_mapping.model_copy(update={"overrides": Overrides(category="enforce", probability="enforce")})
    enforced = await sync(served, sqlite_store, enforce, today=today)

    assert enforced.full, "a changed mapping re-reads every deal"
    assert served.box.remote_values(deal_id) == (ours_category, ours_probability)
    assert enforced.written == 1
    history = served.box.state.records[deal_id].history["hs_manual_forecast_category"]
    assert history[0]["sourceType"] == "INTEGRATION"
    assert history[0]["value"] == ours_category


async def test_malformed_records_are_quarantined_with_their_reason(
    served: Served, sqlite_store: Store, hubspot_mapping: Mapping
) -> None:
    state = served.box.state
    template = state.records[served.box.deal_ids()[0]]

    def inject(deal_id: str, **changes: str) -> None:
        properties = {**template.properties, **changes, "hs_object_id": deal_id}
        state.records[deal_id] = Record(deal_id, properties, template.created_at, template.updated_at)

    inject("99000001", amount="abc")
    inject("99000002", dealstage="nosuchstage")

    result = await sync(served, sqlite_store, hubspot_mapping)

    assert result.quarantined == 2
    assert result.fetched == result.stored + result.quarantined
    assert result.status == "partial"
    reasons = {row["source_id"]: row["reason"] for row in sqlite_store.quarantined(result.run_id)}
    assert reasons["99000001"] == "amount: 'abc' is not a number"
    assert reasons["99000002"].startswith("dealstage: unknown stage 'nosuchstage'")
    payloads = {row["source_id"]: row["payload"] for row in sqlite_store.quarantined(result.run_id)}
    assert payloads["99000001"]["properties"]["amount"] == "abc"
    assert served.box.remote_values("99000001") == (None, None), "a quarantined deal is never written"
    assert sqlite_store.count_deals("hubspot") == result.stored


class DiesAfterFirstBatch(HubSpotConnector):
    """Writes in batches of 10 and 'dies' (a non-crmsync exception) on the second batch."""

    capabilities = HubSpotConnector.capabilities.model_copy(update={"write_batch_size": 10})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.batches = 0

    async def write(self, batch: Sequence[DealUpdate]) -> list[WriteOutcome]:
        self.batches += 1
        if self.batches > 1:
            raise RuntimeError("the process was killed")
        return await super().write(batch)


async def test_a_run_that_dies_half_way_converges_when_started_again(
    served: Served, sqlite_store: Store, hubspot_mapping: Mapping, tmp_path: Path
) -> None:
    # the reference: an identical sandbox (same seed as the `served` fixture) synced without trouble
    box = HubSpotSandbox(deals=40, seed=11)
    with serve(box.app()) as server:
        clean = Served(box, server.base_url)
        clean_store = Store(f"sqlite:///{tmp_path / 'clean.db'}")
        await sync(clean, clean_store, hubspot_mapping)
        clean_store.close()
        expected = clean.remote()

    before = served.remote()
    async with served.connector(hubspot_mapping, cls=DiesAfterFirstBatch) as connector:
        with pytest.raises(RuntimeError, match="killed"):
            await SyncEngine(sqlite_store, connector).run()
    half = served.remote()
    assert 0 < sum(half[i] != before[i] for i in half) < len(half), "the first batch reached the CRM, not more"
    died = sqlite_store.runs("hubspot")[0]
    assert died["status"] == "failed"
    assert "killed" in died["error"]
    assert sqlite_store.cursor("hubspot") is None, "the cursor does not move past unrecorded writes"

    again = await sync(served, sqlite_store, hubspot_mapping)

    assert again.status == "ok"
    assert again.failed == 0
    assert served.remote() == expected
    assert again.written == len(half) - 10, "the deals the dead run wrote are already right"
    assert (await sync(served, sqlite_store, hubspot_mapping)).written == 0


async def test_a_mapping_change_recomputes_every_deal(
    served: Served, sqlite_store: Store, hubspot_mapping: Mapping
) -> None:
    today = date.today()
    await sync(served, sqlite_store, hubspot_mapping, today=today)
    incremental = await sync(served, sqlite_store, hubspot_mapping, today=today, overlap=timedelta(0))
    assert not incremental.full
    assert incremental.written == 0

    stages = [
        rule.model_copy(update={"probability": Decimal("0.95")}) if rule.stage == "contractsent" else rule
        for rule in hubspot_mapping.stages
    ]
    stages.insert(0, StageRule(pipeline="*", stage="Consultatie gepland", category=ForecastCategory.COMMIT))
    changed = hubspot_mapping.model_copy(update={"stages": stages})
    assert changed.digest() != hubspot_mapping.digest()
    listings = served.box.requests["list"]

    recomputed = await sync(served, sqlite_store, changed, today=today, overlap=timedelta(0))

    assert recomputed.full
    assert served.box.requests["list"] > listings, "a full re-read lists instead of searching"
    assert recomputed.fetched == len(served.box.deal_ids())
    assert recomputed.written > 0
    reference = await served.reference(changed)
    wanted = served.expected(changed, reference, today)
    remote = served.remote()
    assert all(same_values(remote[i], wanted[i]) for i in wanted)
    stored = sqlite_store.run(recomputed.run_id)
    assert stored is not None
    assert stored["mapping_digest"] == changed.digest()
