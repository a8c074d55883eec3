"""The HTTP client for Pipedrive API v2: error bodies, burst-limit headers and cursor paging."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from crmsync.errors import PaginationError
from crmsync.http import ApiClient, CursorGuard, body_message


def burst_budget(limit: int) -> int:
    """Requests we allow ourselves per window for an announced limit: a tenth below it, so a limit is never hit."""
    return max(1, limit - max(1, limit // 10))


class PipedriveClient(ApiClient):
    """Reads Pipedrive's error body (`error`, `code`) and keeps to the burst limit its headers announce.

    Pipedrive counts requests per token in a rolling 2-second window and reports it on every answer in
    x-ratelimit-limit / x-ratelimit-remaining / x-ratelimit-reset (seconds). The limiter follows the announced
    limit, and holds every caller back until the reset when the window is spent.
    """

    def error_detail(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return body_message(response)
        if isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"]:
            code = body.get("code")
            return f"{body['error']} ({code})" if isinstance(code, str) and code else str(body["error"])
        return body_message(response)

    def observe(self, response: httpx.Response) -> None:
        """Adapt the limiter to the burst limit every answer announces, and pause when it is used up."""
        headers = response.headers
        limit = _int(headers.get("x-ratelimit-limit"))
        if limit is not None and limit > 0:
            self.limiter.max_requests = burst_budget(limit)
        remaining = _int(headers.get("x-ratelimit-remaining"))
        reset = _int(headers.get("x-ratelimit-reset"))
        if remaining == 0 and reset is not None:
            self.limiter.pause(float(reset))

    async def data(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` of a successful envelope; a body that is not one is a PaginationError (broken contract)."""
        response = await self.request(method, path, **kwargs)
        return envelope(response, method, path, self.connection)["data"]

    async def pages(self, path: str, params: Mapping[str, Any]) -> AsyncIterator[list[dict[str, Any]]]:
        """Every page of a cursor-paged v2 listing, following additional_data.next_cursor until it is null."""
        guard = CursorGuard(self.connection, f"GET {path}")
        cursor: str | None = None
        while True:
            query = dict(params)
            if cursor is not None:
                query["cursor"] = cursor
            body = envelope(await self.request("GET", path, params=query), "GET", path, self.connection)
            data = body["data"]
            if not isinstance(data, list):
                raise PaginationError(f"GET {path}: 'data' is not a list", connection=self.connection)
            yield data
            extra = body.get("additional_data") or {}
            cursor = extra.get("next_cursor") if isinstance(extra, dict) else None
            if not cursor:
                return
            guard.see(cursor)


def envelope(response: httpx.Response, method: str, path: str, connection: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        raise PaginationError(
            f"{method} {path}: answered {response.status_code} with a body that is not JSON", connection=connection
        ) from None
    if not isinstance(body, dict) or body.get("success") is not True or "data" not in body:
        raise PaginationError(f"{method} {path}: the answer is not a Pipedrive success envelope", connection=connection)
    return body


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None
