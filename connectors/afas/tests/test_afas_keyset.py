"""Keyset paging: the exact filter of every page after the first, and reads that survive deletes and inserts
between their pages (against the sandbox over loopback)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import respx
from afas_testkit import GC, collect, make, query, row

from crmsync.connector import Page
from crmsync.errors import PaginationError
from crmsync.mapping import Mapping
from crmsync.sandbox.server import RunningServer
from crmsync_afas.connector import AfasConnector, keyset_filter
from crmsync_afas.sandbox import FORECAST_CONNECTOR, KEY_CONNECTOR, AfasSandbox
from crmsync_afas.sandbox.app import MAX_QUERY
from crmsync_afas.sandbox.writes import insert
from crmsync_afas.settings import AfasSettings

ORDER = "SalesRelation,SequenceNo"
SINCE = datetime(2025, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 on the Amsterdam wall clock


def pages(*bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    return [httpx.Response(200, json={"skip": 0, "take": 2, "rows": rows}) for rows in bodies]


# -- the filter of each page (respx) ------------------------------------------------------------------------


@respx.mock
async def test_page_two_asks_for_the_rows_after_the_last_key(mapping: Mapping) -> None:
    route = respx.get(GC).mock(side_effect=pages([row("10178", 3), row("10178", 4)], [row("10179", 1)]))
    await collect(make(mapping))
    first, second = (query(call.request) for call in route.calls)
    assert first == {"skip": "0", "take": "2", "orderbyfieldids": ORDER}
    assert second == {
        "skip": "0",
        "take": "2",
        "orderbyfieldids": ORDER,
        # (relation > 10178) OR (relation = 10178 AND sequence > 4)
        "filterfieldids": "SalesRelation;SalesRelation,SequenceNo",
        "filtervalues": "10178;10178,4",
        "operatortypes": "4;1,4",
    }


@respx.mock
async def test_page_two_of_an_incremental_read_keeps_since_in_every_group(mapping: Mapping) -> None:
    route = respx.get(GC).mock(side_effect=pages([row("10178", 3), row("10178", 4)], [row("10179", 1)]))
    await collect(make(mapping), SINCE)
    first, second = (query(call.request) for call in route.calls)
    assert first == {
        "skip": "0",
        "take": "2",
        "orderbyfieldids": ORDER,
        "filterfieldids": "ModifiedDate",
        "filtervalues": "2025-07-01T14:00:00",
        "operatortypes": "2",
    }
    assert second == {
        "skip": "0",
        "take": "2",
        "orderbyfieldids": ORDER,
        # (relation > 10178 AND modified >= since) OR (relation = 10178 AND sequence > 4 AND modified >= since)
        "filterfieldids": "SalesRelation,ModifiedDate;SalesRelation,SequenceNo,ModifiedDate",
        "filtervalues": "10178,2025-07-01T14:00:00;10178,4,2025-07-01T14:00:00",
        "operatortypes": "4,2;1,4,2",
    }


def test_keyset_filter_of_the_first_page() -> None:
    assert keyset_filter("SalesRelation", "SequenceNo", None) == {}
    assert keyset_filter("SalesRelation", "SequenceNo", None, ("ModifiedDate", "2025-01-01T00:00:00")) == {
        "filterfieldids": "ModifiedDate",
        "filtervalues": "2025-01-01T00:00:00",
        "operatortypes": "2",
    }


@respx.mock
async def test_a_realistic_keyset_query_stays_under_the_query_string_limit(mapping: Mapping) -> None:
    # Long customer ids for connector and fields, a relation of PrId's full 15 characters that all need
    # percent-encoding, a nine-digit sequence and an incremental `since`: the longest query a page sends.
    long_fields = {"relation": "Verkooprelatie_" + "R" * 25, "sequence": "Volgnummer_" + "S" * 29}
    long_fields["modified"] = "U" + "A" * 32  # a free field's generated id
    options = {**mapping.options, "get_connector": "crmsync_verkoopkansen_" + "x" * 28}
    long = mapping.model_copy(update={"fields": {**mapping.fields, **long_fields}, "options": options})
    relation = "é" * 15
    rows = [
        {**row("1", 1), long_fields["relation"]: relation, long_fields["sequence"]: 999_999_990 + sequence}
        for sequence in (1, 2)
    ]
    url = f"{make(long).settings.base_url}/connectors/{options['get_connector']}"
    route = respx.get(url).mock(side_effect=pages(rows, []))
    await collect(make(long), SINCE)
    sent = route.calls[1].request
    assert query(sent)["filtervalues"] == f"{relation},2025-07-01T14:00:00;{relation},999999992,2025-07-01T14:00:00"
    assert len(sent.url.query) < MAX_QUERY
    assert len(sent.url.query) < 1000  # far from the limit, and a keyset page does not grow with the data read


@respx.mock
@pytest.mark.parametrize("relation", ["10,178", "10;178", " 10178", "", None])
async def test_a_relation_the_filter_cannot_carry_stops_the_read(mapping: Mapping, relation: str | None) -> None:
    respx.get(GC).mock(side_effect=pages([row("1", 1), row("1", 2, SalesRelation=relation)]))
    with pytest.raises(PaginationError, match="keyset"):
        await collect(make(mapping))


@respx.mock
async def test_a_sequence_sent_as_a_whole_float_is_paged_after_as_an_integer(mapping: Mapping) -> None:
    route = respx.get(GC).mock(side_effect=pages([row("7", 1), row("7", 2.0)], []))
    await collect(make(mapping))
    assert query(route.calls[1].request)["filtervalues"] == "7;7,2"


# -- the sandbox evaluates the keyset filter as Profit documents it ----------------------------------------


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
            params |= keyset_filter("SalesRelation", "SequenceNo", after, since_clause)
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
    assert behind_id not in ids  # behind the cursor: the next run reads it (it is new, nothing to reconcile)
    live = rest[-1].live_ids
    assert live is not None
    assert set(sandbox.deal_ids()) - {behind_id} <= set(live), "a live forecast would be reported gone"


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
    assert before[5] in live  # deleted after the scan read it: the next reconcile catches it
    assert before[8] not in live  # deleted before the scan reached it
