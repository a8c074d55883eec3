"""Unit tests of the connector against respx: paging, incremental filters, custom fields, limits, error bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from pydantic import ValidationError

from crmsync.connector import DealUpdate, Reference
from crmsync.errors import ApiError, AuthError, PaginationError, RecordError, RetriableApiError
from crmsync.mapping import Mapping
from crmsync.model import DealStatus
from crmsync_pipedrive.connector import PipedriveConnector, PipedriveSettings

BASE = "https://acme.pipedrive.com"
KEY = "a" * 40
REGION = "b" * 40
INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."
OPTIONS = [{"id": 31 + i, "label": x} for i, x in enumerate(["Pipeline", "Best case", "Commit", "Closed", "Omitted"])]


def ok(data: Any, cursor: str | None = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(
        200, json={"success": True, "data": data, "additional_data": {"next_cursor": cursor}}, headers=headers
    )


def fail(status: int, message: str, **extra: Any) -> httpx.Response:
    body = {"success": False, "error": message, **extra, "error_info": INFO, "data": None, "additional_data": None}
    return httpx.Response(status, json=body)


def raw_deal(deal_id: int = 1, **overrides: Any) -> dict[str, Any]:
    deal: dict[str, Any] = {
        "id": deal_id,
        "title": f"Deal {deal_id}",
        "owner_id": 7,
        "pipeline_id": 1,
        "stage_id": 4,
        "value": 12000,
        "currency": "EUR",
        "add_time": "2026-01-02T08:00:00Z",
        "update_time": "2026-03-01T12:00:00Z",
        "is_deleted": False,
        "is_archived": False,
        "status": "open",
        "probability": None,
        "lost_reason": None,
        "won_time": None,
        "lost_time": None,
        "close_time": None,
        "expected_close_date": "2026-04-30",
        "custom_fields": {KEY: None, REGION: 52},
    }
    deal.update(overrides)
    return deal


FIELDS = [
    {"field_code": "title", "field_name": "Title", "field_type": "varchar", "is_custom_field": False, "options": None},
    {
        "field_code": KEY,
        "field_name": "Forecast category",
        "field_type": "enum",
        "is_custom_field": True,
        "options": OPTIONS,
    },
    {
        "field_code": REGION,
        "field_name": "Region",
        "field_type": "enum",
        "is_custom_field": True,
        "options": [{"id": 51, "label": "EMEA"}, {"id": 52, "label": "Americas"}],
    },
]
PIPELINES = [
    {"id": 1, "name": "Sales funnel", "is_deleted": False, "is_deal_probability_enabled": True},
    {"id": 2, "name": "Partner deals", "is_deleted": False, "is_deal_probability_enabled": False},
]
STAGES = [
    {"id": 4, "name": "Proposal made", "pipeline_id": 1, "order_nr": 4, "deal_probability": 60, "is_deleted": False},
    {"id": 8, "name": "Joint proposal", "pipeline_id": 2, "order_nr": 3, "deal_probability": 50, "is_deleted": False},
]


@pytest.fixture
async def connector(mapping: Mapping) -> PipedriveConnector:
    settings = PipedriveSettings(base_url=BASE, api_token="tok-secret-123", max_retries=2)
    made = PipedriveConnector("pd", settings, mapping)
    made.client.backoff = 0.001
    yield made  # type: ignore[misc]
    await made.aclose()


def mock_reference(router: respx.MockRouter, fields: list[dict[str, Any]] = FIELDS) -> None:
    router.get(f"{BASE}/api/v2/pipelines").mock(return_value=ok(PIPELINES))
    router.get(f"{BASE}/api/v2/stages").mock(return_value=ok(STAGES))
    router.get(f"{BASE}/api/v2/dealFields").mock(return_value=ok(fields))
    router.get(f"{BASE}/api/v1/users").mock(
        return_value=ok([{"id": 7, "name": "Anne Visser", "email": "anne@example.com"}])
    )


async def read(connector: PipedriveConnector, since: datetime | None = None, reconcile: bool = False) -> list[Any]:
    return [page async for page in connector.deals(since, reconcile=reconcile)]


# -- settings ------------------------------------------------------------------------------------------------


def test_settings_need_exactly_one_credential() -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        PipedriveSettings(base_url=BASE)
    with pytest.raises(ValidationError, match="exactly one"):
        PipedriveSettings(base_url=BASE, api_token="a1234", oauth_token="b1234")
    assert PipedriveSettings(oauth_token="o1234").auth_headers() == {"Authorization": "Bearer o1234"}
    assert "tok-secret" not in repr(PipedriveSettings(api_token="tok-secret-1"))


@respx.mock
async def test_token_goes_in_the_x_api_token_header(connector: PipedriveConnector) -> None:
    route = respx.get(f"{BASE}/api/v2/deals").mock(return_value=ok([]))
    await connector.check()
    request = route.calls.last.request
    assert request.headers["x-api-token"] == "tok-secret-123"
    assert "api_token" not in str(request.url)


# -- paging and incremental reads ----------------------------------------------------------------------------


@respx.mock
async def test_full_read_follows_next_cursor_with_500_per_page(connector: PipedriveConnector) -> None:
    route = respx.get(f"{BASE}/api/v2/deals").mock(
        side_effect=[
            ok([raw_deal(1), raw_deal(2, update_time="2026-03-02T10:00:00Z")], cursor="c1"),
            ok([raw_deal(3, update_time="2026-03-03T09:00:00Z")]),
        ]
    )
    respx.get(f"{BASE}/api/v2/deals/archived").mock(return_value=ok([]))
    pages = await read(connector)
    assert [[r["id"] for r in p.records] for p in pages] == [[1, 2], [3]]
    first, second = (call.request.url.params for call in route.calls)
    assert first["limit"] == "500"
    assert "cursor" not in first
    assert "updated_since" not in first
    assert first["sort_by"] == "update_time"
    assert first["sort_direction"] == "asc"
    assert first["status"] == "open,won,lost,deleted"
    assert second["cursor"] == "c1"
    assert "updated_until" not in first  # the run writes nothing while it lists: no bound needed


@respx.mock
async def test_incremental_read_sends_updated_since_in_utc(connector: PipedriveConnector) -> None:
    route = respx.get(f"{BASE}/api/v2/deals").mock(return_value=ok([raw_deal(1)]))
    archived = respx.get(f"{BASE}/api/v2/deals/archived").mock(return_value=ok([]))
    since = datetime(2026, 3, 1, 14, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    await read(connector, since)
    params = route.calls.last.request.url.params
    assert params["updated_since"] == "2026-03-01T12:30:15Z"
    assert not archived.called, "an incremental run that does not reconcile makes one listing request"
    pages = [page async for page in connector.deals(since, reconcile=True)]
    assert pages
    assert archived.calls.last.request.url.params["updated_since"] == "2026-03-01T12:30:15Z"


@respx.mock
async def test_deleted_and_archived_deals_are_reported_not_mapped(connector: PipedriveConnector) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(
        return_value=ok([raw_deal(1), raw_deal(2, status="deleted", is_deleted=True)])
    )
    respx.get(f"{BASE}/api/v2/deals/archived").mock(return_value=ok([raw_deal(3, is_archived=True)]))
    pages = await read(connector)
    assert [r["id"] for p in pages for r in p.records] == [1]
    assert [i for p in pages for i in p.deleted_ids] == ["2", "3"]
    patch = respx.patch(f"{BASE}/api/v2/deals/3").mock(return_value=ok({}))
    mock_reference(respx.mock)
    [outcome] = await connector.write([DealUpdate(source_id="3", category="Commit")])
    assert outcome.status == "skipped"
    assert "archived" in (outcome.reason or "")
    assert not patch.called


@respx.mock
async def test_a_deal_handed_back_twice_is_yielded_once(connector: PipedriveConnector) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(side_effect=[ok([raw_deal(1), raw_deal(2)], cursor="c"), ok([raw_deal(1)])])
    respx.get(f"{BASE}/api/v2/deals/archived").mock(return_value=ok([]))
    pages = await read(connector)
    assert [r["id"] for p in pages for r in p.records] == [1, 2]


@respx.mock
async def test_reconcile_reports_live_ids(connector: PipedriveConnector) -> None:
    respx.get(f"{BASE}/api/v2/deals", params={"sort_by": "id"}).mock(return_value=ok([raw_deal(1), raw_deal(2)]))
    respx.get(f"{BASE}/api/v2/deals").mock(return_value=ok([]))
    respx.get(f"{BASE}/api/v2/deals/archived").mock(return_value=ok([]))
    pages = await read(connector, reconcile=True)
    assert pages[-1].live_ids == ["1", "2"]


@respx.mock
async def test_a_cursor_handed_back_twice_stops_the_read(connector: PipedriveConnector) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(return_value=ok([raw_deal(1)], cursor="same"))
    with pytest.raises(PaginationError, match="cursor 'same' twice"):
        await read(connector)


@respx.mock
async def test_a_body_that_is_not_an_envelope_is_an_api_error_naming_the_request(
    connector: PipedriveConnector,
) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(return_value=httpx.Response(200, json={"items": []}))
    with pytest.raises(ApiError, match="GET /api/v2/deals answered 200 with a body that is not a Pipedrive success"):
        await read(connector)


@respx.mock
async def test_a_spent_daily_budget_is_not_waited_out(connector: PipedriveConnector) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(
        return_value=httpx.Response(
            200,
            json={"success": True, "data": []},
            headers={"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "3600"},
        )
    )
    await connector.check()
    assert connector.client.limiter._paused_until == 0.0  # a 3600 s reset is not a pause: the 429 will say why


# -- reference data and custom field resolution --------------------------------------------------------------


@respx.mock
async def test_reference_converts_percent_and_adds_closing_stages(connector: PipedriveConnector) -> None:
    mock_reference(respx.mock)
    reference = await connector.reference()
    assert reference.stages["4"].probability == Decimal("0.6")
    assert reference.stages["1:won"].won
    assert reference.stages["1:won"].closed
    assert reference.stages["2:lost"].closed
    assert not reference.stages["2:lost"].won
    assert reference.extra["probability_enabled"] == {"1": True, "2": False}
    assert reference.fields["Forecast category"]["code"] == KEY
    problems = connector.mapping_problems(reference)
    assert problems
    assert all(p.startswith("stages[") for p in problems)


@respx.mock
async def test_mapping_problems_name_a_missing_field(connector: PipedriveConnector) -> None:
    mock_reference(respx.mock, [f for f in FIELDS if f["field_code"] != KEY])
    problems = connector.mapping_problems(await connector.reference())
    assert any("'Forecast category' does not exist" in p and "'Region'" in p for p in problems)


@respx.mock
async def test_mapping_problems_name_a_missing_option(connector: PipedriveConnector) -> None:
    fields = [dict(f, options=OPTIONS[:2]) if f["field_code"] == KEY else f for f in FIELDS]
    mock_reference(respx.mock, fields)
    problems = connector.mapping_problems(await connector.reference())
    assert any("'Commit' is not an option of" in p for p in problems)
    assert any("'Omitted' is not an option of" in p for p in problems)
    assert not any("'Pipeline' is not an option" in p for p in problems)


@respx.mock
async def test_mapping_problems_reject_a_field_of_the_wrong_type(connector: PipedriveConnector) -> None:
    fields = [dict(f, field_type="varchar", options=None) if f["field_code"] == KEY else f for f in FIELDS]
    mock_reference(respx.mock, fields)
    problems = connector.mapping_problems(await connector.reference())
    assert (
        "writeback.category_field: 'Forecast category' is a varchar field; it must be a single option field" in problems
    )


async def test_mapping_problems_name_unknown_stages_and_fields(connector: PipedriveConnector, mapping: Mapping) -> None:
    bad = mapping.model_copy(update={"fields": {"amount": "Contract value"}})
    connector.mapping = bad
    reference = Reference(pipelines={}, stages={}, fields={})
    problems = connector.mapping_problems(reference)
    assert any("fields.amount names 'Contract value'" in p for p in problems)
    assert any("pipeline 'Sales funnel' does not exist" in p for p in problems)


def test_mapping_problems_keep_the_probability_in_pipedrives_own_percentage(
    connector: PipedriveConnector, mapping: Mapping
) -> None:
    wb = mapping.writeback.model_copy(update={"probability_field": "chance", "probability_scale": 1})
    connector.mapping = mapping.model_copy(update={"writeback": wb, "stages": []})
    problems = connector.mapping_problems(Reference(pipelines={}, stages={}, fields={}))
    assert "writeback.probability_field is 'chance': pipedrive keeps a deal's probability in 'probability'" in problems
    assert "writeback.probability_scale must be 100: pipedrive's probability is a percentage" in problems


# -- to_deal -------------------------------------------------------------------------------------------------


@respx.mock
async def test_to_deal_maps_values_labels_and_probability_rights(connector: PipedriveConnector) -> None:
    mock_reference(respx.mock)
    reference = await connector.reference()
    deal = connector.to_deal(
        raw_deal(1, probability=70, custom_fields={KEY: 33, REGION: 51}, update_time="2026-03-01T14:00:00+02:00"),
        reference,
    )
    assert deal.amount == Decimal("12000")
    assert deal.currency == "EUR"
    assert deal.close_date is not None
    assert deal.close_date.isoformat() == "2026-04-30"
    assert deal.remote_category == "Commit"
    assert deal.remote_probability == Decimal("70")
    assert deal.updated_at == datetime(2026, 3, 1, 12, tzinfo=UTC)
    assert deal.probability_writable
    assert deal.writable
    assert deal.group == "EMEA"
    partner = connector.to_deal(raw_deal(2, pipeline_id=2, stage_id=8, value=0, expected_close_date=None), reference)
    assert not partner.probability_writable
    assert partner.amount is None
    assert partner.close_date is None
    won = connector.to_deal(raw_deal(3, status="won", won_time="2026-03-05T10:00:00Z"), reference)
    assert won.status is DealStatus.WON
    assert won.stage.won
    assert won.extra["stage_id"] == "4"
    assert won.closed_at == datetime(2026, 3, 5, 10, tzinfo=UTC)
    archived = connector.to_deal(raw_deal(4, is_archived=True), reference)
    assert not archived.writable


@respx.mock
@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"stage_id": 99}, "stage_id"),
        ({"pipeline_id": 9}, "pipeline_id"),
        ({"expected_close_date": "30/04/2026"}, "expected_close_date"),
        ({"update_time": "yesterday"}, "update_time"),
        ({"value": "lots"}, "value"),
        ({"title": ""}, "title"),
        ({"status": "frozen"}, "status"),
    ],
)
async def test_to_deal_rejects_bad_records_naming_the_field(
    connector: PipedriveConnector, overrides: dict[str, Any], field: str
) -> None:
    mock_reference(respx.mock)
    reference = await connector.reference()
    with pytest.raises(RecordError) as info:
        connector.to_deal(raw_deal(5, **overrides), reference)
    assert info.value.field == field
    assert info.value.source_id == "5"


# -- write-back ----------------------------------------------------------------------------------------------


@respx.mock
async def test_write_sends_option_id_and_integer_percent(connector: PipedriveConnector) -> None:
    mock_reference(respx.mock)
    route = respx.patch(f"{BASE}/api/v2/deals/1").mock(return_value=ok(raw_deal(1)))
    clear = respx.patch(f"{BASE}/api/v2/deals/2").mock(return_value=ok(raw_deal(2)))
    outcomes = await connector.write(
        [
            DealUpdate(source_id="1", category="Best case", probability=Decimal("60")),
            DealUpdate(source_id="2", category="", clear_probability=True),
        ]
    )
    assert [o.status for o in outcomes] == ["written", "written"]
    assert outcomes[0].modified_at == datetime(2026, 3, 1, 12, 0, tzinfo=UTC), "the answer's update_time"
    assert json.loads(route.calls.last.request.content) == {"custom_fields": {KEY: 32}, "probability": 60}
    assert json.loads(clear.calls.last.request.content) == {"custom_fields": {KEY: None}, "probability": None}


@respx.mock
async def test_write_reports_each_error_body_per_deal(connector: PipedriveConnector) -> None:
    mock_reference(respx.mock)
    respx.patch(f"{BASE}/api/v2/deals/1").mock(return_value=ok(raw_deal(1)))
    respx.patch(f"{BASE}/api/v2/deals/2").mock(return_value=fail(404, "Deal not found"))
    respx.patch(f"{BASE}/api/v2/deals/3").mock(
        return_value=fail(
            400,
            "Validation failed: custom_fields.x: Option with id 9 does not exist",
            code="ERR_SCHEMA_VALIDATION_FAILED",
        )
    )
    respx.patch(f"{BASE}/api/v2/deals/4").mock(return_value=fail(400, "Archived deals cannot be edited."))
    respx.patch(f"{BASE}/api/v2/deals/5").mock(return_value=fail(402, "Payment required"))
    updates = [DealUpdate(source_id=str(i), category="Commit") for i in range(1, 6)]
    updates.append(DealUpdate(source_id="6", category="Maybe"))
    outcomes = {o.source_id: o for o in await connector.write(updates)}
    assert outcomes["1"].status == "written"
    assert outcomes["2"].status == "failed"
    assert outcomes["2"].reason == "404: Deal not found"
    assert outcomes["3"].status == "failed"
    assert "Option with id 9" in (outcomes["3"].reason or "")
    assert "ERR_SCHEMA_VALIDATION_FAILED" in (outcomes["3"].reason or "")
    assert outcomes["4"].status == "skipped"
    assert "Archived" in (outcomes["4"].reason or "")
    assert outcomes["5"].status == "failed"
    assert "402" in (outcomes["5"].reason or "")
    assert outcomes["6"].status == "failed"
    assert "no option 'Maybe'" in (outcomes["6"].reason or "")


@respx.mock
async def test_write_raises_when_the_token_is_refused(connector: PipedriveConnector) -> None:
    mock_reference(respx.mock)
    respx.patch(f"{BASE}/api/v2/deals/1").mock(return_value=fail(401, "unauthorized access", errorCode=401))
    with pytest.raises(AuthError, match="unauthorized access"):
        await connector.write([DealUpdate(source_id="1", probability=Decimal("10"))])


# -- errors, 429 and 5xx -------------------------------------------------------------------------------------


@respx.mock
async def test_429_waits_for_x_ratelimit_reset_and_retries(connector: PipedriveConnector) -> None:
    limited = fail(429, "Request over limit", errorCode=429)
    limited.headers.update({"x-ratelimit-limit": "40", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "0"})
    route = respx.get(f"{BASE}/api/v2/deals").mock(side_effect=[limited, ok([])])
    await connector.check()
    assert route.call_count == 2
    assert connector.client.stats["retried"] == 1
    assert connector.client.limiter.max_requests == 36


@respx.mock
async def test_the_limiter_follows_the_announced_burst_limit(connector: PipedriveConnector) -> None:
    assert connector.client.limiter.max_requests == 18  # 20 per 2 s until Pipedrive says otherwise
    headers = {"x-ratelimit-limit": "120", "x-ratelimit-remaining": "119", "x-ratelimit-reset": "2"}
    respx.get(f"{BASE}/api/v2/deals").mock(return_value=ok([], headers=headers))
    await connector.check()
    assert connector.client.limiter.max_requests == 108


@respx.mock
async def test_429_after_every_retry_is_a_retriable_error(connector: PipedriveConnector) -> None:
    limited = fail(429, "Request over limit", errorCode=429)
    limited.headers.update({"x-ratelimit-reset": "0"})
    respx.get(f"{BASE}/api/v2/deals").mock(return_value=limited)
    with pytest.raises(RetriableApiError, match="Request over limit"):
        await connector.check()


@respx.mock
async def test_503_is_retried(connector: PipedriveConnector) -> None:
    route = respx.get(f"{BASE}/api/v2/deals").mock(side_effect=[fail(503, "Service unavailable"), ok([])])
    await connector.check()
    assert route.call_count == 2


@respx.mock
@pytest.mark.parametrize(
    ("response", "error", "fragment"),
    [
        (fail(401, "unauthorized access", errorCode=401), AuthError, "unauthorized access"),
        (
            httpx.Response(403, text="<html>Blocked</html>", headers={"content-type": "text/html"}),
            AuthError,
            "non-JSON error page",
        ),
        (fail(402, "Payment required"), ApiError, "Payment required"),
        (fail(404, "Unknown method /api/v2/deals"), ApiError, "Unknown method"),
        (fail(405, "Method not allowed"), ApiError, "Method not allowed"),
        (fail(410, "This endpoint is no longer supported"), ApiError, "no longer supported"),
        (fail(415, "Unsupported Media Type"), ApiError, "Unsupported Media Type"),
        (fail(422, "Unprocessable entity"), ApiError, "Unprocessable entity"),
        (
            fail(400, "Validation failed: limit: too big", code="ERR_SCHEMA_VALIDATION_FAILED"),
            ApiError,
            "ERR_SCHEMA_VALIDATION_FAILED: Validation failed: limit: too big",
        ),
        (fail(501, "Not implemented"), ApiError, "Not implemented"),
    ],
)
async def test_error_bodies_become_clear_errors_without_the_token(
    connector: PipedriveConnector, response: httpx.Response, error: type[Exception], fragment: str
) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(return_value=response)
    with pytest.raises(error) as info:
        await connector.check()
    assert fragment in str(info.value)
    assert "tok-secret-123" not in str(info.value)
