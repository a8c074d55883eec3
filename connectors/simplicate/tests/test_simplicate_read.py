"""SimplicateConnector reading, with respx: auth headers, paging, incremental filters, deletes, 429/5xx."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from simplicate_support import KEY, SECRET, failure, mock_reference, ok, sale

from crmsync.connector import Page
from crmsync.errors import ApiError, AuthError, RetriableApiError
from crmsync_simplicate.connector import SimplicateConnector
from crmsync_simplicate.translate import AMSTERDAM


async def read(connector: SimplicateConnector, since: datetime | None = None, reconcile: bool = False) -> list[Page]:
    return [page async for page in connector.deals(since, reconcile=reconcile)]


def latest_updated(page: Page) -> datetime:
    """The engine's checkpoint of a page: the latest `updated_at` of its sales, read as to_deal reads them."""
    return max(AMSTERDAM.parse(r["updated_at"]) for r in page.records)


def paged(records: list[dict[str, Any]], calls: list[httpx.QueryParams]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        params = request.url.params
        calls.append(params)
        offset, limit = int(params["offset"]), int(params["limit"])
        rows = records[offset : offset + limit]
        if params.get("select") == "id":
            rows = [{"id": r["id"]} for r in rows]
        return ok(rows, len(records))

    return handler


async def test_every_request_carries_key_and_secret(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    route = router.get("/sales/salesstatus").mock(return_value=ok([]))
    await connector.check()
    request = route.calls.last.request
    assert request.headers["authentication-key"] == KEY
    assert request.headers["authentication-secret"] == SECRET


async def test_401_is_an_auth_error_without_the_secret(
    connector: SimplicateConnector, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    router.get("/sales/salesstatus").mock(return_value=failure(401, "Invalid Authentication-Key"))
    with pytest.raises(AuthError, match="Invalid Authentication-Key") as info:
        await connector.check()
    assert SECRET not in str(info.value)
    assert SECRET not in caplog.text


async def test_full_read_pages_by_offset_concurrently_and_yields_in_order(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    records = [sale(i, updated=f"2024-05-{1 + i // 20:02d} 10:00:00") for i in range(350)]
    calls: list[httpx.QueryParams] = []
    in_flight = 0
    peak = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        offset = int(request.url.params["offset"])
        await asyncio.sleep(0.05 if offset == 100 else 0.0)  # page 2 answers last
        in_flight -= 1
        return paged(records, calls)(request)

    router.get("/sales/sales").mock(side_effect=handler)
    pages = await read(connector)
    assert [len(p.records) for p in pages] == [100, 100, 100, 50]
    assert [r["id"] for p in pages for r in p.records] == [r["id"] for r in records]
    assert sorted(int(c["offset"]) for c in calls) == [0, 100, 200, 300]
    assert all(c["limit"] == "100" and c["metadata"] == "count" for c in calls)
    assert all("q[updated_at][ge]" not in c for c in calls)
    assert peak > 1, "later pages should be fetched concurrently"
    # the engine's checkpoint: latest updated_at of the page, converted from Amsterdam time (CEST, +2) to UTC
    assert latest_updated(pages[0]) == datetime(2024, 5, 5, 8, 0, tzinfo=UTC)
    assert latest_updated(pages[-1]) == datetime(2024, 5, 18, 8, 0, tzinfo=UTC)
    assert all(p.live_ids is None for p in pages)


async def test_incremental_read_filters_on_amsterdam_wall_time(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    calls: list[httpx.QueryParams] = []
    router.get("/sales/sales").mock(side_effect=paged([sale(1, updated="2024-10-27 02:10:00")], calls))
    since = datetime(2024, 10, 27, 1, 5, tzinfo=UTC)  # 02:05 CET (second pass of the repeated hour)
    pages = await read(connector, since)
    assert calls[0]["q[updated_at][ge]"] == "2024-10-27 02:05:00"
    assert calls[0]["sort"] == "id"
    assert latest_updated(pages[0]) == datetime(2024, 10, 27, 0, 10, tzinfo=UTC)  # read as the first pass


async def test_incremental_summer_time_conversion(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    calls: list[httpx.QueryParams] = []
    router.get("/sales/sales").mock(side_effect=paged([], calls))
    assert await read(connector, datetime(2024, 7, 1, 22, 30, tzinfo=UTC)) == []
    assert calls[0]["q[updated_at][ge]"] == "2024-07-02 00:30:00"


async def test_read_without_metadata_pages_until_a_short_page(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    records = [sale(i) for i in range(150)]

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        return ok(records[offset : offset + 100])

    router.get("/sales/sales").mock(side_effect=handler)
    pages = await read(connector)
    assert sum(len(p.records) for p in pages) == 150


async def test_reconcile_after_full_read_reuses_its_ids(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    records = [sale(i) for i in range(120)]
    calls: list[httpx.QueryParams] = []
    router.get("/sales/sales").mock(side_effect=paged(records, calls))
    pages = await read(connector, None, reconcile=True)
    assert pages[-1].records == []
    assert pages[-1].live_ids == sorted(r["id"] for r in records)
    assert len(calls) == 2, "a full read already lists every id"


async def test_reconcile_after_incremental_read_scans_ids(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    records = [sale(i) for i in range(230)]
    calls: list[httpx.QueryParams] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if "q[updated_at][ge]" in request.url.params:
            calls.append(request.url.params)
            return ok([records[5]], 1)
        return paged(records, calls)(request)

    router.get("/sales/sales").mock(side_effect=handler)
    pages = await read(connector, datetime(2024, 5, 1, tzinfo=UTC), reconcile=True)
    assert [r["id"] for r in pages[0].records] == [records[5]["id"]]
    assert pages[-1].live_ids == sorted(r["id"] for r in records)
    scans = [c for c in calls if c.get("select") == "id"]
    assert len(scans) == 3


async def test_data_moving_during_the_listing_triggers_a_second_pass(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    records = [sale(i) for i in range(250)]
    deleted = records.pop(10)  # deleted between page 1 and page 2: every later sale shifts one place left
    state = {"calls": 0}
    original = [deleted, *records]

    def handler(request: httpx.Request) -> httpx.Response:
        state["calls"] += 1
        offset = int(request.url.params["offset"])
        rows = original if offset == 0 and state["calls"] == 1 else records
        return ok(rows[offset : offset + 100], len(rows))

    router.get("/sales/sales").mock(side_effect=handler)
    pages = await read(connector, None, reconcile=True)
    ids = [r["id"] for p in pages for r in p.records]
    assert len(ids) == len(set(ids))
    assert set(ids) >= {r["id"] for r in records}, "the sale shifted across the page boundary was read"
    assert pages[-1].live_ids == sorted(r["id"] for r in records)


async def test_ids_that_never_hold_still_are_not_reported_as_live(
    connector: SimplicateConnector, router: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    state = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        state["n"] += 1
        offset = int(request.url.params["offset"])
        total = 150 + state["n"]  # a new sale every request
        return ok([sale(i) for i in range(offset, min(total, offset + 100))], total)

    router.get("/sales/sales").mock(side_effect=handler)
    pages = await read(connector, datetime(2024, 1, 1, tzinfo=UTC), reconcile=True)
    assert all(p.live_ids is None for p in pages)
    assert "deletes not reconciled" in caplog.text


async def test_429_without_headers_backs_off_and_retries(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    route = router.get("/sales/sales").mock(
        side_effect=[failure(429, "Too Many Requests"), failure(429, "Too Many Requests"), ok([sale(1)], 1)]
    )
    pages = await read(connector)
    assert route.call_count == 3
    assert pages[0].records[0]["id"] == sale(1)["id"]
    assert connector.client.stats["retried"] == 2


async def test_429_honours_retry_after(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    router.get("/sales/sales").mock(
        side_effect=[failure(429, "slow down", headers={"Retry-After": "0.05"}), ok([sale(1)], 1)]
    )
    pages = await read(connector)
    assert len(pages) == 1


async def test_429_asking_for_too_long_a_wait_fails_with_the_message(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    router.get("/sales/sales").mock(return_value=failure(429, "Too Many Requests", headers={"Retry-After": "3600"}))
    with pytest.raises(ApiError, match="retry after 3600"):
        await read(connector)


async def test_persistent_5xx_gives_up_with_simplicates_message(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    route = router.get("/sales/sales").mock(return_value=failure(500, "Internal error, ref 81f"))
    with pytest.raises(RetriableApiError, match="Internal error, ref 81f"):
        await read(connector)
    assert route.call_count == 4


@pytest.mark.parametrize(
    ("response", "message"),
    [
        (failure(400, "Unknown filter 'q[foo]'"), "Unknown filter 'q\\[foo\\]'"),
        (failure(404, "Endpoint not found"), "Endpoint not found"),
        (httpx.Response(400, json={"errors": {"q": "invalid"}}), "invalid"),
        (
            httpx.Response(502, text="<html>Bad gateway</html>", headers={"content-type": "text/html"}),
            "non-JSON error page",
        ),
        (httpx.Response(200, json={"data": None, "errors": None}), "without a list at 'data'"),
        (httpx.Response(200, text="oops"), "non-JSON body"),
    ],
)
async def test_error_bodies_become_clear_errors(
    connector: SimplicateConnector, router: respx.MockRouter, response: httpx.Response, message: str
) -> None:
    router.get("/sales/sales").mock(return_value=response)
    with pytest.raises(ApiError, match=message):
        await read(connector)


async def test_reference_builds_steps_and_closed_statuses(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    mock_reference(router)
    reference = await connector.reference()
    assert list(reference.pipelines) == ["sales"]
    steps = [s for s in reference.stages.values() if not s.closed]
    assert [s.label for s in steps] == ["Introductie", "Kwalificatie", "Offerte", "Onderhandeling", "Mondeling akkoord"]
    assert [str(s.probability) for s in steps] == ["0.1", "0.25", "0.5", "0.7", "0.9"]
    assert [s.order for s in steps] == [1, 2, 3, 4, 5]
    scored, lost = reference.stages["salesstatus:scored"], reference.stages["salesstatus:lost"]
    assert scored.won
    assert scored.closed
    assert lost.closed
    assert not lost.won
    assert "salesstatus:open" not in reference.stages
    assert connector.mapping_problems(reference) == []


async def test_mapping_problems_name_the_missing_field_and_options(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    mock_reference(router, fields=[{"id": "f", "name": "contract_type", "options": []}])
    problems = connector.mapping_problems(await connector.reference())
    assert problems == ["sales custom field 'forecast_category' does not exist in Simplicate; existing: contract_type"]
    router.get("/sales/salescustomfields").mock(
        return_value=ok([{"name": "forecast_category", "options": [{"value": "Pijplijn"}, {"value": "Commit"}]}])
    )
    problems = connector.mapping_problems(await connector.reference())
    assert (
        "writeback.category_values.best_case: 'Best case' is not an option of 'forecast_category'; "
        "options: Commit, Pijplijn"
    ) in problems
    assert len(problems) == 3
