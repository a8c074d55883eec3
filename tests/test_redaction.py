"""Secrets never reach error text, ledger reasons, quarantine payloads or run errors, even when a CRM's error body
echoes the request headers and the text is cut to a length."""

from __future__ import annotations

import json

import httpx
import pytest

from crmsync import redact
from crmsync.errors import ApiError
from crmsync.http import ApiClient
from crmsync.store import Outcome, RunStatus, Store
from crmsync.store.ledger import LedgerRow

CANARY = "canary-secret-7f3a9c2e5b1d4f6a8e0c"


@pytest.fixture(autouse=True)
def registered() -> None:
    redact.register(CANARY)


def echoing_gateway(request: httpx.Request) -> httpx.Response:
    """A debug proxy that answers 400 with the request headers, the token past a 300-character cut."""
    padding = "x" * 280
    return httpx.Response(
        400, json={"padding": padding, "headers": {"authorization": request.headers["authorization"]}}
    )


async def test_an_error_body_echoing_the_token_is_masked_before_it_is_cut() -> None:
    client = ApiClient(
        "c", "http://crm.test", headers={"authorization": f"Bearer {CANARY}"},
        transport=httpx.MockTransport(echoing_gateway), max_retries=0,
    )  # fmt: skip
    with pytest.raises(ApiError) as info:
        await client.request("PATCH", "/deals/1", json_body={})
    await client.aclose()
    for text in (str(info.value), repr(info.value), info.value.detail or ""):
        assert CANARY[:12] not in text, "a prefix of the token survived the cut"


def test_clip_masks_then_cuts() -> None:
    text = "y" * 290 + CANARY
    assert redact.clip(text, 300) == ("y" * 290 + "***")[:300]
    assert CANARY[:8] not in (redact.clip(text, 300) or "")
    assert redact.clip("z" * 10, 5) == "zzzz…"


def test_the_store_keeps_no_secret(store: Store) -> None:
    run_id = store.start_run("c", kind="sync", mode="apply", full=True, digest="d", cursor_before=None)
    [ledger_id] = store.add_ledger(
        [LedgerRow(run_id, "c", "1", "category", None, "commit", Outcome.PENDING, reason=f"planned {CANARY}")]
    )
    store.settle_ledger([(ledger_id, Outcome.FAILED, "400: " + "x" * 490 + CANARY)])
    store.quarantine(run_id, "c", "2", f"bad {CANARY}", {"token": CANARY, "deep": [CANARY]})
    store.finish_run(run_id, RunStatus.FAILED, {}, error=f"boom {CANARY}")
    rows = [*store.ledger(run_id), *store.quarantined(run_id), *store.runs("c")]
    dumped = json.dumps(rows, default=str)
    assert CANARY[:10] not in dumped
    assert "***" in dumped
