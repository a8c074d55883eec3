"""Prometheus metrics, read from the store at scrape time, and the health endpoints every service process serves.

The figures come from the database, not from counters in one process, so `/metrics` of `serve`, of any worker or
of `crmsync run` shows the runs of every process on the store, and survives restarts.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from crmsync.store import Store
from crmsync.store.vocabulary import Outcome, RunStatus

log = logging.getLogger("crmsync.service")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_COUNTS = {
    "fetched": ("crmsync_deals_fetched", "Deals read from the CRM"),
    "written": ("crmsync_deals_written", "Deals written back to the CRM"),
    "failed": ("crmsync_deals_failed", "Deals whose write failed"),
    "skipped": ("crmsync_fields_skipped", "Fields left as they were (respected, archived, unmapped, refused)"),
    "requests": ("crmsync_requests", "Requests sent to the CRM"),
    "throttled": ("crmsync_throttled", "429 answers from the CRM"),
    "deferred": ("crmsync_deals_deferred", "Deals left for a later run by the daily budget share"),
}


class StoreCollector(Collector):
    """Collects crmsync's metrics from the store on every scrape."""

    def __init__(self, store: Store, connections: list[str]) -> None:
        self.store = store
        self.connections = connections

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("crmsync_store_up", "1 when the store answered this scrape")
        try:
            families = list(self._families())
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: the store did not answer: %s", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self) -> Iterator[Metric]:
        ops = self.store.ops
        runs = CounterMetricFamily(
            "crmsync_runs", "Sync runs by connection and status", labels=["connection", "status"]
        )
        counts = {key: CounterMetricFamily(name, doc, labels=["connection"]) for key, (name, doc) in _COUNTS.items()}
        sums: dict[str, dict[str, int]] = {key: dict.fromkeys(self.connections, 0) for key in _COUNTS}
        for row in ops.run_totals():
            runs.add_metric([row["connection"], row["status"]], row["runs"])
            for key in _COUNTS:
                sums[key][row["connection"]] = sums[key].get(row["connection"], 0) + int(row[key])
        yield runs
        for key, family in counts.items():
            for connection, value in sorted(sums[key].items()):
                family.add_metric([connection], value)
            yield family

        respected = CounterMetricFamily(
            "crmsync_fields_respected", "Fields left alone because a person set them", labels=["connection"]
        )
        open_writes = GaugeMetricFamily(
            "crmsync_writes_open",
            "Ledger rows awaiting the CRM's answer or a read-back",
            labels=["connection", "outcome"],
        )
        outcomes = ops.outcomes((Outcome.RESPECTED, Outcome.PENDING, Outcome.UNKNOWN))
        for connection in self.connections:
            respected.add_metric([connection], outcomes.get((connection, Outcome.RESPECTED), 0))
            for outcome in (Outcome.PENDING, Outcome.UNKNOWN):
                open_writes.add_metric([connection, outcome], outcomes.get((connection, outcome), 0))
        yield respected
        yield open_writes

        now = datetime.now(UTC)
        duration = GaugeMetricFamily(
            "crmsync_last_run_duration_seconds", "Duration of the newest finished sync", labels=["connection"]
        )
        success = GaugeMetricFamily(
            "crmsync_last_success_timestamp_seconds", "When a sync last finished ok or partial", labels=["connection"]
        )
        running = GaugeMetricFamily("crmsync_running", "1 while a sync of the connection runs", labels=["connection"])
        for connection, row in sorted(ops.latest().items()):
            is_running = row["status"] == RunStatus.RUNNING
            running.add_metric([connection], 1 if is_running else 0)
            if not is_running and row["finished_at"] is not None:
                duration.add_metric([connection], (row["finished_at"] - row["started_at"]).total_seconds())
            if row["last_success"] is not None:
                success.add_metric([connection], row["last_success"].timestamp())
        yield duration
        yield success
        yield running
        age = GaugeMetricFamily("crmsync_scrape_timestamp_seconds", "When this scrape read the store")
        age.add_metric([], now.timestamp())
        yield age

        queue = ops.queue()
        if queue is not None:
            depth = GaugeMetricFamily(
                "crmsync_queue_jobs", "Sync jobs in the workers' queue", labels=["connection", "status"]
            )
            for connection in self.connections:
                for status in ("todo", "doing"):
                    depth.add_metric([connection, status], queue.get((connection, status), 0))
            yield depth


def ops_routes(store: Store, connections: list[str], ready: list[str] | None = None) -> list[Route]:
    """/metrics, /healthz (the process answers) and /readyz (the store answers, and whatever `ready` adds)."""
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, connections))

    async def metrics(_request: Request) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE)

    async def healthz(_request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(_request: Request) -> Response:
        try:
            with store.tx() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:
            return JSONResponse({"ready": False, "reason": f"the store does not answer ({type(exc).__name__})"}, 503)
        if ready:
            return JSONResponse({"ready": False, "reason": "; ".join(ready)}, 503)
        return JSONResponse({"ready": True})

    return [Route("/metrics", metrics), Route("/healthz", healthz), Route("/readyz", readyz)]
