"""The AFAS sandbox follows Profit's documented REST API where a client would notice (sources: AFAS's help pages
"Profit REST Service GetConnector", "XML filter for GetConnector", the REST API overview, and the public
DutchGrit.Afas client; see the sandbox README)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx

from crmsync.sandbox.server import RunningServer
from crmsync_afas.sandbox import FORECAST_CONNECTOR, AfasSandbox

FORECASTS = f"/connectors/{FORECAST_CONNECTOR}"


def rows(http: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = http.get(FORECASTS, params={"skip": -1, "take": -1, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["rows"])


def test_operator_15_quick_filter_is_accepted(http: httpx.Client) -> None:
    every = rows(http)
    word = str(every[0]["Description"]).split()[0][1:4].upper()
    found = rows(http, filterfieldids="Description", filtervalues=word, operatortypes="15")
    assert found and {r["SalesRelation"] for r in found} <= {r["SalesRelation"] for r in every}
    assert all(word.lower() in str(r["Description"]).lower() for r in found)


def test_contains_takes_percent_wildcards_as_documented(http: httpx.Client) -> None:
    """Filter docs: operator 6 is written %NL%; operator 7 with %NL% means 'text not present'."""
    every = rows(http)
    word = str(every[0]["Description"]).split()[0]
    inside = rows(http, filterfieldids="Description", filtervalues=f"%{word}%", operatortypes="6")
    outside = rows(http, filterfieldids="Description", filtervalues=f"%{word}%", operatortypes="7")
    assert inside and len(inside) + len(outside) == len(every)


def test_filterjson_is_honoured_ored_filters_of_anded_fields(http: httpx.Client) -> None:
    every = rows(http)
    first, second = every[0], every[1]

    def by_key(row: dict[str, Any]) -> dict[str, Any]:
        return {
            "@FilterId": f"Filter {row['SequenceNo']}",
            "Field": [
                {"@FieldId": "SalesRelation", "@OperatorType": "1", "#text": row["SalesRelation"]},
                {"@FieldId": "SequenceNo", "@OperatorType": "1", "#text": str(row["SequenceNo"])},
            ],
        }

    query = json.dumps({"Filters": {"Filter": [by_key(first), by_key(second)]}})
    found = rows(http, filterjson=query)
    keys = {(r["SalesRelation"], r["SequenceNo"]) for r in found}
    assert keys == {(first["SalesRelation"], first["SequenceNo"]), (second["SalesRelation"], second["SequenceNo"])}
    broken = http.get(FORECASTS, params={"filterjson": "{not json"})
    assert broken.status_code == 500 and "filterjson" in broken.json()["externalMessage"]


def test_take_minus_one_needs_skip_minus_one(http: httpx.Client) -> None:
    answer = http.get(FORECASTS, params={"skip": 2, "take": -1})
    assert answer.status_code == 500
    assert {"externalMessage", "errorNumber", "profitLogReference"} <= set(answer.json())
    assert http.get(FORECASTS, params={"skip": -1, "take": -1}).status_code == 200


def test_paths_are_case_insensitive(server: RunningServer, sandbox: AfasSandbox) -> None:
    settings = sandbox.settings(server.base_url)
    token = "AfasToken " + base64.b64encode(settings["token"].encode()).decode()
    url = f"{server.base_url}/profitrestservices/CONNECTORS/{FORECAST_CONNECTOR.upper()}"
    answer = httpx.get(url, params={"skip": 0, "take": 2}, headers={"Authorization": token})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["rows"]) == 2
    meta = httpx.get(f"{server.base_url}/PROFITRESTSERVICES/MetaInfo", headers={"Authorization": token})
    assert meta.status_code == 200


def test_accept_language_sets_the_message_language(http: httpx.Client) -> None:
    dutch = http.get("/connectors/nope", headers={"Accept-Language": "nl-nl"}).json()["externalMessage"]
    english = http.get("/connectors/nope", headers={"Accept-Language": "en-us"}).json()["externalMessage"]
    assert "bestaat niet" in dutch
    assert "does not exist" in english and "bestaat" not in english


def test_metainfo_info_has_the_spec_keys(http: httpx.Client, sandbox: AfasSandbox) -> None:
    info = http.get("/metainfo").json()["info"]
    assert {"envid", "appName", "group"} <= set(info)
    assert info["envid"] == sandbox.environment


def test_put_with_rate_is_written_not_a_500(http: httpx.Client, sandbox: AfasSandbox) -> None:
    first = rows(http)[0]
    fields = {"PrId": first["SalesRelation"], "SqNo": first["SequenceNo"], "CuId": "USD", "Rate": 1.08}
    answer = http.put("/connectors/CmForecast", json={"CmForecast": {"Element": {"Fields": fields}}})
    assert answer.status_code == 201, answer.text
    forecast = sandbox.world.forecasts[(str(first["SalesRelation"]), int(first["SequenceNo"]))]
    assert str(forecast.rate) == "1.08"
    meta = http.get("/metainfo/update/CmForecast").json()
    assert "Rate" in {f["fieldId"] for f in meta["fields"]}


def test_delete_takes_the_documented_at_form(http: httpx.Client, sandbox: AfasSandbox) -> None:
    """UpdateConnector docs: DELETE …/CmForecast/CmForecast/@PrId,@SqNo/{PrId},{SqNo}."""
    first = rows(http)[0]
    key = (str(first["SalesRelation"]), int(first["SequenceNo"]))
    answer = http.delete(f"/connectors/CmForecast/CmForecast/@PrId,@SqNo/{key[0]},{key[1]}")
    assert answer.status_code == 200, answer.text
    assert key not in sandbox.world.forecasts


def test_no_invented_429_for_parallel_calls_by_default(server: RunningServer, sandbox: AfasSandbox) -> None:
    """AFAS documents no limit answer for parallel calls, only advice (about 5-8): the sandbox invents none."""
    sandbox.faults.latency = 0.1
    settings = sandbox.settings(server.base_url)
    token = "AfasToken " + base64.b64encode(settings["token"].encode()).decode()

    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=settings["base_url"], headers={"Authorization": token}) as client:
            answers = await asyncio.gather(*(client.get("/metainfo") for _ in range(12)))
        return [a.status_code for a in answers]

    assert set(asyncio.run(burst())) == {200}
    assert sandbox.requests["peak_parallel"] > 8
