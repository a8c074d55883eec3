"""Pipedrive's response envelopes and error bodies, as the real API sends them."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


def ok(data: Any, next_cursor: str | None = None, *, paged: bool = False) -> JSONResponse:
    """`{"success": true, "data": ..., "additional_data": {"next_cursor": ...}}`."""
    body: dict[str, Any] = {"success": True, "data": data}
    if paged:
        body["additional_data"] = {"next_cursor": next_cursor}
    return JSONResponse(body)


def error(
    status: int,
    message: str,
    *,
    code: str | None = None,
    error_code: int | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Pipedrive's error body: success false, the message under `error`, `error_info`, null data."""
    body: dict[str, Any] = {"success": False, "error": message}
    if code is not None:
        body["code"] = code
    if error_code is not None:
        body["errorCode"] = error_code
    body.update({"error_info": ERROR_INFO, "data": None, "additional_data": None})
    return JSONResponse(body, status_code=status, headers=headers)


def validation(message: str) -> JSONResponse:
    """400 for a request that fails v2's strict input validation."""
    return error(400, f"Validation failed: {message}", code="ERR_SCHEMA_VALIDATION_FAILED")


def unauthorized() -> JSONResponse:
    return error(401, "unauthorized access", error_code=401)


def not_found(what: str = "Deal") -> JSONResponse:
    return error(404, f"{what} not found")


def rate_limited(limit: int, reset: int) -> JSONResponse:
    headers = {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}
    return error(429, "Request over limit", error_code=429, headers=headers)


def unavailable() -> JSONResponse:
    return error(503, "Service unavailable", error_code=503)
