"""Values the store cannot hold are handled per deal, the same on SQLite and PostgreSQL: the rest of the page is
stored (it used to fail whole on PostgreSQL)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from sqlalchemy import select
from two_phase_fake import FakeConnector, FakeCrm, Record

from crmsync.connector import Page
from crmsync.store import Store
from crmsync.store import schema as t
from crmsync.sync import SyncEngine


class Doubling(FakeConnector):
    """Lists every page with its first deal twice: first an old version, then the current one."""

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        async for page in super().deals(since, reconcile=reconcile):
            if page.records:
                stale = {**page.records[0], "stage": "won"}
                yield Page(records=[stale, *page.records])
            else:
                yield page


async def test_one_bad_value_quarantines_one_deal_and_the_page_is_stored(store: Store) -> None:
    crm = FakeCrm.seeded(9)
    long_id = "x" * 250
    crm.records[long_id] = Record(long_id)
    crm.records["d0003"].category = "Pipe\x00line"  # a NUL byte in text: kept with an explicit replacement
    crm.records["d0005"].category = "Com\ud800mit"  # a lone surrogate (JSON "\\ud800") likewise
    crm.records["nul\x00id"] = Record("nul\x00id")

    result = await SyncEngine(store, Doubling(crm)).run()

    with store.tx() as conn:
        rows = {r.source_id: r for r in conn.execute(select(t.deals).where(t.deals.c.connection == "fake"))}
    assert sorted(rows) == [f"d{i:04d}" for i in range(9)], "every valid deal of the page is stored"
    old = {r["source_id"]: r["old_value"] for r in store.ledger(result.run_id) if r["field"] == "category"}
    assert old["d0003"] == "Pipe\ufffdline"
    assert old["d0005"] == "Com\ufffdmit"
    assert rows["d0000"].stage_id == "lead", "a deal listed twice in a page keeps its last version"
    reasons = {row["source_id"]: row["reason"] for row in store.quarantined(result.run_id)}
    assert reasons[long_id[:200]].startswith("source_id: an id of 250 characters")
    assert reasons["nul\ufffdid"] == "source_id: an id with a NUL byte or a lone surrogate"
    assert set(reasons) == {long_id[:200], "nul\ufffdid"}  # (a bad deal listed twice is quarantined twice)
    assert result.quarantined == len(store.quarantined(result.run_id))


def test_nothing_changes_for_a_clean_deal() -> None:
    from crmsync.sync.storable import last_versions, problem, without_nul

    crm = FakeCrm.seeded(1)
    connector = FakeConnector(crm)
    raw: dict[str, Any] = {"id": "d0000", "stage": "lead", "updated": None, "category": None, "probability": None}
    from two_phase_fake import PIPELINE, STAGES

    from crmsync.connector import Reference

    deal = connector.to_deal(raw, Reference(pipelines={"p": PIPELINE}, stages=STAGES))
    assert problem(deal) is None and without_nul(deal) is deal and last_versions([deal]) == [deal]


def _plain_deal(**fields: Any) -> Any:
    from crmsync.model import Deal, DealStatus, Pipeline, Stage

    values: dict[str, Any] = {
        "connection": "c",
        "source_id": "1",
        "name": "Deal",
        "pipeline": Pipeline(id="p", label="P"),
        "stage": Stage(id="s", label="S", pipeline_id="p"),
        "status": DealStatus.OPEN,
    }
    return Deal(**{**values, **fields})


def test_text_the_store_cannot_hold_is_found_in_nested_fields_too() -> None:
    from datetime import UTC, datetime

    from crmsync.model import Owner, Stage
    from crmsync.sync.storable import without_nul

    base = _plain_deal(updated_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert without_nul(base) is base
    for dirty in (
        base.model_copy(update={"owner": Owner(id="o", name="A\x00n")}),
        base.model_copy(update={"extra": {"note": "x\ud800y"}}),
        base.model_copy(update={"stage": Stage(id="s", label="S\x00", pipeline_id="p")}),
    ):
        cleaned = without_nul(dirty)
        assert cleaned is not dirty
        assert "\x00" not in cleaned.model_dump_json() and "\\ud800" not in cleaned.model_dump_json()
        assert "\ufffd" in cleaned.model_dump_json()


def test_a_shared_stage_found_clean_is_skipped_but_a_dirty_one_never_is() -> None:
    from crmsync.model import Deal, DealStatus, Pipeline, Stage
    from crmsync.sync import storable

    pipeline = Pipeline(id="p", label="P")
    clean, dirty = Stage(id="s", label="S", pipeline_id="p"), Stage(id="s", label="S\x00", pipeline_id="p")
    deal = Deal(connection="c", source_id="1", name="D", pipeline=pipeline, stage=clean, status=DealStatus.OPEN)
    assert storable.without_nul(deal) is deal
    assert storable._CLEAN_PARTS.get(id(clean)) is clean, "a clean shared stage is remembered"
    assert storable._CLEAN_PARTS.get(id(pipeline)) is pipeline
    for _ in range(2):  # a dirty stage is not remembered: every deal that carries it is cleaned
        other = deal.model_copy(update={"source_id": "2", "stage": dirty})
        assert storable.without_nul(other).stage.label == "S\ufffd"
    assert id(dirty) not in storable._CLEAN_PARTS
    renamed = deal.model_copy(update={"name": "D\x00"})  # the deal's own text is read even when its stage is known
    assert storable.without_nul(renamed).name == "D\ufffd"
    from crmsync.model import Owner

    anne, bad = Owner(id="7", name="Anne"), Owner(id="8", name="B\x00")
    assert storable.without_nul(deal.model_copy(update={"owner": anne})).owner is anne
    assert storable._CLEAN_PARTS.get(id(anne)) is anne, "a clean shared owner is remembered"
    for _ in range(2):
        assert storable.without_nul(deal.model_copy(update={"owner": bad})).owner.name == "B\ufffd"
    assert id(bad) not in storable._CLEAN_PARTS


def test_problem_names_the_field_that_cannot_be_stored() -> None:
    from crmsync.model import Owner, Pipeline, Stage
    from crmsync.sync.storable import problem

    deal = _plain_deal(owner=Owner(id="o" * 200), remote_category="c" * 100)
    assert problem(deal) is None, "an id of 200 characters and a category of 100 fit"
    cases = {
        "source_id: an id with a NUL": {"source_id": "1\x00"},
        "pipeline: an id with a NUL": {"pipeline": Pipeline(id="p\ud800", label="P")},
        "stage: an id of 201 characters": {"stage": Stage(id="s" * 201, label="S", pipeline_id="p")},
        "owner: an id with a NUL": {"owner": Owner(id="\x00")},
        "owner: an id of 201 characters": {"owner": Owner(id="o" * 201)},
        "remote_category: 101 characters": {"remote_category": "c" * 101},
    }
    for expected, update in cases.items():
        found = problem(deal.model_copy(update=update))
        assert found is not None and found.startswith(expected), (expected, found)
