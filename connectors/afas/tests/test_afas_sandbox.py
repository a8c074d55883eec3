"""The sandbox over real HTTP on loopback: auth, metainfo, paging, filters, ordering, writes, errors."""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from crmsync.sandbox.server import RunningServer
from crmsync_afas.sandbox import (
    CATEGORY_CAPTION,
    CATEGORY_FREE_FIELD,
    FORECAST_CONNECTOR,
    KEY_CONNECTOR,
    STATUS_CONNECTOR,
    AfasSandbox,
    token_xml,
)

FORECASTS = f"/connectors/{FORECAST_CONNECTOR}"


def auth_header(xml: str) -> dict[str, str]:
    return {"Authorization": "AfasToken " + base64.b64encode(xml.encode()).decode()}


def rows(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = http.get(FORECASTS, params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


def put(http: httpx.Client, fields: dict[str, Any]) -> httpx.Response:
    return http.put("/connectors/CmForecast", json={"CmForecast": {"Element": {"Fields": fields}}})


def test_missing_or_wrong_token_is_401_with_empty_body(server: RunningServer, sandbox: AfasSandbox) -> None:
    base = sandbox.settings(server.base_url)["base_url"]
    no_auth = httpx.get(f"{base}{FORECASTS}")
    wrong = httpx.get(f"{base}{FORECASTS}", headers=auth_header(token_xml("ABCDEF")))
    bearer = httpx.get(f"{base}{FORECASTS}", headers={"Authorization": f"Bearer {sandbox.token_data}"})
    for response in (no_auth, wrong, bearer):
        assert response.status_code == 401
        assert response.content == b""


def test_metainfo_lists_connectors_and_fields(http: httpx.Client) -> None:
    listing = http.get("/metainfo").json()
    assert {c["id"] for c in listing["getConnectors"]} == {FORECAST_CONNECTOR, KEY_CONNECTOR, STATUS_CONNECTOR}
    assert listing["updateConnectors"] == [{"id": "CmForecast", "description": "Verkoopkans"}]
    meta = http.get(f"/metainfo/get/{FORECAST_CONNECTOR}").json()
    ids = {f["id"]: f for f in meta["fields"]}
    assert ids["ModifiedDate"]["dataType"] == "date"
    assert ids[CATEGORY_CAPTION]["fieldId"] == CATEGORY_FREE_FIELD
    keys = http.get(f"/metainfo/get/{KEY_CONNECTOR}").json()
    assert [f["id"] for f in keys["fields"]] == ["SalesRelation", "SequenceNo"]


def test_unknown_get_connector_is_500_with_afas_body(http: httpx.Client) -> None:
    response = http.get("/metainfo/get/Nope")
    assert response.status_code == 500
    body = response.json()
    assert set(body) == {"externalMessage", "errorNumber", "profitLogReference"}
    assert "Nope" in body["externalMessage"]


def test_statuses_carry_dutch_labels_and_chances(http: httpx.Client, sandbox: AfasSandbox) -> None:
    body = http.get(f"/connectors/{STATUS_CONNECTOR}", params={"orderbyfieldids": "Code"}).json()
    by_code = {row["Code"]: row for row in body["rows"]}
    assert by_code["OFF"] == {"Code": "OFF", "Omschrijving": "Offerte uitgebracht", "Scoringskans": 50.0}
    assert by_code["INT"]["Scoringskans"] is None
    assert sandbox.requests["reference"] == 1
    assert sandbox.listing_requests() == 0


def test_paging_with_order_covers_every_forecast_once(http: httpx.Client, sandbox: AfasSandbox) -> None:
    seen: list[str] = []
    skip = 0
    while True:
        page = rows(http, skip=skip, take=7, orderbyfieldids="SalesRelation,SequenceNo")
        seen += [f"{r['SalesRelation']}-{r['SequenceNo']}" for r in page]
        if len(page) < 7:
            break
        skip += 7
    assert sorted(seen) == sorted(sandbox.deal_ids())
    assert len(seen) == len(set(seen)) == 30
    assert sandbox.listing_requests() == 5


def test_default_take_is_100_and_minus_one_takes_all(http: httpx.Client) -> None:
    body = http.get(FORECASTS).json()
    assert (body["skip"], body["take"]) == (0, 100)
    assert len(rows(http, skip=-1, take=-1)) == 30


def test_descending_order(http: httpx.Client) -> None:
    page = rows(http, take=-1, skip=-1, orderbyfieldids="-ModifiedDate")
    stamps = [r["ModifiedDate"] for r in page]
    assert stamps == sorted(stamps, reverse=True)


def test_times_carry_a_z_but_are_amsterdam_wall_clock(http: httpx.Client, sandbox: AfasSandbox) -> None:
    forecast = next(iter(sandbox.world.forecasts.values()))
    forecast.modified = datetime(2025, 7, 1, 14, 30, 0)  # 12:30 UTC in summer time
    row = rows(
        http,
        filterfieldids="SalesRelation,SequenceNo",
        filtervalues=f"{forecast.relation},{forecast.sequence}",
        operatortypes="1,1",
    )[0]
    assert row["ModifiedDate"] == "2025-07-01T14:30:00Z"


def test_filter_operator_ge_on_modified_date(http: httpx.Client, sandbox: AfasSandbox) -> None:
    stamps = sorted(f.modified for f in sandbox.world.forecasts.values())
    pivot = stamps[20]
    page = rows(
        http, take=-1, skip=-1, filterfieldids="ModifiedDate", filtervalues=pivot.isoformat(), operatortypes="2"
    )
    assert len(page) == sum(1 for s in stamps if s >= pivot)
    assert all(r["ModifiedDate"] >= pivot.isoformat() + "Z" for r in page)


@pytest.mark.parametrize(
    ("operator", "value", "check"),
    [
        ("1", "OFF", lambda v: v == "OFF"),
        ("7", "OFF", lambda v: v != "OFF"),
        ("6", "F", lambda v: "f" in v.lower()),
        ("10", "O", lambda v: v.startswith("O")),
        ("12", "O", lambda v: not v.startswith("O")),
        ("13", "N", lambda v: v.endswith("N")),
    ],
)
def test_text_operators(http: httpx.Client, operator: str, value: str, check: Any) -> None:
    page = rows(http, take=-1, skip=-1, filterfieldids="Progress", filtervalues=value, operatortypes=operator)
    assert page
    assert all(check(r["Progress"]) for r in page)


def test_empty_and_not_empty_operators(http: httpx.Client) -> None:
    empty = rows(http, take=-1, skip=-1, filterfieldids="ExpectedEndDate", filtervalues="", operatortypes="8")
    filled = rows(http, take=-1, skip=-1, filterfieldids="ExpectedEndDate", filtervalues="", operatortypes="9")
    assert empty
    assert all(r["ExpectedEndDate"] is None for r in empty)
    assert len(empty) + len(filled) == 30


def test_comma_is_and_semicolon_is_or(http: httpx.Client) -> None:
    both = rows(http, take=-1, skip=-1, filterfieldids="Result,Progress", filtervalues="O,OFF", operatortypes="1,1")
    assert both
    assert all(r["Result"] == "O" and r["Progress"] == "OFF" for r in both)
    either = rows(http, take=-1, skip=-1, filterfieldids="Result;Result", filtervalues="G;N", operatortypes="1;1")
    assert either
    assert {r["Result"] for r in either} == {"G", "N"}


def test_unknown_filter_or_order_field_is_500(http: httpx.Client) -> None:
    for params in (
        {"filterfieldids": "Bogus", "filtervalues": "1", "operatortypes": "1"},
        {"orderbyfieldids": "-Bogus"},
    ):
        response = http.get(FORECASTS, params=params)
        assert response.status_code == 500
        assert "Bogus" in response.json()["externalMessage"]


def test_query_string_over_2049_characters_is_404(http: httpx.Client) -> None:
    values = ";".join(["10100"] * 400)
    ids = ";".join(["SalesRelation"] * 400)
    response = http.get(FORECASTS, params={"filterfieldids": ids, "filtervalues": values, "operatortypes": "1"})
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


def test_put_updates_chance_and_category(http: httpx.Client, sandbox: AfasSandbox) -> None:
    deal_id = sandbox.deal_ids()[0]
    relation, sequence = deal_id.split("-")
    response = put(http, {"PrId": relation, "SqNo": int(sequence), "Pc": 65, CATEGORY_FREE_FIELD: "Commit"})
    assert response.status_code == 201
    assert response.json() == {"results": {"CmForecast": {"SqNo": sequence}}}
    assert sandbox.remote_values(deal_id) == ("Commit", "65")
    assert sandbox.requests["write"] == 1


def test_put_moves_modified_date(http: httpx.Client, sandbox: AfasSandbox) -> None:
    deal_id = sandbox.deal_ids()[0]
    forecast = sandbox._forecast(deal_id)
    forecast.modified = datetime(2020, 1, 1)
    put(http, {"PrId": forecast.relation, "SqNo": forecast.sequence, "Pc": 10})
    assert forecast.modified > datetime(2020, 1, 1) + timedelta(days=365)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"Pc": 140}, "tussen 0 en 100"),
        ({"Pc": "veel"}, "geen getal"),
        ({"EmId": "NOBODY"}, "Medewerker"),
        ({"ViSt": "XXX"}, "Voortgang"),
        ({"ViOp": "W"}, "Resultaat"),
        ({"Bogus": 1}, "Bogus"),
    ],
)
def test_put_validation_errors_are_500_with_afas_body(
    http: httpx.Client, sandbox: AfasSandbox, fields: dict[str, Any], fragment: str
) -> None:
    deal_id = sandbox.deal_ids()[0]
    before = sandbox.remote_values(deal_id)
    relation, sequence = deal_id.split("-")
    response = put(http, {"PrId": relation, "SqNo": sequence, **fields})
    assert response.status_code == 500
    body = response.json()
    assert fragment in body["externalMessage"]
    assert body["errorNumber"] == -2147220469
    assert len(body["profitLogReference"]) == 32
    assert sandbox.remote_values(deal_id) == before


def test_put_unknown_forecast_and_missing_key(http: httpx.Client, sandbox: AfasSandbox) -> None:
    relation, sequence = sandbox.missing_id().split("-")
    assert "bestaat niet" in put(http, {"PrId": relation, "SqNo": sequence, "Pc": 5}).json()["externalMessage"]
    assert "verplicht" in put(http, {"Pc": 5}).json()["externalMessage"]
    malformed = http.put("/connectors/CmForecast", content=b"{not json")
    assert malformed.status_code == 500


def test_chance_linked_to_status(http: httpx.Client, sandbox: AfasSandbox) -> None:
    sandbox.world.chance_linked_to_status = True
    forecast = next(f for f in sandbox.world.forecasts.values() if f.status == "OFF")
    refused = put(http, {"PrId": forecast.relation, "SqNo": forecast.sequence, "Pc": 80})
    assert refused.status_code == 500
    assert "gekoppeld" in refused.json()["externalMessage"]
    moved = put(http, {"PrId": forecast.relation, "SqNo": forecast.sequence, "ViSt": "ONH"})
    assert moved.status_code == 201
    assert forecast.chance == Decimal(70)


def test_post_inserts_and_delete_removes(http: httpx.Client, sandbox: AfasSandbox) -> None:
    relation = sorted(sandbox.world.relations)[0]
    created = http.post(
        "/connectors/CmForecast",
        json={"CmForecast": {"Element": {"Fields": {"PrId": relation, "Ds": "Nieuw", "EmId": "KEESZ"}}}},
    )
    assert created.status_code == 201
    sequence = created.json()["results"]["CmForecast"]["SqNo"]
    assert f"{relation}-{sequence}" in sandbox.deal_ids()
    gone = http.delete(f"/connectors/CmForecast/CmForecast/PrId,SqNo/{relation},{sequence}")
    assert gone.status_code == 200
    assert f"{relation}-{sequence}" not in sandbox.deal_ids()


def test_maintenance_mode_is_503_with_retry_after_in_body(http: httpx.Client, sandbox: AfasSandbox) -> None:
    sandbox.maintenance_retry_after = 7200
    response = http.get(FORECASTS)
    assert response.status_code == 503
    assert response.json()["retry_after"] == 7200
    assert response.json()["error"]["code"] == "503"


def test_injected_503_fault(http: httpx.Client, sandbox: AfasSandbox) -> None:
    sandbox.faults.script = ["503"]
    assert http.get(FORECASTS).status_code == 503
    assert http.get(FORECASTS).status_code == 200


def test_parallel_limit_answers_429(server: RunningServer, sandbox: AfasSandbox) -> None:
    import asyncio

    sandbox.max_parallel = 2
    sandbox.faults.latency = 0.2
    settings = sandbox.settings(server.base_url)

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=settings["base_url"], headers=auth_header(settings["token"])) as c:
            answers = await asyncio.gather(*(c.get("/metainfo") for _ in range(5)))
        return [a.status_code for a in answers]

    codes = asyncio.run(burst())
    assert codes.count(429) >= 1
    assert codes.count(200) >= 2


def test_unordered_rows_are_not_in_key_order(http: httpx.Client) -> None:
    page = rows(http, take=-1, skip=-1)
    keys = [(r["SalesRelation"], r["SequenceNo"]) for r in page]
    assert keys != sorted(keys)


def test_control_surface(sandbox: AfasSandbox) -> None:
    deal_id = sandbox.deal_ids()[0]
    sandbox.edit_by_hand(deal_id, category="Pijplijn", probability="33")
    assert sandbox.remote_values(deal_id) == ("Pijplijn", "33")
    sandbox.delete(deal_id)
    assert deal_id not in sandbox.deal_ids()
    assert sandbox.missing_id() not in sandbox.deal_ids()
    with pytest.raises(KeyError):
        sandbox.touch(sandbox.missing_id())


def test_seed_is_deterministic_and_mixed() -> None:
    one, two = AfasSandbox(deals=40, seed=3), AfasSandbox(deals=40, seed=3)
    assert one.deal_ids() == two.deal_ids()
    results = {f.result for f in one.world.forecasts.values()}
    assert results == {"O", "G", "N"}
    assert json.dumps(sorted(one.world.statuses)) == json.dumps(sorted(two.world.statuses))
