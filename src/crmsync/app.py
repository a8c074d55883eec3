"""App: a loaded configuration with its store and connectors — what the CLI, scheduler and demo drive."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from crmsync import periods
from crmsync.config import Config
from crmsync.connector import Connector
from crmsync.errors import ConfigError, ConnectorError, ConnectorLoadError, CrmsyncError
from crmsync.mapping import Mapping, load_mapping
from crmsync.model import Deal, DealStatus
from crmsync.registry import Registry
from crmsync.rules import find_stage_rule
from crmsync.store import Store
from crmsync.sync import RunResult, SyncEngine
from crmsync.sync.result import Mode

log = logging.getLogger("crmsync.app")


@dataclass
class ConnectionOutcome:
    """How one connection's sync ended: a result, or the error that stopped it."""

    connection: str
    result: RunResult | None = None
    error: CrmsyncError | None = None


@dataclass
class CheckReport:
    connection: str
    problems: list[str] = field(default_factory=list)
    unmapped_stages: list[str] = field(default_factory=list)
    error: CrmsyncError | None = None


def log_run(result: RunResult, seconds: float) -> None:
    """One structured record per finished run: in JSON logs its facts are keys (see `crmsync.logs`)."""
    fields = {
        "run_id": result.run_id,
        "status": str(result.status),
        "mode": result.mode,
        "full": result.full,
        **result.counts(),
        "duration_s": round(seconds, 3),
    }
    log.info(
        "[%s] run %s %s: fetched %s, written %s, skipped %s, failed %s, %s requests in %.1f s",
        result.connection,
        result.run_id,
        result.status,
        result.fetched,
        result.written,
        result.skipped,
        result.failed,
        result.requests,
        seconds,
        extra={"connection": result.connection, "event": "run.finished", "fields": fields},
    )


class App:
    """Everything one configuration needs, built lazily so a config error surfaces before any network call."""

    def __init__(self, config: Config, registry: Registry | None = None, *, store: Store | None = None) -> None:
        self.config = config
        self.registry = registry or Registry()
        self._store: Store | None = store
        self._owns_store = store is None  # a store handed in (a worker's, shared by its jobs) stays open
        self._mappings: dict[str, Mapping] = {}
        self._built: dict[str, Connector] = {}  # built by validate, not yet handed out

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.config.store.url, config_file=str(self.config.path) if self.config.path else None)
        return self._store

    def today(self) -> date:
        """Today in the configured time zone: the date the rules compare close dates with."""
        return periods.today(self.config.timezone)

    def close(self) -> None:
        """Close the store, and any connector built for this command that was never used."""
        if self._built:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                asyncio.run(self.release())
            else:  # never used, so it holds no connection; dropping it is enough
                self._built.clear()
        if self._store is not None and self._owns_store:
            self._store.close()

    def names(self, only: list[str] | None = None) -> list[str]:
        if only:
            for name in only:
                self.config.connection(name)
            return only
        return list(self.config.connections)

    def mapping(self, name: str) -> Mapping:
        if name not in self._mappings:
            self._mappings[name] = load_mapping(self.config.mapping_path(name))
        return self._mappings[name]

    def validate(self, names: list[str], *, keep: bool = True) -> None:
        """Load every named connection's mapping and settings: raises ConfigError before anything is fetched.

        The connectors built on the way are kept for this command (`connector` hands each out once), so one
        command builds one connector per connection. `keep=False` (a scheduler at start-up) keeps none: each
        scheduled sync builds its own, with the mapping as it is then.
        """
        for name in names:
            if name not in self._built:
                self._mappings.pop(name, None)  # read the mapping file again: it may have been edited
                connector = self._build(name)
                if keep:
                    self._built[name] = connector

    def connector(self, name: str) -> Connector:
        """The connection's connector for this command; the caller closes it (`async with`)."""
        return self._built.pop(name, None) or self._build(name)

    async def release(self) -> None:
        """Close the connectors built for this command that were never handed out."""
        built, self._built = self._built, {}
        for connector in built.values():
            await connector.aclose()

    def _build(self, name: str) -> Connector:
        connection = self.config.connection(name)
        file = str(self.config.path) if self.config.path else None
        try:
            self.registry.get(connection.connector)
        except ConnectorLoadError as exc:
            raise ConfigError(str(exc), file=file, key=f"connections.{name}.connector") from None
        return self.registry.build(connection.connector, name, connection.settings, self.mapping(name), file=file)

    async def sync(
        self,
        names: list[str],
        *,
        dry_run: bool = False,
        full: bool = False,
        on_progress: Callable[[str, int], None] | None = None,
        trigger: str = "manual",
    ) -> list[ConnectionOutcome]:
        """Sync each connection in turn; a failing connection is reported and the others still run.

        Mapping files are read again for every sync, so a long-running scheduler picks up an edited mapping.
        Each connection's connector is built once (by `validate`, here or by the caller) and closed after its run.
        """
        self.validate(names)
        try:
            return await self._sync_each(names, dry_run=dry_run, full=full, on_progress=on_progress, trigger=trigger)
        finally:
            await self.release()  # connectors a cancelled sync never reached

    async def _sync_each(
        self,
        names: list[str],
        *,
        dry_run: bool,
        full: bool,
        on_progress: Callable[[str, int], None] | None,
        trigger: str,
    ) -> list[ConnectionOutcome]:
        outcomes = []
        for name in names:
            connection = self.config.connection(name)
            mode: Mode = "dry-run" if dry_run or connection.writeback == "dry-run" else "apply"
            every = connection.reconcile_every
            reconcile = full or (every > 0 and self.store.count_runs(name) % every == 0)
            progress = functools.partial(on_progress, name) if on_progress else None
            try:
                async with self.connector(name) as connector:
                    engine = SyncEngine(
                        self.store,
                        connector,
                        mode=mode,
                        full=full,
                        reconcile=reconcile,
                        overlap=timedelta(minutes=connection.overlap_minutes),
                        today=self.today(),
                        on_progress=progress,
                        trigger=trigger,
                        daily_share=connection.max_daily_share,
                    )
                    started = time.monotonic()
                    result = await engine.run()
                    outcomes.append(ConnectionOutcome(name, result=result))
                    log_run(result, time.monotonic() - started)
            except ConnectorError as exc:
                log.error("%s", exc)
                outcomes.append(ConnectionOutcome(name, error=exc))
            except CrmsyncError as exc:
                log.error("[%s] %s", name, exc)
                outcomes.append(ConnectionOutcome(name, error=exc))
            except Exception as exc:  # a bug in one connector must not stop the other connections
                log.exception("[%s] the sync stopped on an unexpected error", name)
                error = CrmsyncError(f"[{name}] unexpected {type(exc).__name__}: {exc}")
                outcomes.append(ConnectionOutcome(name, error=error))
        return outcomes

    async def check(self, name: str) -> CheckReport:
        """Reach the CRM, then compare the mapping with its live reference data."""
        report = CheckReport(name)
        mapping = self.mapping(name)
        try:
            async with self.connector(name) as connector:
                await connector.check()
                reference = await connector.reference()
                report.problems = connector.mapping_problems(reference)
        except CrmsyncError as exc:
            report.error = exc
            return report
        for stage in reference.stages.values():
            pipeline = reference.pipelines[stage.pipeline_id]
            probe = Deal(
                connection=name, source_id="-", name="-", pipeline=pipeline, stage=stage, status=DealStatus.OPEN
            )
            if not stage.closed and find_stage_rule(mapping, probe) is None:
                report.unmapped_stages.append(f"{pipeline.label} / {stage.label} ({stage.id})")
        return report
