"""The planner's statistics on PostgreSQL, kept up with a store that grows fast.

PostgreSQL plans each query by the statistics ANALYZE last gathered. autovacuum gathers them again once a table
has grown by a tenth, but looks at most once a minute, and a first sync doubles its tables many times within a
minute. Planned by statistics that say the ledger is nearly empty, a chunk's marks were read by scanning every
ledger row of the connection: a 20k full sync spent three quarters of its 40 s there, and the cost grew with the
square of the deals. The store therefore gathers them itself once it has written as many deals since the last time
as the table held then. SQLite plans without statistics unless ANALYZE was run, so this is PostgreSQL's only.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

log = logging.getLogger("crmsync.store")

# The tables a sync fills in proportion to its deals, whose statistics are gathered together.
GROWING = ("deals", "forecasts", "forecast_changes", "stage_history", "ledger")
FIRST_GATHER = 5_000  # deals written before the first ANALYZE of a new or small store


class PlannerStats:
    """When the growing tables need ANALYZE: after `grew` made it `due`, `gather` runs it (in a transaction of its
    own, so the chunk's transaction holds no lock for it)."""

    def __init__(self) -> None:
        self._size: int | None = None  # deals in the table at the last gathering (None: not read yet)
        self._since = 0  # deals written since
        self._lock = threading.Lock()  # a worker's jobs share a store across threads
        self.due = False

    def grew(self, deals: int, conn: Connection) -> None:
        with self._lock:
            if self._size is None:  # what the statistics knew when this store opened (-1: never gathered)
                known = conn.exec_driver_sql("SELECT reltuples FROM pg_class WHERE oid = 'deals'::regclass").scalar()
                self._size = max(0, int(known or 0))
            self._since += deals
            self.due = self._since >= max(FIRST_GATHER, self._size)

    def gather(self, engine: Engine) -> None:
        with self._lock:
            if not self.due:
                return
            self._size = (self._size or 0) + self._since
            self._since, self.due = 0, False
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE " + ", ".join(GROWING))
        except SQLAlchemyError as exc:  # the write before it is committed: only the plans may stay slow a while
            log.warning("could not gather PostgreSQL's statistics of the store's tables: %s", type(exc).__name__)
