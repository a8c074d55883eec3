"""The store's parts, its read API, and migration 0003 (a deal stored once), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import MetaData, Table, create_engine, insert, inspect, select
from support import make_deal

from crmsync.model import Deal, DealStatus, Forecast, ForecastCategory, Owner
from crmsync.store import Outcome, RunStatus, Store
from crmsync.store import schema as t
from crmsync.store.base import MIGRATIONS
from crmsync.store.cursors import Cursors
from crmsync.store.ledger import Ledger
from crmsync.store.locks import Locks
from crmsync.store.runs import Runs
from crmsync.store.snapshot import Snapshot

D = Decimal
STAMP = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def full_deal(**fields: object) -> Deal:
    values: dict[str, object] = {
        "source_id": "7",
        "owner": Owner(id="u1", name="Anna", email="anna@example.com"),
        "close_date": date(2026, 6, 30),
        "created_at": STAMP,
        "updated_at": STAMP,
        "remote_category": "COMMIT",
        "remote_probability": D("0.9"),
        "writable": False,
        "probability_writable": False,
        "lost_reason": None,
        "group": "Benelux",
        "extra": {"source": "web"},
        **fields,
    }
    return make_deal("contractsent", **values)


def forecast() -> Forecast:
    return Forecast(
        category=ForecastCategory.COMMIT,
        probability=D("0.9"),
        weighted_amount=D("9000.00"),
        month="2026-06",
        rule_ids=("stage:default/contractsent",),
    )


def test_the_store_is_composed_of_parts(store: Store) -> None:
    parts = store.parts
    assert (type(parts.runs), type(parts.locks), type(parts.cursors)) == (Runs, Locks, Cursors)
    assert (type(parts.snapshot), type(parts.ledger)) == (Snapshot, Ledger)
    run_id = store.start_run("hubspot", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    assert parts.runs.run(run_id) == store.run(run_id)
    store.finish_run(run_id, RunStatus.OK, {"fetched": 0, "reevaluated": 3})
    stored = store.run(run_id)
    assert stored is not None
    assert stored["status"] == RunStatus.OK
    assert stored["reevaluated"] == 3


def test_a_deal_is_stored_once_and_read_back_whole(store: Store) -> None:
    deal = full_deal()
    run_id = store.start_run("hubspot", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    store.save_page(run_id, "d", [(deal, forecast())], {})

    assert "data" not in {column["name"] for column in inspect(store.engine).get_columns("deals")}
    (chunk,) = list(store.stored_deal_chunks("hubspot", skip_run=-1))
    assert chunk == [deal]


def test_a_won_deal_reads_back_won_from_its_status(store: Store) -> None:
    won = make_deal("closedwon", source_id="8", updated_at=STAMP)
    run_id = store.start_run("hubspot", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    store.save_page(run_id, "d", [(won, forecast())], {})
    (chunk,) = list(store.stored_deal_chunks("hubspot", skip_run=-1))
    assert chunk[0].status is DealStatus.WON
    assert chunk[0].stage.closed and chunk[0].stage.won


def test_the_report_reads_through_the_read_api(store: Store) -> None:
    run_id = store.start_run("hubspot", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    store.save_page(run_id, "d", [(full_deal(), forecast())], {})
    store.finish_run(run_id, RunStatus.OK, {})

    (deal,) = store.reads.deals()
    assert (deal["source_id"], deal["amount"], deal["probability"], deal["rule_ids"]) == (
        "7",
        D("10000"),
        D("0.9"),
        ("stage:default/contractsent",),
    )
    assert deal["created_at"] == STAMP
    assert store.reads.deals(["other"]) == []
    (run,) = store.reads.latest_runs()
    assert (run["id"], run["status"]) == (run_id, RunStatus.OK)
    (entered,) = store.reads.stage_history()
    assert entered["stage_id"] == "contractsent"
    assert store.reads.category_moves([run_id]) == [], "a new deal is not a move"


def test_outcomes_are_stored_as_their_words(store: Store) -> None:
    from crmsync.store import LedgerRow

    run_id = store.start_run("hubspot", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    (ledger_id,) = store.add_ledger([LedgerRow(run_id, "hubspot", "7", "category", None, "COMMIT", Outcome.PENDING)])
    assert store.pending_rows(run_id)[0]["id"] == ledger_id
    store.abandon_pending(run_id, "stopped")
    (row,) = store.ledger(run_id)
    assert row["outcome"] == "unknown"
    assert store.pending_rows(run_id) == []


def test_migration_0003_keeps_the_deals_of_an_older_store(store: Store) -> None:
    """A store at 0002 (deal rows with a JSON copy) is upgraded: the fields only the copy held move to columns."""
    url = store.url
    store.close()
    engine = create_engine(url)
    with engine.begin() as conn:
        t.metadata.drop_all(conn)
        conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    deal = full_deal(lost_reason="too expensive", lost_to="Rival")
    run_row = {
        "id": 1,
        "connection": "hubspot",
        "kind": "sync",
        "status": "ok",
        "mode": "apply",
        "full": True,
        "started_at": STAMP,
        "fetched": 1,
        "stored": 1,
        "quarantined": 0,
        "deleted": 0,
        "planned": 0,
        "written": 0,
        "skipped": 0,
        "failed": 0,
        "requests": 1,
    }
    deal_row = {
        "connection": "hubspot",
        "source_id": "7",
        "name": deal.name,
        "pipeline_id": "default",
        "pipeline_label": "Sales Pipeline",
        "stage_id": "contractsent",
        "stage_label": "Contract sent",
        "stage_order": 4,
        "status": "open",
        "amount": D("10000"),
        "currency": "EUR",
        "close_date": deal.close_date,
        "owner_id": "u1",
        "owner_name": "Anna",
        "owner_email": "anna@example.com",
        "group_name": "Benelux",
        "created_at": STAMP,
        "updated_at": STAMP,
        "remote_category": "COMMIT",
        "remote_probability": D("0.9"),
        "data": deal.model_dump(mode="json"),
        "last_run_id": 1,
        "synced_at": STAMP,
    }
    with engine.begin() as conn:
        conn.execute(insert(Table("runs", MetaData(), autoload_with=conn)).values(**run_row))
        conn.execute(insert(Table("deals", MetaData(), autoload_with=conn)).values(**deal_row))
    engine.dispose()

    upgraded = Store(url)
    try:
        assert "data" not in {c["name"] for c in inspect(upgraded.engine).get_columns("deals")}
        (chunk,) = list(upgraded.stored_deal_chunks("hubspot", skip_run=-1))
        assert chunk == [deal]
        with upgraded.engine.connect() as conn:
            version = conn.execute(select(Table("alembic_version", MetaData(), autoload_with=conn).c.version_num))
            assert version.scalar_one() == "0006"
        assert "written_stamp" in {c["name"] for c in inspect(upgraded.engine).get_columns("deals")}
    finally:
        upgraded.close()
