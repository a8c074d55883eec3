"""PostgreSQL's planner statistics, gathered by the store as its tables grow (crmsync.store.stats).

Each test runs on both databases: on SQLite it checks that no statistics are gathered (SQLite plans without them
unless ANALYZE was run), on PostgreSQL when they are.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import text
from support import make_deal

from crmsync.model import Forecast, ForecastCategory
from crmsync.store import LedgerRow, RunKind, Store, stats

FORECAST = Forecast(
    category=ForecastCategory.COMMIT,
    probability=Decimal("0.9"),
    weighted_amount=Decimal("900.00"),
    month="2026-06",
    rule_ids=("stage:default/contractsent",),
)


def store_deals(store: Store, run: int, start: int, count: int) -> None:
    """A chunk as the engine stores it: deals, forecasts, changes, stages and ledger rows in one transaction."""
    deals = [make_deal(source_id=str(i), close_date=date(2026, 6, 1)) for i in range(start, start + count)]
    with store.together():
        store.save_page(run, "abc", [(deal, FORECAST) for deal in deals], {})
        rows = [LedgerRow(run, "hubspot", d.source_id, "category", None, "Commit", "pending") for d in deals]
        store.add_ledger(rows, ids=False)


def known_rows(store: Store) -> dict[str, float]:
    """The rows PostgreSQL's statistics count in each growing table (-1: never gathered)."""
    query = text("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(:names) AND relkind = 'r'")
    with store.engine.connect() as conn:
        return {row.relname: row.reltuples for row in conn.execute(query, {"names": list(stats.GROWING)})}


def new_run(store: Store) -> int:
    return store.start_run("hubspot", kind=RunKind.SYNC, mode="apply", full=True, digest="abc", cursor_before=None)


def sqlite_has_no_statistics(store: Store) -> bool:
    with store.engine.connect() as conn:
        return conn.exec_driver_sql("SELECT name FROM sqlite_master WHERE name = 'sqlite_stat1'").first() is None


def test_statistics_are_gathered_each_time_the_tables_may_have_doubled(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stats, "FIRST_GATHER", 20)
    gathered: list[int] = []
    real = stats.PlannerStats.gather

    def counting(self: stats.PlannerStats, engine: Any) -> None:
        gathered.append(self._since)
        real(self, engine)

    monkeypatch.setattr(stats.PlannerStats, "gather", counting)
    run = new_run(store)
    if store.engine.dialect.name == "sqlite":
        store_deals(store, run, 0, 30)
        assert gathered == [] and sqlite_has_no_statistics(store)
        return

    store_deals(store, run, 0, 15)
    assert gathered == [] and known_rows(store)["ledger"] <= 0, "fewer deals than the first gathering needs"
    store_deals(store, run, 15, 10)  # 25 ≥ 20: gathered after this commit
    assert gathered == [25]
    counts = known_rows(store)
    assert counts["deals"] == counts["forecasts"] == counts["stage_history"] == counts["ledger"] == 25
    store_deals(store, run, 25, 20)  # 20 more: fewer than the 25 the tables held
    assert gathered == [25]
    store_deals(store, run, 45, 10)  # 30 since ≥ 25
    assert gathered == [25, 30]
    assert known_rows(store)["deals"] == 55


def test_a_store_opened_on_big_tables_waits_for_them_to_double(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats, "FIRST_GATHER", 5)
    run = new_run(store)
    store_deals(store, run, 0, 40)
    if store.engine.dialect.name == "sqlite":
        assert store._stats is None and sqlite_has_no_statistics(store)
        return
    with store.engine.begin() as conn:
        conn.exec_driver_sql("ANALYZE deals")  # the statistics know 40 deals when the next store opens
    store._stats = stats.PlannerStats()  # as a store opened now would have it
    store_deals(store, run, 40, 30)
    assert store._stats.due is False and known_rows(store)["deals"] == 40, "30 new deals do not double 40"
    store_deals(store, run, 70, 10)
    assert known_rows(store)["deals"] == 80


def test_a_failed_gathering_is_logged_and_the_write_before_it_kept(
    store: Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(stats, "FIRST_GATHER", 5)
    monkeypatch.setattr(stats, "GROWING", ("deals", "no_such_table"))
    run = new_run(store)
    with caplog.at_level("WARNING", logger="crmsync.store"):
        store_deals(store, run, 0, 10)
    assert len(store.stored_deals("hubspot", [str(i) for i in range(10)])) == 10
    if store.engine.dialect.name == "sqlite":
        assert "statistics" not in caplog.text
    else:
        assert "could not gather PostgreSQL's statistics of the store's tables: ProgrammingError" in caplog.text
