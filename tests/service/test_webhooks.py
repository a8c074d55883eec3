"""`crmsync serve` with a connector's webhook (a test connector signing with a shared secret), on loopback: verified
events open a per-connection debounce window and one sync follows; refused ones are 401 and start nothing. On SQLite
the sync runs in the serving process; on PostgreSQL one job per connection is queued. The HubSpot and Pipedrive
signature schemes, sent by their sandboxes, are tested in their connectors' tests."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from support import TOKEN_VAR, Served

from crmsync.app import App
from crmsync.config import load_config
from crmsync.config_service import WebhookConfig
from crmsync.errors import WebhookRejected
from crmsync.registry import Registry
from crmsync.testing.fake import MAPPING_PATH, FakeConnector
from crmsync.testing.plugin import POSTGRES_ENV
from crmsync.testing.service import Recorder, serving, wait_for
from crmsync.webhooks import Webhook, WebhookRequest, same

SECRET = "test-webhook-secret-5a"
DEBOUNCE = 0.6


def sign(body: bytes) -> str:
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def verify(request: WebhookRequest, config: WebhookConfig, now: float) -> None:
    if not same(request.headers.get("x-test-signature", ""), sign(request.body)) or config.secret != SECRET:
        raise WebhookRejected("bad signature")


class Hooked(FakeConnector):
    webhook = Webhook(verify=verify, about_deals=lambda body: isinstance(body, dict) and body.get("object") == "deal")


def config_file(tmp: Path, served: Served, store: str) -> Path:
    path = tmp / "crmsync.toml"
    blocks = [f'[store]\nurl = "{store}"\n[service]\ndebounce_seconds = {DEBOUNCE}\n']
    for name in ("a", "b"):
        blocks.append(
            f'[connections.{name}]\nconnector = "fake"\nmapping = "{MAPPING_PATH}"\n'
            f'webhook = {{ secret = "{SECRET}" }}\n[connections.{name}.settings]\nbase_url = "{served.base_url}"\n'
            f'token = "${{{TOKEN_VAR}}}"\nmax_retries = 0\n'
        )
    path.write_text("\n".join(blocks))
    return path


@pytest.fixture
def app(served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv(TOKEN_VAR, served.box.token)
    made = App(load_config(config_file(tmp_path, served, f"sqlite:///{tmp_path}/s.db")), Registry({"fake": Hooked}))
    yield made
    made.close()


def post(url: str, body: Any, signature: str | None = None) -> httpx.Response:
    raw = json.dumps(body).encode()
    headers = {"content-type": "application/json", "x-test-signature": signature or sign(raw)}
    return httpx.post(url, content=raw, headers=headers)


def test_a_burst_of_events_makes_one_sync_per_connection_per_window(app: App) -> None:
    recorder = Recorder()
    with serving(app, recorder) as server:
        first = time.monotonic()
        for _ in range(5):
            assert post(f"{server.base_url}/webhooks/a", {"object": "deal"}).json() == {"accepted": True, "sync": True}
        assert post(f"{server.base_url}/webhooks/b", {"object": "deal"}).status_code == 200
        assert post(f"{server.base_url}/webhooks/b", {"object": "person"}).json() == {"accepted": True, "sync": False}
        wait_for(lambda: len(recorder.calls) == 2)
        time.sleep(DEBOUNCE * 2)
        assert sorted(name for name, _ in recorder.calls) == ["a", "b"]
        assert all(at - first >= DEBOUNCE * 0.9 for _, at in recorder.calls), "each waited for its window"
        post(f"{server.base_url}/webhooks/a", {"object": "deal"})  # a later event: a new window, one more sync
        wait_for(lambda: len(recorder.calls) == 3)
        assert recorder.calls[-1][0] == "a"


def test_refused_webhooks_are_401_and_start_nothing(app: App) -> None:
    recorder = Recorder()
    with serving(app, recorder) as server:
        url = f"{server.base_url}/webhooks/a"
        assert post(url, {"object": "deal"}, signature="0" * 64).status_code == 401
        unsigned = httpx.post(url, json={"object": "deal"})
        assert unsigned.status_code == 401 and unsigned.json() == {"error": "unauthorized"}  # no reason given away
        assert post(f"{server.base_url}/webhooks/nope", {"object": "deal"}).status_code == 404
        assert httpx.post(url, content=b"{", headers={"x-test-signature": sign(b"{")}).status_code == 400
        time.sleep(DEBOUNCE * 2)
        assert recorder.calls == []


def test_on_sqlite_a_webhook_runs_an_incremental_sync_in_the_serving_process(app: App) -> None:
    asyncio.run(app.sync(["a"]))  # the first run, so the webhook's run is incremental
    with serving(app) as server:
        post(f"{server.base_url}/webhooks/a", {"object": "deal"})
        wait_for(lambda: any(r["trigger"] == "webhook" and r["status"] != "running" for r in app.store.runs("a", 5)))
    run = next(r for r in app.store.runs("a", 5) if r["trigger"] == "webhook")
    assert run["status"] == "ok" and not run["full"]
    assert [r["trigger"] for r in app.store.runs("b", 5)] == [], "only the connection the webhook named"


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"set {POSTGRES_ENV}: the queue needs PostgreSQL")
def test_on_postgresql_webhooks_queue_one_sync_job_per_connection(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from soak import soak

    monkeypatch.setenv(TOKEN_VAR, served.box.token)
    with soak(os.environ[POSTGRES_ENV], tmp_path) as isolated:
        app = App(load_config(config_file(tmp_path, served, isolated.url)), Registry({"fake": Hooked}))
        with serving(app) as server:
            for name in ("a", "a", "a", "b", "b"):
                post(f"{server.base_url}/webhooks/{name}", {"object": "deal"})
            query = sa.text("SELECT args->>'connection', args->>'trigger', lock FROM procrastinate_jobs ORDER BY 1")
            engine = isolated.engine()

            def queued() -> list[tuple[Any, ...]]:
                with engine.connect() as conn:
                    return [tuple(r) for r in conn.execute(query) if r[0] is not None]

            wait_for(lambda: len(queued()) >= 2)
            time.sleep(DEBOUNCE * 2)
            assert queued() == [("a", "webhook", "crmsync:a"), ("b", "webhook", "crmsync:b")]
            engine.dispose()
        app.close()
