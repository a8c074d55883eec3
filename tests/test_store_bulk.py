"""The store's bulk writes (`insert_many`, `upsert`, `update_many`) keep exactly what SQLAlchemy's own insert and
update keep, on both databases: they convert values with the same bind processors, only once per column instead of
per row. On PostgreSQL each test runs twice: rows sent by executemany, and by COPY (`crmsync.store.pgcopy`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import bindparam, insert, select, update

from crmsync.store import Store, pgcopy
from crmsync.store import schema as t
from crmsync.store.base import aware

AT = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=UTC)


@pytest.fixture(autouse=True, params=["executemany", "copy"])
def path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Which way PostgreSQL's store sends the rows: COPY from the first row on, or never (SQLite: executemany)."""
    monkeypatch.setattr(pgcopy, "COPY_MIN_ROWS", 1 if request.param == "copy" else 10**9)
    return str(request.param)


def changes(run_id: int, prefix: str) -> list[dict[str, Any]]:
    base: dict[str, Any] = {
        "run_id": run_id,
        "connection": "c",
        "old_category": None,
        "new_category": "commit",
        "old_probability": None,
        "new_probability": Decimal("0.123456"),
        "rule_ids": ("stage:x/y", "r1"),
        "at": AT,
    }
    return [
        {**base, "source_id": f"{prefix}1"},
        {**base, "source_id": f"{prefix}2", "old_probability": Decimal("1"), "at": AT + timedelta(days=200)},
        {**base, "source_id": f"{prefix}3", "rule_ids": ["a", "b"], "at": AT.astimezone(timezone(timedelta(hours=2)))},
        {**base, "source_id": f"{prefix}4", "rule_ids": (), "old_category": "pipeline"},
    ]


def stored(store: Store, prefix: str) -> list[tuple[Any, ...]]:
    fc = t.forecast_changes
    with store.engine.connect() as conn:
        rows = conn.execute(select(fc).where(fc.c.source_id.like(f"{prefix}%")).order_by(fc.c.source_id)).all()
    return [tuple(v for k, v in row._mapping.items() if k not in ("id", "source_id")) for row in rows]


def test_insert_many_stores_what_sqlalchemys_insert_stores(store: Store) -> None:
    run_id = store.start_run("c", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    with store.tx() as conn:
        store.insert_many(t.forecast_changes, changes(run_id, "fast"), conn)
        store.insert_many(t.forecast_changes, changes(run_id, "again"), conn)  # the cached statement
        conn.execute(
            insert(t.forecast_changes), [dict(r, rule_ids=list(r["rule_ids"])) for r in changes(run_id, "slow")]
        )
    fast, slow = stored(store, "fast"), stored(store, "slow")
    assert len(fast) == 4
    assert fast == slow == stored(store, "again")
    rule_ids, at = fast[0][-2:]
    assert rule_ids == ["stage:x/y", "r1"], "a tuple is stored as a JSON list"
    assert aware(at) == AT, "the instant survives the round trip"


def test_upsert_updates_the_row_of_its_key(store: Store) -> None:
    run_id = store.start_run("c", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    row = {"connection": "c", "value": AT, "run_id": run_id, "updated_at": AT}
    with store.tx() as conn:
        store.upsert(t.cursors, ["connection"], [row], conn)
        store.upsert(t.cursors, ["connection"], [dict(row, value=AT + timedelta(hours=1))], conn)
    with store.engine.connect() as conn:
        values = conn.execute(select(t.cursors.c.value).where(t.cursors.c.connection == "c")).scalars().all()
    assert [v.replace(tzinfo=UTC) if v.tzinfo is None else v for v in values] == [AT + timedelta(hours=1)]


def test_update_many_sets_what_sqlalchemys_update_sets_and_only_on_its_keys(store: Store) -> None:
    run_id = store.start_run("c", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    fc = t.forecast_changes
    with store.tx() as conn:
        for prefix in ("fast", "slow", "kept"):
            store.insert_many(fc, changes(run_id, prefix), conn)
    later = AT + timedelta(minutes=1)
    new = [("1", "omitted", Decimal("0"), ["x"]), ("3", "best_case", None, ()), ("9", "commit", None, ())]
    with store.tx() as conn:
        store.update_many(
            fc,
            ["connection", "source_id"],
            [
                {
                    "connection": "c",
                    "source_id": f"fast{n}",
                    "new_category": c,
                    "old_probability": p,
                    "rule_ids": r,
                    "at": later,
                }
                for n, c, p, r in new
            ],
            conn,
        )
        stmt = (
            update(fc)
            .where(fc.c.connection == "c", fc.c.source_id == bindparam("by_source_id"))
            .values(
                new_category=bindparam("c"), old_probability=bindparam("p"), rule_ids=bindparam("r"), at=bindparam("a")
            )
        )
        conn.execute(
            stmt, [{"by_source_id": f"slow{n}", "c": c, "p": p, "r": list(r), "a": later} for n, c, p, r in new]
        )
    fast, slow, kept = stored(store, "fast"), stored(store, "slow"), stored(store, "kept")
    assert fast == slow
    assert fast[0] != kept[0] and fast[2] != kept[2], "rows 1 and 3 were updated"
    assert fast[1] == kept[1] and fast[3] == kept[3], "rows 2 and 4 match no key and are left alone"
    assert fast[0][3] == "omitted" and aware(fast[0][-1]) == later


def test_sqlite_timestamps_are_written_as_sqlalchemy_writes_them() -> None:
    import random
    from datetime import date

    from sqlalchemy.dialects import sqlite

    from crmsync.store.base import _sqlite_datetime

    dialect = sqlite.dialect()
    slow = t.deals.c.updated_at.type.dialect_impl(dialect).bind_processor(dialect)
    fast = _sqlite_datetime(slow)
    rng = random.Random(5)
    zones = [None, UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(hours=11))]
    values: list[Any] = [datetime(1, 1, 1), datetime(9999, 12, 31, 23, 59, 59, 999999), datetime(999, 5, 6, 7, 8, 9)]
    values += [
        datetime(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59),
                 rng.randint(0, 59), rng.choice([0, 1, 999999, rng.randint(0, 999999)]), tzinfo=rng.choice(zones))
        for _ in range(2000)
    ]  # fmt: skip
    values += [None, date(2026, 3, 29)]
    assert [fast(v) for v in values] == [slow(v) for v in values]
    # the last timestamp is remembered by identity: repeats, and a different one after it, are still right
    rows = [values[3], values[3], values[4], values[3], values[4], values[4]]
    assert [fast(v) for v in rows] == [slow(v) for v in rows]


def plain(value: Any) -> Any:
    """A bound value as the driver stores it: psycopg's Json wrapper by what it wraps, a bool as its int."""
    value = getattr(value, "obj", value)
    return int(value) if type(value) is bool else value


def test_dates_booleans_and_empty_dicts_are_bound_as_sqlalchemy_binds_them() -> None:
    import random
    from datetime import date

    from sqlalchemy.dialects import postgresql, sqlite

    from crmsync.store.base import _converter

    rng = random.Random(3)
    days: list[Any] = [date(1, 1, 1), date(9999, 12, 31), None]
    days += [date(rng.randint(1, 9999), rng.randint(1, 12), rng.randint(1, 28)) for _ in range(1000)]
    cases: list[tuple[Any, list[Any]]] = [
        (t.deals.c.close_date, days),
        (t.deals.c.writable, [True, False, None, True]),
        (t.deals.c.extra, [{}, {"k": "v"}, {}, None, {"a": "b", "c": "d"}, {}]),
    ]
    for dialect in (sqlite.dialect(), postgresql.dialect()):
        for column, values in cases:
            slow = column.type.dialect_impl(dialect).bind_processor(dialect)
            fast = _converter(column.type, dialect)
            assert (fast is None) == (slow is None), (dialect.name, column.name)
            if fast is not None and slow is not None:
                got, want = [fast(v) for v in values], [slow(v) for v in values]
                assert [plain(v) for v in got] == [plain(v) for v in want], (dialect.name, column.name)
                assert all(type(g) in (type(w), bool) for g, w in zip(got, want, strict=True)), column.name
    refused = _converter(t.deals.c.writable.type, sqlite.dialect())
    with pytest.raises(TypeError):  # what is not a bool is still the processor's to refuse
        refused("yes")


def test_the_generated_parameters_take_each_key_in_order_through_its_converter() -> None:
    from crmsync.store.base import _parameters

    rows = [{"a": 1, "b": "x", "it's": 2.5}, {"a": 2, "b": "y", "it's": None}]
    positional = _parameters(["it's", "a", "b"], [None, lambda value: value * 10, str.upper], None)
    assert positional(rows) == [(2.5, 10, "X"), (None, 20, "Y")]
    named = _parameters(["b", "a"], [None, None], ["by_b", "a"])
    assert named(rows) == [{"by_b": "x", "a": 1}, {"by_b": "y", "a": 2}]
    single = _parameters(["a"], [None], None)
    assert single(rows) == [(1,), (2,)], "one value is still a tuple"
    assert positional([]) == []
