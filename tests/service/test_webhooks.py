"""Webhooks into `crmsync serve`: HubSpot v3 signatures and Pipedrive basic auth, sent by the sandboxes over loopback.

A valid webhook opens the connection's debounce window and one sync follows per window; a bad or stale signature
is 401 and nothing follows. On SQLite the sync runs in the serving process (a real run against the sandbox); on
PostgreSQL one job per connection is queued for the workers.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from crmsync.app import App
from crmsync.config import load_config
from crmsync.sandbox.server import RunningServer, serve, start
from crmsync.service.serve import build
from crmsync.testing.plugin import POSTGRES_ENV
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.webhook import signature
from crmsync_pipedrive.sandbox import PipedriveSandbox

REPO = Path(__file__).resolve().parents[2]
SECRET = "hubspot-client-secret-4f9a"
PD_USER, PD_PASSWORD = "crmsync", "pd-hook-password-77"
DEBOUNCE = 0.6


def write_config(tmp: Path, hubspot: str, pipedrive: PipedriveSandbox, pipedrive_url: str, store: str) -> Path:
    path = tmp / "crmsync.toml"
    path.write_text(
        f"""
[store]
url = "{store}"
[service]
debounce_seconds = {DEBOUNCE}
[connections.hs]
connector = "hubspot"
mapping = "{REPO / "mappings" / "hubspot.toml"}"
webhook = {{ secret = "{SECRET}" }}
[connections.hs.settings]
base_url = "{hubspot}"
token = "pat-eu1-sandbox-0000"
[connections.pd]
connector = "pipedrive"
mapping = "{REPO / "mappings" / "pipedrive.toml"}"
webhook = {{ username = "{PD_USER}", password = "{PD_PASSWORD}" }}
[connections.pd.settings]
base_url = "{pipedrive_url}"
api_token = "{pipedrive.state.api_token}"
"""
    )
    return path


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, connection: str) -> None:
        self.calls.append((connection, time.monotonic()))


@pytest.fixture
def crms() -> Iterator[tuple[HubSpotSandbox, RunningServer, PipedriveSandbox, RunningServer]]:
    hubspot, pipedrive = HubSpotSandbox(deals=12), PipedriveSandbox(deals=12)
    with serve(hubspot.app()) as hs, serve(pipedrive.app()) as pd:
        yield hubspot, hs, pipedrive, pd


def serving(app: App, recorder: Recorder | None = None) -> RunningServer:
    asgi, _ = build(app, recorder)
    return start(asgi, host="127.0.0.1", port=0, name="serve", lifespan="on")


def subscribe_pipedrive(pipedrive: PipedriveSandbox, pd_url: str, target: str, password: str = PD_PASSWORD) -> None:
    answer = httpx.post(
        f"{pd_url}/api/v1/webhooks",
        headers={"x-api-token": pipedrive.state.api_token},
        json={
            "subscription_url": target,
            "event_action": "change",
            "event_object": "deal",
            "http_auth_user": PD_USER,
            "http_auth_password": password,
            "version": "2.0",
        },
    )
    assert answer.status_code == 201, answer.text
    assert "http_auth_password" not in answer.json()["data"]


def wait_for(predicate: object, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture
def sqlite_app(tmp_path: Path, crms: tuple) -> Iterator[App]:
    _, hs, pipedrive, pd = crms
    app = App(load_config(write_config(tmp_path, hs.base_url, pipedrive, pd.base_url, f"sqlite:///{tmp_path}/s.db")))
    yield app
    app.close()


def test_valid_webhooks_make_one_sync_per_connection_per_debounce_window(sqlite_app: App, crms: tuple) -> None:
    hubspot, _, pipedrive, pd = crms
    recorder = Recorder()
    with serving(sqlite_app, recorder) as server:
        hooks = hubspot.subscribe_webhooks(f"{server.base_url}/webhooks/hs", SECRET)
        subscribe_pipedrive(pipedrive, pd.base_url, f"{server.base_url}/webhooks/pd")
        hs_ids, pd_ids = hubspot.deal_ids()[:3], pipedrive.deal_ids()[:3]
        first = time.monotonic()
        for deal_id in hs_ids:
            hubspot.edit_by_hand(deal_id, probability="0.35")
        for deal_id in pd_ids:
            pipedrive.edit_by_hand(deal_id, probability="35")
        hooks.sender.flush()
        pipedrive.webhooks.sender.flush()
        assert [status for _, status in hooks.sender.sent] == [200, 200, 200]
        assert [status for _, status in pipedrive.webhooks.sender.sent] == [200, 200, 200]
        wait_for(lambda: len(recorder.calls) == 2)
        time.sleep(DEBOUNCE * 2)
        assert sorted(name for name, _ in recorder.calls) == ["hs", "pd"]  # three events each, one sync each
        assert all(at - first >= DEBOUNCE * 0.9 for _, at in recorder.calls)

        # a later event opens a new window: one more sync
        hubspot.edit_by_hand(hs_ids[0], probability="0.4")
        hooks.sender.flush()
        wait_for(lambda: len(recorder.calls) == 3)
        assert recorder.calls[-1][0] == "hs"


def test_bad_stale_or_unsigned_webhooks_are_401_and_start_nothing(sqlite_app: App, crms: tuple) -> None:
    hubspot, _, pipedrive, pd = crms
    recorder = Recorder()
    with serving(sqlite_app, recorder) as server:
        hooks = hubspot.subscribe_webhooks(f"{server.base_url}/webhooks/hs", SECRET)
        event = [{"subscriptionType": "deal.propertyChange", "objectId": 1, "eventId": 1}]
        hooks.post(event, secret="not-the-app-secret")
        hooks.post(event, timestamp=str(int((time.time() - 301) * 1000)))  # signed right, but too old
        hooks.sender.flush()
        # an unsigned request, and a signed body altered on the way
        url = f"{server.base_url}/webhooks/hs"
        unsigned = httpx.post(url, json=event)
        stamp = str(int(time.time() * 1000))
        good = signature(SECRET, "POST", url, b'[{"objectId": 1}]', stamp)
        altered = httpx.post(
            url,
            content=b'[{"objectId": 2}]',
            headers={"X-HubSpot-Signature-v3": good, "X-HubSpot-Request-Timestamp": stamp},
        )
        subscribe_pipedrive(pipedrive, pd.base_url, f"{server.base_url}/webhooks/pd", password="wrong")
        pipedrive.edit_by_hand(pipedrive.deal_ids()[0], probability="35")
        pipedrive.webhooks.sender.flush()
        no_auth = httpx.post(f"{server.base_url}/webhooks/pd", json={"meta": {"entity": "deal"}})

        assert [status for _, status in hooks.sender.sent] == [401, 401]
        assert unsigned.status_code == altered.status_code == 401
        assert [status for _, status in pipedrive.webhooks.sender.sent] == [401]
        assert no_auth.status_code == 401
        assert "signature" not in no_auth.text and "password" not in no_auth.text  # the reason stays in our log
        time.sleep(DEBOUNCE * 2)
        assert recorder.calls == []
        # an unknown connection is 404, not a sync
        assert httpx.post(f"{server.base_url}/webhooks/nope", json=[]).status_code == 404


def test_on_sqlite_a_webhook_runs_an_incremental_sync_in_the_serving_process(tmp_path: Path, crms: tuple) -> None:
    hubspot, hs, pipedrive, pd = crms
    config = load_config(write_config(tmp_path, hs.base_url, pipedrive, pd.base_url, f"sqlite:///{tmp_path}/s.db"))
    app = App(config)
    asyncio.run(app.sync(["hs"]))  # the first run, so the webhook's run is incremental
    with serving(app) as server:
        hooks = hubspot.subscribe_webhooks(f"{server.base_url}/webhooks/hs", SECRET)
        hubspot.edit_by_hand(hubspot.deal_ids()[0], probability="0.35")
        hooks.sender.flush()
        wait_for(lambda: any(r["trigger"] == "webhook" and r["status"] != "running" for r in app.store.runs("hs", 5)))
    runs = app.store.runs("hs", 5)
    webhook_run = next(r for r in runs if r["trigger"] == "webhook")
    assert webhook_run["status"] == "ok"
    assert not webhook_run["full"]
    assert webhook_run["fetched"] >= 1
    app.close()


@pytest.mark.skipif(not os.environ.get(POSTGRES_ENV), reason=f"set {POSTGRES_ENV}: the queue needs PostgreSQL")
def test_on_postgresql_webhooks_queue_one_sync_job_per_connection(tmp_path: Path, crms: tuple) -> None:
    from soak import soak

    hubspot, hs, pipedrive, pd = crms
    with soak(os.environ[POSTGRES_ENV], tmp_path) as isolated:
        config = load_config(write_config(tmp_path, hs.base_url, pipedrive, pd.base_url, isolated.url))
        app = App(config)
        with serving(app) as server:
            hooks = hubspot.subscribe_webhooks(f"{server.base_url}/webhooks/hs", SECRET)
            subscribe_pipedrive(pipedrive, pd.base_url, f"{server.base_url}/webhooks/pd")
            for deal_id in hubspot.deal_ids()[:4]:
                hubspot.edit_by_hand(deal_id, probability="0.35")
            for deal_id in pipedrive.deal_ids()[:4]:
                pipedrive.edit_by_hand(deal_id, probability="35")
            hooks.sender.flush()
            pipedrive.webhooks.sender.flush()
            query = sa.text("SELECT args->>'connection', args->>'trigger', lock FROM procrastinate_jobs ORDER BY 1")
            engine = isolated.engine()

            def queued() -> list[tuple[object, ...]]:
                with engine.connect() as conn:
                    return [tuple(r) for r in conn.execute(query) if r[0] is not None]

            wait_for(lambda: len(queued()) >= 2)
            time.sleep(DEBOUNCE * 2)
            assert queued() == [("hs", "webhook", "crmsync:hs"), ("pd", "webhook", "crmsync:pd")]
            engine.dispose()
        app.close()
