"""Locks: named locks with heartbeats (one run per connection, one scheduler per store)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from crmsync.errors import LockedError
from crmsync.store import schema as t
from crmsync.store.base import StoreBase, aware, utcnow

log = logging.getLogger("crmsync.store")


# A lock's heartbeat, built once: a writer refreshes its lock before every batch (fencing), and building the
# update cost more than running it.
_HEARTBEAT = (
    update(t.locks)
    .where(t.locks.c.name == bindparam("by_name"), t.locks.c.holder == bindparam("by_holder"))
    .values(heartbeat_at=bindparam("now"))
)


def holder_is_dead(holder: str) -> bool:
    """Whether a lock holder (`host:pid:…`, see crmsync.sync.lock.holder_id) is a process of this host that is gone.

    A holder on another host is never judged here: only its heartbeat going stale frees its lock.
    """
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, owned by another user
        return False
    return False


class Locks:
    """The locks table."""

    def __init__(self, db: StoreBase) -> None:
        self.db = db

    def acquire_lock(self, name: str, holder: str, stale_after: timedelta) -> None:
        """Take the named lock, or take it over when its holder stopped heart-beating.

        Raises:
            LockedError: someone else holds it and is alive.
        """
        now = utcnow()
        try:
            with self.db.tx() as conn:
                conn.execute(insert(t.locks).values(name=name, holder=holder, acquired_at=now, heartbeat_at=now))
                return
        except IntegrityError:
            pass
        with self.db.tx() as conn:
            taken = conn.execute(
                update(t.locks)
                .where(t.locks.c.name == name, t.locks.c.heartbeat_at < now - stale_after)
                .values(holder=holder, acquired_at=now, heartbeat_at=now)
            ).rowcount
            if taken:
                return
            row = conn.execute(select(t.locks).where(t.locks.c.name == name)).one_or_none()
        if row is None:  # released between our two statements
            return self.acquire_lock(name, holder, stale_after)
        if row.holder == holder:
            return None
        if holder_is_dead(row.holder):  # killed on this host (kill -9, OOM): no need to wait for the heartbeat
            with self.db.tx() as conn:
                taken = conn.execute(
                    update(t.locks)
                    .where(t.locks.c.name == name, t.locks.c.holder == row.holder)
                    .values(holder=holder, acquired_at=now, heartbeat_at=now)
                ).rowcount
            if taken:
                log.warning(
                    "%s: took over the lock of %s, a process on this host that no longer runs", name, row.holder
                )
                return None
            return self.acquire_lock(name, holder, stale_after)
        raise LockedError(f"{name} is held by {row.holder} since {aware(row.acquired_at):%Y-%m-%d %H:%M:%S} UTC")

    def heartbeat(self, name: str, holder: str) -> bool:
        """Refresh a lock; False when `holder` no longer holds it (it went stale and was taken over)."""
        with self.db.tx() as conn:
            refreshed = conn.execute(_HEARTBEAT, {"by_name": name, "by_holder": holder, "now": utcnow()}).rowcount
        return bool(refreshed)

    def release_lock(self, name: str, holder: str) -> None:
        with self.db.tx() as conn:
            conn.execute(t.locks.delete().where(t.locks.c.name == name, t.locks.c.holder == holder))
