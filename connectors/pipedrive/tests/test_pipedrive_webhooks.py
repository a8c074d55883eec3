"""Pipedrive webhooks into `crmsync serve`: subscribed through the sandbox's POST /api/v1/webhooks, sent as v2
webhooks with basic auth; wrong credentials are 401 and start nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crmsync.app import App
from crmsync.config import load_config
from crmsync.testing.service import Recorder, serving, wait_for
from crmsync_pipedrive.sandbox import PipedriveSandbox

ROOT = Path(__file__).resolve().parents[3]
USER, PASSWORD = "crmsync", "pd-hook-password-77"
DEBOUNCE = 0.5


@pytest.fixture
def app(sandbox: PipedriveSandbox, base_url: str, tmp_path: Path) -> Iterator[App]:
    path = tmp_path / "crmsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n[service]\ndebounce_seconds = {DEBOUNCE}\n'
        f'[connections.pd]\nconnector = "pipedrive"\nmapping = "{ROOT / "mappings" / "pipedrive.toml"}"\n'
        f'webhook = {{ username = "{USER}", password = "{PASSWORD}" }}\n[connections.pd.settings]\n'
        f'base_url = "{base_url}"\napi_token = "{sandbox.state.api_token}"\n'
    )
    made = App(load_config(path))
    yield made
    made.close()


def subscribe(sandbox: PipedriveSandbox, base_url: str, target: str, password: str) -> None:
    answer = httpx.post(
        f"{base_url}/api/v1/webhooks",
        headers={"x-api-token": sandbox.state.api_token},
        json={
            "subscription_url": target,
            "event_action": "change",
            "event_object": "deal",
            "http_auth_user": USER,
            "http_auth_password": password,
            "version": "2.0",
        },
    )
    assert answer.status_code == 201, answer.text
    assert "http_auth_password" not in answer.json()["data"]


def test_deal_changes_with_the_right_credentials_make_one_sync(
    sandbox: PipedriveSandbox, base_url: str, app: App
) -> None:
    recorder = Recorder()
    with serving(app, recorder) as server:
        subscribe(sandbox, base_url, f"{server.base_url}/webhooks/pd", PASSWORD)
        for deal_id in sandbox.deal_ids()[:3]:
            sandbox.edit_by_hand(deal_id, probability="35")
        sandbox.webhooks.sender.flush()
        assert [status for _, status in sandbox.webhooks.sender.sent] == [200, 200, 200]
        body = sandbox.webhooks.sender.sent[0][0].body
        assert b'"entity": "deal"' in body and b'"version": "2.0"' in body
        wait_for(lambda: len(recorder.calls) == 1)
        time.sleep(DEBOUNCE * 2)
        assert [name for name, _ in recorder.calls] == ["pd"]


def test_wrong_or_missing_credentials_are_refused(sandbox: PipedriveSandbox, base_url: str, app: App) -> None:
    recorder = Recorder()
    with serving(app, recorder) as server:
        subscribe(sandbox, base_url, f"{server.base_url}/webhooks/pd", "wrong")
        sandbox.edit_by_hand(sandbox.deal_ids()[0], probability="35")
        sandbox.webhooks.sender.flush()
        no_auth = httpx.post(f"{server.base_url}/webhooks/pd", json={"meta": {"entity": "deal"}})
        assert [status for _, status in sandbox.webhooks.sender.sent] == [401]
        assert no_auth.status_code == 401
        time.sleep(DEBOUNCE * 2)
        assert recorder.calls == []
