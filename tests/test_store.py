"""The state store, against SQLite and (when CRMSYNC_TEST_POSTGRES_URL is set) PostgreSQL.

CRMSYNC_TEST_POSTGRES_URL names an empty scratch database, e.g.
postgresql+psycopg://crmsync:crmsync@127.0.0.1/crmsync_test; every test drops crmsync's tables before and after.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update
from support import make_deal

from crmsync.errors import ConfigError, LockedError
from crmsync.model import Deal, DealStatus, Forecast, ForecastCategory
from crmsync.store import LedgerRow, Marks, Outcome, Store, ledger
from crmsync.store import schema as t

D = Decimal


def forecast(category: ForecastCategory = ForecastCategory.COMMIT, probability: str = "0.9") -> Forecast:
    return Forecast(
        category=category,
        probability=D(probability),
        weighted_amount=D("9000.00"),
        month="2026-06",
        rule_ids=("stage:default/contractsent",),
    )


def new_run(store: Store, mode: str = "apply") -> int:
    return store.start_run("hubspot", kind="sync", mode=mode, full=True, digest="abc", cursor_before=None)


def count(store: Store, table: object) -> int:
    with store.engine.connect() as conn:
        return len(conn.execute(select(table)).all())  # type: ignore[call-overload]


def test_migrations_create_every_table(store: Store) -> None:
    tables = set(inspect(store.engine).get_table_names())
    assert set(t.metadata.tables) <= tables
    assert "alembic_version" in tables
    store.migrate()  # migrating an up-to-date store is a no-op
    assert set(t.metadata.tables) <= set(inspect(store.engine).get_table_names())


def test_an_unusable_url_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"crmsync\.toml, key .store\.url.: not a usable SQLAlchemy URL") as info:
        Store("nosuchdialect://somewhere/db", config_file="crmsync.toml")
    assert info.value.exit_code == 2


def test_locks(store: Store) -> None:
    stale = timedelta(minutes=5)
    store.acquire_lock("scheduler", "host:1:a", stale)
    store.acquire_lock("scheduler", "host:1:a", stale)  # the holder may take it again

    with pytest.raises(LockedError, match="scheduler is held by host:1:a since") as caught:
        store.acquire_lock("scheduler", "host:2:b", stale)
    assert caught.value.exit_code == 1
    store.acquire_lock("run:hubspot", "host:2:b", stale)  # other locks are independent

    store.release_lock("scheduler", "host:2:b")  # not the holder: no effect
    with pytest.raises(LockedError):
        store.acquire_lock("scheduler", "host:2:b", stale)

    store.release_lock("scheduler", "host:1:a")
    store.acquire_lock("scheduler", "host:2:b", stale)


def _age_lock(store: Store, name: str, minutes: int) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            update(t.locks)
            .where(t.locks.c.name == name)
            .values(heartbeat_at=datetime.now(UTC) - timedelta(minutes=minutes))
        )


def test_a_stale_lock_is_taken_over_and_a_heartbeat_keeps_it(store: Store) -> None:
    stale = timedelta(minutes=5)
    store.acquire_lock("scheduler", "dead", stale)
    _age_lock(store, "scheduler", 10)

    store.acquire_lock("scheduler", "alive", stale)

    with pytest.raises(LockedError, match="held by alive"):
        store.acquire_lock("scheduler", "dead", stale)
    _age_lock(store, "scheduler", 10)
    assert store.heartbeat("scheduler", "alive") is True
    with pytest.raises(LockedError):
        store.acquire_lock("scheduler", "third", stale)
    assert store.heartbeat("scheduler", "dead") is False, "a holder that lost the lock is told so"


def test_runs_are_recorded(store: Store) -> None:
    first = new_run(store)
    assert store.run(first)["status"] == "running"  # type: ignore[index]
    store.finish_run(first, "ok", {"fetched": 3, "written": 2}, cursor_after=datetime(2026, 5, 1, tzinfo=UTC))
    dry = new_run(store, mode="dry-run")
    store.finish_run(dry, "ok", {})
    run = store.run(first)
    assert run is not None
    assert (run["status"], run["fetched"], run["written"], run["mapping_digest"]) == ("ok", 3, 2, "abc")
    assert [r["id"] for r in store.runs("hubspot")] == [dry, first]
    assert store.runs("pipedrive") == []
    assert store.count_runs("hubspot") == 2
    assert store.last_digest("hubspot") == "abc"
    assert store.run(9999) is None


def test_abandoned_runs_are_marked_failed(store: Store) -> None:
    run = new_run(store)
    store.abandon_stale_runs("hubspot")
    stored = store.run(run)
    assert stored is not None
    assert (stored["status"], stored["error"]) == ("failed", "the process running it stopped")
    assert store.last_digest("hubspot") is None, "a failed run's mapping is not the last one applied"


@pytest.mark.parametrize("runs", [1, 2])
def test_ledger_ids_come_back_in_the_rows_order(store: Store, runs: int) -> None:
    earlier = new_run(store)
    store.add_ledger([LedgerRow(earlier, "hubspot", "0", "category", None, "COMMIT", "written")])
    run_ids = [new_run(store) for _ in range(runs)]
    rows = [
        LedgerRow(run_ids[n % runs], "hubspot", f"d{n:03}", ("category", "probability")[n % 2], None, str(n), "pending")
        for n in range(250)
    ]
    ids = store.add_ledger(rows)
    assert ids == sorted(ids) and len(set(ids)) == 250
    stored = {row["id"]: row for run_id in run_ids for row in store.ledger(run_id)}
    assert [(stored[i]["source_id"], stored[i]["new_value"]) for i in ids] == [(r.source_id, r.new_value) for r in rows]


def test_ledger_rows_added_without_their_ids_are_the_same_rows(store: Store) -> None:
    with_ids, without = new_run(store), new_run(store)
    outcomes = ["pending", "respected", "skipped", "planned"]
    rows = [
        (f"d{n}", ("category", "probability")[n % 2], None if n % 3 else "OLD", str(n), outcomes[n % 4], f"r{n}")
        for n in range(120)
    ]
    assert store.add_ledger([LedgerRow(with_ids, "hubspot", *row) for row in rows]) != []
    assert store.add_ledger([LedgerRow(without, "hubspot", *row) for row in rows], ids=False) == []
    kept = ("source_id", "field", "old_value", "new_value", "outcome", "reason")
    first, second = store.ledger(with_ids), store.ledger(without)
    assert [tuple(r[k] for k in kept) for r in second] == [tuple(r[k] for k in kept) for r in first]
    assert [tuple(r[k] for k in kept) for r in second] == rows


def test_ledger_and_marks(store: Store) -> None:
    one, two = new_run(store), new_run(store)
    rows = [
        LedgerRow(one, "hubspot", "1", "category", None, "COMMIT", "written"),
        LedgerRow(one, "hubspot", "1", "probability", None, "0.90", "written"),
        LedgerRow(one, "hubspot", "2", "category", None, "PIPELINE", "pending"),
        LedgerRow(two, "hubspot", "1", "category", "COMMIT", "OMIT", "failed", "503"),
        LedgerRow(two, "hubspot", "3", "category", None, "COMMIT", "planned"),
        LedgerRow(two, "hubspot", "4", "category", "X", "COMMIT", "skipped", "set by hand"),
    ]
    ids = store.add_ledger(rows)
    assert len(ids) == len(set(ids)) == 6

    assert store.marks("hubspot", ["1", "2", "3", "4"], "category") == {
        "1": Marks(written="COMMIT"),
        "2": Marks(written="PIPELINE"),
    }
    assert store.marks("hubspot", ["1"], "probability") == {"1": Marks(written="0.90")}
    assert store.marks("hubspot", [], "category") == {}
    assert store.marks("pipedrive", ["1"], "category") == {}
    both = store.marks_of("hubspot", ["1", "2", "3", "4"], ("category", "probability"))
    assert both == {f: store.marks("hubspot", ["1", "2", "3", "4"], f) for f in ("category", "probability")}
    assert store.marks_of("hubspot", [], ("category", "probability")) == {"category": {}, "probability": {}}

    store.settle_ledger([(ids[2], "written", None)])
    later = new_run(store)
    store.add_ledger([LedgerRow(later, "hubspot", "1", "category", "COMMIT", "BEST_CASE", "written")])
    assert store.marks("hubspot", ["1", "2"], "category") == {
        "1": Marks(written="BEST_CASE"),
        "2": Marks(written="PIPELINE"),
    }
    assert [r["outcome"] for r in store.ledger(one)] == ["written", "written", "written"]
    assert store.ledger(two)[0]["reason"] == "503"
    assert store.written_after("hubspot", one) == {("1", "category")}


def test_marks_remember_respected_values_and_unknown_writes(store: Store) -> None:
    first = new_run(store)
    store.add_ledger(
        [
            LedgerRow(first, "hubspot", "1", "category", None, "PIPELINE", "written"),
            LedgerRow(first, "hubspot", "2", "category", "COMMIT", "PIPELINE", "respected", "set by hand"),
        ]
    )
    dead = new_run(store)
    store.add_ledger([LedgerRow(dead, "hubspot", "1", "category", "PIPELINE", "COMMIT", "pending")])
    store.abandon_stale_runs("hubspot")  # the process writing run `dead` died mid-write
    assert store.ledger(dead)[0]["outcome"] == "unknown"
    marks = store.marks("hubspot", ["1", "2"], "category")
    assert marks["1"] == Marks(written="PIPELINE", unsure="COMMIT")
    assert marks["2"] == Marks(respected=True)
    later = new_run(store)
    store.add_ledger([LedgerRow(later, "hubspot", "2", "category", "COMMIT", "PIPELINE", "written")])
    assert store.marks("hubspot", ["2"], "category")["2"] == Marks(written="PIPELINE")


def test_together_keeps_a_page_and_its_ledger_rows_or_neither(store: Store) -> None:
    run = new_run(store)
    deals = [make_deal(source_id=str(i), close_date=date(2026, 6, 1)) for i in range(3)]
    rows = [LedgerRow(run, "hubspot", d.source_id, "category", None, "COMMIT", "pending") for d in deals]

    def fail_after_writing() -> None:
        with store.together():
            store.save_page(run, "abc", [(d, forecast()) for d in deals], {})
            store.add_ledger(rows, ids=False)
            seen = store.stored_deals("hubspot", ["0", "1", "2"])
            assert len(seen) == 3, "inside, the calls share one transaction and see each other's rows"
            assert count(store, t.deals) == 0, "another connection sees nothing before the commit"
            raise RuntimeError("the page failed after its rows were written")

    with pytest.raises(RuntimeError, match="page failed"):
        fail_after_writing()
    assert (count(store, t.deals), count(store, t.forecasts), store.ledger(run)) == (0, 0, []), "none kept"

    with store.together():
        store.save_page(run, "abc", [(d, forecast()) for d in deals], {})
        with store.together():  # nested: the same transaction
            store.add_ledger(rows, ids=False)
    assert (count(store, t.deals), len(store.ledger(run))) == (3, 3)


def test_save_page_records_changes_and_stage_moves_only_when_they_happen(store: Store) -> None:
    deals = [make_deal(source_id=str(i), close_date=date(2026, 6, 1)) for i in range(3)]
    run = new_run(store)
    assert store.save_page(run, "abc", [(d, forecast()) for d in deals], {}) == 3
    assert (count(store, t.forecast_changes), count(store, t.stage_history)) == (3, 3)
    assert store.stored_deals("hubspot", ["0"])["0"].stage_id is None, "a stage counts once its run has finished"
    store.finish_run(run, "ok", {})

    run2 = new_run(store)
    previous = store.stored_deals("hubspot", ["0", "1", "2"])
    assert previous["0"].stage_id == "contractsent"
    assert previous["0"].category == "commit"
    assert previous["0"].probability == D("0.9")
    store.save_page(run2, "abc", [(d, forecast()) for d in deals], previous)
    assert (count(store, t.forecast_changes), count(store, t.stage_history)) == (3, 3), "nothing changed"
    store.finish_run(run2, "ok", {})

    moved: Deal = make_deal("decisionmakerboughtin", source_id="1", close_date=date(2026, 6, 1))
    pairs = [
        (deals[0], forecast(probability="0.75")),
        (moved, forecast(ForecastCategory.BEST_CASE, "0.8")),
        (deals[2], forecast()),
    ]
    store.save_page(new_run(store), "abc", pairs, store.stored_deals("hubspot", ["0", "1", "2"]))

    with store.engine.connect() as conn:
        changes = conn.execute(select(t.forecast_changes).order_by(t.forecast_changes.c.id)).all()[3:]
        stages = conn.execute(select(t.stage_history).order_by(t.stage_history.c.id)).all()[3:]
    assert [(c.source_id, c.old_category, c.new_category, c.old_probability, c.new_probability) for c in changes] == [
        ("0", "commit", "commit", D("0.9"), D("0.75")),
        ("1", "commit", "best_case", D("0.9"), D("0.8")),
    ]
    assert [(s.source_id, s.stage_id) for s in stages] == [("1", "decisionmakerboughtin")]
    assert store.count_deals("hubspot") == 3
    assert store.save_page(run, "abc", [], {}) == 0


def test_mark_deleted(store: Store) -> None:
    run = new_run(store)
    store.save_page(run, "abc", [(make_deal(source_id=i), forecast()) for i in ("1", "2", "3")], {})

    assert store.mark_deleted("hubspot", ["1", "2", "404"], run) == 2
    assert store.mark_deleted("hubspot", ["1"], run) == 0, "already deleted"
    assert store.mark_deleted("hubspot", [], run) == 0

    assert store.known_ids("hubspot") == {"3"}
    with store.engine.connect() as conn:
        row = conn.execute(select(t.forecasts).where(t.forecasts.c.source_id == "1")).one()
        status = conn.execute(select(t.deals.c.status).where(t.deals.c.source_id == "1")).scalar_one()
    assert status == DealStatus.DELETED.value
    assert (row.category, row.probability, row.rule_ids) == ("omitted", D(0), ["deleted"])


def test_cursor_round_trip_keeps_utc_awareness(store: Store) -> None:
    assert store.cursor("hubspot") is None
    run = new_run(store)
    amsterdam = timezone(timedelta(hours=2))
    moment = datetime(2026, 5, 15, 14, 30, 15, 123000, tzinfo=amsterdam)

    store.set_cursor("hubspot", moment, run)
    value = store.cursor("hubspot")

    assert value == moment
    assert value is not None
    assert value.utcoffset() == timedelta(0)
    assert value.hour == 12
    later = moment + timedelta(hours=1)
    store.set_cursor("hubspot", later, run)  # upsert, not a second row
    assert store.cursor("hubspot") == later
    assert count(store, t.cursors) == 1


def test_quarantine(store: Store) -> None:
    run = new_run(store)
    store.quarantine(run, "hubspot", "7", "amount: 'abc' is not a number", {"id": "7", "at": datetime(2026, 1, 1)})
    store.quarantine(run, "hubspot", None, "deal object has no 'id'", {"properties": {}})
    rows = store.quarantined(run)
    assert [(r["source_id"], r["reason"]) for r in rows] == [
        ("7", "amount: 'abc' is not a number"),
        (None, "deal object has no 'id'"),
    ]
    assert rows[0]["payload"] == {"id": "7", "at": "2026-01-01 00:00:00"}


def test_deal_timestamps_are_stored_as_utc(store: Store) -> None:
    amsterdam = timezone(timedelta(hours=2))
    created = datetime(2026, 5, 15, 9, 0, tzinfo=amsterdam)
    run = new_run(store)
    store.save_page(run, "abc", [(make_deal(created_at=created, updated_at=created), forecast())], {})
    with store.engine.connect() as conn:
        row = conn.execute(select(t.deals.c.created_at, t.deals.c.updated_at)).one()
        entered = conn.execute(select(t.stage_history.c.entered_at)).scalar_one()
    for value in (row.created_at, row.updated_at, entered):
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value  # SQLite hands back naive UTC
        assert value == created


def test_two_processes_opening_a_new_store_at_once_both_succeed(tmp_path: Path) -> None:
    """A scheduled sync and a manual one may create the same new SQLite store at the same moment."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'race.db'}"
    code = "import sys; from crmsync.store import Store; Store(sys.argv[1]).close(); print('ok')"
    procs = [
        subprocess.Popen([sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0, 0], [err for _, err in results]
    assert all(out.strip() == "ok" for out, _ in results)
    store = Store(url)
    assert "locks" in inspect(store.engine).get_table_names()
    store.close()


def test_settling_gives_each_row_its_own_outcome_and_reason(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settled by set-based updates, one per outcome and reason, in chunks: 1,203 rows with four outcomes."""
    monkeypatch.setattr(ledger, "_IDS_PER_STATEMENT", 50)  # several chunks per outcome
    run = new_run(store)
    rows = [LedgerRow(run, "hubspot", str(n), "category", None, "COMMIT", Outcome.PENDING) for n in range(1203)]
    ids = store.add_ledger(rows)
    verdicts = [
        (Outcome.WRITTEN, None),
        (Outcome.FAILED, "400: bad option"),
        (Outcome.FAILED, "429: slow down"),
        (Outcome.UNKNOWN, "timed out"),
    ]
    wanted = {ledger_id: verdicts[n % 7 % 4] for n, ledger_id in enumerate(ids)}
    store.settle_ledger([(ledger_id, *verdict) for ledger_id, verdict in wanted.items()])
    got = {row["id"]: (row["outcome"], row["reason"]) for row in store.ledger(run)}
    assert got == {ledger_id: (str(outcome), reason) for ledger_id, (outcome, reason) in wanted.items()}
    assert store.pending_rows(run) == []
