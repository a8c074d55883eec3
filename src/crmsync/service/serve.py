"""`crmsync serve`: the CRMs' webhooks in, one incremental sync per connection out; plus /metrics and health.

`POST /webhooks/<connection>` is verified by the connection's connector (`Connector.webhook`): a bad signature,
wrong credentials or a stale timestamp is 401 and queues nothing. Events about deals start (or extend) the
connection's debounce window; when it closes, one incremental sync is queued (Procrastinate, with a queueing lock
so a second `serve` cannot queue a twin) or, on a SQLite store, run in this process. Events that arrive while that
sync runs make one more sync after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmsync.app import App
from crmsync.errors import CrmsyncError, WebhookRejected
from crmsync.service.metrics import ops_routes
from crmsync.webhooks import WebhookRequest

log = logging.getLogger("crmsync.service")

Trigger = Callable[[str], Awaitable[None]]
MAX_BODY = 1024 * 1024  # HubSpot sends at most 100 events per request; nothing legitimate comes near this


class Debouncer:
    """Per connection: the first event opens a window of `seconds`; when it closes, `trigger` runs once.

    Events during a running trigger mark the connection dirty, and one more window follows it.
    """

    def __init__(self, seconds: float, trigger: Trigger) -> None:
        self.seconds = seconds
        self.trigger = trigger
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._running: set[str] = set()
        self._dirty: set[str] = set()

    def event(self, connection: str) -> None:
        if connection in self._running:
            self._dirty.add(connection)
        elif connection not in self._waiting:
            self._waiting[connection] = asyncio.create_task(self._fire(connection))

    async def _fire(self, connection: str) -> None:
        await asyncio.sleep(self.seconds)
        del self._waiting[connection]
        self._running.add(connection)
        try:
            await self.trigger(connection)
        except Exception:
            log.exception("[%s] the webhook-triggered sync could not start", connection)
        finally:
            self._running.discard(connection)
        if connection in self._dirty:
            self._dirty.discard(connection)
            self.event(connection)

    async def aclose(self) -> None:
        for task in list(self._waiting.values()):
            task.cancel()
        await asyncio.gather(*self._waiting.values(), return_exceptions=True)


def embedded_trigger(app: App) -> Trigger:
    """Run the sync in this process (a SQLite store has no queue); the store's run lock still guards overlap."""

    async def run(connection: str) -> None:
        def sync() -> None:
            worker = App(app.config, app.registry, store=app.store)
            try:
                asyncio.run(worker.sync([connection], trigger="webhook"))
            finally:
                worker.close()

        await asyncio.to_thread(sync)

    return run


class QueueTrigger:
    """Queue the sync for the workers; the queue's connection pool opens at the first webhook and closes with serve."""

    def __init__(self, app: App) -> None:
        from crmsync.service.queue import Queue

        self.queue = Queue(app.config)
        self.opened = False

    async def __call__(self, connection: str) -> None:
        if not self.opened:
            await self.queue.app.open_async()
            self.opened = True
        job = await self.queue.enqueue(connection, trigger="webhook")
        log.info("[%s] webhook: sync queued (job %s)", connection, job if job is not None else "already waiting")

    async def aclose(self) -> None:
        if self.opened:
            await self.queue.app.close_async()
            self.opened = False


def build(app: App, trigger: Trigger | None = None) -> tuple[Starlette, Debouncer]:
    """The ASGI app of `crmsync serve` and its debouncer."""
    config = app.config
    if trigger is None:
        postgres = config.store.url.startswith("postgresql")
        trigger = QueueTrigger(app) if postgres else embedded_trigger(app)
    debouncer = Debouncer(config.service.debounce_seconds, trigger)

    async def receive(request: Request) -> Response:
        name = request.path_params["connection"]
        connection = config.connections.get(name)
        if connection is None or connection.webhook is None:
            return JSONResponse({"error": f"no connection {name!r} takes webhooks here"}, 404)
        try:
            webhook = app.registry.get(connection.connector).webhook
        except CrmsyncError as exc:
            return JSONResponse({"error": str(exc)}, 404)
        if webhook is None:
            return JSONResponse({"error": f"the {connection.connector} connector takes no webhooks"}, 404)
        body = await request.body()
        if len(body) > MAX_BODY:
            return JSONResponse({"error": "body too large"}, 413)
        url = str(request.url)
        if config.service.public_url:
            query = f"?{request.url.query}" if request.url.query else ""
            url = config.service.public_url.rstrip("/") + request.url.path + query
        received = WebhookRequest(request.method, url, {k.lower(): v for k, v in request.headers.items()}, body)
        try:
            webhook.verify(received, connection.webhook, time.time())
        except WebhookRejected as exc:
            log.warning("[%s] webhook refused: %s", name, exc)
            return JSONResponse({"error": "unauthorized"}, 401)  # the reason stays in our log, not with the caller
        try:
            parsed = json.loads(body)
        except ValueError:
            return JSONResponse({"error": "the body is not JSON"}, 400)
        if not webhook.about_deals(parsed):
            return JSONResponse({"accepted": True, "sync": False})
        debouncer.event(name)
        return JSONResponse({"accepted": True, "sync": True})

    routes = [
        Route("/webhooks/{connection}", receive, methods=["POST"]),
        *ops_routes(app.store, list(config.connections)),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        await debouncer.aclose()
        if isinstance(trigger, QueueTrigger):
            await trigger.aclose()

    return Starlette(routes=routes, lifespan=lifespan), debouncer
