"""The kit's paginators against in-process CRMs (httpx.MockTransport): order, ends, loops, broken pages."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from crmsync.errors import ApiError, ConfigError, PaginationError
from crmsync.http import ApiClient
from crmsync.kit import CursorPager, KeysetPager, OffsetPager, Rescans, StampPager, paginator

ROWS = [{"id": str(i)} for i in range(23)]


def client(handler: Callable[[httpx.Request], httpx.Response]) -> ApiClient:
    return ApiClient("conn", "http://crm.test/api", transport=httpx.MockTransport(handler), max_retries=0)


def answer(body: Any) -> httpx.Response:
    return httpx.Response(200, json=body)


async def collect(pages: Any) -> list[list[dict[str, Any]]]:
    return [rows async for rows in pages]


async def test_cursor_pager_follows_the_cursor_to_the_end() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        start = int(request.url.params.get("after", "0"))
        nxt = start + 10 if start + 10 < len(ROWS) else None
        return answer({"results": ROWS[start : start + 10], "paging": {"next": {"after": nxt}} if nxt else None})

    pages = await collect(
        CursorPager(client(handler), "/deals", next="paging.next.after", cursor_param="after").pages()
    )
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [r["id"] for p in pages for r in p] == [r["id"] for r in ROWS]


async def test_cursor_pager_stops_on_a_repeated_cursor() -> None:
    pager = CursorPager(client(lambda r: answer({"data": ROWS[:2], "next": "same"})), "/d", items="data",
                        next="next", cursor_param="cursor")  # fmt: skip
    with pytest.raises(PaginationError, match="cursor 'same' twice") as info:
        await collect(pager.pages())
    assert info.value.connection == "conn"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"results": {"id": 1}}, "without a list at 'results'"),
        ({"results": None}, "without a list at 'results'"),
        ([1, 2], "not an object"),
    ],
)
async def test_a_broken_page_is_an_api_error_naming_the_request(body: Any, fragment: str) -> None:
    pager = CursorPager(client(lambda r: answer(body)), "/deals", next="next", cursor_param="after")
    with pytest.raises(ApiError, match=fragment) as info:
        await collect(pager.pages())
    assert (info.value.method, info.value.path, info.value.connection) == ("GET", "/deals", "conn")


async def test_a_non_json_page_names_the_request() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, text="<html>login</html>", headers={"content-type": "text/html"})

    with pytest.raises(ApiError, match=r"GET /deals answered 200 with a non-JSON body \(text/html"):
        await collect(CursorPager(client(handler), "/deals", next="n", cursor_param="a").pages())


async def test_cursor_that_is_not_text_is_refused() -> None:
    pager = CursorPager(client(lambda r: answer({"results": [], "next": {"x": 1}})), "/d", next="next",
                        cursor_param="c")  # fmt: skip
    with pytest.raises(PaginationError, match="not text"):
        await collect(pager.pages())


@pytest.mark.parametrize("ahead", [1, 4])
async def test_offset_pager_reads_in_order_and_ends_at_a_short_page(ahead: int) -> None:
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        skip, take = int(request.url.params["skip"]), int(request.url.params["take"])
        asked.append(skip)
        return answer({"rows": ROWS[skip : skip + take], "count": len(ROWS)})

    pager = OffsetPager(client(handler), "/rows", items="rows", page_size=5, offset_param="skip",
                        limit_param="take", total="count", ahead=ahead)  # fmt: skip
    pages = await collect(pager.pages())
    assert [r["id"] for p in pages for r in p] == [r["id"] for r in ROWS]
    assert sorted(asked) == [0, 5, 10, 15, 20]
    assert not pager.total_changed


async def test_offset_pager_does_not_trust_an_absurd_total() -> None:
    asked: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        asked.append(offset)
        return answer({"data": ROWS[offset : offset + 10], "metadata": {"count": 1_000_000_000}})

    pager = OffsetPager(client(handler), "/s", items="data", page_size=10, total="metadata.count", ahead=3)
    pages = await collect(pager.pages())
    assert sum(len(p) for p in pages) == len(ROWS)
    assert len(asked) <= 3 + 3  # the pages read plus at most `ahead` requested beyond the end


async def test_offset_pager_notices_a_total_that_moves() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        offset = int(request.url.params["offset"])
        return answer({"data": ROWS[offset : offset + 10], "metadata": {"count": 23 + calls["n"]}})

    pager = OffsetPager(client(handler), "/s", items="data", page_size=10, total="metadata.count")
    await collect(pager.pages())
    assert pager.total_changed


async def test_offset_pager_detects_a_server_ignoring_the_offset() -> None:
    pager = OffsetPager(client(lambda r: answer({"data": ROWS[:10]})), "/s", items="data", page_size=10)
    with pytest.raises(PaginationError, match="repeats records already read"):
        await collect(pager.pages())


async def test_keyset_pager_asks_for_rows_after_the_last_one() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        after = int(request.url.params.get("after", "-1"))
        rows = [r for r in ROWS if int(r["id"]) > after][: int(request.url.params["limit"])]
        return answer({"results": rows})

    pager = KeysetPager(client(handler), "/k", page_size=10, after=lambda row: {"after": row["id"]})
    pages = await collect(pager.pages())
    assert [r["id"] for p in pages for r in p] == [r["id"] for r in ROWS]


async def test_keyset_pager_stops_when_a_key_comes_back() -> None:
    pager = KeysetPager(client(lambda r: answer({"results": ROWS[:10]})), "/k", page_size=10,
                        after=lambda row: {"after": row["id"]})  # fmt: skip
    with pytest.raises(PaginationError, match="again"):
        await collect(pager.pages())


async def test_an_item_that_is_not_an_object_is_passed_on_for_to_deal_to_quarantine() -> None:
    body = {"results": [{"id": "1"}, "oops", ["x"], None, {"id": "2"}]}
    pager = CursorPager(client(lambda r: answer(body)), "/d", next="next", cursor_param="after")
    assert await collect(pager.pages()) == [body["results"]]


def test_the_registry_names_the_valid_paginators() -> None:
    assert paginator("offset") is OffsetPager
    with pytest.raises(ConfigError, match="unknown paginator 'pages'; valid: cursor, keyset, offset"):
        paginator("pages")


def test_deeply_nested_json_is_a_named_error_not_a_recursion_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    api = client(lambda r: httpx.Response(200, content=deep, headers={"content-type": "application/json"}))
    response = httpx.Response(200, content=deep, request=httpx.Request("GET", "http://crm.test/api/x"))
    with pytest.raises(ApiError, match="GET /x answered 200 with a non-JSON body"):
        api.json(response)
    assert json.dumps([1])  # json itself still works afterwards


async def test_offset_pager_with_overlap_notices_rows_moving_under_the_offset() -> None:
    rows = [{"id": str(i)} for i in range(7)]
    asked: list[tuple[int, int]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        skip, take = int(request.url.params["skip"]), int(request.url.params["take"])
        asked.append((skip, take))
        if len(asked) == 2:
            del rows[0]  # a delete before the offset: the next row slides onto the page already read
        return answer({"rows": rows[skip : skip + take]})

    pager = OffsetPager(client(handler), "/r", items="rows", page_size=3, offset_param="skip", limit_param="take",
                        overlap=True)  # fmt: skip
    pages = await collect(pager.pages())
    assert pager.moved and asked == [(0, 3), (2, 4)]
    assert [r["id"] for p in pages for r in p] == ["0", "1", "2"]  # the caller reads again; nothing yielded wrongly


def stamp_search(stamps: dict[str, int], page: int) -> Callable[[httpx.Request], httpx.Response]:
    """A search over `stamps` (id → stamp): `stamp >= lower`, sorted by stamp then id, offset `after`."""

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        rows = sorted((s, i) for i, s in stamps.items() if s >= body["lower"])[body["after"] :][:page]
        return answer({"results": [{"id": i, "stamp": s} for s, i in rows]})

    return handler


async def test_stamp_pager_keys_on_the_stamp_and_pages_within_a_shared_one() -> None:
    stamps = {f"a{n:02}": n for n in range(5)} | {f"b{n:02}": 7 for n in range(7)} | {"c": 9}
    bodies: list[tuple[int, int]] = []

    def query(lower: int, offset: int) -> dict[str, int]:
        bodies.append((lower, offset))
        return {"lower": lower, "after": offset}

    pager = StampPager(client(stamp_search(stamps, 5)), "/search", lower=0, page_size=5, window=50, query=query,
                       stamp=lambda row: row.get("stamp"))  # fmt: skip
    pages = await collect(pager.pages())
    read = [r["id"] for p in pages for r in p]
    assert sorted(read) == sorted(stamps) and len(read) == len(set(read))
    # each query starts at the last stamp read; a full page inside stamp 7 pages on by offset within it
    assert bodies == [(0, 0), (4, 0), (7, 0), (7, 5)]
    assert [len(p) for p in pages] == [5, 4, 4]  # the held-back b04 comes with the rest of stamp 7


async def test_stamp_pager_refuses_to_page_past_the_search_window() -> None:
    pager = StampPager(client(stamp_search({str(n): 1 for n in range(30)}, 5)), "/search", lower=0, page_size=5,
                       window=20, query=lambda lower, offset: {"lower": lower, "after": offset},
                       stamp=lambda row: row.get("stamp"))  # fmt: skip
    with pytest.raises(PaginationError, match="more than 20 records share the stamp 1") as info:
        await collect(pager.pages())
    assert (info.value.method, info.value.path, info.value.connection) == ("POST", "/search", "conn")


def moving_listing(rows: list[dict[str, Any]], moves: int) -> Callable[[httpx.Request], httpx.Response]:
    """Offset pages of 10 over `rows`; in each of the first `moves` passes a row is created at the front after page
    one, so the last row read moves onto the next page and is listed twice (the sign that the listing moved)."""
    state = {"moves": moves}

    def handler(request: httpx.Request) -> httpx.Response:
        offset = int(request.url.params["offset"])
        page = answer({"data": rows[offset : offset + 10]})
        if offset == 0 and state["moves"] > 0:
            state["moves"] -= 1
            rows.insert(0, {"id": f"new{state['moves']}"})
        return page

    return handler


async def test_rescans_read_a_moving_listing_again_and_yield_every_row_once() -> None:
    rows = [dict(r) for r in ROWS]
    crm = client(moving_listing(rows, 1))
    again: list[int] = []
    listing = Rescans(lambda: OffsetPager(crm, "/s", items="data", page_size=10), passes=3, again=again.append)
    read = [r["id"] for page in await collect(listing.pages()) for r in page]
    assert again == [2] and listing.steady
    assert sorted(read) == sorted(["new0", *(r["id"] for r in ROWS)]), "the row created meanwhile is read too"
    assert len(read) == len(set(read))
    assert listing.keys == ["new0", *(r["id"] for r in ROWS)], "live keys come from the pass that held still"


async def test_rescans_scan_gives_none_when_no_pass_holds_still() -> None:
    crm = client(moving_listing([dict(r) for r in ROWS], 5))
    listing = Rescans(lambda: OffsetPager(crm, "/s", items="data", page_size=10), passes=2, again=lambda n: None)
    assert await listing.scan() is None
    assert not listing.steady
