"""The embedded scheduler behind `crmsync run`: APScheduler 3.11, one cron job per connection.

Jobs coalesce missed runs, never overlap for one connection (max_instances=1, and the store's run lock across
processes), and a 'scheduler' lock in the store makes a second `crmsync run` on the same store refuse to start.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler

from crmsync.app import App
from crmsync.sync.lock import holder_id

log = logging.getLogger("crmsync.scheduler")

LOCK = "scheduler"
HEARTBEAT = timedelta(seconds=30)
STALE_AFTER = timedelta(minutes=3)


class Scheduler:
    """Owns the APScheduler instance and the store lock for one `crmsync run` process."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.holder = holder_id()
        self.stopped = threading.Event()
        self.scheduler = BackgroundScheduler(
            timezone=app.config.timezone,
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        self.runs: list[str] = []

    def start(self) -> None:
        """Take the store lock (LockedError when another scheduler has it), then schedule every connection."""
        names = self.app.names()
        self.app.validate(names, keep=False)
        self.app.store.acquire_lock(LOCK, self.holder, STALE_AFTER)
        for name in names:
            trigger = self.app.config.schedule(name).trigger()
            self.scheduler.add_job(self._run_connection, trigger, args=[name], id=name, name=f"sync {name}")
        self.scheduler.start()
        # The heartbeat has a thread of its own: long syncs filling APScheduler's pool must not starve it.
        self._beating = threading.Thread(target=self._heartbeat_loop, name="crmsync-heartbeat", daemon=True)
        self._beating.start()
        for job in self.scheduler.get_jobs():
            log.info("scheduled %s: next run %s", job.name, job.next_run_time)

    def run_now(self, name: str) -> None:
        """Make a connection's job due now (still through APScheduler, so no overlap is possible)."""
        job = self.scheduler.get_job(name)
        if job is None:
            raise KeyError(name)
        job.modify(next_run_time=datetime.now(UTC))

    def _heartbeat_loop(self) -> None:
        while not self.stopped.wait(HEARTBEAT.total_seconds()):
            if not self.app.store.heartbeat(LOCK, self.holder):
                log.error("the scheduler lock was taken over by another `crmsync run`; stopping this one")
                self.stopped.set()

    def _run_connection(self, name: str) -> None:
        log.info("[%s] scheduled sync starting", name)
        outcomes = asyncio.run(self.app.sync([name], trigger="schedule"))
        for outcome in outcomes:
            if outcome.result is not None:
                r = outcome.result
                log.info(
                    "[%s] run %s %s: %s fetched, %s written, %s failed",
                    name,
                    r.run_id,
                    r.status,
                    r.fetched,
                    r.written,
                    r.failed,
                )
        self.runs.append(name)

    def stop(self) -> None:
        """Stop scheduling, let a running sync finish, release the lock."""
        self.stopped.set()
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        self.app.store.release_lock(LOCK, self.holder)

    def serve_forever(self) -> None:
        """Run until SIGTERM or SIGINT, then shut down cleanly."""

        def on_signal(signum: int, _frame: FrameType | None) -> None:
            log.info("received %s: finishing the running sync, then stopping", signal.Signals(signum).name)
            self.stopped.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start()
        try:
            self.stopped.wait()
        finally:
            self.stop()
