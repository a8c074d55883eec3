"""Unit tests of the AFAS connector with respx: metainfo validation, paging, filters, time zones, deletes,
Profit's 500/503 answers, settings and writes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import respx
from afas_testkit import BASE, GC, KEYS, STATUSES, TOKEN, VALIDATION, collect, make, query, row
from test_afas_paging import answering

from crmsync.errors import ApiError, AuthError, MappingError, PaginationError
from crmsync.mapping import Mapping
from crmsync.redact import redact
from crmsync_afas.settings import AfasSettings
from crmsync_afas.translate import AMSTERDAM

# -- settings and auth ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "url"),
    [
        ({"environment": "12345"}, "https://12345.rest.afas.online/ProfitRestServices"),
        ({"environment": "12345", "host": "test"}, "https://12345.resttest.afas.online/ProfitRestServices"),
        ({"environment": "12345", "host": "accept"}, "https://12345.restaccept.afas.online/ProfitRestServices"),
        ({"base_url": "http://127.0.0.1:9/ProfitRestServices"}, "http://127.0.0.1:9/ProfitRestServices"),
    ],
)
def test_base_url_from_environment_and_host(values: dict[str, str], url: str) -> None:
    assert AfasSettings.model_validate({"token": "x", **values}).base_url == url


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"token": "x"}, "environment"),
        ({"token": "x", "environment": "123"}, "pattern"),
        ({"token": "x", "environment": "12345", "host": "staging"}, "production"),
        ({"environment": "12345"}, "token"),
    ],
)
def test_invalid_settings(values: dict[str, str], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        AfasSettings.model_validate(values)


@pytest.mark.parametrize("token", [TOKEN, "ABC123DEF456"])
def test_authorization_is_base64_of_the_token_xml(token: str) -> None:
    settings = AfasSettings.model_validate({"environment": "12345", "token": token})
    scheme, encoded = settings.authorization().split(" ")
    assert scheme == "AfasToken"
    assert base64.b64decode(encoded).decode() == TOKEN
    assert "ABC123" not in repr(settings)


@respx.mock
async def test_401_empty_body_is_auth_error(mapping: Mapping) -> None:
    route = respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansen").respond(401)
    connector = make(mapping)
    with pytest.raises(AuthError, match="refused the AfasToken"):
        await connector.check()
    assert route.calls.last.request.headers["authorization"].startswith("AfasToken ")
    assert route.call_count == 1


# -- mapping and metainfo ------------------------------------------------------------------------------------


def test_mapping_without_get_connector_is_refused(mapping: Mapping) -> None:
    options = {k: v for k, v in mapping.options.items() if k != "get_connector"}
    with pytest.raises(MappingError, match=r"options\.get_connector"):
        make(mapping.model_copy(update={"options": options}))


@pytest.mark.parametrize(
    ("key", "value"), [("chance_linked_to_status", "yes"), ("get_connector", ""), ("status_id_field", 7)]
)
def test_a_bad_option_is_refused_naming_its_key(mapping: Mapping, key: str, value: object) -> None:
    with pytest.raises(MappingError, match=rf"options\.{key}"):
        make(mapping.model_copy(update={"options": {**mapping.options, key: value}}))


def _meta(*ids: str) -> dict[str, Any]:
    return {"name": "x", "description": "x", "fields": [{"id": i, "fieldId": i, "dataType": "string"} for i in ids]}


@respx.mock
async def test_metainfo_validation_lists_missing_fields_with_existing_ones(mapping: Mapping) -> None:
    existing = [v for k, v in mapping.fields.items() if k not in ("category", "lost_to")]
    respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansen").respond(json=_meta(*existing))
    respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansen_sleutels").respond(json=_meta("SalesRelation", "Seq"))
    respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansstatussen").respond(
        json=_meta("Code", "Omschrijving", "Scoringskans")
    )
    respx.get(f"{BASE}/metainfo/update/CmForecast").respond(
        json={"name": "CmForecast", "fields": [{"fieldId": "PrId"}, {"fieldId": "SqNo"}, {"fieldId": "Pc"}]}
    )
    respx.get(STATUSES).respond(json={"skip": -1, "take": -1, "rows": [{"Code": "OFF", "Scoringskans": 50.0}]})
    connector = make(mapping)
    problems = connector.mapping_problems(await connector.reference())
    text = "\n".join(problems)
    assert "has no field 'Forecastcategorie' (fields.category)" in text
    assert "has no field 'LostTo' (fields.lost_to)" in text
    assert "its fields are: SalesRelation, SequenceNo" in text
    assert "GetConnector 'crmsync_verkoopkansen_sleutels' has no field 'SequenceNo'" in text
    assert "writeback.category_field 'U6C0D3A9E4B2F4A7C8E1D5B3A2F6C9E01' is not a field of UpdateConnector" in text
    assert "stages[0].stage 'SUS' does not exist in afas" in text
    assert not any("Pc" in p and "probability_field" in p for p in problems)


# -- paging and filters -------------------------------------------------------------------------------------


@respx.mock
async def test_paging_is_ordered_by_key_and_stops_at_a_short_page(mapping: Mapping) -> None:
    rows = [row("100", 1), row("100", 2), row("101", 1), row("102", 1), row("103", 1)]
    route = respx.get(GC).mock(side_effect=answering(rows))
    result = await collect(make(mapping))
    assert [[r["id"] for r in p.records] for p in result] == [["100-1", "100-2"], ["101-1", "102-1"], ["103-1"]]
    sent = [query(call.request) for call in route.calls]
    assert [(q["skip"], q["take"]) for q in sent] == [("0", "2"), ("1", "3"), ("3", "3")]  # one row of overlap
    assert all(q["orderbyfieldids"] == "SalesRelation,SequenceNo" for q in sent)
    assert all("filterfieldids" not in q for q in sent)


@respx.mock
async def test_a_full_page_then_an_empty_page_ends_the_listing(mapping: Mapping) -> None:
    route = respx.get(GC).mock(side_effect=answering([row("1", 1), row("1", 2)]))
    pages = await collect(make(mapping))
    assert route.call_count == 2
    assert sum(len(p.records) for p in pages) == 2


@respx.mock
async def test_a_server_ignoring_skip_stops_the_read(mapping: Mapping) -> None:
    respx.get(GC).respond(json={"rows": [row("1", 1), row("1", 2)]})  # the same page whatever skip says
    with pytest.raises(PaginationError, match="GET /connectors/crmsync_verkoopkansen: forecasts kept being"):
        await collect(make(mapping))


@respx.mock
async def test_a_body_without_rows_is_a_pagination_error(mapping: Mapping) -> None:
    respx.get(GC).respond(json={"skip": 0, "take": 2})
    with pytest.raises(PaginationError, match="'rows'"):
        await collect(make(mapping))


@respx.mock
async def test_incremental_filters_modified_ge_since_in_amsterdam_time(mapping: Mapping) -> None:
    route = respx.get(GC).respond(json={"rows": [row("1", 1, modified="2025-07-01T14:30:00Z")]})
    since = datetime(2025, 7, 1, 12, 0, 0, tzinfo=UTC)  # 14:00 in Amsterdam (summer time)
    pages = await collect(make(mapping), since)
    sent = query(route.calls.last.request)
    assert sent["filterfieldids"] == "ModifiedDate"
    assert sent["filtervalues"] == "2025-07-01T14:00:00"
    assert sent["operatortypes"] == "2"
    assert sent["orderbyfieldids"] == "SalesRelation,SequenceNo"
    assert latest_modified(pages[0].records) == datetime(2025, 7, 1, 12, 30, tzinfo=UTC)


@respx.mock
async def test_modification_times_are_amsterdam_time_read_as_utc(mapping: Mapping) -> None:
    rows = [row("1", 1, modified="2025-01-15T09:00:00Z"), row("1", 2, modified="2025-01-15T10:00:00Z")]
    respx.get(GC).mock(side_effect=answering(rows))
    pages = await collect(make(mapping))
    assert latest_modified(pages[0].records) == datetime(2025, 1, 15, 9, 0, tzinfo=UTC)  # winter time: UTC+1


def latest_modified(records: list[dict[str, Any]]) -> datetime:
    """The engine's checkpoint of a page: the latest `updated_at` of its deals, as to_deal reads them."""
    return max(AMSTERDAM.parse(r["ModifiedDate"]) for r in records)


# -- time zones ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("afas", "utc"),
    [
        ("2025-01-15T12:00:00Z", datetime(2025, 1, 15, 11, 0, tzinfo=UTC)),
        ("2025-07-15T12:00:00Z", datetime(2025, 7, 15, 10, 0, tzinfo=UTC)),
        ("2025-03-30T03:30:00Z", datetime(2025, 3, 30, 1, 30, tzinfo=UTC)),  # just after the spring change
        ("2025-10-26T01:59:59Z", datetime(2025, 10, 25, 23, 59, 59, tzinfo=UTC)),
        ("2025-12-31T23:30:00", datetime(2025, 12, 31, 22, 30, tzinfo=UTC)),
    ],
)
def test_afas_times_are_amsterdam_wall_clock(afas: str, utc: datetime) -> None:
    assert AMSTERDAM.parse(afas) == utc


@pytest.mark.parametrize(
    ("moment", "value"),
    [
        (datetime(2025, 1, 31, 23, 30, tzinfo=UTC), "2025-02-01T00:30:00"),
        (datetime(2025, 8, 1, 0, 0, 0, 999, tzinfo=UTC), "2025-08-01T02:00:00"),
    ],
)
def test_since_is_converted_to_amsterdam_for_the_filter(moment: datetime, value: str) -> None:
    assert AMSTERDAM.format(moment) == value + "Z"
    assert AMSTERDAM.parse(AMSTERDAM.format(moment)) == moment.replace(microsecond=0)


@pytest.mark.parametrize(
    ("since", "value"),
    [
        # 00:30 UTC is 02:30 in the first (summer-time) pass of the repeated hour of 26 October 2025: a row
        # modified at 01:10 UTC, later, is stamped 02:10 in the second pass; the filter must reach back to it.
        (datetime(2025, 10, 26, 0, 30, tzinfo=UTC), "2025-10-26T01:30:00"),
        (datetime(2025, 10, 26, 1, 30, tzinfo=UTC), "2025-10-26T02:30:00"),  # second pass: nothing to fix
        (datetime(2025, 3, 30, 1, 30, tzinfo=UTC), "2025-03-30T03:30:00"),  # spring: no repeated hour
        (datetime(2025, 7, 1, 8, 0, 59, 999, tzinfo=UTC), "2025-07-01T10:00:59"),
    ],
)
def test_since_filter_never_misses_a_row_of_the_repeated_autumn_hour(since: datetime, value: str) -> None:
    assert AMSTERDAM.since(since) == value
    later = [since + timedelta(minutes=m) for m in range(0, 120, 5)]
    assert all(AMSTERDAM.format(moment)[:-1] >= value for moment in later)


@respx.mock
async def test_incremental_read_sends_the_dst_safe_since(mapping: Mapping) -> None:
    route = respx.get(GC).respond(json={"rows": []})
    await collect(make(mapping), datetime(2025, 10, 26, 0, 30, tzinfo=UTC))
    assert query(route.calls.last.request)["filtervalues"] == "2025-10-26T01:30:00"


def test_the_base64_authorization_is_masked_like_the_token() -> None:
    header = AfasSettings.model_validate({"environment": "12345", "token": "FEEDC0FFEE42"}).authorization()
    encoded = header.split(" ")[1]
    assert encoded not in redact(f"sent {header}")


def test_a_naive_filter_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        AMSTERDAM.format(datetime(2025, 1, 1))


# -- hard deletes ---------------------------------------------------------------------------------------------


@respx.mock
async def test_incremental_reconcile_scans_only_the_key_connector(mapping: Mapping) -> None:
    respx.get(GC).respond(json={"rows": [row("1", 2)]})
    key_rows = [{"SalesRelation": "1", "SequenceNo": 1}, {"SalesRelation": "1", "SequenceNo": 2}]
    keys = respx.get(KEYS).mock(side_effect=answering([*key_rows, {"SalesRelation": "2", "SequenceNo": 1}]))
    pages = await collect(make(mapping, key_page_size=2), datetime(2025, 1, 1, tzinfo=UTC), reconcile=True)
    assert pages[-1].records == []
    assert pages[-1].live_ids == ["1-1", "1-2", "2-1"]
    assert all(p.live_ids is None for p in pages[:-1])
    sent = [query(call.request) for call in keys.calls]
    assert all(q["orderbyfieldids"] == "SalesRelation,SequenceNo" for q in sent)
    assert [(q["skip"], q["take"]) for q in sent] == [("0", "2"), ("1", "3")]
    assert all("filterfieldids" not in q for q in sent)  # the key scan reads every key: no modified-date clause


@respx.mock
async def test_full_read_with_reconcile_reuses_the_ids_it_read(mapping: Mapping) -> None:
    respx.get(GC).respond(json={"rows": [row("1", 1)]})
    keys = respx.get(KEYS).respond(json={"rows": []})
    pages = await collect(make(mapping), None, reconcile=True)
    assert pages[-1].live_ids == ["1-1"]
    assert keys.call_count == 0


@respx.mock
async def test_without_key_connector_the_scan_reads_the_forecast_connector(mapping: Mapping) -> None:
    options = {k: v for k, v in mapping.options.items() if k != "key_connector"}
    route = respx.get(GC).respond(json={"rows": [row("7", 3)]})
    pages = await collect(make(mapping.model_copy(update={"options": options})), datetime(2025, 1, 1, tzinfo=UTC), True)
    assert pages[-1].live_ids == ["7-3"]
    assert "filterfieldids" not in query(route.calls.last.request)


@respx.mock
async def test_no_reconcile_no_key_scan(mapping: Mapping) -> None:
    respx.get(GC).respond(json={"rows": []})
    keys = respx.get(KEYS).respond(json={"rows": []})
    pages = await collect(make(mapping), datetime(2025, 1, 1, tzinfo=UTC))
    assert all(p.live_ids is None for p in pages)
    assert keys.call_count == 0


# -- 500 and 503 -------------------------------------------------------------------------------------------------


@respx.mock
async def test_500_validation_error_is_not_retried_and_names_the_reference(mapping: Mapping) -> None:
    route = respx.get(GC).respond(500, json=VALIDATION)
    with pytest.raises(ApiError) as info:
        await collect(make(mapping))
    assert route.call_count == 1
    assert info.value.status == 500
    assert "bestaat niet" in str(info.value)
    assert "profitLogReference B8213AF1C0DE" in str(info.value)


@respx.mock
async def test_a_bare_500_page_is_retried(mapping: Mapping) -> None:
    route = respx.get(GC).mock(
        side_effect=[httpx.Response(500, html="<html>Server Error</html>"), httpx.Response(200, json={"rows": []})]
    )
    await collect(make(mapping))
    assert route.call_count == 2


@respx.mock
async def test_503_is_retried_after_the_body_retry_after(mapping: Mapping, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    connector = make(mapping)
    original = connector.client._wait

    def spy(state: Any) -> float:
        waits.append(original(state))
        return 0.0

    monkeypatch.setattr(connector.client, "_wait", spy)
    body = {"error": {"code": "503", "message": "Profit is in onderhoud."}, "retry_after": 3}
    route = respx.get(GC).mock(side_effect=[httpx.Response(503, json=body), httpx.Response(200, json={"rows": []})])
    await collect(connector)
    assert route.call_count == 2
    assert waits == [3.0]


@respx.mock
async def test_503_longer_than_max_wait_fails_with_a_clear_message(mapping: Mapping) -> None:
    body = {"error": {"code": "503", "message": "Profit is in onderhoud."}, "retry_after": 7200}
    route = respx.get(GC).respond(503, json=body)
    with pytest.raises(ApiError) as info:
        await collect(make(mapping, max_wait_seconds=60))
    assert route.call_count == 1
    assert "retry after 7200 s" in str(info.value)
    assert "onderhoud" in str(info.value)


@respx.mock
async def test_404_explains_the_query_string_limit(mapping: Mapping) -> None:
    respx.get(GC).respond(404, html="<h2>404 - File or directory not found.</h2>")
    with pytest.raises(ApiError, match="2049 characters"):
        await collect(make(mapping))


@respx.mock
async def test_status_connector_without_mapped_fields_is_reported_not_queried(mapping: Mapping) -> None:
    fields = list(mapping.fields.values())
    respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansen").respond(json=_meta(*fields))
    respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansen_sleutels").respond(json=_meta("SalesRelation", "SequenceNo"))
    respx.get(f"{BASE}/metainfo/get/crmsync_verkoopkansstatussen").respond(json=_meta("StatusCode", "Omschrijving"))
    respx.get(f"{BASE}/metainfo/update/CmForecast").respond(
        json={"fields": [{"fieldId": f} for f in ("PrId", "SqNo", "Pc", "U6C0D3A9E4B2F4A7C8E1D5B3A2F6C9E01")]}
    )
    statuses = respx.get(STATUSES).respond(json={"rows": []})
    connector = make(mapping)
    reference = await connector.reference()
    problems = connector.mapping_problems(reference)
    assert statuses.call_count == 0
    assert any(
        "has no field 'Code' (options.status_id_field); its fields are: StatusCode, Omschrijving" in p for p in problems
    )
    assert not any("crmsync_verkoopkansen'" in p and "has no field" in p for p in problems)
