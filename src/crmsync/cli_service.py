"""The service commands: `worker`, `schedule`, `serve` and `status` (see README "Running in production")."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from crmsync import machine
from crmsync.app import App
from crmsync.cli_common import EXIT_CONFIG, FormatOption, check_format, opened_app
from crmsync.render import console, errors

log = logging.getLogger("crmsync.service")

HostOption = Annotated[str, typer.Option("--host", help="address for /metrics, /healthz and /readyz")]
PortOption = Annotated[int | None, typer.Option("--http-port", help="serve /metrics, /healthz and /readyz here")]


def start_ops(app: App, host: str, port: int | None) -> object | None:
    """/metrics and health beside a worker or scheduler, on `host:port`; nothing when no port is given."""
    if port is None:
        return None
    from starlette.applications import Starlette

    from crmsync.sandbox.server import start
    from crmsync.service.metrics import ops_routes

    server = start(Starlette(routes=ops_routes(app.store, app.names())), host=host, port=port, name="ops")
    console.print(f"metrics on {server.base_url}/metrics", highlight=False)
    return server


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=64, help="syncs run at once")] = 4,
    schedule: Annotated[
        bool, typer.Option("--schedule/--no-schedule", help="also queue the connections' scheduled slots")
    ] = True,
    host: HostOption = "127.0.0.1",
    http_port: PortOption = None,
) -> None:
    """Run a Procrastinate worker on the store's PostgreSQL: takes sync jobs until SIGTERM, then finishes them."""
    from crmsync.service.queue import Queue

    with opened_app() as app:
        queue = Queue(app.config)
        if not schedule:
            queue.app.periodic_registry.periodic_tasks.clear()
        ops = start_ops(app, host, http_port)
        console.print(
            f"crmsync worker: {len(app.names())} connection(s), {concurrency} at once; stop with SIGTERM",
            highlight=False,
        )
        try:
            asyncio.run(queue.work(concurrency=concurrency, name=f"crmsync@{socket.gethostname()}"))
        finally:
            if ops is not None:
                ops.stop()  # type: ignore[attr-defined]


def schedule(host: HostOption = "127.0.0.1", http_port: PortOption = None) -> None:
    """Queue each connection's scheduled slots (once per slot, however many run) and retry stalled jobs; runs none."""
    from crmsync.service.queue import Queue

    with opened_app() as app:
        queue = Queue(app.config)
        ops = start_ops(app, host, http_port)
        for name in app.names():
            console.print(f"scheduled {escape(name)}: {app.config.schedule(name).expression}", highlight=False)
        try:
            asyncio.run(queue.work(concurrency=1, name=f"crmsync-schedule@{socket.gethostname()}", take_jobs=False))
        finally:
            if ops is not None:
                ops.stop()  # type: ignore[attr-defined]


def serve(
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="port to listen on")] = 8080,
) -> None:
    """Receive HubSpot and Pipedrive webhooks (verified) and queue one incremental sync per connection; also
    serves /metrics, /healthz and /readyz. With a SQLite store the syncs run in this process."""
    import uvicorn

    from crmsync.service.serve import build

    with opened_app() as app:
        takes = [n for n, c in app.config.connections.items() if c.webhook is not None]
        if not takes:
            errors.print("no connection has a [connections.NAME.webhook] table: serving /metrics and health only")
        asgi, _ = build(app)
        for name in takes:
            console.print(f"webhooks for {escape(name)}: POST /webhooks/{escape(name)}", highlight=False)
        uvicorn.run(asgi, host=host, port=port, log_level="warning", access_log=False)


def status(fmt: FormatOption = "terminal") -> None:
    """Each connection: last run and result, next run, lag since the last good run, open writes, queued jobs."""
    from crmsync.service.status import status as build_status

    check_format(fmt)
    with opened_app(secrets=False) as app:
        document = build_status(app.config, app.store)
    if fmt == "json":
        console.print(machine.dumps(document), markup=False, highlight=False, soft_wrap=True)
        return
    table = Table(title=f"Connections ({document['engine']} engine)")
    for column in ("connection", "last run", "result", "trigger", "next run", "lag", "pending", "unknown", "queue"):
        table.add_column(column)
    for row in document["connections"]:
        run = row["last_run"] or {}
        queue = row["queue"]
        table.add_row(
            row["connection"],
            f"{run['id']} at {run['started_at'][:19]}" if run else "never",
            run.get("status", "-"),
            run.get("trigger") or "-",
            row["next_run"][:19],
            _duration(row["lag_s"]),
            str(row["pending_writes"]),
            str(row["unknown_writes"]),
            f"{queue['todo']} waiting, {queue['doing']} running" if queue is not None else "-",
        )
    console.print(table)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "never ok"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def enqueue(app: App, names: list[str], full: bool) -> None:
    """`crmsync sync --enqueue`: queue the syncs for the workers instead of running them here."""
    from crmsync.errors import ConfigError
    from crmsync.service.queue import Queue

    try:
        queue = Queue(app.config)
    except ConfigError as exc:
        errors.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None

    async def go() -> list[int | None]:
        async with queue.app.open_async():
            return [await queue.enqueue(name, full=full, trigger="enqueue") for name in names]

    for name, job in zip(names, asyncio.run(go()), strict=True):
        if job is None:
            console.print(f"{escape(name)}: a sync is already waiting in the queue", highlight=False)
        else:
            console.print(f"{escape(name)}: queued as job {job}", highlight=False)
