"""The sandbox follows Pipedrive's API v2 spec where a client would notice (source: Pipedrive's OpenAPI v2 as
generated into pipedrive/client-nodejs, `GetDeals` parameters and `UpdateDealRequest`; see the sandbox README)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from crmsync.connector import DealUpdate
from crmsync.mapping import Mapping
from crmsync_pipedrive.connector import PipedriveConnector, PipedriveSettings
from crmsync_pipedrive.sandbox import PipedriveSandbox


@pytest.fixture
def http(sandbox: PipedriveSandbox, base_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base_url, headers={"x-api-token": sandbox.state.api_token}) as client:
        yield client


def listed(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    answer = http.get("/api/v2/deals", params={"limit": 500, **params})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def test_person_id_and_org_id_filter_the_listing(http: httpx.Client) -> None:
    """GetDeals: person_id / org_id return only deals linked to that person / organization."""
    every = listed(http)
    person = next(d["person_id"] for d in every if d["person_id"] is not None)
    org = next(d["org_id"] for d in every if d["org_id"] is not None)
    assert {d["id"] for d in listed(http, person_id=person)} == {d["id"] for d in every if d["person_id"] == person}
    assert {d["id"] for d in listed(http, org_id=org)} == {d["id"] for d in every if d["org_id"] == org}
    assert 0 < len(listed(http, org_id=org)) < len(every)


def test_an_unknown_filter_id_is_refused_not_ignored(http: httpx.Client) -> None:
    answer = http.get("/api/v2/deals", params={"filter_id": 4711})
    assert answer.status_code == 404
    assert answer.json()["success"] is False and "Filter" in answer.json()["error"]


def test_custom_fields_limits_the_keys_returned_and_allows_15(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    """GetDeals: custom_fields is a comma-separated list of keys to include, at most 15."""
    key = sandbox.state.forecast_key
    deals = listed(http, custom_fields=key)
    assert all(set(d["custom_fields"]) == {key} for d in deals)
    assert len(listed(http)[0]["custom_fields"]) > 1
    too_many = http.get("/api/v2/deals", params={"custom_fields": ",".join(f"{i:040x}" for i in range(16))})
    assert too_many.status_code == 400 and "at most 15" in too_many.json()["error"]
    single = http.get("/api/v2/deals/2", params={"custom_fields": key}).json()["data"]
    assert set(single["custom_fields"]) == {key}


def test_include_option_labels_gives_enum_labels(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    key = sandbox.state.forecast_key
    sandbox.edit_by_hand("2", "Commit")
    plain = http.get("/api/v2/deals/2").json()["data"]["custom_fields"][key]
    labelled = http.get("/api/v2/deals/2", params={"include_option_labels": "true"}).json()["data"]
    assert isinstance(plain, int)
    assert labelled["custom_fields"][key] == {"id": plain, "label": "Commit"}
    assert http.get("/api/v2/deals", params={"include_option_labels": "maybe"}).status_code == 400


def test_patch_accepts_every_key_of_the_v2_update(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    """UpdateDealRequest: label_ids, visible_to, pipeline_id, person_id, org_id, … are writable."""
    other = next(p["id"] for p in sandbox.state.pipelines if p["id"] != sandbox.deal("2")["pipeline_id"])
    body = {"label_ids": [1, 2], "visible_to": 7, "pipeline_id": other, "person_id": 5, "org_id": None}
    answer = http.patch("/api/v2/deals/2", json=body)
    assert answer.status_code == 200, answer.text
    deal = sandbox.deal("2")
    assert deal["label_ids"] == [1, 2] and deal["visible_to"] == 7 and deal["person_id"] == 5 and deal["org_id"] is None
    assert deal["pipeline_id"] == other
    assert sandbox.state.stage(deal["stage_id"])["pipeline_id"] == other  # type: ignore[index]
    refused = http.patch("/api/v2/deals/2", json={"visible_to": 2})
    assert refused.status_code == 400 and "visible_to" in refused.json()["error"]


def test_null_clears_probability(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    """UpdateDealRequest types probability `number | null`: null clears it."""
    sandbox.edit_by_hand("2", probability="40")
    assert http.patch("/api/v2/deals/2", json={"probability": None}).status_code == 200
    assert sandbox.deal("2")["probability"] is None


async def test_the_connector_clears_probability_with_null(
    sandbox: PipedriveSandbox, base_url: str, mapping: Mapping
) -> None:
    sandbox.edit_by_hand("2", probability="40")
    connector = PipedriveConnector("pd", PipedriveSettings.model_validate(sandbox.settings(base_url)), mapping)
    try:
        (outcome,) = await connector.write([DealUpdate(source_id="2", clear_probability=True)])
    finally:
        await connector.aclose()
    assert outcome.status == "written"
    assert sandbox.deal("2")["probability"] is None
