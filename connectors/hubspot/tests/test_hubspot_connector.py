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
from crmsync.errors import ApiError, PaginationError, RecordError
from crmsync.http import ApiClient
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
    assert first["limit"] == "100" and "after" not in first  # no history on listings: it would halve the page
    assert "propertiesWithHistory" not in first
    assert second["after"] == "2"
    assert sweep["archived"] == "true"


@respx.mock
async def test_history_is_read_by_id_at_most_50_a_request(mapping: Mapping) -> None:
    route = respx.post(f"{DEALS}/batch/read").mock(
        side_effect=lambda request: httpx.Response(
            200, json={"status": "COMPLETE", "results": [deal(i["id"]) for i in json.loads(request.content)["inputs"]]}
        )
    )
    ids = [str(n) for n in range(1, 121)]
    assert [r["id"] for r in await make(mapping).read(ids)] == ids
    bodies = [json.loads(call.request.content) for call in route.calls]
    assert [len(b["inputs"]) for b in bodies] == [50, 50, 20]
    assert all(b["propertiesWithHistory"] == ["hs_manual_forecast_category", "hs_forecast_probability"] for b in bodies)

    settings = HubSpotSettings(base_url=BASE, token="pat-unit-test-token", history_on_full_read=False)
    await HubSpotConnector("unit", settings, mapping).read(ids)
    plain = [json.loads(c.request.content) for c in route.calls[3:]]
    assert [len(b["inputs"]) for b in plain] == [100, 20]
    assert all("propertiesWithHistory" not in b for b in plain)


@respx.mock
async def test_archived_false_as_a_string_is_a_live_deal(mapping: Mapping) -> None:
    raw = {**deal("5"), "archived": "false"}
    mapped = make(mapping).to_deal(raw, REFERENCE)
    assert mapped.status is DealStatus.OPEN and mapped.writable
    assert make(mapping).to_deal({**deal("6"), "archived": "true"}, REFERENCE).status is DealStatus.DELETED


@respx.mock
async def test_a_repeated_cursor_stops_the_read(mapping: Mapping) -> None:
    respx.get(DEALS).mock(
        return_value=httpx.Response(200, json={"results": [deal("1")], "paging": {"next": {"after": "1"}}})
    )
    with pytest.raises(PaginationError, match="twice"):
        await collect(make(mapping), None)


BASE_MS = 1_772_359_200_000  # 2026-03-01T10:00:00Z
SINCE = datetime(2026, 3, 1, 10, tzinfo=UTC)


def iso_ms(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class FakeSearch:
    """HubSpot's search over deals with modification times: a GTE filter, ascending sort, offset `after`.

    `rows` maps an id to (modification time in epoch ms, the value shown as hs_lastmodifieddate or None for the
    real one); ties sort by id.
    """

    def __init__(self, rows: dict[str, tuple[int, str | None]]) -> None:
        self.rows = rows
        self.bodies: list[dict[str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        self.bodies.append(body)
        bounds = {f["operator"]: int(f["value"]) for f in body["filterGroups"][0]["filters"]}
        matching = sorted(
            (ms, int(i), i) for i, (ms, _) in self.rows.items() if bounds["GTE"] <= ms < bounds.get("LT", 1 << 62)
        )
        after, limit = int(body["after"]), body["limit"]
        if after + limit > 10_000:
            return httpx.Response(400, json={"status": "error", "category": "VALIDATION_ERROR", "message": "cap"})
        page = matching[after : after + limit]
        answer: dict[str, Any] = {
            "total": len(matching),
            "results": [deal(i, self.rows[i][1] or iso_ms(ms)) for ms, _, i in page],
        }
        if after + limit < len(matching):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        return httpx.Response(200, json=answer)

    def windows(self) -> list[tuple[int, str]]:
        return [(int(b["filterGroups"][0]["filters"][0]["value"]), b["after"]) for b in self.bodies]


@respx.mock
async def test_search_pages_by_keyset_so_edits_between_pages_skip_nothing(mapping: Mapping) -> None:
    # 700 changed deals, one per millisecond; after each of the first pages a person edits its first deal, which
    # moves it to the end (HubSpot stamps the edit): offset paging would skip a deal a page, keyset skips none
    fake = FakeSearch({str(1000 + n): (BASE_MS + n, None) for n in range(700)})
    respx.post(f"{DEALS}/search").mock(side_effect=fake)
    read: list[str] = []
    edited: list[str] = []
    async for page in make(mapping).deals(SINCE):
        read += [str(record["id"]) for record in page.records]
        if len(edited) < 3:
            edited.append(str(page.records[0]["id"]))
            fake.rows[edited[-1]] = (BASE_MS + 10_000 + len(edited), None)  # a person's edit, later than all
    assert set(read) == {str(1000 + n) for n in range(700)}
    assert sorted(deal_id for deal_id in read if read.count(deal_id) > 1) == sorted(edited * 2)  # again, new time
    assert fake.windows()[:2] == [(BASE_MS, "0"), (BASE_MS + 199, "0")]
    assert fake.bodies[0]["sorts"] == [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]
    assert [f["operator"] for f in fake.bodies[0]["filterGroups"][0]["filters"]] == ["GTE"]


@respx.mock
async def test_a_millisecond_shared_by_more_than_a_page_is_paged_by_offset(mapping: Mapping) -> None:
    shared = BASE_MS + 500
    rows = {str(100 + n): (BASE_MS + n, None) for n in range(150)}
    rows |= {str(1000 + n): (shared, None) for n in range(450)}
    rows |= {str(5000 + n): (shared + 1, None) for n in range(10)}
    fake = FakeSearch(rows)
    respx.post(f"{DEALS}/search").mock(side_effect=fake)
    pages = [page async for page in make(mapping).deals(SINCE)]
    read = [str(r["id"]) for page in pages for r in page.records]
    assert sorted(read) == sorted(rows)
    assert len(read) == len(set(read))
    # page 1 ends inside the shared millisecond; then offsets within it, held back until it is read through
    assert fake.windows() == [(BASE_MS, "0"), (shared, "0"), (shared, "200"), (shared, "400")]
    assert len(pages) == 2


@respx.mock
async def test_more_than_the_search_cap_in_one_millisecond_is_a_clear_error(mapping: Mapping) -> None:
    fake = FakeSearch({str(n): (BASE_MS, None) for n in range(10_050)})
    respx.post(f"{DEALS}/search").mock(side_effect=fake)
    with pytest.raises(ApiError, match="more than 10000 records share the stamp") as info:
        await collect(make(mapping), SINCE)
    assert "full sync" in str(info.value)
    assert fake.windows()[-1] == (BASE_MS, "9800")
    assert len(fake.bodies) == 50


@respx.mock
async def test_a_bad_modification_time_in_search_results_does_not_break_paging(mapping: Mapping) -> None:
    rows = {str(1000 + n): (BASE_MS + n, None) for n in range(450)}
    rows["1100"] = (BASE_MS + 100, "yesterday")  # in the middle of the first page
    rows["1398"] = (BASE_MS + 398, "not a date")  # the last result of the second page (GTE +199: 199..398)
    fake = FakeSearch(rows)
    respx.post(f"{DEALS}/search").mock(side_effect=fake)
    pages = [page async for page in make(mapping).deals(SINCE)]
    read = [str(r["id"]) for page in pages for r in page.records]
    assert sorted(read) == sorted(rows)
    assert len(read) == len(set(read))
    assert [w[0] for w in fake.windows()] == [BASE_MS, BASE_MS + 199, BASE_MS + 397]
    with pytest.raises(RecordError, match="hs_lastmodifieddate: 'yesterday' is not a timestamp"):
        make(mapping).to_deal(next(r for p in pages for r in p.records if r["id"] == "1100"), REFERENCE)


async def test_a_full_page_of_unreadable_times_pages_on_by_offset(mapping: Mapping) -> None:
    # no usable time to key on: the listing must still move forward (and end), not ask for the same page again
    fake = FakeSearch({str(n): (BASE_MS, "garbage") for n in range(300)} | {"900": (BASE_MS + 1, None)})
    with respx.mock:
        respx.post(f"{DEALS}/search").mock(side_effect=fake)
        read = await collect(make(mapping), SINCE)
    assert sorted(read) == sorted(fake.rows)
    assert [w[1] for w in fake.windows()] == ["0", "200"]


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


def test_each_mapping_reads_its_own_properties(mapping: Mapping) -> None:
    renamed = mapping.model_copy(update={"fields": {**mapping.fields, "name": "title", "amount": "deal_value"}})
    raw = deal("9", dealname="Listed", title="Renamed", amount="10", deal_value="20")
    for _ in range(2):  # alternating: the names resolved for one mapping are never used for another
        plain, custom = make(mapping).to_deal(raw, REFERENCE), make(renamed).to_deal(raw, REFERENCE)
        assert (plain.name, plain.amount) == ("Listed", Decimal(10))
        assert (custom.name, custom.amount) == ("Renamed", Decimal(20))


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
    respx.get(f"{BASE}/crm/v3/owners").mock(return_value=httpx.Response(200, json={"results": []}))
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


PROXY_PAGE = "<html><body><h1>Proxy authentication required</h1></body></html>"


@respx.mock
async def test_a_non_json_answer_is_an_api_error_naming_the_request(mapping: Mapping) -> None:
    respx.post(f"{DEALS}/search").mock(
        return_value=httpx.Response(200, text=PROXY_PAGE, headers={"content-type": "text/html; charset=utf-8"})
    )
    with pytest.raises(ApiError) as info:
        await collect(make(mapping), SINCE)
    size = len(PROXY_PAGE.encode())
    assert str(info.value) == (
        f"[unit] POST /crm/v3/objects/deals/search answered 200 with a non-JSON body (text/html, {size} bytes)"
    )
    assert (info.value.status, info.value.method, info.value.path) == (200, "POST", "/crm/v3/objects/deals/search")
    assert info.value.connection == "unit"


@pytest.mark.parametrize(
    "route",
    ["/crm/v3/pipelines/deals", "/crm/v3/properties/deals"],
)
@respx.mock
async def test_reference_data_behind_a_proxy_page_is_an_api_error(mapping: Mapping, route: str) -> None:
    respx.get(f"{BASE}/crm/v3/owners").mock(return_value=httpx.Response(200, json={"results": []}))
    for path in ("/crm/v3/pipelines/deals", "/crm/v3/properties/deals"):
        body = httpx.Response(200, text=PROXY_PAGE) if path == route else httpx.Response(200, json={"results": []})
        respx.get(f"{BASE}{path}").mock(return_value=body)
    with pytest.raises(ApiError, match=f"GET {route} answered 200 with a non-JSON body"):
        await make(mapping).reference()


@respx.mock
async def test_full_and_archived_listings_behind_a_proxy_page_are_api_errors(mapping: Mapping) -> None:
    respx.get(DEALS).mock(
        side_effect=[httpx.Response(200, json={"results": [deal("1")]}), httpx.Response(200, content=b"")]
    )
    with pytest.raises(
        ApiError, match=r"GET /crm/v3/objects/deals answered 200 with a non-JSON body \(unknown type, 0"
    ):
        await collect(make(mapping), None)


@respx.mock
async def test_a_write_answered_with_a_proxy_page_fails_its_deals_only(mapping: Mapping) -> None:
    route = respx.post(f"{DEALS}/batch/update").mock(
        side_effect=[
            httpx.Response(200, json={"status": "COMPLETE", "results": [{"id": str(n)} for n in range(100)]}),
            httpx.Response(200, text=PROXY_PAGE, headers={"content-type": "text/html"}),
        ]
    )
    updates = [DealUpdate(source_id=str(n), category="COMMIT") for n in range(101)]
    connector = make(mapping)
    outcomes = await connector.write(updates[:100]) + await connector.write(updates[100:])  # as the writer sends
    assert route.call_count == 2
    assert [o.status for o in outcomes[:100]] == ["written"] * 100
    assert outcomes[100].status == "failed"
    assert "non-JSON body (text/html" in (outcomes[100].reason or "")


@respx.mock
async def test_api_client_json_names_the_path_below_the_base_url() -> None:
    client = ApiClient("unit", "https://proxy.test/hubspot/")
    respx.get("https://proxy.test/hubspot/crm/v3/objects/deals").mock(
        return_value=httpx.Response(200, content=b"\xff\xfe not json", headers={"content-type": "text/plain"})
    )
    response = await client.request("GET", "/crm/v3/objects/deals", params={"hapikey": "secret-in-query"})
    with pytest.raises(ApiError) as info:
        client.json(response)
    assert info.value.path == "/crm/v3/objects/deals"
    assert "secret-in-query" not in str(info.value)
    assert "(text/plain, 11 bytes)" in str(info.value)
    respx.get("https://proxy.test/hubspot/ok").mock(return_value=httpx.Response(200, json=[1, 2]))
    assert await client.request_json("GET", "/ok") == [1, 2]
    await client.aclose()


@pytest.mark.parametrize("results", [{"id": "1"}, "a string", None])
@respx.mock
async def test_a_search_answer_without_a_list_of_deals_names_the_request(mapping: Mapping, results: Any) -> None:
    respx.post(f"{DEALS}/search").mock(return_value=httpx.Response(200, json={"results": results, "total": 1}))
    if results is None:  # no results at all: nothing changed
        assert await collect(make(mapping), SINCE) == []
        return
    with pytest.raises(ApiError, match="POST /crm/v3/objects/deals/search answered without a list at 'results'"):
        await collect(make(mapping), SINCE)


@pytest.mark.parametrize("properties", [["a"], "text"])
def test_properties_that_are_not_an_object_are_a_record_error(mapping: Mapping, properties: Any) -> None:
    with pytest.raises(RecordError, match="'properties' is a JSON") as info:
        make(mapping).to_deal({"id": "9", "properties": properties}, REFERENCE)
    assert info.value.source_id == "9"


@respx.mock
async def test_the_daily_budget_headers_are_read_from_every_answer(mapping: Mapping) -> None:
    headers = {"X-HubSpot-RateLimit-Daily": "250000", "X-HubSpot-RateLimit-Daily-Remaining": "12345"}
    respx.get(DEALS).mock(return_value=httpx.Response(200, json={"results": []}, headers=headers))
    connector = make(mapping)
    assert connector.client.daily_limit is None
    await connector.check()
    assert (connector.client.daily_limit, connector.client.daily_remaining) == (250000, 12345)
