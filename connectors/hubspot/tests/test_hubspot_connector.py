"""Unit tests of the HubSpot connector with respx: paging, search windows, history, write outcomes."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx

from crmsync.connector import DealUpdate, Reference
from crmsync.errors import PaginationError, RecordError
from crmsync.mapping import Mapping
from crmsync.model import DealStatus, Pipeline, Stage
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings

BASE = "https://hubspot.test"
DEALS = f"{BASE}/crm/v3/objects/deals"


def make(mapping: Mapping) -> HubSpotConnector:
    settings = HubSpotSettings(base_url=BASE, token="pat-unit-test-token", max_retries=2)
    return HubSpotConnector("unit", settings, mapping)


def deal(deal_id: str, modified: str = "2026-03-01T10:00:00.000Z", **props: Any) -> dict[str, Any]:
    base = {
        "dealname": f"Deal {deal_id}",
        "pipeline": "default",
        "dealstage": "qualifiedtobuy",
        "hs_lastmodifieddate": modified,
        "createdate": "2026-01-01T00:00:00.000Z",
    }
    return {
        "id": deal_id,
        "properties": {**base, **props},
        "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": modified,
        "archived": False,
    }


REFERENCE = Reference(
    pipelines={"default": Pipeline(id="default", label="Sales Pipeline")},
    stages={
        "qualifiedtobuy": Stage(
            id="qualifiedtobuy", label="Qualified", pipeline_id="default", order=1, probability=Decimal("0.4")
        ),
        "closedwon": Stage(
            id="closedwon", label="Won", pipeline_id="default", order=5, probability=Decimal(1), closed=True, won=True
        ),
    },
)


async def collect(connector: HubSpotConnector, since: datetime | None) -> list[str]:
    return [str(r["id"]) async for page in connector.deals(since) for r in page.records]


@respx.mock
async def test_full_read_follows_the_after_cursor(mapping: Mapping) -> None:
    route = respx.get(DEALS).mock(
        side_effect=[
            httpx.Response(200, json={"results": [deal("1"), deal("2")], "paging": {"next": {"after": "2"}}}),
            httpx.Response(200, json={"results": [deal("3")]}),
            httpx.Response(200, json={"results": []}),  # archived sweep
        ]
    )
    assert await collect(make(mapping), None) == ["1", "2", "3"]
    first, second, sweep = (call.request.url.params for call in route.calls)
    assert first["limit"] == "100" and "after" not in first
    assert "hs_manual_forecast_category" in first["propertiesWithHistory"]
    assert second["after"] == "2"
    assert sweep["archived"] == "true"


@respx.mock
async def test_a_repeated_cursor_stops_the_read(mapping: Mapping) -> None:
    respx.get(DEALS).mock(
        return_value=httpx.Response(200, json={"results": [deal("1")], "paging": {"next": {"after": "1"}}})
    )
    with pytest.raises(PaginationError, match="twice"):
        await collect(make(mapping), None)


@respx.mock
async def test_search_starts_a_new_window_before_the_cap(mapping: Mapping) -> None:
    bodies: list[dict[str, Any]] = []
    stamp = "2026-03-01T10:00:00.000Z"
    later = "2026-03-02T10:00:00.000Z"

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        after = int(body["after"])
        value = body["filterGroups"][0]["filters"][0]["value"]
        if value == str(int(datetime(2026, 3, 2, 10, tzinfo=UTC).timestamp() * 1000)):
            return httpx.Response(200, json={"total": 2, "results": [deal("9", later), deal("10", later)]})
        # first window: 20,000 matches, of which search serves only the first 10,000
        results = [deal(str(after + i), stamp if after + i < 9_999 else later) for i in range(200)]
        return httpx.Response(
            200, json={"total": 20_000, "results": results, "paging": {"next": {"after": str(after + 200)}}}
        )

    respx.post(f"{DEALS}/search").mock(side_effect=answer)
    ids = await collect(make(mapping), datetime(2026, 3, 1, tzinfo=UTC))
    assert len(bodies) == 51  # 50 pages up to the cap, then a new window
    assert bodies[-1]["after"] == "0"
    assert bodies[0]["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert ids[-2:] == ["9", "10"]
    assert ids.count("9999") == 1, "ids read at the window boundary are not read twice"


def test_to_deal_maps_strings_and_history(mapping: Mapping) -> None:
    raw = deal(
        "7",
        amount="1500.50",
        deal_currency_code="USD",
        closedate="2026-04-30T00:00:00Z",
        hubspot_owner_id="101",
        hs_manual_forecast_category="COMMIT",
        hs_forecast_probability="0.7",
    )
    raw["propertiesWithHistory"] = {
        "hs_manual_forecast_category": [
            {"value": "COMMIT", "timestamp": "2026-03-01T09:00:00Z", "sourceType": "CRM_UI"},
            {"value": "PIPELINE", "timestamp": "2026-02-01T09:00:00Z", "sourceType": "INTEGRATION"},
        ]
    }
    mapped = make(mapping).to_deal(raw, REFERENCE)
    assert mapped.amount == Decimal("1500.50") and mapped.currency == "USD"
    assert mapped.close_date is not None and mapped.close_date.isoformat() == "2026-04-30"
    assert mapped.owner is not None and mapped.owner.id == "101"
    assert mapped.remote_category == "COMMIT" and mapped.remote_probability == Decimal("0.7")
    assert mapped.category_is_manual is True
    assert mapped.probability_is_manual is None
    assert mapped.status is DealStatus.OPEN


@pytest.mark.parametrize(
    ("props", "message"),
    [
        ({"dealstage": "nosuchstage"}, "dealstage: unknown stage 'nosuchstage'"),
        ({"pipeline": "other"}, "pipeline: unknown pipeline 'other'"),
        ({"amount": "abc"}, "amount: 'abc' is not a number"),
        ({"closedate": "yesterday"}, "closedate: 'yesterday' is not a timestamp"),
    ],
)
def test_bad_records_raise_record_errors_naming_the_field(
    mapping: Mapping, props: dict[str, str], message: str
) -> None:
    with pytest.raises(RecordError) as info:
        make(mapping).to_deal(deal("8", **props), REFERENCE)
    assert info.value.source_id == "8"
    assert message in str(info.value)


@respx.mock
async def test_207_marks_only_the_missing_deals_failed(mapping: Mapping) -> None:
    route = respx.post(f"{DEALS}/batch/update").mock(
        return_value=httpx.Response(
            207,
            json={
                "status": "COMPLETE",
                "results": [{"id": "1", "properties": {}}],
                "numErrors": 1,
                "errors": [
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": "not found",
                        "context": {"ids": ["2"]},
                    }
                ],
            },
        )
    )
    outcomes = await make(mapping).write(
        [
            DealUpdate(source_id="1", category="COMMIT", probability=Decimal("0.90")),
            DealUpdate(source_id="2", category="PIPELINE"),
        ]
    )
    by_id = {o.source_id: o for o in outcomes}
    assert by_id["1"].status == "written"
    assert by_id["2"].status == "failed" and "OBJECT_NOT_FOUND" in (by_id["2"].reason or "")
    sent = json.loads(route.calls[0].request.content)
    assert sent["inputs"][0]["properties"] == {
        "hs_manual_forecast_category": "COMMIT",
        "hs_forecast_probability": "0.90",
    }


@respx.mock
async def test_a_refused_batch_is_retried_deal_by_deal(mapping: Mapping) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        inputs = json.loads(request.content)["inputs"]
        if any(i["id"] == "bad" for i in inputs):
            return httpx.Response(
                400,
                json={"status": "error", "category": "VALIDATION_ERROR", "message": "Property values were not valid"},
            )
        return httpx.Response(200, json={"status": "COMPLETE", "results": [{"id": i["id"]} for i in inputs]})

    respx.post(f"{DEALS}/batch/update").mock(side_effect=answer)
    outcomes = {
        o.source_id: o
        for o in await make(mapping).write(
            [DealUpdate(source_id="ok", category="COMMIT"), DealUpdate(source_id="bad", category="COMMIT")]
        )
    }
    assert outcomes["ok"].status == "written"
    assert outcomes["bad"].status == "failed"
    assert "VALIDATION_ERROR" in (outcomes["bad"].reason or "")


@respx.mock
async def test_429_with_hubspot_headers_is_waited_out(mapping: Mapping) -> None:
    route = respx.get(f"{BASE}/crm/v3/pipelines/deals").mock(
        side_effect=[
            httpx.Response(
                429,
                headers={"X-HubSpot-RateLimit-Remaining": "0", "X-HubSpot-RateLimit-Interval-Milliseconds": "50"},
                json={
                    "status": "error",
                    "message": "You have reached your ten_secondly_rolling limit.",
                    "errorType": "RATE_LIMIT",
                    "policyName": "TEN_SECONDLY_ROLLING",
                },
            ),
            httpx.Response(200, json={"results": []}),
        ]
    )
    respx.get(f"{BASE}/crm/v3/properties/deals").mock(return_value=httpx.Response(200, json={"results": []}))
    reference = await make(mapping).reference()
    assert reference.pipelines == {}
    assert route.call_count == 2


@respx.mock
async def test_the_token_is_sent_but_never_shown(mapping: Mapping) -> None:
    route = respx.get(DEALS).mock(
        return_value=httpx.Response(
            401,
            json={
                "status": "error",
                "message": "Authentication credentials not found.",
                "category": "INVALID_AUTHENTICATION",
            },
        )
    )
    connector = make(mapping)
    with pytest.raises(Exception) as info:
        await connector.check()
    assert route.calls[0].request.headers["authorization"] == "Bearer pat-unit-test-token"
    assert "pat-unit-test-token" not in str(info.value)
    assert "INVALID_AUTHENTICATION" in str(info.value)
