"""Paging AFAS Profit as it documents: skip/take ordered by the key, every page after the first starting one row
early to prove no row slid under `skip`, the listing read again when one did; and reads that survive deletes and
inserts between their pages (against the sandbox over loopback)."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from afas_testkit import GC, KEYS, collect, make, query, row

from crmsync.connector import Page
from crmsync.errors import PaginationError
from crmsync.mapping import Mapping
from crmsync.sandbox.server import RunningServer
from crmsync_afas.connector import AfasConnector
from crmsync_afas.sandbox import FORECAST_CONNECTOR, KEY_CONNECTOR, AfasSandbox
from crmsync_afas.sandbox.writes import insert
from crmsync_afas.settings import AfasSettings

ORDER = "SalesRelation,SequenceNo"
SINCE = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 on the Amsterdam wall clock


def answering(rows: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """Profit's skip/take over `rows` (already in key order)."""

    def answer(request: httpx.Request) -> httpx.Response:
        skip, take = int(request.url.params["skip"]), int(request.url.params["take"])
        return httpx.Response(200, json={"skip": skip, "take": take, "rows": rows[skip : skip + take]})

    return answer


ROWS = [row("10178", 3), row("10178", 4), row("10179", 1), row("10180", 1), row("10180", 2)]


@respx.mock
async def test_pages_after_the_first_start_one_row_early(mapping: Mapping) -> None:
    route = respx.get(GC).mock(side_effect=answering(ROWS))
    pages = await collect(make(mapping))  # page_size 2
    assert [r["id"] for p in pages for r in p.records] == ["10178-3", "10178-4", "10179-1", "10180-1", "10180-2"]
    sent = [query(call.request) for call in route.calls]
    assert [(q["skip"], q["take"]) for q in sent] == [("0", "2"), ("1", "3"), ("3", "3")]  # ends at a short page
    assert all(q["orderbyfieldids"] == ORDER for q in sent)


@respx.mock
async def test_a_key_listed_twice_is_read_once_and_does_not_stop_the_listing(mapping: Mapping) -> None:
    # a joined GetConnector may list one forecast twice, side by side: no row moved under `skip`
    twice = [row("10178", 3), row("10178", 4), row("10178", 4), row("10179", 1), row("10180", 1)]
    route = respx.get(GC).mock(side_effect=answering(twice))
    pages = await collect(make(mapping))
    assert [r["id"] for p in pages for r in p.records] == ["10178-3", "10178-4", "10179-1", "10180-1"]
    assert len({call.request.url.params["skip"] for call in route.calls}) == len(route.calls), "one pass"


@respx.mock
async def test_an_incremental_read_filters_every_page(mapping: Mapping) -> None:
    route = respx.get(GC).mock(side_effect=answering(ROWS))
    await collect(make(mapping), SINCE)
    for call in route.calls:
        sent = query(call.request)
        assert (sent["filterfieldids"], sent["filtervalues"], sent["operatortypes"]) == (
            "ModifiedDate",
            "2025-07-01T14:00:00",
            "2",
        )


@respx.mock
async def test_a_row_deleted_between_pages_makes_the_listing_read_again(mapping: Mapping) -> None:
    rows = list(ROWS)
    calls = {"n": 0}

    def answer(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            del rows[0]  # a person deletes a forecast already read: every later row shifts one to the left
        return answering(rows)(request)

    respx.get(GC).mock(side_effect=answer)
    pages = await collect(make(mapping))
    ids = [r["id"] for p in pages for r in p.records]
    assert sorted(ids) == sorted(["10178-3", "10178-4", "10179-1", "10180-1", "10180-2"])  # 10179-1 not skipped
    assert len(ids) == len(set(ids)), "a forecast read in both passes is yielded once"


@respx.mock
async def test_rows_that_never_hold_still_stop_the_read_and_the_key_scan_reconciles_nothing(
    mapping: Mapping, caplog: pytest.LogCaptureFixture
) -> None:
    rows = list(ROWS)

    def churning(request: httpx.Request) -> httpx.Response:
        if request.url.params["skip"] != "0":
            rows.insert(0, row("10000", len(rows)))  # an insert before every page after the first
        return answering(rows)(request)

    respx.get(GC).mock(side_effect=churning)
    with pytest.raises(PaginationError, match="kept being added or deleted through 3 reads"):
        await collect(make(mapping))
    respx.get(KEYS).mock(side_effect=churning)
    respx.get(GC).mock(side_effect=answering(ROWS[:1]))
    with caplog.at_level(logging.WARNING):
        pages = await collect(make(mapping, key_page_size=2), SINCE, reconcile=True)
    assert all(p.live_ids is None for p in pages), "no id list from a scan that never held still"
    assert "deletes are not reconciled this run" in caplog.text


# -- the sandbox evaluates Profit's filter triple as documented --------------------------------------------


def keyset_filter(after: tuple[str, int], since: tuple[str, str] | None) -> dict[str, str]:
    """`(relation > r) OR (relation = r AND sequence > s)`, with `modified >= since` in every group."""
    groups = [[("SalesRelation", after[0], 4)], [("SalesRelation", after[0], 1), ("SequenceNo", str(after[1]), 4)]]
    if since is not None:
        for group in groups:
            group.append((since[0], since[1], 2))
    return {
        "filterfieldids": ";".join(",".join(f for f, _, _ in g) for g in groups),
        "filtervalues": ";".join(",".join(v for _, v, _ in g) for g in groups),
        "operatortypes": ";".join(",".join(str(o) for _, _, o in g) for g in groups),
    }


def _key(forecast_id: str) -> tuple[str, int]:
    relation, _, sequence = forecast_id.rpartition("-")
    return relation, int(sequence)


def test_sandbox_keyset_filter_returns_exactly_the_rows_after_each_key(
    http: httpx.Client, sandbox: AfasSandbox
) -> None:
    # A relation that sorts after every seeded one as a string ("9001" > "10199") though not as a number.
    with sandbox.lock:
        template = next(iter(sandbox.world.forecasts.values()))
        sandbox.world.relations["9001"] = "Bloemenhandel Veen"
        for sequence in (1, 2):
            sandbox.world.forecasts[("9001", sequence)] = dataclasses.replace(
                template, relation="9001", sequence=sequence
            )
    listing = http.get(f"/connectors/{FORECAST_CONNECTOR}", params={"skip": -1, "take": -1, "orderbyfieldids": ORDER})
    ordered = [(r["SalesRelation"], r["SequenceNo"]) for r in listing.json()["rows"]]
    assert ordered == sorted(ordered)  # relation compared as a string, then the sequence as a number
    assert ordered[-2:] == [("9001", 1), ("9001", 2)]
    since = "2025-06-01T00:00:00"
    for index, after in enumerate(ordered):
        for since_clause in (None, ("ModifiedDate", since)):
            params = {"skip": -1, "take": -1, "orderbyfieldids": ORDER}
            params |= keyset_filter(after, since_clause)
            response = http.get(f"/connectors/{FORECAST_CONNECTOR}", params=params)
            assert response.status_code == 200, response.text
            got = [(r["SalesRelation"], r["SequenceNo"], r["ModifiedDate"]) for r in response.json()["rows"]]
            tail = {f"{r}-{s}" for r, s in ordered[index + 1 :]}
            if since_clause is not None:
                tail = {k for k in tail if sandbox.world.forecasts[_key(k)].modified >= datetime(2025, 6, 1)}
            assert [f"{r}-{s}" for r, s, _ in got] == [k for k in (f"{r}-{s}" for r, s in ordered) if k in tail]


# -- deletes and inserts between the pages of a read (sandbox over loopback) ------------------------------


class Between(httpx.AsyncBaseTransport):
    """A real transport that calls `after(path)` once a GetConnector page has been answered, before it is read."""

    def __init__(self, after: Callable[[str], None]) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.after = after

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        self.after(request.url.path)
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def connector_for(
    sandbox: AfasSandbox, server: RunningServer, mapping: Mapping, transport: httpx.AsyncBaseTransport | None = None
) -> AfasConnector:
    settings = AfasSettings.model_validate({**sandbox.settings(server.base_url), "page_size": 5, "key_page_size": 5})
    return AfasConnector("afas", settings, mapping, transport=transport)


def key_order(sandbox: AfasSandbox) -> list[str]:
    return [f"{r}-{s}" for r, s in sorted(_key(i) for i in sandbox.deal_ids())]


def read_ids(pages: list[Page]) -> list[str]:
    return [record["id"] for page in pages for record in page.records]


async def test_deletes_and_inserts_between_pages_lose_no_surviving_forecast(
    sandbox: AfasSandbox, server: RunningServer, mapping: Mapping
) -> None:
    before = key_order(sandbox)
    connector = connector_for(sandbox, server, mapping)
    async with connector:
        stream = connector.deals(None, reconcile=True)
        first = await anext(stream)
        on_first = [record["id"] for record in first.records]
        assert on_first == before[:5]
        # Between page 1 and 2: two forecasts already read and one not yet read are deleted (under skip/take the
        # first rows of page 2 would slide onto page 1 and never be read), and two forecasts are inserted, one
        # behind the cursor and one ahead of it.
        gone = [on_first[0], on_first[2], before[12]]
        for forecast_id in gone:
            sandbox.delete(forecast_id)
        with sandbox.lock:
            behind = insert(sandbox.world, {"PrId": _key(before[0])[0], "Ds": "Nieuw", "EmId": "KEESZ"})
            ahead = insert(sandbox.world, {"PrId": _key(before[-1])[0], "Ds": "Nieuw", "EmId": "KEESZ"})
        behind_id = f"{_key(before[0])[0]}-{behind['SqNo']}"
        ahead_id = f"{_key(before[-1])[0]}-{ahead['SqNo']}"
        rest = [page async for page in stream]
    ids = read_ids([first, *rest])
    assert len(ids) == len(set(ids)), "a forecast was read twice"
    survivors = [i for i in before if i not in gone]
    assert [i for i in ids if i in survivors] == survivors  # each surviving forecast, once, in key order
    assert before[12] not in ids
    assert ahead_id in ids
    assert behind_id in ids  # it shifted the rows under skip: the listing was read again and found it
    live = rest[-1].live_ids
    assert live is not None
    assert set(sandbox.deal_ids()) <= set(live), "a live forecast would be reported gone"


async def test_an_incremental_read_and_its_key_scan_survive_deletes_between_pages(
    sandbox: AfasSandbox, server: RunningServer, mapping: Mapping
) -> None:
    before = key_order(sandbox)
    pages_served = {FORECAST_CONNECTOR: 0, KEY_CONNECTOR: 0}
    gone: list[str] = []

    def after(path: str) -> None:
        connector = path.rsplit("/", 1)[-1]
        if connector not in pages_served:
            return
        pages_served[connector] += 1
        if pages_served[connector] == 1:  # after the first page of each listing: delete what it just served
            index = 0 if connector == FORECAST_CONNECTOR else 5
            for forecast_id in (before[index], before[index + 3]):
                sandbox.delete(forecast_id)
                gone.append(forecast_id)

    connector = connector_for(sandbox, server, mapping, Between(after))
    async with connector:
        result = [page async for page in connector.deals(datetime(2025, 1, 1, tzinfo=UTC), reconcile=True)]
    ids = read_ids(result)
    assert len(ids) == len(set(ids))
    assert [i for i in before if i not in gone] == [i for i in ids if i not in gone]  # nothing skipped
    assert pages_served[KEY_CONNECTOR] >= 2, "the key scan must page for this test to mean anything"
    live = result[-1].live_ids
    assert live is not None
    assert len(live) == len(set(live))
    assert set(sandbox.deal_ids()) <= set(live), "a live forecast would be reported gone"
    assert set(live) == set(sandbox.deal_ids())  # the scan read again after the deletes: exactly what is live
