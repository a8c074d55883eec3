"""The HTTP client for Pipedrive API v2: error bodies, burst-limit headers and cursor paging."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from crmsync.http import ApiClient, header_int
from crmsync.kit import CursorPager


def burst_budget(limit: int) -> int:
    """Requests we allow ourselves per window for an announced limit: a tenth below it, so a limit is never hit."""
    return max(1, limit - max(1, limit // 10))


class PipedriveClient(ApiClient):
    """Reads Pipedrive's error body (`error`, `code`) and keeps to the burst limit its headers announce.

    Pipedrive counts requests per token in a rolling 2-second window and reports it on every answer in
    x-ratelimit-limit / x-ratelimit-remaining / x-ratelimit-reset (seconds). The limiter follows the announced
    limit, and holds every caller back until the reset when the window is spent.
    """

    error_kinds = ("code",)

    def observe(self, response: httpx.Response) -> None:
        """Adapt the limiter to the burst limit every answer announces, and pause when it is used up."""
        headers = response.headers
        limit = header_int(headers, "x-ratelimit-limit")
        if limit is not None and limit > 0:
            self.limiter.max_requests = burst_budget(limit)
        remaining = header_int(headers, "x-ratelimit-remaining")
        reset = header_int(headers, "x-ratelimit-reset")
        if remaining == 0 and reset is not None and reset <= self.max_wait:
            # a longer reset (a spent daily budget) is not waited out: the 429 that follows fails with the reason
            self.limiter.pause(float(reset))

    def check_body(self, body: dict[str, Any]) -> str | None:
        """Every v2 answer is an envelope `{"success": true, "data": ...}`; anything else breaks the contract."""
        if body.get("success") is not True or "data" not in body:
            return "with a body that is not a Pipedrive success envelope"
        return None

    async def data(self, method: str, path: str, **kwargs: Any) -> Any:
        """The `data` of a successful envelope."""
        return (await self.request_object(method, path, **kwargs))["data"]

    def pages(self, path: str, params: Mapping[str, Any]) -> CursorPager:
        """A cursor-paged v2 listing, following additional_data.next_cursor until it is null."""
        return CursorPager(
            self, path, params=params, items="data", next="additional_data.next_cursor", cursor_param="cursor"
        )
