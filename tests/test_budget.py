"""Quota-aware writing: a run spends at most its share of the CRM's daily request budget on the connection; the deals
beyond it are `deferred` in the ledger, counted, and written by the next run that has budget left."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from support import Served

from crmsync import periods
from crmsync.store import Outcome, Store
from crmsync.sync import SyncEngine
from crmsync.testing.fake import FakeConnector, fake_mapping


async def run(served: Served, store: Store, budget: int, share: float = 0.5) -> object:
    async with FakeConnector("fake", served.settings(daily_request_budget=budget), fake_mapping()) as connector:
        return await SyncEngine(store, connector, daily_share=share).run()


async def test_writes_over_the_budget_share_are_deferred_counted_and_carried(served: Served, tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    deals = len(served.box.deal_ids())
    patches_before = served.box.requests["write"]

    first = await run(served, store, budget=40)  # a share of 20 requests, a few of them spent on reading

    patches = served.box.requests["write"] - patches_before
    assert first.written == patches and 0 < patches < 20  # one PATCH per deal, within the share
    assert first.deferred == first.planned - first.written > 0
    rows = store.ledger(first.run_id)
    deferred = {r["source_id"] for r in rows if r["outcome"] == Outcome.DEFERRED}
    assert len(deferred) == first.deferred
    assert all("max_daily_share" in r["reason"] for r in rows if r["outcome"] == Outcome.DEFERRED)
    assert store.run(first.run_id)["deferred"] == first.deferred

    same_day = await run(served, store, budget=40)  # the share is spent for the next 24 hours
    assert same_day.written == 0 and same_day.deferred == first.deferred

    later = await run(served, store, budget=10_000)  # a bigger plan (or the next day): the rest goes out
    assert later.deferred == 0 and later.written == first.deferred
    assert not store.deferred_ids("fake")
    expected = served.expected(fake_mapping(), await served.reference(fake_mapping()), periods.today())
    assert sum(1 for i, want in expected.items() if served.remote()[i][0] == want[0]) == deals
    store.close()


async def test_writing_logs_progress_with_what_is_left(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from crmsync.sync import writer

    monkeypatch.setattr(writer, "PROGRESS_EVERY", 0.0)
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    with caplog.at_level(logging.INFO, logger="crmsync.sync"):
        result = await run(served, store, budget=10_000)
    records = [r for r in caplog.records if getattr(r, "event", None) == "run.progress"]
    assert records, "progress while writing"
    fields = [r.fields for r in records]  # type: ignore[attr-defined]
    assert [f["left"] for f in fields] == sorted((f["left"] for f in fields), reverse=True)
    assert fields[-1]["left"] == 0 and fields[-1]["written"] == result.written
    assert all(f["eta_s"] is not None and f["eta_s"] >= 0 for f in fields)
    plan = [r for r in caplog.records if getattr(r, "event", None) == "run.plan"]
    assert plan and plan[0].fields["deals"] == result.planned  # type: ignore[attr-defined]
    store.close()
