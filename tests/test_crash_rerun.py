"""kill -9 of `crmsync sync` at several points of a run (listing, planning, writing): the next `crmsync sync`
starts at once (the dead process's lock is taken over) and the CRM ends exactly as after a run never killed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import TOKEN_VAR, write_config

from crmsync.sandbox import serve
from crmsync.store import Store
from crmsync.testing.fake_crm import FakeCrm


def sync(config: Path, token: str, *, kill_when: Callable[[], bool] | None = None) -> int:
    """Run `crmsync sync` in a process; with `kill_when`, SIGKILL it as soon as that becomes true."""
    env = {**os.environ, TOKEN_VAR: token}
    command = [sys.executable, "-m", "crmsync.testing.fake_cli", "--config", str(config), "sync"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_when is None:
        _, err = process.communicate(timeout=120)
        assert process.returncode in (0, 1), err.decode()
        return process.returncode
    deadline = time.monotonic() + 60
    while not kill_when():
        assert process.poll() is None, "the run ended before the kill point"
        assert time.monotonic() < deadline, "the kill point was never reached"
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    return process.returncode


# where to kill: after this many listing requests, or after this many more writes than when the run started
POINTS = {"listing": ("list", 1), "first-writes": ("write", 3), "mid-writes": ("write", 25)}


def final_state(tmp_path: Path, kills: list[str]) -> dict[str, tuple[str | None, str | None]]:
    crm = FakeCrm(deals=80, seed=9)
    crm.faults.latency = 0.02  # every request takes a little while
    with serve(crm.app()) as server:
        config = write_config(tmp_path, server.base_url)
        for point in kills:
            kind, count = POINTS[point]
            at = crm.requests[kind] + count
            sync(config, crm.token, kill_when=lambda kind=kind, at=at: crm.requests[kind] >= at)
        if kills:
            store = Store(f"sqlite:///{tmp_path / 'state.db'}")
            interrupted = [run for run in store.runs("fake") if run["status"] == "running"]
            store.close()
            assert interrupted, "a kill landed inside a run (its row still says running)"
        started = time.monotonic()
        assert sync(config, crm.token) in (0, 1)
        assert time.monotonic() - started < 60, "the rerun was not held back by the killed run's lock"
        assert sync(config, crm.token) == 0, "a second clean run has nothing left to repair"
    return {deal_id: crm.remote_values(deal_id) for deal_id in crm.deal_ids()}


@pytest.mark.parametrize(
    "kills", [["listing"], ["first-writes"], ["mid-writes"], ["listing", "first-writes", "mid-writes"]], ids="+".join
)
def test_kill_9_then_rerun_ends_like_a_run_never_killed(tmp_path: Path, kills: list[str]) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "killed").mkdir()
    assert final_state(tmp_path / "killed", kills) == final_state(tmp_path / "clean", [])
