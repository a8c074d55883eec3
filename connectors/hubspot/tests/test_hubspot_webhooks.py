"""HubSpot webhooks into `crmsync serve`: the sandbox signs deal events with the v3 signature as HubSpot does; a
wrong secret, an old timestamp or an altered body is 401 and starts nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from crmsync.app import App
from crmsync.config import load_config
from crmsync.testing.service import Recorder, serving, wait_for
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.webhook import signature, signed_uri

ROOT = Path(__file__).resolve().parents[3]
SECRET = "hubspot-client-secret-4f9a"
DEBOUNCE = 0.5


@pytest.fixture
def app(served: tuple[HubSpotSandbox, str], tmp_path: Path) -> Iterator[App]:
    box, url = served
    path = tmp_path / "crmsync.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path}/s.db"\n[service]\ndebounce_seconds = {DEBOUNCE}\n'
        f'[connections.hs]\nconnector = "hubspot"\nmapping = "{ROOT / "mappings" / "hubspot.toml"}"\n'
        f'webhook = {{ secret = "{SECRET}" }}\n[connections.hs.settings]\nbase_url = "{url}"\ntoken = "{box.token}"\n'
    )
    made = App(load_config(path))
    yield made
    made.close()


def test_signed_deal_events_make_one_sync(served: tuple[HubSpotSandbox, str], app: App) -> None:
    box, _ = served
    recorder = Recorder()
    with serving(app, recorder) as server:
        hooks = box.subscribe_webhooks(f"{server.base_url}/webhooks/hs", SECRET)
        for deal_id in box.deal_ids()[:3]:
            box.edit_by_hand(deal_id, probability="0.35")
        box.delete(box.deal_ids()[3])
        hooks.sender.flush()
        assert [status for _, status in hooks.sender.sent] == [200] * 4
        wait_for(lambda: len(recorder.calls) == 1)
        time.sleep(DEBOUNCE * 2)
        assert [name for name, _ in recorder.calls] == ["hs"]


def test_bad_old_or_altered_webhooks_are_refused(served: tuple[HubSpotSandbox, str], app: App) -> None:
    box, _ = served
    recorder = Recorder()
    with serving(app, recorder) as server:
        url = f"{server.base_url}/webhooks/hs"
        hooks = box.subscribe_webhooks(url, SECRET)
        event = [{"subscriptionType": "deal.propertyChange", "objectId": 1, "eventId": 1}]
        hooks.post(event, secret="not-the-app-secret")
        hooks.post(event, timestamp=str(int((time.time() - 301) * 1000)))  # signed right, but too old
        hooks.sender.flush()
        stamp = str(int(time.time() * 1000))
        good = signature(SECRET, "POST", url, b'[{"objectId": 1}]', stamp)
        headers = {"X-HubSpot-Signature-v3": good, "X-HubSpot-Request-Timestamp": stamp}
        altered = httpx.post(url, content=b'[{"objectId": 2}]', headers=headers)
        unsigned = httpx.post(url, json=event)
        assert [status for _, status in hooks.sender.sent] == [401, 401]
        assert altered.status_code == unsigned.status_code == 401
        time.sleep(DEBOUNCE * 2)
        assert recorder.calls == []


def test_the_signed_uri_decodes_what_hubspot_decodes() -> None:
    assert signed_uri("https://x.nl/webhooks/hs%3Aa?x=%2F%40%21%24%27%28%29%2A%2C%3B") == (
        "https://x.nl/webhooks/hs:a?x=/@!$'()*,;"
    )
    assert signed_uri("https://x.nl/a%20b") == "https://x.nl/a%20b", "other escapes stay as sent"
