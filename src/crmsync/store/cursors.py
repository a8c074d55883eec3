"""Cursors: per connection, the modification time the next incremental read starts from."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from crmsync.store import schema as t
from crmsync.store.base import StoreBase, aware, utc, utcnow


class Cursors:
    """The cursors table."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def cursor(self, connection: str) -> datetime | None:
        with self.db.tx() as conn:
            value = conn.execute(select(t.cursors.c.value).where(t.cursors.c.connection == connection)).scalar()
        return aware(value)

    def set_cursor(self, connection: str, value: datetime, run_id: int) -> None:
        with self.db.tx() as conn:
            self.db.upsert(
                t.cursors,
                ["connection"],
                [{"connection": connection, "value": utc(value), "run_id": run_id, "updated_at": utcnow()}],
                conn,
            )
