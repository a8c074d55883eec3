"""RunLock: one run of a connection at a time, kept fresh by heartbeats while the run works."""

from __future__ import annotations

import os
import socket
import time
import uuid
from datetime import timedelta

from crmsync.errors import LockedError
from crmsync.store import Store

LOCK_STALE_AFTER = timedelta(minutes=5)  # five missed heartbeats: the process holding it is gone
HEARTBEAT_SECONDS = 60.0  # a running sync refreshes its lock at least this often (at chunk and batch boundaries)


def holder_id() -> str:
    """Who holds a lock: host, process and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class RunLock:
    """The lock `run:<connection>` shared by syncs and rollbacks of one connection."""

    def __init__(self, store: Store, connection: str) -> None:
        self.store = store
        self.name = f"run:{connection}"
        self.holder = holder_id()
        self._beat = time.monotonic()

    def acquire(self) -> None:
        """Take the lock (raises LockedError when a live process holds it)."""
        self.store.acquire_lock(self.name, self.holder, LOCK_STALE_AFTER)
        self._beat = time.monotonic()

    def release(self) -> None:
        self.store.release_lock(self.name, self.holder)

    def beat(self, every: float = HEARTBEAT_SECONDS) -> None:
        """Refresh the lock when `every` seconds passed; raise LockedError when another process took it over."""
        if time.monotonic() - self._beat < every:
            return
        if not self.store.heartbeat(self.name, self.holder):
            raise LockedError(
                f"{self.name} was taken over by another process while this run stalled; stopping this run"
            )
        self._beat = time.monotonic()
