"""Simplicate's HTTP client: the key/secret headers, its error envelope, and its `{data, metadata}` lists."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from crmsync.errors import ApiError
from crmsync.http import ApiClient, body_message


def envelope_errors(body: Any) -> list[str]:
    """The messages of a `{"errors": [...]}` body, in order."""
    if not isinstance(body, dict):
        return []
    errors = body.get("errors")
    if isinstance(errors, dict):
        errors = list(errors.values())
    if not isinstance(errors, list):
        return []
    messages = []
    for item in errors:
        if isinstance(item, dict):
            text = item.get("message") or item.get("type") or item.get("code")
            field = item.get("field")
            if text is not None:
                messages.append(f"{field}: {text}" if field else str(text))
        elif isinstance(item, str) and item:
            messages.append(item)
    return messages


class SimplicateClient(ApiClient):
    """Reads `errors[].message` from Simplicate's envelope; a 429 without Retry-After backs off exponentially."""

    def error_detail(self, response: httpx.Response) -> str:
        try:
            messages = envelope_errors(response.json())
        except ValueError:
            messages = []
        return "; ".join(messages) if messages else body_message(response)

    async def get_list(self, path: str, params: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
        """One list page: its records and the `metadata.count` total when the body has one."""
        response = await self.request("GET", path, params=params)

        def broken(what: str) -> ApiError:
            return ApiError(
                f"GET {path} answered {response.status_code} {what}",
                status=response.status_code,
                method="GET",
                path=path,
                connection=self.connection,
            )

        try:
            body = response.json()
        except ValueError:
            raise broken("with a non-JSON body") from None
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
            raise broken("without a 'data' list of records")
        metadata = body.get("metadata")
        count = metadata.get("count") if isinstance(metadata, dict) else None
        return data, int(count) if isinstance(count, int | str) and str(count).isdigit() else None
