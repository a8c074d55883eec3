"""The HTTP client for Profit: its error bodies, its `retry_after` in the body, and which answers to retry.

Profit answers every validation or business error with 500 and `{externalMessage, errorNumber,
profitLogReference}`; those are never retried (the same request fails the same way). 503 (maintenance) carries
`retry_after` in seconds in its body; a 429 from the parallel-request limit, 502 and 504 are retried too.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from crmsync.http import ApiClient, body_message, header_retry_after


def _body(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


class AfasClient(ApiClient):
    retriable_statuses = frozenset({429, 500, 502, 503, 504})

    def is_retriable(self, response: httpx.Response) -> bool:
        if response.status_code == 500:
            # A 500 with Profit's error body is a validation/business error: retrying cannot help. A bare 500
            # (an IIS error page, an empty body) is a server hiccup and worth another try.
            body = _body(response)
            return body is None or "externalMessage" not in body
        return response.status_code in self.retriable_statuses

    def retry_after(self, response: httpx.Response) -> float | None:
        body = _body(response)
        if body is not None:
            value = body.get("retry_after")
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                return float(value)
        return header_retry_after(response.headers)

    def error_detail(self, response: httpx.Response) -> str:
        status = response.status_code
        body = _body(response)
        if body is not None and body.get("externalMessage"):
            reference = body.get("profitLogReference")
            suffix = f" (profitLogReference {reference})" if reference else ""
            return f"{body['externalMessage']}{suffix}"
        if status == 401 and not response.content:
            return "empty body: Profit refused the AfasToken (wrong token, or one of another environment)"
        if status == 403:
            return f"{body_message(response)} (Profit's IP restriction of the app connector may refuse this host)"
        if status == 404:
            return (
                f"{body_message(response)}: wrong environment URL or connector id, "
                "or a query string longer than 2049 characters"
            )
        if status == 503 and body is not None:
            message = body_message(response)
            return f"Profit is unavailable (maintenance?): {message}"
        return body_message(response)
