"""Paginators: the listing loops of the CRMs' APIs, written once, each guarding against a paging loop.

- `CursorPager`: the answer names the next page (HubSpot `paging.next.after`, Pipedrive
  `additional_data.next_cursor`); a cursor handed back twice is a loop.
- `OffsetPager`: `offset`/`limit` (Simplicate) or `skip`/`take` (AFAS); ends at the first short page (or the
  announced total), optionally fetching a few pages ahead; a page of ids all read before means the server ignores
  the offset.
- `KeysetPager`: each page asks for the rows after the last one read (`after(row)` gives the parameters); a key
  read twice is a loop.
- `StampPager`: a search sorted and filtered on a modification stamp records may share (HubSpot's search).

Every page must carry its items as a list at `items` (a dotted path); anything else is an `ApiError` naming
connection, method and path. An item that is not a JSON object is passed on: `to_deal` quarantines that record
alone and the rest of the page is kept. Connectors pick a paginator by class, or by name through
`paginator("cursor")`, which lists the valid names when given another.
"""

from __future__ import annotations

import abc
import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, ClassVar

import httpx

from crmsync.errors import ConfigError, PaginationError
from crmsync.http import ApiClient
from crmsync.kit.records import lookup

Row = Any  # a JSON object as the CRM sent it; anything else is quarantined by to_deal


class Paginator(abc.ABC):
    """One listing: `async for rows in pager.pages()` yields each page's records in order.

    Args:
        client: The connection's client.
        path: The listing's path.
        params: Query parameters of every page.
        items: Dotted path of the page's records in the answer ('results', 'data', 'rows').
        key: A record's identity, for loop detection (default: its 'id').
    """

    name: ClassVar[str]

    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        items: str = "results",
        key: Callable[[Row], str] | None = None,
    ) -> None:
        self.client = client
        self.path = path
        self.params = dict(params or {})
        self.items = items
        self.key = key or (lambda row: str(row.get("id")))
        self.answers = 0

    def _key(self, row: Row) -> str:
        return self.key(row) if isinstance(row, dict) else repr(row)

    @abc.abstractmethod
    def pages(self) -> AsyncIterator[list[Row]]:
        """Every page's records, in order."""

    async def get(self, params: Mapping[str, Any]) -> tuple[dict[str, Any], list[Row]]:
        """One page: the decoded answer and its records, checked to be a list of objects."""
        response = await self.client.request("GET", self.path, params=params)
        body = self.client.object(response)
        rows = lookup(body, self.items)
        if not isinstance(rows, list):
            raise self._broken(response, f"without a list at {self.items!r}")
        self.answers += 1
        return body, rows

    def _broken(self, response: httpx.Response, what: str) -> PaginationError:
        method, path = self.client.where(response)
        return PaginationError(
            f"{method} {path} answered {response.status_code} {what}",
            status=response.status_code,
            method=method,
            path=path,
            connection=self.client.connection,
        )

    def loop(self, what: str) -> PaginationError:
        return PaginationError(
            f"GET {self.path}: {what}; stopping to avoid a paging loop",
            method="GET",
            path=self.path,
            connection=self.client.connection,
        )


class CursorPager(Paginator):
    """Follows the cursor at `next` (a dotted path in the answer), sent back as `cursor_param`, until it is empty."""

    name = "cursor"

    def __init__(self, client: ApiClient, path: str, *, next: str, cursor_param: str, **kwargs: Any) -> None:
        super().__init__(client, path, **kwargs)
        self.next = next
        self.cursor_param = cursor_param

    async def pages(self) -> AsyncIterator[list[Row]]:
        seen: set[str] = set()
        cursor: Any = None
        while True:
            params = self.params if cursor is None else {**self.params, self.cursor_param: cursor}
            body, rows = await self.get(params)
            yield rows
            cursor = lookup(body, self.next)
            if cursor in (None, "", False):
                return
            if not isinstance(cursor, str | int) or isinstance(cursor, bool):
                raise self.loop(f"the next-page cursor at {self.next!r} is {cursor!r}, not text")
            if str(cursor) in seen:
                raise self.loop(f"the CRM returned cursor {str(cursor)!r} twice")
            seen.add(str(cursor))


class OffsetPager(Paginator):
    """Offset pages of `page_size` until a short page (or `total`, a dotted path of the announced count).

    With `ahead` > 1 and a total, up to that many pages are requested at once (the client's limiter keeps the
    pace) and still yielded in order. After iterating, `total_changed` tells whether the announced total moved
    while the listing ran (records were created or deleted meanwhile).

    With `overlap`, every page after the first starts one row early and that row must be the last one read: when
    it is not, rows were deleted or inserted before the offset (an unread row may have slid onto a page already
    read), so the pager stops and sets `moved`; the caller reads again. Pages are then fetched one at a time.
    """

    name = "offset"

    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        page_size: int,
        offset_param: str = "offset",
        limit_param: str = "limit",
        total: str | None = None,
        ahead: int = 1,
        overlap: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(client, path, **kwargs)
        self.page_size = page_size
        self.offset_param = offset_param
        self.limit_param = limit_param
        self.total = total
        self.ahead = 1 if overlap else max(1, ahead)
        self.overlap = overlap
        self.total_changed = False
        self.moved = False
        self.repeated = False

    @property
    def steady(self) -> bool:
        """After iterating: whether the listing held still (no total moved, no row shifted, none read twice)."""
        return not (self.moved or self.total_changed or self.repeated)

    def _params(self, offset: int) -> dict[str, Any]:
        if self.overlap and offset > 0:
            return {**self.params, self.offset_param: offset - 1, self.limit_param: self.page_size + 1}
        return {**self.params, self.offset_param: offset, self.limit_param: self.page_size}

    def _count(self, body: dict[str, Any]) -> int | None:
        value = lookup(body, self.total) if self.total else None
        if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).isdigit():
            return None
        return int(value)

    async def pages(self) -> AsyncIterator[list[Row]]:
        seen: set[str] = set()
        body, rows = await self.get(self._params(0))
        total = self._count(body)
        offset = 0
        last = ""
        pending: deque[asyncio.Task[tuple[dict[str, Any], list[Row]]]] = deque()
        try:
            while True:
                if self.overlap and offset > 0:
                    if not rows or self._key(rows[0]) != last:
                        self.moved = True  # rows shifted under the offset: the caller reads the listing again
                        return
                    rows = rows[1:]
                self._check(rows, seen, offset)
                yield rows
                if len(rows) < self.page_size:
                    return
                last = self._key(rows[-1])
                offset += self.page_size
                if total is not None and offset >= total:
                    return
                if total is None or self.ahead == 1:
                    body, rows = await self.get(self._params(offset))
                else:
                    ahead = offset + len(pending) * self.page_size
                    while len(pending) < self.ahead and ahead < total:
                        pending.append(asyncio.ensure_future(self.get(self._params(ahead))))
                        ahead += self.page_size
                    body, rows = await pending.popleft()
                if total is not None and self._count(body) != total:
                    self.total_changed = True
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    def _check(self, rows: list[Row], seen: set[str], offset: int) -> None:
        keys = [self._key(row) for row in rows]
        if keys and len(rows) == self.page_size and all(key in seen for key in keys):
            raise self.loop(f"the page at {self.offset_param} {offset} repeats records already read")
        self.repeated = self.repeated or any(key in seen for key in keys)
        seen.update(keys)


class KeysetPager(Paginator):
    """Pages of `page_size` rows, each after the last row read: `after(row)` gives the next page's parameters."""

    name = "keyset"

    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        page_size: int,
        after: Callable[[Row], Mapping[str, Any]],
        limit_param: str = "limit",
        **kwargs: Any,
    ) -> None:
        super().__init__(client, path, **kwargs)
        self.page_size = page_size
        self.after = after
        self.limit_param = limit_param

    async def pages(self) -> AsyncIterator[list[Row]]:
        seen: set[str] = set()
        params: dict[str, Any] = {**self.params, self.limit_param: self.page_size}
        while True:
            _, rows = await self.get(params)
            keys = [self._key(row) for row in rows]
            repeated = next((key for key in keys if key in seen), None)
            if repeated is not None:
                raise self.loop(f"the CRM returned {repeated!r} again")
            seen.update(keys)
            yield rows
            if len(rows) < self.page_size:
                return
            last = next((row for row in reversed(rows) if isinstance(row, dict)), None)
            if last is None:
                raise self.loop("a full page without one record to page after")
            params = {**self.params, self.limit_param: self.page_size, **self.after(last)}


class Rescans:
    """An offset listing read again while it moves under the offset (records created or deleted between pages),
    at most `passes` times, yielding every record once across the passes.

    After iterating, `steady` tells whether the last pass held still, and `keys` are that pass's record keys (every
    live record, when it held still).

    Args:
        pager: Makes the pager of one pass.
        again: Called with the number of the pass about to start, for a log line.
        held: Whether a pass held still (default `OffsetPager.steady`; AFAS, whose key may come twice in a joined
            GetConnector, asks only that no row shifted under `skip`).
    """

    def __init__(
        self,
        pager: Callable[[], OffsetPager],
        *,
        passes: int = 3,
        again: Callable[[int], None],
        held: Callable[[OffsetPager], bool] = lambda pager: pager.steady,
    ) -> None:
        self.pager, self.passes, self.again, self.held = pager, passes, again, held
        self.steady = False
        self.keys: list[str] = []

    async def pages(self) -> AsyncIterator[list[Row]]:
        yielded: set[str] = set()
        for attempt in range(1, self.passes + 1):
            if attempt > 1:
                self.again(attempt)
            pager = self.pager()
            self.keys = []
            async for rows in pager.pages():
                keys = [pager._key(row) for row in rows]
                self.keys += keys
                fresh = [row for row, key in zip(rows, keys, strict=True) if key not in yielded]
                yielded.update(keys)
                if fresh:
                    yield fresh
            self.steady = self.held(pager)
            if self.steady:
                return

    async def scan(self) -> list[str] | None:
        """The keys of a pass that held still; None when none did."""
        async for _ in self.pages():
            pass
        return self.keys if self.steady else None


class StampPager(Paginator):
    """A search sorted by a modification stamp several records may share, filtered to `stamp >= lower` (HubSpot's
    search on hs_lastmodifieddate), paged by keyset on the stamp.

    Offset paging over a changing result set skips records: one edited between pages gets a new stamp and moves to
    the end, so every unread record shifts forward past the next offset. So every query starts at the last stamp
    read (offset 0) and skips the ids already read at exactly that stamp; an edited record is read again at its new
    stamp, never skipped. Only a full page whose records all share one stamp is followed by offset pages within it,
    held back until the stamp is read through, up to the search's `window` of results. A record without a usable
    stamp is passed on once (`to_deal` quarantines it).

    Args:
        lower: The first stamp wanted.
        query: (lower stamp, offset) → the search's JSON body.
        stamp: A record's stamp, or None.
        next: Dotted path of the answer's next-page marker; its absence ends the listing.
        before: Awaited before every request (a search's own rate limit).
    """

    name = "stamp"

    def __init__(
        self,
        client: ApiClient,
        path: str,
        *,
        lower: int,
        page_size: int,
        window: int,
        query: Callable[[int, int], Any],
        stamp: Callable[[Row], int | None],
        next: str | None = None,
        before: Callable[[], Awaitable[None]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(client, path, **kwargs)
        self.lower, self.page_size, self.window = lower, page_size, window
        self.query, self.stamp, self.next, self.before = query, stamp, next, before

    async def _search(self, lower: int, offset: int) -> tuple[dict[str, Any], list[Row]]:
        if offset + self.page_size > self.window:
            raise PaginationError(
                f"POST {self.path}: more than {self.window} records share the stamp {lower}, more than a search can "
                "page through; run a full sync instead",
                method="POST",
                path=self.path,
                connection=self.client.connection,
            )
        if self.before is not None:
            await self.before()
        answer = await self.client.request_object("POST", self.path, json_body=self.query(lower, offset))
        rows = lookup(answer, self.items) or []  # no results at all: nothing changed
        if not isinstance(rows, list):
            raise PaginationError(
                f"POST {self.path} answered without a list at {self.items!r}",
                method="POST",
                path=self.path,
                connection=self.client.connection,
            )
        self.answers += 1
        return answer, rows

    async def pages(self) -> AsyncIterator[list[Row]]:
        lower, offset = self.lower, 0
        read_at_lower: set[str] = set()  # ids already read whose stamp is exactly `lower`
        unstamped: set[str] = set()
        held: list[Row] = []
        while True:
            answer, rows = await self._search(lower, offset)
            fresh: list[Row] = []
            stamped: list[tuple[int, str]] = []
            for row in rows:
                key = self._key(row)
                stamp = self.stamp(row) if isinstance(row, dict) else None
                if stamp is None:
                    if key not in unstamped:
                        unstamped.add(key)
                        fresh.append(row)
                elif not (stamp == lower and key in read_at_lower):
                    stamped.append((stamp, key))
                    fresh.append(row)
            if len(rows) < self.page_size or (self.next is not None and not lookup(answer, self.next)):
                if held or fresh:
                    yield held + fresh
                return
            last = max((stamp for stamp, _ in stamped), default=lower)
            if last > lower:
                if held or fresh:
                    yield held + fresh
                held, lower, offset = [], last, 0
                read_at_lower = {key for stamp, key in stamped if stamp == last}
            else:  # a full page and no later stamp: page deeper within this stamp, holding the records back
                held += fresh
                read_at_lower |= {key for stamp, key in stamped if stamp == lower}
                offset += len(rows)


PAGINATORS: dict[str, type[Paginator]] = {cls.name: cls for cls in (CursorPager, OffsetPager, KeysetPager, StampPager)}


def paginator(name: str) -> type[Paginator]:
    """The paginator class registered as `name`.

    Raises:
        ConfigError: no paginator has that name; the message lists the valid ones.
    """
    try:
        return PAGINATORS[name]
    except KeyError:
        raise ConfigError(f"unknown paginator {name!r}; valid: {', '.join(sorted(PAGINATORS))}") from None
