"""PostgreSQL's bulk path: a chunk's rows sent with COPY instead of an executemany.

An executemany sends a Bind and an Execute a row, and psycopg prepares and dumps each row's parameters on its own;
COPY streams the rows as one text, dumped by the same adapters. A first sync's inserts (category moves, stage
history, ledger rows), upserts (deals, forecasts) and updates (what a write left) took a 30,000-deal full sync from
0.26–0.30 to 0.18 ms of crmsync's CPU a deal (run alternately). An upsert or an update by key copies into a
temporary table of the columns written (no constraints: every check is the real table's), then moves the rows with
one INSERT … ON CONFLICT or UPDATE … FROM that empties it. Rows naming one key twice keep the executemany, where the
last row wins.

A failure is raised as SQLAlchemy's error of the driver's class (an IntegrityError stays one) with the server's
primary message alone (`terse`): COPY's context line would quote the row. The executemany keeps the rows when COPY
cannot keep them as it would: on a connection outside a transaction or in autocommit (the stage's rows would go at
the COPY's own commit), and for a role without the TEMPORARY privilege on the database (asked once a connection).
The stage's name carries a digest of its columns' names and types, so a session that outlives a migration (a
worker's, or PgBouncer's server connection) never reuses a stage of the old types.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

COPY_MIN_ROWS = 8  # below it an executemany costs less than COPY's own round trips


class CopyPlan(NamedTuple):
    """How a compiled bulk statement's rows go through COPY.

    Attributes:
        copy: The COPY statement (into the table itself, or into the temporary table `create` makes).
        create: The temporary table's CREATE statement, or None for a plain insert.
        move: The statement moving the stage's rows into the table (and emptying the stage).
        keys: The key columns' positions in a row's values (rows naming a key twice keep the executemany).
        values: The rows' values in column order, each passed through its column's converter.
    """

    copy: str
    create: str | None
    move: str | None
    keys: tuple[int, ...]
    values: Callable[[list[dict[str, Any]]], list[Any]]


def plan(
    table: str,
    names: Sequence[str],
    values: Callable[[list[dict[str, Any]]], list[Any]],
    *,
    conflict: Sequence[str] = (),
    update_keys: Sequence[str] = (),
    quote: Callable[[str], str] = str,
    types: Sequence[str] = (),
) -> CopyPlan:
    """The COPY plan of an insert (`conflict`: an upsert on those columns; `update_keys`: an update by them) of
    the columns `names`, whose `values` come in that order; `quote` quotes an identifier where it must be, and
    `types` are the columns' SQL types (in the stage's name: a new type is a new stage)."""
    keys = tuple(conflict or update_keys)
    positions = tuple(names.index(key) for key in keys)
    signature = ",".join(f"{name} {kind}" for name, kind in zip(names, types or [""] * len(names), strict=True))
    digest = hashlib.blake2b(signature.encode(), digest_size=6).hexdigest()
    stage = quote(f"crmsync_copy_{table}_{digest}")  # one per table, columns and types, kept by the session
    table, names, keys = quote(table), [quote(name) for name in names], tuple(quote(key) for key in keys)
    columns = ", ".join(names)
    if not keys:
        return CopyPlan(f"COPY {table} ({columns}) FROM STDIN", None, None, (), values)
    create = (
        f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} ON COMMIT DELETE ROWS AS "
        f"SELECT {columns} FROM {table} WITH NO DATA"
    )
    others = [name for name in names if name not in keys]
    moved = f"WITH moved AS (DELETE FROM {stage} RETURNING {columns}) "
    if conflict:
        assignments = ", ".join(f"{name} = excluded.{name}" for name in others)
        move = (
            f"{moved}INSERT INTO {table} ({columns}) SELECT {columns} FROM moved "
            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {assignments}"
        )
    else:
        assignments = ", ".join(f"{name} = moved.{name}" for name in others)
        matches = " AND ".join(f"{table}.{key} = moved.{key}" for key in keys)
        move = f"{moved}UPDATE {table} SET {assignments} FROM moved WHERE {matches}"
    return CopyPlan(f"COPY {stage} ({columns}) FROM STDIN", create, move, positions, values)


def run(copy: CopyPlan, rows: list[dict[str, Any]], conn: Connection) -> bool:
    """Send `rows` by `copy` inside `conn`'s transaction; False (nothing sent) when they are too few for COPY to
    pay, the connection cannot keep them (see the module), or a key repeats among them: the executemany takes them
    then. The rows' values are made only once COPY may take them."""
    if len(rows) < COPY_MIN_ROWS:
        return False
    driver: Any = conn.connection.driver_connection
    if driver.autocommit or not conn.in_transaction():  # SQLAlchemy would not commit what went around it
        return False
    if copy.create is not None and not _may_create_temporary(conn, driver):
        return False
    values = copy.values(rows)
    if copy.keys and len({tuple(row[i] for i in copy.keys) for row in values}) != len(values):
        return False
    import psycopg  # PostgreSQL's driver, imported where a PostgreSQL store runs (a SQLite one never needs it)

    try:
        with driver.cursor() as cursor:
            if copy.create is not None:
                cursor.execute(copy.create)
            with cursor.copy(copy.copy) as stream:
                for row in values:
                    stream.write_row(row)
            if copy.move is not None:
                cursor.execute(copy.move)
    except psycopg.Error as exc:
        raise DBAPIError.instance(copy.copy, None, terse(exc), psycopg.Error, hide_parameters=True) from None
    return True


_MAY_CREATE = "crmsync_may_create_temporary"  # key of the answer in a pooled connection's `info`


def _may_create_temporary(conn: Connection, driver: Any) -> bool:
    """Whether the session's role may create temporary tables, asked once per database connection."""
    info = conn.connection.info
    if (may := info.get(_MAY_CREATE)) is None:
        with driver.cursor() as cursor:
            cursor.execute("SELECT has_database_privilege(current_database(), 'TEMPORARY')")
            row = cursor.fetchone()
        may = info[_MAY_CREATE] = bool(row and row[0])
    return bool(may)


_QUOTED = re.compile(r'"[^"]*"')
_COLUMN = re.compile(r"column (\w+)")


def terse(exc: Exception) -> Exception:
    """A PostgreSQL error of the same class with the server's primary message alone: its DETAIL ("Failing row
    contains (…)", "Key (…)=(…)") and CONTEXT lines quote rows. A bad value's message quotes the value ('value
    "…" is out of range'): the quotes are emptied, and the column named from the context line. An error the driver
    raised itself (a NUL byte in text) has no primary message and quotes no value: it keeps its own."""
    import psycopg

    if not isinstance(exc, psycopg.Error) or exc.sqlstate is None:
        return exc
    primary = exc.diag.message_primary or type(exc).__name__
    if exc.sqlstate.startswith("22"):  # data exception: the message may quote the value
        primary = _QUOTED.sub('"…"', primary)
        if found := _COLUMN.search(exc.diag.context or ""):
            primary = f"{primary} (column {found.group(1)})"
    return type(exc)(primary)
