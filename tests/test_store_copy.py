"""The store's bulk statements with chunks as a sync writes them: the same rows on SQLite (executemany) and on
PostgreSQL (COPY, `crmsync.store.pgcopy`), round trips of every type, upserts and updates by key, repeated keys,
failures and rolled-back transactions."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import IntegrityError
from support import make_deal

from crmsync.errors import StoreError
from crmsync.model import Deal, Forecast, ForecastCategory, Owner
from crmsync.store import Store, pgcopy
from crmsync.store import schema as t

D = Decimal
CHUNK = 3 * pgcopy.COPY_MIN_ROWS  # enough rows for COPY on PostgreSQL
AMSTERDAM = timezone(timedelta(hours=1))


@pytest.fixture
def copies(store: Store, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The COPY statements PostgreSQL's store sent (none on SQLite): proof of which path the rows took."""
    sent: list[str] = []
    run = pgcopy.run

    def spy(copy: pgcopy.CopyPlan, rows: list[dict[str, Any]], conn: Any) -> bool:
        taken = run(copy, rows, conn)
        if taken:
            sent.append(copy.copy)
        return taken

    monkeypatch.setattr(pgcopy, "run", spy)
    return sent


def new_run(store: Store) -> int:
    return store.start_run("hubspot", kind="sync", mode="apply", full=True, digest="abc", cursor_before=None)


def odd_deal(i: int) -> Deal:
    """Deals whose fields use every stored type: amounts with cents or none, dates, offsets, owners, `extra`."""
    return make_deal(
        source_id=f"d{i:03}",
        name=f"Deal {i} — ‘quoted’ \\ tab\there",
        amount=D(f"{i * 1000}.{i:02}") if i % 4 else None,
        close_date=date(2026, 1 + i % 12, 1 + i % 28) if i % 3 else None,
        created_at=datetime(2025, 3, 1, 12, i % 60, tzinfo=AMSTERDAM),
        updated_at=datetime(2026, 11, 30, 9, i % 60, 5, 123456, tzinfo=UTC),
        owner=Owner(id=f"u{i}", name=f"Owner {i}", email=f"o{i}@example.test") if i % 2 else None,
        remote_category="COMMIT" if i % 5 else None,
        remote_probability=D("0.5") if i % 5 else None,
        extra={"quote": f'it\'s "{i}"', "newline": "a\nb"} if i % 2 else {},
    )


def forecast_of(i: int, probability: str = "0.9") -> Forecast:
    return Forecast(
        category=ForecastCategory.COMMIT,
        probability=D(probability),
        weighted_amount=D(f"{i}.50"),
        month="2026-06",
        rule_ids=("stage:default/contractsent", f"rule-{i % 3}"),
        flags=("flag",) if i % 2 else (),
    )


def test_a_chunk_of_deals_round_trips_every_type(store: Store, copies: list[str]) -> None:
    deals = [odd_deal(i) for i in range(CHUNK)]
    run = new_run(store)
    assert store.save_page(run, "abc", [(d, forecast_of(i)) for i, d in enumerate(deals)], {}) == CHUNK

    back = {deal.source_id: deal for deal in store.deals_by_id("hubspot", [d.source_id for d in deals])}
    for deal in deals:
        got = back[deal.source_id]
        assert (got.name, got.amount, got.close_date, got.owner, got.extra) == (
            deal.name,
            deal.amount,
            deal.close_date,
            deal.owner,
            deal.extra,
        ), deal.source_id
        assert got.created_at == deal.created_at and got.created_at.tzinfo is not None  # the instant, in UTC
        assert (got.updated_at, got.remote_category, got.remote_probability) == (
            deal.updated_at,
            deal.remote_category,
            deal.remote_probability,
        )
    with store.engine.connect() as conn:
        forecasts = {row.source_id: row for row in conn.execute(select(t.forecasts))}
        changes = conn.execute(select(t.forecast_changes)).all()
        stages = conn.execute(select(t.stage_history)).all()
    assert forecasts["d007"].rule_ids == ["stage:default/contractsent", "rule-1"]
    assert (forecasts["d007"].flags, forecasts["d008"].flags) == (["flag"], [])
    assert forecasts["d007"].weighted_amount == D("7.50") and forecasts["d007"].mapped is True
    assert (len(changes), len(stages)) == (CHUNK, CHUNK)
    if store.engine.dialect.name == "postgresql":
        assert any(sql.startswith("COPY crmsync_copy_deals_") for sql in copies), "deals went by COPY"
        assert "COPY forecast_changes (" in " ".join(copies) and "COPY stage_history (" in " ".join(copies)
    else:
        assert copies == []


def test_a_second_chunk_updates_the_rows_it_names_and_keeps_the_others(store: Store, copies: list[str]) -> None:
    deals = [odd_deal(i) for i in range(CHUNK)]
    run = new_run(store)
    store.save_page(run, "abc", [(d, forecast_of(i)) for i, d in enumerate(deals)], {})
    store.finish_run(run, "ok", {})

    renamed = [d.model_copy(update={"name": f"renamed {d.source_id}"}) for d in deals[: CHUNK - 2]]
    previous = store.stored_deals("hubspot", [d.source_id for d in renamed])
    run2 = new_run(store)
    store.save_page(run2, "abc", [(d, forecast_of(i, "0.7")) for i, d in enumerate(renamed)], previous)

    names = {d.source_id: d.name for d in store.deals_by_id("hubspot", [d.source_id for d in deals])}
    assert names["d000"] == "renamed d000" and names[f"d{CHUNK - 1:03}"] == deals[-1].name
    stored = store.stored_deals("hubspot", [d.source_id for d in deals])
    assert stored["d000"].probability == D("0.7") and stored[f"d{CHUNK - 1:03}"].probability == D("0.9")
    with store.engine.connect() as conn:
        moves = conn.execute(select(t.forecast_changes).where(t.forecast_changes.c.run_id == run2)).all()
    assert len(moves) == CHUNK - 2 and {m.old_probability for m in moves} == {D("0.9")}
    assert store.count_deals("hubspot") == CHUNK


def test_writes_recorded_by_key_change_only_their_columns(store: Store, copies: list[str]) -> None:
    deals = [odd_deal(i) for i in range(CHUNK)]
    store.save_page(new_run(store), "abc", [(d, forecast_of(i)) for i, d in enumerate(deals)], {})
    stamp = datetime(2026, 12, 1, 8, 0, 0, 250000, tzinfo=UTC)
    written = {d.source_id: {"category": "BEST_CASE", "probability": "0.25"} for d in deals[1:]}
    store.record_written("hubspot", written, {source_id: stamp for source_id in written})

    own = store.own_writes("hubspot", [d.source_id for d in deals])
    assert set(own) == set(written), "the deal not written has no stamp kept"
    assert {(w.stamp, w.remote_category, w.remote_probability) for w in own.values()} == {
        (stamp, "BEST_CASE", D("0.25"))
    }
    back = {d.source_id: d for d in store.deals_by_id("hubspot", [d.source_id for d in deals])}
    assert back["d001"].name == deals[1].name and back["d001"].amount == deals[1].amount
    assert back["d000"].remote_category == deals[0].remote_category
    if store.engine.dialect.name == "postgresql":
        assert any(sql.startswith("COPY crmsync_copy_deals_") for sql in copies[-1:]), "the update went by COPY"


def test_rows_naming_a_key_twice_keep_the_last_one(store: Store, copies: list[str]) -> None:
    run = new_run(store)
    rows = [_forecast_row(run, f"d{i % 4}", D(f"0.{i:02}")) for i in range(CHUNK)]  # each id six times
    with store.tx() as conn:
        store.upsert(t.forecasts, ["connection", "source_id"], rows, conn)
    with store.engine.connect() as conn:
        found = {row.source_id: row.probability for row in conn.execute(select(t.forecasts))}
    assert found == {f"d{k}": D(f"0.{CHUNK - 4 + k:02}") for k in range(4)}
    assert copies == [], "a key repeated: the executemany, in order, on either database"


def test_two_chunks_of_one_table_in_one_transaction_both_land(store: Store, copies: list[str]) -> None:
    run = new_run(store)
    with store.tx() as conn:  # one transaction
        store.upsert(
            t.forecasts, ["connection", "source_id"], [_forecast_row(run, f"a{i}") for i in range(CHUNK)], conn
        )
        store.upsert(
            t.forecasts, ["connection", "source_id"], [_forecast_row(run, f"b{i}") for i in range(CHUNK)], conn
        )
    with store.engine.connect() as conn:
        assert len(conn.execute(select(t.forecasts)).all()) == 2 * CHUNK
    if store.engine.dialect.name == "postgresql":
        assert len(copies) == 2


def test_a_rolled_back_chunk_leaves_nothing_and_the_next_one_lands(store: Store, copies: list[str]) -> None:
    run = new_run(store)

    def fail_after_the_chunk() -> None:
        with store.tx() as conn:
            rows = [_forecast_row(run, f"a{i}") for i in range(CHUNK)]
            store.upsert(t.forecasts, ["connection", "source_id"], rows, conn)
            raise RuntimeError("failed after the chunk")

    with pytest.raises(RuntimeError, match="after the chunk"):
        fail_after_the_chunk()
    with store.tx() as conn:  # PostgreSQL: the stage table went with the rolled-back transaction
        store.upsert(
            t.forecasts, ["connection", "source_id"], [_forecast_row(run, f"b{i}") for i in range(CHUNK)], conn
        )
    with store.engine.connect() as conn:
        ids = sorted(row.source_id for row in conn.execute(select(t.forecasts)))
    assert len(ids) == CHUNK and all(source_id.startswith("b") for source_id in ids)
    if store.engine.dialect.name == "postgresql":
        assert len(copies) == 2


def test_a_failed_chunk_names_the_table_not_the_rows(store: Store, copies: list[str]) -> None:
    secret_looking = "customer-name-that-must-not-be-echoed"
    rows = [_stage_row(999_999, f"{secret_looking}-{i}") for i in range(CHUNK)]  # no such run: refused by its key

    def insert() -> None:
        with store.tx() as conn:
            store.insert_many(t.stage_history, rows, conn)

    with pytest.raises((IntegrityError, StoreError)) as caught:
        insert()
    assert secret_looking not in str(caught.value)
    if store.engine.dialect.name == "postgresql":
        assert "stage_history" in str(caught.value) and "foreign key" in str(caught.value)
    run = new_run(store)  # the store goes on
    with store.tx() as conn:
        store.insert_many(t.stage_history, [{**row, "run_id": run} for row in rows], conn)
    with store.engine.connect() as conn:
        assert len(conn.execute(select(t.stage_history)).all()) == CHUNK


def _forecast_row(run: int, source_id: str, probability: Decimal = D("0.5")) -> dict[str, Any]:
    return {
        "connection": "hubspot",
        "source_id": source_id,
        "category": "commit",
        "probability": probability,
        "weighted_amount": None,
        "month": None,
        "rule_ids": ("r",),
        "flags": (),
        "mapped": True,
        "mapping_digest": "abc",
        "run_id": run,
        "computed_at": datetime(2026, 12, 1, tzinfo=UTC),
    }


def test_a_plan_quotes_the_identifiers_postgresql_reserves() -> None:
    quote = postgresql.dialect().identifier_preparer.quote
    upsert = pgcopy.plan("runs", ["id", "full", "mode"], list, conflict=["id"], quote=quote)
    assert upsert.copy.startswith("COPY crmsync_copy_runs_") and upsert.copy.endswith('(id, "full", mode) FROM STDIN')
    assert upsert.move is not None and 'SET "full" = excluded."full", mode = excluded.mode' in upsert.move
    update = pgcopy.plan("runs", ["id", "full"], list, update_keys=["id"], quote=quote)
    assert update.move is not None and update.move.endswith(
        'UPDATE runs SET "full" = moved."full" FROM moved WHERE runs.id = moved.id'
    )
    insert = pgcopy.plan("runs", ["id", "full"], list, quote=quote)
    assert (insert.copy, insert.create, insert.move, insert.keys) == (
        'COPY runs (id, "full") FROM STDIN',
        None,
        None,
        (),
    )


def _landed(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return sorted(row.source_id for row in conn.execute(select(t.forecasts)))


def test_a_chunk_on_a_connection_outside_a_transaction_lands_when_committed(store: Store, copies: list[str]) -> None:
    run = new_run(store)
    rows = [_forecast_row(run, f"c{i:02}") for i in range(CHUNK)]
    with store.engine.connect() as conn:  # no begin(): SQLAlchemy begins one at the first statement it runs
        store.upsert(t.forecasts, ["connection", "source_id"], rows, conn)
        conn.commit()
    assert _landed(store) == [row["source_id"] for row in rows]
    assert copies == []  # COPY would have gone around SQLAlchemy's transaction, and been rolled back


def test_a_chunk_in_autocommit_lands(store: Store, copies: list[str]) -> None:
    run = new_run(store)
    rows = [_forecast_row(run, f"a{i:02}") for i in range(CHUNK)]
    with store.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        store.upsert(t.forecasts, ["connection", "source_id"], rows, conn)
        store.update_many(
            t.forecasts, ["connection", "source_id"], [{**row, "category": "best_case"} for row in rows], conn
        )
    assert _landed(store) == [row["source_id"] for row in rows]
    with store.engine.connect() as conn:
        assert {row.category for row in conn.execute(select(t.forecasts))} == {"best_case"}
    assert copies == []  # the stage's rows would have gone at the COPY's own commit


def test_a_role_that_may_not_create_temporary_tables_keeps_the_executemany(store: Store, copies: list[str]) -> None:
    run = new_run(store)
    rows = [_forecast_row(run, f"t{i:02}") for i in range(CHUNK)]
    with store.tx() as conn:
        if store.engine.dialect.name == "postgresql":
            # what `has_database_privilege` answers for such a role, remembered for this database connection
            assert conn.connection.info.get(pgcopy._MAY_CREATE) in (None, True)
            conn.connection.info[pgcopy._MAY_CREATE] = False
        store.upsert(t.forecasts, ["connection", "source_id"], rows, conn)
        store.insert_many(t.stage_history, [_stage_row(run, f"t{i:02}") for i in range(CHUNK)], conn)
    with store.tx() as conn:
        conn.connection.info.pop(pgcopy._MAY_CREATE, None)
    assert _landed(store) == [row["source_id"] for row in rows]
    if store.engine.dialect.name == "postgresql":
        assert copies == [
            "COPY stage_history (connection, source_id, pipeline_id, stage_id, stage_order, "
            "entered_at, run_id) FROM STDIN"
        ]  # a plain insert needs no temporary table


def test_the_stage_of_new_column_types_is_a_new_table() -> None:
    """A session that outlives a migration (a worker's, PgBouncer's) must not copy through a stage of old types."""
    before = pgcopy.plan(
        "forecasts", ["source_id", "probability"], list, conflict=["source_id"], types=["VARCHAR(200)", "NUMERIC(9, 6)"]
    )
    after = pgcopy.plan(
        "forecasts",
        ["source_id", "probability"],
        list,
        conflict=["source_id"],
        types=["VARCHAR(200)", "NUMERIC(12, 8)"],
    )
    assert before.create is not None and after.create is not None
    assert before.create.split()[6] != after.create.split()[6]  # CREATE TEMPORARY TABLE IF NOT EXISTS <stage>
    assert before.create.split()[6].startswith("crmsync_copy_forecasts_")


@pytest.mark.parametrize("count", [3, CHUNK], ids=["executemany", "chunk"])
def test_a_refused_row_is_not_quoted_in_the_error(store: Store, count: int) -> None:
    """PostgreSQL's DETAIL ("Failing row contains (…)") and a bad value's quotes never reach the error."""
    run = new_run(store)
    secret = "ACME-customer-that-must-not-be-echoed"
    nulls = [{**_stage_row(run, f"{secret}-{i}"), "stage_id": None} for i in range(count)]
    with pytest.raises((IntegrityError, StoreError)) as caught, store.tx() as conn:
        store.insert_many(t.stage_history, nulls, conn)
    assert secret not in str(caught.value)
    if store.engine.dialect.name == "postgresql":
        assert "not-null" in str(caught.value) and "stage_id" in str(caught.value)
        huge = [{**_stage_row(run, f"h{i}"), "stage_order": 2**31 + 12345} for i in range(count)]
        with pytest.raises(StoreError) as refused, store.tx() as conn:
            store.insert_many(t.stage_history, huge, conn)
        assert str(2**31 + 12345) not in str(refused.value) and "out of range" in str(refused.value)


def _stage_row(run: int, source_id: str) -> dict[str, Any]:
    return {
        "connection": "hubspot",
        "source_id": source_id,
        "pipeline_id": "default",
        "stage_id": "contractsent",
        "stage_order": 3,
        "entered_at": datetime(2026, 12, 1, tzinfo=UTC),
        "run_id": run,
    }
