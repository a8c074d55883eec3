"""The HubSpot sandbox answers as HubSpot does where the connector depends on it, over loopback HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmsync_hubspot.sandbox import HubSpotSandbox

DEALS = "/crm/v3/objects/deals"


def client(served: tuple[HubSpotSandbox, str]) -> httpx.Client:
    box, url = served
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {box.token}"})


def test_batch_update_with_a_repeated_id_is_refused_whole(served: tuple[HubSpotSandbox, str]) -> None:
    box = served[0]
    first, second = box.deal_ids()[:2]
    inputs = [
        {"id": first, "properties": {"hs_manual_forecast_category": "COMMIT"}},
        {"id": second, "properties": {"hs_manual_forecast_category": "COMMIT"}},
        {"id": first, "properties": {"hs_manual_forecast_category": "PIPELINE"}},
    ]
    with client(served) as http:
        answer = http.post(f"{DEALS}/batch/update", json={"inputs": inputs})
    assert answer.status_code == 400
    body = answer.json()
    assert body["category"] == "VALIDATION_ERROR"
    assert first in body["message"] and second not in body["message"]
    assert body["context"] == {"ids": [first]}
    assert box.remote_values(first)[0] is None and box.remote_values(second)[0] is None, "nothing was written"


def test_properties_report_numbers_and_datetimes(served: tuple[HubSpotSandbox, str]) -> None:
    with client(served) as http:
        listed = {p["name"]: p for p in http.get("/crm/v3/properties/deals").json()["results"]}
        one = http.get("/crm/v3/properties/deals/amount").json()
    kinds = {name: (listed[name]["type"], listed[name]["fieldType"]) for name in listed}
    for name in ("amount", "hs_forecast_probability"):
        assert kinds[name] == ("number", "number")
    for name in ("closedate", "createdate", "hs_lastmodifieddate"):
        assert kinds[name] == ("datetime", "date")
    assert kinds["hs_manual_forecast_category"] == ("enumeration", "select")
    assert kinds["dealname"] == ("string", "text")
    assert (one["type"], one["fieldType"]) == ("number", "number")


@pytest.mark.parametrize("after", ["abc", "12abc", "1.5", "-1", "٣"])
def test_a_non_numeric_after_is_a_validation_error(served: tuple[HubSpotSandbox, str], after: str) -> None:
    with client(served) as http:
        listed = http.get(DEALS, params={"after": after, "limit": 5})
        searched = http.post(f"{DEALS}/search", json={"after": after, "limit": 5})
    for answer in (listed, searched):
        assert answer.status_code == 400, answer.text
        assert answer.json()["category"] == "VALIDATION_ERROR"


def test_a_search_body_that_is_not_json_is_a_validation_error(served: tuple[HubSpotSandbox, str]) -> None:
    with client(served) as http:
        answer = http.post(f"{DEALS}/search", content=b"<xml/>", headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.json()["category"] == "VALIDATION_ERROR"


def test_numeric_after_still_pages(served: tuple[HubSpotSandbox, str]) -> None:
    with client(served) as http:
        first = http.get(DEALS, params={"limit": 5}).json()
        after = first["paging"]["next"]["after"]
        second = http.get(DEALS, params={"limit": 5, "after": after}).json()
        searched = http.post(f"{DEALS}/search", json={"limit": 5, "after": 5}).json()
    assert int(second["results"][0]["id"]) > int(after)
    assert len(searched["results"]) == 5


def test_a_burst_of_edits_never_stamps_the_future(served: tuple[HubSpotSandbox, str]) -> None:
    box = served[0]
    ids = box.deal_ids()[:20]
    before = {i: box.state.records[i].updated_at for i in ids}
    for deal_id in ids:  # far faster than one edit per millisecond: edits may share one, as in HubSpot
        box.touch(deal_id)
    now = datetime.now(UTC)
    stamps = [box.state.records[i].updated_at for i in ids]
    assert max(stamps) <= now
    assert stamps == sorted(stamps), "a later edit is never stamped before an earlier one"
    assert all(stamp > before[i] for i, stamp in zip(ids, stamps, strict=True))
    assert all(stamp.microsecond % 1000 == 0 for stamp in stamps), "HubSpot's resolution is the millisecond"


def test_the_clock_holds_still_when_the_machine_clock_steps_back(served: tuple[HubSpotSandbox, str]) -> None:
    box = served[0]
    ahead = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    box.state._clock = ahead  # as if the machine's clock had just stepped back an hour
    first, second = box.deal_ids()[:2]
    box.touch(first)
    box.touch(second)
    assert box.state.records[first].updated_at == box.state.records[second].updated_at == ahead


def test_the_indexed_modified_range_search_answers_like_the_general_filter(served: tuple[HubSpotSandbox, str]) -> None:
    """The sandbox's fast path for incremental queries must return what the general filter code returns."""
    box = served[0]
    for deal_id in box.deal_ids()[:5]:
        box.touch(deal_id)
    stamps = sorted(box.state.records[i].properties["hs_lastmodifieddate"] or "" for i in box.deal_ids())
    low, high = stamps[len(stamps) // 4], stamps[-2]
    ranged = [
        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": low},
        {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": high},
    ]
    sorts = [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    forced_general = [*ranged, {"propertyName": "hs_object_id", "operator": "HAS_PROPERTY"}]
    with client(served) as http:
        fast = http.post(
            f"{DEALS}/search", json={"filterGroups": [{"filters": ranged}], "sorts": sorts, "limit": 200}
        ).json()
        general = http.post(
            f"{DEALS}/search", json={"filterGroups": [{"filters": forced_general}], "sorts": sorts, "limit": 200}
        ).json()
    assert fast["total"] == general["total"] > 0
    assert {r["id"] for r in fast["results"]} == {r["id"] for r in general["results"]}
    fast_stamps = [r["properties"]["hs_lastmodifieddate"] for r in fast["results"]]
    assert fast_stamps == sorted(fast_stamps)
    assert low <= fast_stamps[0] and fast_stamps[-1] < high
