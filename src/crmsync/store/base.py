"""StoreBase: the engine, migrations, transactions and portable upserts every part of the store uses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy import JSON, Boolean, Connection, Date, DateTime, Engine, bindparam, create_engine, event, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError

from crmsync.errors import ConfigError, StoreError
from crmsync.store import pgcopy
from crmsync.store.stats import PlannerStats

MIGRATIONS = Path(__file__).parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything crmsync stores is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc(value: datetime | None) -> datetime | None:
    """Normalise an aware timestamp to UTC before storing: SQLite drops the offset and keeps the wall time. One
    already in UTC (most are) is returned as it is, not copied."""
    if value is None or value.tzinfo is None or value.tzinfo is UTC:
        return value
    return value.astimezone(UTC)


_MIGRATING = threading.Lock()
# PostgreSQL's answers to creating what another session created meanwhile: unique violation (in the catalog),
# duplicate table, duplicate object
_CREATED_MEANWHILE = frozenset({"23505", "42P07", "42710"})


class StoreBase:
    """The store at `url`; migrates the schema to the newest revision on open."""

    def __init__(self, url: str, *, config_file: str | None = None) -> None:
        self.url = url
        self._bulk: dict[tuple[Any, ...], _Bulk] = {}  # compiled bulk inserts, upserts, updates: by table, columns
        self._together = threading.local()  # the connection of a `together()` block, per thread
        self._stats: PlannerStats | None = None  # PostgreSQL's planner statistics, gathered as the store grows
        try:
            self.engine: Engine = create_engine(url, future=True, hide_parameters=True)  # no deal data in errors
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            raise ConfigError(
                f"not a usable SQLAlchemy URL ({type(exc).__name__}: {exc}); use sqlite:///path/crmsync.db or "
                "postgresql+psycopg://user:password@host/database",
                file=config_file,
                key="store.url",
            ) from None
        if self.engine.dialect.name == "sqlite":
            folder = Path(self.engine.url.database or "").parent
            if self.engine.url.database not in (None, "", ":memory:") and not folder.is_dir():
                raise ConfigError(
                    f"the store's folder {str(folder)!r} does not exist; create it or change the path",
                    file=config_file,
                    key="store.url",
                )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        elif self.engine.dialect.name == "postgresql":
            self._stats = PlannerStats()
            event.listen(self.engine, "handle_error", _terse_postgresql_error)
        self.migrate()

    def migrate(self, attempts: int = 5) -> None:
        """Bring the schema to the newest revision.

        Two processes opening a new store at once (a scheduled sync and a manual one) may both start creating
        the tables; the one that loses sees "already exists" (on PostgreSQL a duplicate table or object, or a unique
        violation in the catalog, whose detail saying so errors no longer carry) and tries again, finding the schema
        up to date.
        """
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        for attempt in range(1, attempts + 1):
            try:
                # Alembic keeps its context in module globals: one migration at a time per process (a worker's
                # concurrent jobs open stores from several threads)
                with _MIGRATING, self.engine.begin() as conn:
                    cfg.attributes["connection"] = conn
                    command.upgrade(cfg, "head")
                return
            except CommandError as exc:
                if "can't locate revision" not in str(exc).lower():
                    raise StoreError(f"cannot migrate the store: {exc}") from None
                newest = ScriptDirectory.from_config(cfg).get_current_head()
                raise StoreError(
                    f"the store was made by a newer crmsync (its schema revision is unknown here; this crmsync knows "
                    f"revisions up to {newest}): upgrade crmsync, or point store.url at another database"
                ) from None
            except SQLAlchemyError as exc:
                cause = getattr(exc, "orig", None) or exc
                raced = getattr(cause, "sqlstate", None) in _CREATED_MEANWHILE or "already exists" in str(cause).lower()
                if attempt < attempts and raced:
                    time.sleep(0.2 * attempt)
                    continue
                raise StoreError(f"cannot open the store: {exc.__class__.__name__}: {cause}") from None

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """A transaction; inside `together()` on this thread, the one `together()` opened (committed by it)."""
        shared: Connection | None = getattr(self._together, "conn", None)
        if shared is not None:
            yield shared
            return
        try:
            with self.engine.begin() as conn:
                yield conn
            if self._stats is not None and self._stats.due:  # after the commit that made it due
                self._stats.gather(self.engine)
        except IntegrityError:
            raise
        except SQLAlchemyError as exc:
            raise StoreError(f"store error: {exc.__class__.__name__}: {exc}") from None

    def grew(self, deals: int, conn: Connection) -> None:
        """`deals` more deals were stored (with their forecasts, changes, stages and ledger rows): on PostgreSQL,
        the planner's statistics are gathered again after the transaction once the tables may have doubled."""
        if self._stats is not None:
            self._stats.grew(deals, conn)

    @contextmanager
    def together(self) -> Iterator[None]:
        """Every store call inside, on this thread, in one transaction: all of it is kept, or none (a chunk's
        snapshot and its ledger rows), and it commits once. Nothing inside may wait on the network."""
        if getattr(self._together, "conn", None) is not None:
            yield  # already inside one
            return
        with self.tx() as conn:
            self._together.conn = conn
            try:
                yield
            finally:
                self._together.conn = None

    def upsert(self, table: Any, keys: Sequence[str], rows: list[dict[str, Any]], conn: Connection) -> None:
        """Insert or update `rows` (dicts with the same keys) by their `keys` in one executemany."""
        self.insert_many(table, rows, conn, conflict=keys)

    def insert_many(
        self, table: Any, rows: list[dict[str, Any]], conn: Connection, *, conflict: Sequence[str] = ()
    ) -> None:
        """Insert `rows` (dicts with the same keys; with `conflict`, an upsert on those columns) in one executemany.

        The statement is compiled once per table and set of columns, and each value is converted by the dialect's
        own bind processor for its column (the conversion SQLAlchemy applies), fetched once per column: going
        through SQLAlchemy's per-row parameter handling cost two thirds of a page's store CPU. Tables written here
        have no Python-side column defaults (those would be skipped).
        """
        if not rows:
            return
        names = tuple(rows[0])
        key = ("insert", table.name, tuple(conflict), names)
        if (compiled := self._bulk.get(key)) is None:
            dialect = self.engine.dialect
            module: Any = postgresql if dialect.name == "postgresql" else sqlite
            stmt = module.insert(table)
            if conflict:
                stmt = stmt.on_conflict_do_update(
                    index_elements=list(conflict),
                    set_={name: stmt.excluded[name] for name in names if name not in conflict},
                )
            compiled = self._compile(stmt, {name: table.c[name] for name in names}, names)
            compiled = self._bulk[key] = compiled._replace(copy=self._copy_plan(table, names, conflict=conflict))
        self._execute_many(compiled, rows, conn)

    def update_many(self, table: Any, keys: Sequence[str], rows: list[dict[str, Any]], conn: Connection) -> None:
        """Update rows found by the columns `keys` to the other values of `rows` (dicts with the same keys), in one
        executemany compiled once per table and set of columns, as `insert_many` does."""
        if not rows:
            return
        names = tuple(rows[0])
        key = ("update", table.name, tuple(keys), names)
        if (compiled := self._bulk.get(key)) is None:
            # a bound parameter may not take the name of a column the statement sets: the keys are bound as by_*
            binds = {(f"by_{name}" if name in keys else name): table.c[name] for name in names}
            stmt = (
                update(table)
                .where(*(table.c[name] == bindparam(f"by_{name}") for name in keys))
                .values({name: bindparam(name) for name in names if name not in keys})
            )
            compiled = self._compile(stmt, binds, names, renamed=frozenset(keys))
            compiled = self._bulk[key] = compiled._replace(copy=self._copy_plan(table, names, update_keys=keys))
        self._execute_many(compiled, rows, conn)

    def _compile(
        self, stmt: Any, binds: dict[str, Any], names: tuple[str, ...], renamed: frozenset[str] = frozenset()
    ) -> _Bulk:
        """The SQL of `stmt`, and how to make the parameters of rows (`binds`: parameter name → column)."""
        dialect = self.engine.dialect
        compiled = stmt.compile(dialect=dialect, column_keys=[name for name in names if name not in renamed])
        source = {(f"by_{name}" if name in renamed else name): name for name in names}
        order = list(compiled.positiontup or ()) if compiled.positional else list(binds)
        converters = [_converter(binds[bind].type, dialect) for bind in order]
        named = None if compiled.positional else order
        return _Bulk(str(compiled), _parameters([source[bind] for bind in order], converters, named))

    def _copy_plan(
        self, table: Any, names: tuple[str, ...], *, conflict: Sequence[str] = (), update_keys: Sequence[str] = ()
    ) -> pgcopy.CopyPlan | None:
        """On PostgreSQL, how the rows go through COPY instead (`crmsync.store.pgcopy`); elsewhere None."""
        dialect = self.engine.dialect
        if dialect.name != "postgresql":
            return None
        converters = [_converter(table.c[name].type, dialect) for name in names]
        values = _parameters(list(names), converters, None)
        quote = dialect.identifier_preparer.quote
        types = [table.c[name].type.compile(dialect=dialect) for name in names]
        return pgcopy.plan(
            table.name, names, values, conflict=conflict, update_keys=update_keys, quote=quote, types=types
        )

    @staticmethod
    def _execute_many(compiled: _Bulk, rows: list[dict[str, Any]], conn: Connection) -> None:
        if compiled.copy is not None and pgcopy.run(compiled.copy, rows, conn):
            return
        conn.exec_driver_sql(compiled.sql, compiled.parameters(rows))


class _Bulk(NamedTuple):
    """A statement compiled for executemany: its SQL, the function making its parameters of a list of rows, and
    on PostgreSQL the plan sending many rows by COPY instead."""

    sql: str
    parameters: Callable[[list[dict[str, Any]]], list[Any]]
    copy: pgcopy.CopyPlan | None = None


def _parameters(
    keys: list[str], converters: list[Callable[[Any], Any] | None], named: list[str] | None
) -> Callable[[list[dict[str, Any]]], list[Any]]:
    """A function making the executemany parameters of rows: for each row, its values of `keys` in order, each
    passed through its converter (if any), as a tuple (positional drivers) or a dict of the names `named`.

    It is generated as one list comprehension, as `dataclasses` generates methods, which saves a generic builder's
    per-row itemgetter, list copy and loop over the converters (a chunk's snapshot: 56 -> 53 µs a deal). The code
    holds only the keys (as literals) and the converters (as its globals), never a value."""
    values = []
    for index, (key, convert) in enumerate(zip(keys, converters, strict=True)):
        value = f"row[{key!r}]"
        values.append(value if convert is None else f"_c{index}({value})")
    if named is None:
        item = "(" + "".join(f"{value}, " for value in values) + ")"
    else:
        item = "{" + ", ".join(f"{name!r}: {value}" for name, value in zip(named, values, strict=True)) + "}"
    scope = {f"_c{index}": convert for index, convert in enumerate(converters) if convert is not None}
    exec(f"def parameters(rows):\n    return [{item} for row in rows]\n", scope)  # our own text: keys as literals
    function: Callable[[list[dict[str, Any]]], list[Any]] = scope["parameters"]
    return function


def _converter(column_type: Any, dialect: Any) -> Any:
    """The dialect's bind processor of a column, remembering what it made of recent tuples of text, of an empty
    dict (and of timestamps, unless SQLite's own format is written by `isoformat`): a page's rows share a few
    rule-id tuples, their `extra` is mostly empty, and their `synced_at`/`computed_at` are one; dumping JSON costs
    more than the rest of a row. Booleans pass as they are (what the processor makes of them, as the driver
    stores them), and SQLite's dates are written by `isoformat`."""
    impl = column_type.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column_type, Boolean):
        return _plain_bool(process)
    storage = getattr(impl, "_storage_format", None)
    if isinstance(column_type, Date) and not isinstance(column_type, DateTime) and storage == SQLITE_DATE:
        return _sqlite_date(process)
    if not isinstance(column_type, DateTime | JSON):
        return process
    if storage == SQLITE_DATETIME:
        return _sqlite_datetime(process)  # as cheap as looking a timestamp up: no memo
    memo: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        kind = type(value)
        if kind is datetime:
            key: Any = (value, value.tzinfo)
        elif kind is tuple and all(type(item) is str for item in value):
            key = value
        elif kind is dict and not value:
            key = _EMPTY_DICT
        else:
            return process(value)
        if (done := memo.get(key)) is None:
            if len(memo) > 1024:
                memo.clear()
            done = memo[key] = process(value)
        return done

    return convert


_EMPTY_DICT = object()  # the memo's key for {} (no tuple of text can be it)
SQLITE_DATE = "%(year)04d-%(month)02d-%(day)02d"  # SQLite DATE's default storage: what `date.isoformat` writes


def _plain_bool(process: Any) -> Any:
    """A Boolean's bind processor, with True, False and None passed as they are: the drivers store a bool as the
    processor's int (SQLite) or bool (PostgreSQL); anything else goes to the processor, which refuses it."""

    def convert(value: Any) -> Any:
        return value if value is True or value is False or value is None else process(value)

    return convert


def _sqlite_date(process: Any) -> Any:
    """SQLite's DATE bind processor with a date written by `isoformat` (in C); anything else to SQLAlchemy's."""

    def convert(value: Any) -> Any:
        return value.isoformat() if type(value) is date else process(value)

    return convert


# How SQLAlchemy's SQLite DATETIME stores a timestamp by default: the text `datetime.isoformat(" ", "microseconds")`
# writes for it, without an offset (SQLite keeps none; crmsync stores UTC)
SQLITE_DATETIME = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def _sqlite_datetime(process: Any) -> Any:
    """SQLite's DATETIME bind processor with its common case, a datetime, written by `isoformat` (in C) instead of
    a %-format of seven fields, and the last one remembered (a page's rows share their `synced_at`); anything else
    goes to SQLAlchemy's processor."""
    last: tuple[Any, str] = (None, "")

    def convert(value: Any) -> Any:
        nonlocal last
        if type(value) is datetime:
            seen = last
            if seen[0] is value:
                return seen[1]
            text = value.isoformat(" ", "microseconds")[:26]  # the offset written after 26 characters is left out
            last = (value, text)
            return text
        return process(value)

    return convert


def new_id(result: Any) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


def _terse_postgresql_error(context: Any) -> Exception | None:
    """PostgreSQL's errors with the server's primary message alone (`pgcopy.terse`): a NOT NULL or unique
    violation's DETAIL quotes the row or its key, which would reach the logs and the run's record."""
    original = context.original_exception
    shorter = pgcopy.terse(original)
    if shorter is original:
        return None
    import psycopg

    return DBAPIError.instance(
        context.statement,
        None,
        shorter,
        psycopg.Error,
        hide_parameters=True,
        connection_invalidated=context.is_disconnect,
        dialect=context.dialect,
    )


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    # WAL with NORMAL: no fsync per commit (only at checkpoints); a process crash loses nothing committed, a power
    # loss at most the last transactions, which the ledger's pending/unknown rows are built to survive
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
