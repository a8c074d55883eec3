"""The sandbox over real HTTP on loopback: envelopes, paging, filters, auth, validation, limits, faults."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmsync.sandbox import serve
from crmsync_pipedrive.sandbox import PipedriveSandbox
from crmsync_pipedrive.sandbox.state import parse_rfc3339, rfc3339

INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


@pytest.fixture
def http(sandbox: PipedriveSandbox, base_url: str) -> httpx.Client:
    with httpx.Client(base_url=base_url, headers={"x-api-token": sandbox.state.api_token}) as client:
        yield client  # type: ignore[misc]


def all_deals(http: httpx.Client, path: str = "/api/v2/deals", **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        body = http.get(path, params=query).json()
        assert body["success"] is True
        found += body["data"]
        cursor = body["additional_data"]["next_cursor"]
        if cursor is None:
            return found


# -- envelopes and paging -----------------------------------------------------------------------------------------


def test_list_envelope_and_cursor_paging(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    first = http.get("/api/v2/deals", params={"limit": 7})
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"success", "data", "additional_data"}
    assert len(body["data"]) == 7
    assert isinstance(body["additional_data"]["next_cursor"], str)
    ids = [d["id"] for d in all_deals(http, limit=7)]
    assert ids == sorted(ids)
    assert [str(i) for i in ids] == sandbox.deal_ids()
    assert sandbox.requests["list"] == 1 + 5  # 30 deals in pages of 7


def test_deal_shape_has_v2_fields_and_hash_keyed_custom_fields(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    deal = http.get("/api/v2/deals/1").json()["data"]
    for key in (
        "owner_id",
        "pipeline_id",
        "stage_id",
        "value",
        "currency",
        "update_time",
        "is_archived",
        "probability",
    ):
        assert key in deal
    assert parse_rfc3339(deal["update_time"]).tzinfo is not None
    assert deal["update_time"].endswith("Z")
    assert sandbox.state.forecast_key in deal["custom_fields"]
    assert all(len(key) == 40 for key in deal["custom_fields"])


def test_sort_by_update_time_pages_in_order(http: httpx.Client) -> None:
    deals = all_deals(http, limit=4, sort_by="update_time", sort_direction="asc")
    keys = [(d["update_time"], d["id"]) for d in deals]
    assert keys == sorted(keys)
    assert len(keys) == 30
    desc = all_deals(http, limit=4, sort_by="update_time", sort_direction="desc")
    assert [d["id"] for d in desc] == [d["id"] for d in reversed(deals)]


def test_updated_since_is_inclusive_and_until_exclusive(http: httpx.Client) -> None:
    deals = all_deals(http, limit=500, sort_by="update_time")
    pivot = deals[10]["update_time"]
    since = all_deals(http, limit=500, updated_since=pivot)
    assert all(d["update_time"] >= pivot for d in since)
    assert deals[10]["id"] in {d["id"] for d in since}
    until = all_deals(http, limit=500, updated_until=pivot)
    assert all(d["update_time"] < pivot for d in until)
    assert len(since) + len(until) == 30


def test_filters_by_status_pipeline_owner_and_ids(http: httpx.Client) -> None:
    won = all_deals(http, status="won", limit=500)
    assert won
    assert all(d["status"] == "won" for d in won)
    several = all_deals(http, status="won,lost", limit=500)
    assert {d["status"] for d in several} == {"won", "lost"}
    partner = all_deals(http, pipeline_id=2, limit=500)
    assert partner
    assert all(d["pipeline_id"] == 2 for d in partner)
    some = all_deals(http, ids="3,5,999")
    assert [d["id"] for d in some] == [3, 5]


def test_deleted_deals_only_with_status_deleted(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    sandbox.delete("4")
    assert 4 not in {d["id"] for d in all_deals(http, limit=500)}
    deleted = all_deals(http, status="deleted", limit=500)
    assert [d["id"] for d in deleted] == [4]
    assert deleted[0]["is_deleted"] is True
    assert "4" not in sandbox.deal_ids()


def test_deleted_deals_vanish_from_listing_after_30_days(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    sandbox.delete("4")
    sandbox.state.deals[4]["update_time"] = rfc3339(datetime.now(UTC) - timedelta(days=31))
    assert all_deals(http, status="deleted", limit=500) == []


def test_archived_deals_move_to_their_own_endpoint(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    sandbox.archive("6")
    assert 6 not in {d["id"] for d in all_deals(http, limit=500)}
    archived = all_deals(http, "/api/v2/deals/archived", limit=500)
    assert [d["id"] for d in archived] == [6]
    assert archived[0]["is_archived"] is True
    assert sandbox.requests["list_archived"] == 1


def test_pipelines_stages_and_deal_fields(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    pipelines = http.get("/api/v2/pipelines").json()
    assert pipelines["additional_data"] == {"next_cursor": None}
    flags = {p["name"]: p["is_deal_probability_enabled"] for p in pipelines["data"]}
    assert flags == {"Sales funnel": True, "Partner deals": False}
    stages = http.get("/api/v2/stages", params={"pipeline_id": 1}).json()["data"]
    assert [s["deal_probability"] for s in stages] == [10, 20, 40, 60, 80]
    fields = http.get("/api/v2/dealFields").json()["data"]
    forecast = next(f for f in fields if f["field_name"] == "Forecast category")
    assert forecast["field_code"] == sandbox.state.forecast_key
    assert forecast["field_type"] == "enum"
    assert [o["label"] for o in forecast["options"]] == ["Pipeline", "Best case", "Commit", "Closed", "Omitted"]
    paged = http.get("/api/v2/dealFields", params={"limit": 5}).json()
    assert len(paged["data"]) == 5
    assert paged["additional_data"]["next_cursor"]
    assert sandbox.requests["reference"] == 4


def test_seed_is_deterministic_and_varied() -> None:
    one, two = PipedriveSandbox(deals=80, seed=11), PipedriveSandbox(deals=80, seed=11)
    assert one.state.deals == two.state.deals
    assert PipedriveSandbox(deals=80, seed=12).state.deals != one.state.deals
    deals = list(one.state.deals.values())
    assert len({d["currency"] for d in deals}) >= 3
    assert any(d["expected_close_date"] is None for d in deals)
    assert {d["status"] for d in deals} == {"open", "won", "lost"}
    assert all(d["probability"] is None for d in deals if d["pipeline_id"] == 2)


# -- auth -----------------------------------------------------------------------------------------------------------


def test_missing_or_wrong_token_is_401_with_pipedrive_body(base_url: str) -> None:
    for headers in ({}, {"x-api-token": "wrong"}, {"Authorization": "Bearer wrong"}):
        answer = httpx.get(f"{base_url}/api/v2/deals", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {
            "success": False,
            "error": "unauthorized access",
            "errorCode": 401,
            "error_info": INFO,
            "data": None,
            "additional_data": None,
        }


def test_legacy_query_token_and_oauth_bearer_are_accepted(base_url: str, sandbox: PipedriveSandbox) -> None:
    by_query = httpx.get(f"{base_url}/api/v2/pipelines", params={"api_token": sandbox.state.api_token})
    assert by_query.status_code == 200
    bearer = httpx.get(f"{base_url}/api/v2/pipelines", headers={"Authorization": f"Bearer {sandbox.state.oauth_token}"})
    assert bearer.status_code == 200


# -- validation and errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"limit": 501}, "limit: Number must be less than or equal to 500"),
        ({"limit": "x"}, "limit: Expected number"),
        ({"sort_by": "title"}, "sort_by: Invalid enum value"),
        ({"sort_direction": "up"}, "sort_direction: Invalid enum value"),
        ({"status": "closed"}, "status: Invalid enum value"),
        ({"updated_since": "2026-01-01"}, "updated_since: Invalid datetime"),
        ({"cursor": "not-a-cursor"}, "cursor: Invalid cursor"),
    ],
)
def test_invalid_list_parameters_are_400(http: httpx.Client, params: dict[str, Any], fragment: str) -> None:
    answer = http.get("/api/v2/deals", params=params)
    assert answer.status_code == 400
    body = answer.json()
    assert body["success"] is False
    assert fragment in body["error"]
    assert body["error"].startswith("Validation failed: ")
    assert body["data"] is None


def test_unknown_deal_is_404_deal_not_found(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    missing = sandbox.missing_id()
    for answer in (http.get(f"/api/v2/deals/{missing}"), http.patch(f"/api/v2/deals/{missing}", json={"title": "x"})):
        assert answer.status_code == 404
        assert answer.json()["error"] == "Deal not found"


def test_unknown_path_wrong_method_and_retired_v1(http: httpx.Client) -> None:
    assert http.get("/api/v2/nothing").status_code == 404
    assert http.delete("/api/v2/pipelines").status_code == 405
    gone = http.get("/v1/deals")
    assert gone.status_code == 410
    assert gone.json()["success"] is False


def test_patch_updates_fields_and_update_time(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    before = sandbox.deal("2")["update_time"]
    commit = sandbox.state.option_id(sandbox.state.forecast_key, "Commit")
    answer = http.patch(
        "/api/v2/deals/2", json={"probability": 70, "custom_fields": {sandbox.state.forecast_key: commit}}
    )
    assert answer.status_code == 200
    data = answer.json()["data"]
    assert data["probability"] == 70
    assert data["custom_fields"][sandbox.state.forecast_key] == commit
    assert data["update_time"] >= before
    assert sandbox.remote_values("2") == ("Commit", "70")
    assert sandbox.requests["write"] == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"custom_fields": {"FIELD": 999}}, "Option with id 999 does not exist"),
        ({"custom_fields": {"FIELD": "Commit"}}, "Expected number (option id)"),
        ({"custom_fields": {"0" * 40: 1}}, "Unknown custom field key"),
        ({"probability": "70"}, "probability: Expected number"),
        ({"probability": 120}, "probability: Number must be between 0 and 100"),
        ({"stage_id": 999}, "stage_id: Stage with id 999 does not exist"),
        ({"colour": "red"}, "Unrecognized key(s) in object: 'colour'"),
        ({"expected_close_date": "31-12-2026"}, "expected_close_date: Invalid date"),
    ],
)
def test_patch_validation_errors(
    http: httpx.Client, sandbox: PipedriveSandbox, body: dict[str, Any], fragment: str
) -> None:
    if "custom_fields" in body and "FIELD" in body["custom_fields"]:
        body = {"custom_fields": {sandbox.state.forecast_key: body["custom_fields"]["FIELD"]}}
    before = sandbox.deal("2")
    answer = http.patch("/api/v2/deals/2", json=body)
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]
    assert answer.json()["code"] == "ERR_SCHEMA_VALIDATION_FAILED"
    assert sandbox.deal("2") == before


def test_patch_needs_json(http: httpx.Client) -> None:
    answer = http.patch("/api/v2/deals/2", content=b"probability=5", headers={"content-type": "text/plain"})
    assert answer.status_code == 415


def test_archived_and_deleted_deals_refuse_edits(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    sandbox.archive("3")
    sandbox.delete("5")
    archived = http.patch("/api/v2/deals/3", json={"probability": 77})
    assert archived.status_code == 400
    assert "Archived" in archived.json()["error"]
    deleted = http.patch("/api/v2/deals/5", json={"probability": 77})
    assert deleted.status_code == 400
    assert "deleted" in deleted.json()["error"]
    assert sandbox.deal("3")["probability"] != 77
    assert sandbox.deal("5")["probability"] != 77


# -- rate limit and faults ------------------------------------------------------------------------------------------


def test_every_answer_carries_rate_limit_headers(http: httpx.Client) -> None:
    answer = http.get("/api/v2/pipelines")
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(answer.headers)


def test_burst_limit_answers_429_with_reset() -> None:
    limited = PipedriveSandbox(deals=5, seed=3, burst=3)
    with (
        serve(limited.app()) as server,
        httpx.Client(base_url=server.base_url, headers={"x-api-token": limited.state.api_token}) as client,
    ):
        answers = [client.get("/api/v2/pipelines") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [a.headers["x-ratelimit-remaining"] for a in answers[:3]] == ["2", "1", "0"]
    over = answers[3]
    assert over.status_code == 429
    assert over.json()["error"] == "Request over limit"
    assert over.json()["errorCode"] == 429
    assert over.headers["x-ratelimit-limit"] == "3"
    assert over.headers["x-ratelimit-remaining"] == "0"
    assert 1 <= int(over.headers["x-ratelimit-reset"]) <= 2


def test_injected_faults(http: httpx.Client, sandbox: PipedriveSandbox) -> None:
    sandbox.faults.script = ["503", "429"]
    unavailable = http.get("/api/v2/pipelines")
    assert unavailable.status_code == 503
    assert unavailable.json()["success"] is False
    limited = http.get("/api/v2/pipelines")
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-reset"] == "2"
    assert http.get("/api/v2/pipelines").status_code == 200


# -- control surface ------------------------------------------------------------------------------------------------


def test_control_surface_acts_like_a_person(sandbox: PipedriveSandbox) -> None:
    before = sandbox.deal("7")["update_time"]
    time.sleep(1.05)
    sandbox.touch("7")
    assert sandbox.deal("7")["update_time"] > before
    sandbox.edit_by_hand("7", category="Best case", probability="35")
    assert sandbox.remote_values("7") == ("Best case", "35")
    sandbox.edit_by_hand("7", category="", probability="")
    assert sandbox.remote_values("7") == (None, None)
    with pytest.raises(ValueError, match="no option"):
        sandbox.edit_by_hand("7", category="Maybe")
    assert sandbox.missing_id() not in sandbox.deal_ids()
    sandbox.archive("8")
    assert "8" not in sandbox.deal_ids()
