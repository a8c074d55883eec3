"""Locks know their holder's host and process: a holder killed on this host frees its lock at once, a live one or
one on another host does not; and a run that lost its lock writes nothing more (the write batches are fenced)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from two_phase_fake import FakeConnector, FakeCrm

from crmsync.errors import LockedError
from crmsync.store import Store
from crmsync.store import schema as t
from crmsync.store.locks import holder_is_dead
from crmsync.sync import SyncEngine

STALE = timedelta(minutes=5)
HOST = socket.gethostname()


def test_a_sync_killed_with_sigkill_leaves_a_lock_the_next_run_takes_at_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    Store(url).close()
    child = (
        "import os, signal\n"
        "from datetime import timedelta\n"
        "from crmsync.store import Store\n"
        "from crmsync.sync.lock import holder_id\n"
        f"store = Store({url!r})\n"
        "store.acquire_lock('run:hubspot', holder_id(), timedelta(minutes=5))\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", child], check=False)
    assert done.returncode == -signal.SIGKILL
    store = Store(url)
    try:
        store.acquire_lock("run:hubspot", f"{HOST}:{os.getpid()}:next", STALE)  # no LockedError, no 5-minute wait
        with pytest.raises(LockedError):
            store.acquire_lock("run:hubspot", f"{HOST}:{os.getpid()}:other", STALE)
    finally:
        store.close()


def test_a_live_holder_on_this_host_keeps_its_lock(store: Store) -> None:
    store.acquire_lock("run:a", f"{HOST}:{os.getppid()}:alive", STALE)
    with pytest.raises(LockedError, match="run:a is held by"):
        store.acquire_lock("run:a", f"{HOST}:{os.getpid()}:me", STALE)


def test_a_holder_on_another_host_is_waited_for_until_its_heartbeat_is_stale(store: Store) -> None:
    store.acquire_lock("run:b", "elsewhere.example:1:x", STALE)
    with pytest.raises(LockedError):
        store.acquire_lock("run:b", f"{HOST}:{os.getpid()}:me", STALE)
    store.acquire_lock("run:b", f"{HOST}:{os.getpid()}:me", timedelta(0))  # stale now: taken over


@pytest.mark.parametrize(
    ("holder", "dead"),
    [
        (f"{HOST}:{os.getpid()}:self", False),
        ("other-host:1:x", False),
        (f"{HOST}:notapid:x", False),
        ("garbage", False),
    ],
)
def test_holder_is_dead_judges_only_this_hosts_processes(holder: str, dead: bool) -> None:
    assert holder_is_dead(holder) is dead


async def test_a_run_that_lost_its_lock_writes_no_further_batch(store: Store) -> None:
    crm = FakeCrm.seeded(12)  # four write batches of three
    connector = FakeConnector(crm)
    engine = SyncEngine(store, connector)
    original = connector.write

    async def write(updates: Any) -> Any:
        answer = await original(updates)
        with store.tx() as conn:  # meanwhile the run froze, went stale and another process took its lock
            conn.execute(update(t.locks).where(t.locks.c.name == engine.lock_name).values(holder="other:1:new"))
        return answer

    connector.write = write  # type: ignore[method-assign]
    with pytest.raises(LockedError, match="taken over"):
        await engine.run()
    assert [kind for kind, _ in crm.calls].count("write") == 1
