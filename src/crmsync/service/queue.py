"""The distributed engine: Procrastinate on the store's PostgreSQL, one sync job per connection at a time.

- Every connection's cron becomes a Procrastinate periodic task (`periodic_id` = the connection), stepped in the
  connection's time zone. Every worker and `crmsync schedule` defers the due slots; the database's unique index on
  (task, periodic id, slot) lets exactly one of them through, so a slot is deferred once however many run.
- Every sync job carries the lock `crmsync:<connection>`: Procrastinate starts no job while another job with the
  same lock is running, so two syncs of one connection never overlap, whichever workers take them. The store's own
  run lock stays underneath as a second guard.
- A worker killed mid-job (SIGKILL, OOM, a lost host) stops sending heartbeats; the `crmsync.retry_stalled` task
  gives its job back to the queue once the worker has been silent for `[service] stalled_after_seconds`.
- Old finished jobs are pruned daily by Procrastinate's own `remove_old_jobs`.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import procrastinate
from procrastinate import exceptions
from procrastinate.app import WorkerOptions
from sqlalchemy.engine import make_url

from crmsync.app import App
from crmsync.config import Config
from crmsync.errors import ConfigError, CrmsyncError, StoreError
from crmsync.registry import Registry
from crmsync.schedules import ZonedCron
from crmsync.store import Store

log = logging.getLogger("crmsync.service")

SYNC_TASK = "crmsync.sync"
STALLED_TASK = "crmsync.retry_stalled"
KEEP_JOBS_HOURS = 14 * 24


class JobFailed(CrmsyncError):
    """A sync job ended with its connection's error; Procrastinate records the job as failed."""


def conninfo(config: Config) -> str:
    """The libpq connection string of the store, which must be PostgreSQL (the queue lives beside the store)."""
    url = make_url(config.store.url)
    if url.get_backend_name() != "postgresql":
        raise ConfigError(
            "the distributed workers keep their queue in the store's database, which must be PostgreSQL "
            f"(store.url is {url.get_backend_name()}); on one machine use `crmsync run` instead",
            file=str(config.path) if config.path else None,
            key="store.url",
        )
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def connection_lock(connection: str) -> str:
    return f"crmsync:{connection}"


def slot_trigger(timestamp: int) -> str:
    return f"schedule {datetime.fromtimestamp(timestamp, UTC):%Y-%m-%dT%H:%M:%SZ}"


class Queue:
    """The Procrastinate app of one configuration: its tasks, the connections' periodic slots, and deferral."""

    def __init__(self, config: Config, registry: Registry | None = None) -> None:
        self.config = config
        self.registry = registry or Registry()
        self._store: Store | None = None  # one per worker process, shared by its jobs' threads
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo(config)))
        self.sync_task = self.app.task(name=SYNC_TASK)(self._run_sync)
        self.stalled_task = self.app.task(name=STALLED_TASK, queueing_lock=STALLED_TASK)(self._retry_stalled)
        for name in config.connections:
            self._register_slot(name)
        self._register_maintenance()

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = App(self.config).store
        return self._store

    def lock(self, connection: str) -> str | None:
        """The Procrastinate lock of the connection's jobs (the soak test's negative control replaces this)."""
        return connection_lock(connection)

    # -- deferring -------------------------------------------------------------------------------------------

    async def enqueue(self, connection: str, *, full: bool = False, trigger: str = "enqueue") -> int | None:
        """Queue one sync of `connection`; None when one of the same trigger is already waiting (debounced)."""
        self.config.connection(connection)  # an unknown name is a ConfigError, not a job that fails later
        _ = self.store  # the queue's tables come with the store's migrations
        deferrer = self.sync_task.configure(
            lock=self.lock(connection),
            queueing_lock=f"{trigger}:{connection}",
            task_kwargs={"connection": connection, "full": full, "trigger": trigger},
        )
        try:
            return await deferrer.defer_async()
        except exceptions.AlreadyEnqueued:
            log.info("[%s] a %s sync is already waiting in the queue", connection, trigger)
            return None
        except exceptions.ConnectorException as exc:
            raise StoreError(f"[{connection}] cannot queue the sync: {exc.__cause__ or exc}") from None

    def _register_slot(self, name: str) -> None:
        schedule = self.config.schedule(name)
        periodic = self.app.periodic_registry.register_task(
            task=self.sync_task,  # type: ignore[arg-type]
            cron=schedule.expression,
            periodic_id=name,
            configure_kwargs={"lock": self.lock(name), "task_kwargs": {"connection": name}},
        )
        # Procrastinate steps crons in UTC; its `croniter` is a cached property, so the zoned one is set in its place
        periodic.__dict__["croniter"] = ZonedCron(schedule)

    def _register_maintenance(self) -> None:
        every = max(1, int(self.config.service.stalled_after_seconds / 2))
        cron = f"* * * * * */{every}" if every < 60 else f"*/{max(1, every // 60)} * * * *"
        self.app.periodic(cron=cron, periodic_id=STALLED_TASK)(self.stalled_task)
        prune = self.app.tasks["procrastinate.builtin_tasks.remove_old_jobs"]
        self.app.periodic(
            cron="17 4 * * *",
            periodic_id="crmsync.prune_jobs",
            task_kwargs={"max_hours": KEEP_JOBS_HOURS, "remove_failed": True},
        )(prune)

    # -- the tasks -------------------------------------------------------------------------------------------

    def _run_sync(
        self, connection: str, timestamp: int | None = None, trigger: str = "enqueue", full: bool = False
    ) -> dict[str, Any]:
        """One connection's sync, in the worker's thread pool (the store is synchronous): a fresh App per job, so
        mapping files are read as they are now and nothing is shared between concurrent jobs."""
        label = slot_trigger(timestamp) if timestamp is not None else trigger
        app = App(self.config, self.registry, store=self.store)
        log.info("[%s] sync job started (%s)", connection, label)
        try:
            outcome = asyncio.run(app.sync([connection], full=full, trigger=label))[0]
        finally:
            app.close()
            log.info("[%s] sync job ended (%s)", connection, label)
        if outcome.error is not None:
            raise JobFailed(f"[{connection}] {outcome.error}")
        assert outcome.result is not None
        return {"run_id": outcome.result.run_id, "status": str(outcome.result.status)}

    async def _retry_stalled(self, timestamp: int | None = None) -> int:
        """Give the jobs of workers silent for `stalled_after_seconds` back to the queue; returns how many."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self.config.service.stalled_after_seconds)
        retried = 0
        for job in stalled:
            try:
                await manager.retry_job(job)
            except exceptions.ProcrastinateException as exc:  # another worker retried it first
                log.info("stalled job %s not retried here: %s", job.id, exc)
                continue
            retried += 1
            log.warning("job %s (%s) was on a worker that stopped answering: queued again", job.id, job.call_string)
        return retried

    # -- running ---------------------------------------------------------------------------------------------

    async def work(self, *, concurrency: int = 4, name: str = "crmsync", take_jobs: bool = True) -> None:
        """Run a worker until SIGTERM/SIGINT (then finish the running jobs). `take_jobs=False` only defers slots."""
        service = self.config.service
        options: WorkerOptions = {
            "concurrency": concurrency,
            "name": name,
            "update_heartbeat_interval": service.heartbeat_seconds,
            "stalled_worker_timeout": service.stalled_after_seconds,
            "install_signal_handlers": True,
        }
        if not take_jobs:
            options["queues"] = ["crmsync.no-jobs"]  # a queue nothing is ever deferred to
        _ = self.store  # migrate first: the queue's tables come with the store's migrations
        async with self.app.open_async():
            try:
                await self.app.run_worker_async(**options)
            finally:
                if self._store is not None:
                    self._store.close()
