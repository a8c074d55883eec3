"""Simplicate's HTTP client: the key/secret headers, its error envelope, and its `{data, metadata}` lists."""

from __future__ import annotations

from typing import Any

import httpx

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
