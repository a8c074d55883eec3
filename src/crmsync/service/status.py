"""`crmsync status`: each connection's last run, result, next run, lag, open writes and queued jobs."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmsync.config import Config
from crmsync.store import Store
from crmsync.store.ops import age_seconds
from crmsync.store.vocabulary import Outcome


def status(config: Config, store: Store, now: datetime | None = None) -> dict[str, Any]:
    """The document `crmsync status --format json` prints (see README "Machine-readable output")."""
    now = now or datetime.now(UTC)
    latest = store.ops.latest()
    open_writes = store.ops.outcomes((Outcome.PENDING, Outcome.UNKNOWN))
    queue = store.ops.queue()
    connections = []
    for name, connection in config.connections.items():
        schedule = config.schedule(name)
        run = latest.get(name)
        last_run = None
        if run is not None:
            finished = run["finished_at"]
            last_run = {
                "id": run["id"],
                "status": str(run["status"]),
                "trigger": run["trigger"],
                "started_at": run["started_at"].isoformat(),
                "finished_at": finished.isoformat() if finished else None,
                "duration_s": round((finished - run["started_at"]).total_seconds(), 3) if finished else None,
                "fetched": run["fetched"],
                "written": run["written"],
                "failed": run["failed"],
                "error": run["error"],
            }
        success = run["last_success"] if run else None
        lag = age_seconds(success, now)
        connections.append(
            {
                "connection": name,
                "connector": connection.connector,
                "writeback": connection.writeback,
                "schedule": schedule.expression,
                "timezone": schedule.timezone,
                "next_run": schedule.next_after(now).isoformat(),
                "last_run": last_run,
                "last_success": success.isoformat() if success else None,
                "lag_s": round(lag, 3) if lag is not None else None,
                "pending_writes": open_writes.get((name, Outcome.PENDING), 0),
                "unknown_writes": open_writes.get((name, Outcome.UNKNOWN), 0),
                "queue": None if queue is None else {s: queue.get((name, s), 0) for s in ("todo", "doing")},
            }
        )
    return {
        "at": now.isoformat(),
        "engine": "procrastinate" if queue is not None else "embedded",
        "connections": connections,
    }
