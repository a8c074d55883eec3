"""The embedded scheduler: real APScheduler jobs, a real sync against the fake CRM, the store lock."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from apscheduler.triggers.cron import CronTrigger
from support import Served

from crmsync.app import App
from crmsync.config import load_config
from crmsync.errors import LockedError
from crmsync.registry import Registry
from crmsync.scheduler import LOCK, Scheduler
from crmsync.testing.fake import MAPPING_PATH, FakeConnector


def make_app(tmp_path: Path, served: Served) -> App:
    path = tmp_path / "crmsync.toml"
    if not path.exists():
        path.write_text(
            f"""
timezone = "Europe/Amsterdam"
[store]
url = "sqlite:///{tmp_path / "state.db"}"

[connections.hs-tokyo]
connector = "fake"
mapping = "{MAPPING_PATH}"
schedule = "30 3 * * mon-fri"
timezone = "Asia/Tokyo"
[connections.hs-tokyo.settings]
base_url = "{served.base_url}"
token = "{served.box.token}"

[connections.hs-default]
connector = "fake"
mapping = "{MAPPING_PATH}"
schedule = "0 2 * * *"
[connections.hs-default.settings]
base_url = "{served.base_url}"
token = "{served.box.token}"
"""
        )
    return App(load_config(path), Registry({"fake": FakeConnector}))


@pytest.fixture
def scheduler(tmp_path: Path, served: Served) -> Iterator[Scheduler]:
    app = make_app(tmp_path, served)
    scheduler = Scheduler(app)
    scheduler.start()
    yield scheduler
    scheduler.stop()
    app.close()


def test_one_job_per_connection_with_its_cron_and_zone(scheduler: Scheduler) -> None:
    jobs = {job.id: job for job in scheduler.scheduler.get_jobs() if job.id != "heartbeat"}
    assert set(jobs) == {"hs-tokyo", "hs-default"}
    for job in jobs.values():
        assert job.coalesce is True
        assert job.max_instances == 1
        assert isinstance(job.trigger, CronTrigger)
    tokyo, default = jobs["hs-tokyo"].trigger, jobs["hs-default"].trigger
    assert str(tokyo.timezone) == "Asia/Tokyo"
    assert str(default.timezone) == "Europe/Amsterdam", "a connection without a zone uses the config's"
    assert str(tokyo) == str(CronTrigger.from_crontab("30 3 * * mon-fri", timezone="Asia/Tokyo"))
    assert str(default) == str(CronTrigger.from_crontab("0 2 * * *"))
    next_run = jobs["hs-tokyo"].next_run_time
    assert (next_run.hour, next_run.minute, next_run.weekday() < 5) == (3, 30, True)


def test_run_now_runs_a_real_sync(scheduler: Scheduler, served: Served) -> None:
    scheduler.run_now("hs-tokyo")
    deadline = time.monotonic() + 60  # generous: a polling timeout, not a speed assertion
    runs: list[dict[str, object]] = []
    while time.monotonic() < deadline:
        runs = [r for r in scheduler.app.store.runs("hs-tokyo") if r["status"] != "running"]
        if runs:
            break
        time.sleep(0.05)
    assert runs, "the scheduled sync did not finish"
    assert runs[0]["status"] == "ok"
    assert runs[0]["written"] == len(served.box.deal_ids())
    assert scheduler.app.store.runs("hs-default") == [], "only the job made due ran"
    with pytest.raises(KeyError):
        scheduler.run_now("nope")


def test_a_second_scheduler_on_the_same_store_is_refused(scheduler: Scheduler, tmp_path: Path, served: Served) -> None:
    other = Scheduler(make_app(tmp_path, served))
    with pytest.raises(LockedError, match=f"{LOCK} is held by {scheduler.holder}"):
        other.start()
    assert not other.scheduler.running
    other.app.close()


def test_stop_releases_the_lock(tmp_path: Path, served: Served) -> None:
    first = Scheduler(make_app(tmp_path, served))
    first.start()
    first.stop()
    assert first.stopped.is_set()
    assert not first.scheduler.running

    second = Scheduler(make_app(tmp_path, served))
    second.start()
    second.stop()
    first.app.close()
    second.app.close()


def _start_run_process(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "crmsync.testing.fake_cli", "--config", str(config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_crmsync_run_refuses_a_second_scheduler_and_stops_cleanly_on_sigterm(tmp_path: Path, served: Served) -> None:
    """Two real `crmsync run` processes on one store: the second refuses; SIGTERM stops the first and frees the lock."""
    app = make_app(tmp_path, served)
    config = tmp_path / "crmsync.toml"
    first = _start_run_process(config)
    try:
        deadline = time.monotonic() + 60
        while not _lock_holder(app):
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "the first scheduler never took the lock"
            time.sleep(0.2)
        second = subprocess.run(
            [sys.executable, "-m", "crmsync.testing.fake_cli", "--config", str(config), "run"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "refusing to start" in second.stderr
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        assert _lock_holder(app) is None
        assert served.box.token not in out + err + second.stdout + second.stderr
    finally:
        if first.poll() is None:
            first.kill()
        app.close()


def _lock_holder(app: App) -> str | None:
    from sqlalchemy import select

    from crmsync.store.schema import locks

    with app.store.tx() as conn:
        return conn.execute(select(locks.c.holder).where(locks.c.name == LOCK)).scalar_one_or_none()
