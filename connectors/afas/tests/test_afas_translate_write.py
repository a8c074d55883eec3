"""to_deal and write-back of the AFAS connector."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import httpx
import pytest
import respx
from afas_testkit import BASE, VALIDATION, make, reference, row

from crmsync.connector import DealUpdate
from crmsync.errors import RecordError
from crmsync.mapping import Mapping
from crmsync.model import DealStatus

# -- to_deal -----------------------------------------------------------------------------------------------------


def test_to_deal_open_forecast(mapping: Mapping) -> None:
    connector = make(mapping)
    raw = {"id": "10178-4", **row("10178", 4, Forecastcategorie="Commit")}
    deal = connector.to_deal(raw, reference(mapping))
    assert deal.source_id == "10178-4"
    assert deal.status is DealStatus.OPEN
    assert deal.stage.id == "OFF"
    assert deal.stage.probability == Decimal("0.5")
    assert deal.amount == Decimal("12500.0")
    assert deal.close_date == date(2025, 6, 30)
    assert deal.updated_at == datetime(2025, 3, 1, 9, 0, tzinfo=UTC)
    assert deal.owner is not None
    assert deal.owner.name == "Kees de Zwart"
    assert deal.remote_category == "Commit"
    assert deal.remote_probability == Decimal("50.0")
    assert deal.group == "NIEUW"
    assert deal.probability_writable


@pytest.mark.parametrize(
    ("result", "status", "stage"), [("G", DealStatus.WON, "result:G"), ("N", DealStatus.LOST, "result:N")]
)
def test_to_deal_closed_forecasts_land_in_result_stages(
    mapping: Mapping, result: str, status: DealStatus, stage: str
) -> None:
    raw = row("1", 1, Result=result, ActualEndDate="2025-05-02T00:00:00Z", Reason="PRIJS")
    deal = make(mapping).to_deal(raw, reference(mapping))
    assert deal.status is status
    assert deal.stage.id == stage
    assert deal.stage.closed
    assert deal.extra["status"] == "OFF"
    assert deal.closed_at == datetime(2025, 5, 1, 22, 0, tzinfo=UTC)
    assert (deal.lost_reason == "PRIJS") is (status is DealStatus.LOST)


def test_linked_chance_is_not_writable(mapping: Mapping) -> None:
    linked = mapping.model_copy(update={"options": {**mapping.options, "chance_linked_to_status": True}})
    ref = reference(mapping)
    assert not make(linked).to_deal(row("1", 1), ref).probability_writable
    assert make(linked).to_deal(row("1", 1, Progress="INT"), ref).probability_writable


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"SalesRelation": None}, None),
        ({"Result": "X"}, "Result"),
        ({"Progress": "NOPE"}, "Progress"),
        ({"ModifiedDate": None}, "ModifiedDate"),
        ({"ModifiedDate": "gisteren"}, "ModifiedDate"),
        ({"ExpectedAmount": "veel"}, "ExpectedAmount"),
        ({"ExpectedEndDate": "31-12-2025"}, "ExpectedEndDate"),
    ],
)
def test_bad_rows_raise_record_error(mapping: Mapping, change: dict[str, Any], field: str | None) -> None:
    with pytest.raises(RecordError) as info:
        make(mapping).to_deal(row("1", 1, **change), reference(mapping))
    assert info.value.field == field


# -- writes --------------------------------------------------------------------------------------------------------


@respx.mock
async def test_write_puts_key_chance_and_category_and_reports_per_forecast(mapping: Mapping) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        fields = json.loads(request.content)["CmForecast"]["Element"]["Fields"]
        if fields["PrId"] == "999":
            return httpx.Response(500, json=VALIDATION)
        return httpx.Response(201, json={"results": {"CmForecast": {"SqNo": str(fields["SqNo"])}}})

    route = respx.put(f"{BASE}/connectors/CmForecast").mock(side_effect=answer)
    updates = [
        DealUpdate(source_id="10178-4", category="Commit", probability=Decimal("75")),
        DealUpdate(source_id="999-1", category="Pijplijn"),
        DealUpdate(source_id="not-an-id"),
        DealUpdate(source_id="10178-5"),
        DealUpdate(source_id="10178-6", clear_probability=True, category=""),
    ]
    outcomes = {o.source_id: o for o in await make(mapping).write(updates)}
    assert outcomes["10178-4"].status == "written"
    assert outcomes["999-1"].status == "failed"
    assert (
        outcomes["999-1"].reason
        == "500: De ingevulde waarde bij 'Medewerker' bestaat niet. (profitLogReference B8213AF1C0DE)"
    )
    assert outcomes["not-an-id"].status == "failed"
    assert outcomes["10178-5"].status == "skipped"
    assert outcomes["10178-6"].status == "written"
    bodies = {json.loads(c.request.content)["CmForecast"]["Element"]["Fields"]["SqNo"]: c for c in route.calls}
    first = json.loads(bodies[4].request.content)["CmForecast"]["Element"]["Fields"]
    assert first == {"PrId": "10178", "SqNo": 4, "U6C0D3A9E4B2F4A7C8E1D5B3A2F6C9E01": "Commit", "Pc": 75}
    cleared = json.loads(bodies[6].request.content)["CmForecast"]["Element"]["Fields"]
    assert cleared["Pc"] == ""
    assert cleared["U6C0D3A9E4B2F4A7C8E1D5B3A2F6C9E01"] == ""
    assert route.call_count == 3  # the 500 validation error was not retried


@respx.mock
async def test_write_keeps_at_most_five_requests_in_flight(mapping: Mapping) -> None:
    import asyncio

    in_flight = peak = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(201, json={"results": {"CmForecast": {}}})

    respx.put(f"{BASE}/connectors/CmForecast").mock(side_effect=answer)
    outcomes = await make(mapping).write([DealUpdate(source_id=f"1-{i}", probability=Decimal(10)) for i in range(20)])
    assert [o.status for o in outcomes] == ["written"] * 20
    assert peak == 5


@respx.mock
async def test_an_unreachable_forecast_is_unknown_alone_and_the_written_ones_stay_written(mapping: Mapping) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["CmForecast"]["Element"]["Fields"]["PrId"] == "2":
            raise httpx.ConnectError("connection refused")
        return httpx.Response(201, json={"results": {"CmForecast": {}}})

    respx.put(f"{BASE}/connectors/CmForecast").mock(side_effect=answer)
    updates = [DealUpdate(source_id=f"{i}-1", probability=Decimal(10)) for i in (1, 2, 3)]
    outcomes = {o.source_id: o for o in await make(mapping).write(updates)}
    assert {k: o.status for k, o in outcomes.items()} == {"1-1": "written", "2-1": "unknown", "3-1": "written"}
    assert "cannot reach" in (outcomes["2-1"].reason or "")
