"""A corpus of malformed CRM answers, shared by every connector's tests.

`record_cases(paths)` mutates one valid raw record (given where its id, name, amount, times and dates live):
each case must come out of `to_deal` either mapped or as a `RecordError` naming the record — never another
exception — and some must be quarantined whatever the CRM (`expect="quarantined"`). `page_cases(items)` breaks
a whole listing answer: each must be an `ApiError` naming connection, method and path, or read as an empty
page; `check_record` and `check_page` assert exactly that.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from crmsync.connector import Connector, Reference
from crmsync.errors import ApiError, RecordError

Expect = Literal["quarantined", "mapped", "either"]


@dataclass(frozen=True)
class Paths:
    """Where a CRM's raw record keeps each value (dotted paths)."""

    id: str
    name: str
    amount: str
    modified: str
    close_date: str


@dataclass(frozen=True)
class RecordCase:
    id: str
    mutate: Callable[[Any], Any]
    expect: Expect = "either"


def _set(path: str, value: Any) -> Callable[[Any], Any]:
    def mutate(raw: Any) -> Any:
        record = copy.deepcopy(raw)
        *parents, last = path.split(".")
        target = record
        for part in parents:
            target = target[part]
        target[last] = value
        return record

    return mutate


def _drop(path: str) -> Callable[[Any], Any]:
    def mutate(raw: Any) -> Any:
        record = copy.deepcopy(raw)
        *parents, last = path.split(".")
        target = record
        for part in parents:
            target = target[part]
        target.pop(last, None)
        return record

    return mutate


def record_cases(paths: Paths) -> list[RecordCase]:
    """Twenty-five ways one record can be wrong."""
    q: Expect = "quarantined"
    return [
        RecordCase("record-string", lambda raw: "oops", q),
        RecordCase("record-list", lambda raw: [raw], q),
        RecordCase("record-null", lambda raw: None, q),
        RecordCase("record-number", lambda raw: 42, q),
        RecordCase("record-empty-object", lambda raw: {}, q),
        RecordCase("id-missing", _drop(paths.id), q),
        RecordCase("id-null", _set(paths.id, None), q),
        RecordCase("id-object", _set(paths.id, {"value": 1})),
        RecordCase("amount-text", _set(paths.amount, "lots"), q),
        RecordCase("amount-1e30", _set(paths.amount, "1e30"), q),
        RecordCase("amount-5001-digits", _set(paths.amount, "9" * 5001), q),
        RecordCase("amount-nan", _set(paths.amount, "NaN"), q),
        RecordCase("amount-object", _set(paths.amount, {"value": 5})),
        RecordCase("amount-bool", _set(paths.amount, True)),
        RecordCase("name-object", _set(paths.name, {"first": "x"})),
        RecordCase("name-lone-surrogate", _set(paths.name, "Deal \ud800 B.V.")),
        RecordCase("name-nul-byte", _set(paths.name, "Deal\x00B.V.")),
        RecordCase("name-terminal-escape", _set(paths.name, "\x1b[2J\x1b]0;owned\x07")),
        RecordCase("name-100k-chars", _set(paths.name, "x" * 100_000)),
        RecordCase("modified-text", _set(paths.modified, "yesterday"), q),
        RecordCase("modified-number-in-the-far-future", _set(paths.modified, "99999999999999999999")),
        RecordCase("modified-list", _set(paths.modified, ["2026-01-01"])),
        RecordCase("close-date-dutch", _set(paths.close_date, "31-12-2026"), q),
        RecordCase("close-date-month-13", _set(paths.close_date, "2026-13-01"), q),
        RecordCase("close-date-object", _set(paths.close_date, {"date": "2026-01-01"})),
    ]


def check_record(connector: Connector, reference: Reference, valid: Any, case: RecordCase) -> None:
    """The mutated record maps or is a RecordError naming it; `expect` decides which when it is not 'either'."""
    raw = case.mutate(valid)
    error: RecordError | None = None
    try:
        connector.to_deal(raw, reference)
    except RecordError as exc:
        error = exc
    outcome = "mapped" if error is None else "quarantined"
    assert error is None or str(error), "a RecordError says what is wrong"
    assert case.expect in ("either", outcome), f"{case.id}: {outcome}, expected {case.expect}"
    connector.to_deal(valid, reference)  # the valid record still maps (no state was damaged)


@dataclass(frozen=True)
class PageCase:
    id: str
    answer: Callable[[], httpx.Response]
    empty_ok: bool = False  # the CRM's own "nothing here" form: read as no records


def page_cases(items: str) -> list[PageCase]:
    """Ways a whole listing answer can be wrong; `items` is where the records belong (a top-level key)."""

    def body(value: Any) -> Callable[[], httpx.Response]:
        return lambda: httpx.Response(200, json={items: value})

    html = "<html><body>Proxy login</body></html>"
    return [
        PageCase("items-object", body({"id": "1"})),
        PageCase("items-string", body("oops")),
        PageCase("items-number", body(7)),
        PageCase("answer-a-list", lambda: httpx.Response(200, json=[{"id": "1"}])),
        PageCase("answer-a-string", lambda: httpx.Response(200, json="ok")),
        PageCase("answer-html-200", lambda: httpx.Response(200, text=html, headers={"content-type": "text/html"})),
        PageCase("answer-truncated-json", lambda: httpx.Response(200, content=b'{"' + items.encode() + b'": [{"id": ')),
        PageCase("answer-empty-body", lambda: httpx.Response(200, content=b"")),
        PageCase("answer-nested-100k-deep", lambda: httpx.Response(200, content=b"[" * 100_000 + b"]" * 100_000)),
        PageCase("answer-not-utf8", lambda: httpx.Response(200, content=b"\xff\xfe{}")),
    ]


async def check_page(read: Callable[[], Any], case: PageCase) -> None:
    """Reading the listing ends in an ApiError naming the request (never another exception)."""
    error: ApiError | None = None
    try:
        await read()
    except ApiError as exc:
        error = exc
    if error is None:
        assert case.empty_ok, f"{case.id}: a broken answer was read as if it were fine"
        return
    assert error.connection and error.method and error.path, f"{case.id}: {error!r} does not name the request"
