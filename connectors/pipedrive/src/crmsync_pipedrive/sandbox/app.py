"""The Starlette app speaking Pipedrive's API v2 for deals, pipelines, stages and deal fields."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from crmsync.sandbox.headers import EveryAnswerHeaders
from crmsync_pipedrive.sandbox import responses
from crmsync_pipedrive.sandbox.listing import DealQuery, QueryError, Shape, id_page
from crmsync_pipedrive.sandbox.seed import USERS

if TYPE_CHECKING:
    from crmsync_pipedrive.sandbox import PipedriveSandbox

DEFAULT_BURST = 80  # what the headers announce when no burst limit is configured (Advanced plan)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# The keys of UpdateDealRequest in Pipedrive's API v2 spec (client-nodejs src/versions/v2/models/
# update-deal-request.ts). `probability` is `number | null`: null clears it; custom fields clear with null.
_WRITABLE = {
    "title": "string",
    "owner_id": "integer",
    "person_id": "reference",
    "org_id": "reference",
    "pipeline_id": "pipeline",
    "stage_id": "stage",
    "value": "number",
    "currency": "string",
    "is_deleted": "boolean",
    "is_archived": "boolean",
    "archive_time": "string",
    "status": "status",
    "probability": "percent",
    "lost_reason": "string",
    "visible_to": "visibility",
    "close_time": "string",
    "won_time": "string",
    "lost_time": "string",
    "expected_close_date": "date",
    "label_ids": "labels",
    "custom_fields": "custom",
}
_VISIBILITY = (1, 3, 5, 7)  # owner, owner's group, owner's group and sub-groups, entire company


def build_app(sandbox: PipedriveSandbox) -> ASGIApp:
    """The API app, with Pipedrive's rate-limit headers on every answer."""
    api = _Api(sandbox)
    routes = [
        Route("/api/v2/deals", api.list_deals, methods=["GET"]),
        Route("/api/v2/deals/archived", api.list_archived, methods=["GET"]),
        Route("/api/v2/deals/{deal_id}", api.get_deal, methods=["GET"]),
        Route("/api/v2/deals/{deal_id}", api.patch_deal, methods=["PATCH"]),
        Route("/api/v2/pipelines", api.pipelines, methods=["GET"]),
        Route("/api/v2/stages", api.stages, methods=["GET"]),
        Route("/api/v2/dealFields", api.deal_fields, methods=["GET"]),
        Route("/api/v1/users", api.users, methods=["GET"]),
        Route("/api/v1/webhooks", api.create_webhook, methods=["POST"]),
        Route("/api/v1/webhooks", api.list_webhooks, methods=["GET"]),
        Route("/api/v1/deals", api.gone, methods=["GET", "POST"]),
        Route("/v1/deals", api.gone, methods=["GET", "POST"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _http_error})
    return EveryAnswerHeaders(app, lambda: _rate_limit_headers(sandbox))


async def _http_error(request: Request, exc: Exception) -> Response:
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    if status == 404:
        return responses.error(404, f"Unknown method {request.url.path}")
    if status == 405:
        return responses.error(405, "Method not allowed")
    return responses.error(status, "Internal server error")


def _rate_limit_headers(sandbox: PipedriveSandbox) -> dict[str, str]:
    """x-ratelimit-limit/remaining/reset, computed from the sandbox's burst window."""
    limit, remaining, reset = sandbox.burst_state()
    return {"x-ratelimit-limit": str(limit), "x-ratelimit-remaining": str(remaining), "x-ratelimit-reset": str(reset)}


class _Api:
    def __init__(self, sandbox: PipedriveSandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state

    def _authorized(self, request: Request) -> bool:
        token = request.headers.get("x-api-token") or request.query_params.get("api_token")
        if token is not None:
            return token == self.state.api_token
        auth = request.headers.get("authorization", "")
        scheme, _, value = auth.partition(" ")
        return scheme.lower() == "bearer" and value == self.state.oauth_token

    def _deny(self, request: Request, counter: str) -> Response | None:
        self.sandbox.requests[counter] += 1
        return None if self._authorized(request) else responses.unauthorized()

    async def users(self, request: Request) -> Response:
        """GET /api/v1/users (v1: Pipedrive has no v2 users endpoint): every user of the company, unpaged."""
        if denied := self._deny(request, "users"):
            return denied
        data = [
            {
                "id": user_id,
                "name": name,
                "email": email,
                "active_flag": active,
                "is_admin": 0,
                "lang": 1,
                "locale": "nl_NL",
                "timezone_name": "Europe/Amsterdam",
                "default_currency": "EUR",
                "created": "2024-01-15 09:00:00",
            }
            for user_id, name, email, active in USERS
        ]
        return JSONResponse({"success": True, "data": data, "additional_data": {}})

    # -- webhooks (API v1: Pipedrive has no v2 webhooks endpoint) -------------------------------------------------

    async def create_webhook(self, request: Request) -> Response:
        if denied := self._deny(request, "webhooks"):
            return denied
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return responses.error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return responses.error(400, "Invalid JSON")
        hook, problem = self.sandbox.webhooks.create(body)
        if hook is None:
            return responses.error(400, problem or "invalid webhook")
        return JSONResponse({"status": "ok", "success": True, "data": self.sandbox.webhooks.public(hook)}, 201)

    async def list_webhooks(self, request: Request) -> Response:
        if denied := self._deny(request, "webhooks"):
            return denied
        hooks = [self.sandbox.webhooks.public(h) for h in self.sandbox.webhooks.items]
        return JSONResponse({"status": "ok", "success": True, "data": hooks})

    async def gone(self, request: Request) -> Response:
        self.sandbox.requests["v1"] += 1
        return responses.error(410, "This endpoint is no longer supported, use API v2 (/api/v2/deals)")

    # -- deals ---------------------------------------------------------------------------------------------------

    def _listing(self, request: Request, archived: bool) -> Response:
        try:
            query = DealQuery.parse(request.query_params)
        except QueryError as exc:
            return responses.validation(str(exc))
        if query.filter_id is not None:
            # The sandbox keeps no saved filters: every filter_id names one this company does not have.
            return responses.not_found("Filter")
        with self.sandbox.lock:
            candidates = [
                dict(deal)
                for deal in self.state.deals.values()
                if deal["is_archived"] == archived and query.matches(deal, self.state.deleted_visible)
            ]
            try:
                page, cursor = query.page(candidates)
            except QueryError as exc:
                return responses.validation(str(exc))
            shape = query.shape or Shape(None, False)
            page = [shape.apply(deal, self.state.option_label) for deal in page]
        return responses.ok(page, cursor, paged=True)

    async def list_deals(self, request: Request) -> Response:
        return self._deny(request, "list") or self._listing(request, archived=False)

    async def list_archived(self, request: Request) -> Response:
        return self._deny(request, "list_archived") or self._listing(request, archived=True)

    def _deal_id(self, request: Request, counter: str) -> int | Response:
        """The deal id of an authorised /deals/{id} request, or the answer refusing it."""
        denied = self._deny(request, counter)
        if denied is not None:
            return denied
        raw = request.path_params["deal_id"]
        if not raw.isdigit():
            return responses.validation("id: Expected number, received string")
        return int(raw)

    async def get_deal(self, request: Request) -> Response:
        deal_id = self._deal_id(request, "get")
        if isinstance(deal_id, Response):
            return deal_id
        try:
            shape = Shape.parse(request.query_params)
        except QueryError as exc:
            return responses.validation(str(exc))
        with self.sandbox.lock:
            deal = self.state.deals.get(deal_id)
            return responses.not_found() if deal is None else responses.ok(shape.apply(deal, self.state.option_label))

    async def patch_deal(self, request: Request) -> Response:
        deal_id = self._deal_id(request, "write")
        if isinstance(deal_id, Response):
            return deal_id
        if "json" not in request.headers.get("content-type", ""):
            return responses.error(415, "Unsupported Media Type: expected application/json")
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return responses.validation("body: Invalid JSON")
        if not isinstance(body, dict):
            return responses.validation("body: Expected object")
        with self.sandbox.lock:
            deal = self.state.deals.get(deal_id)
            if deal is None:
                return responses.not_found()
            if deal["is_deleted"]:
                return responses.error(400, "Deal is deleted. Restore the deal before editing it.")
            if deal["is_archived"]:
                return responses.error(400, "Archived deals cannot be edited. Unarchive the deal first.")
            problem = self._validate(body)
            if problem is not None:
                return responses.validation(problem)
            previous = {name: deal.get(name) for name in body}
            self.state.apply(deal, body)
            self.sandbox.webhooks.notify("change", dict(deal), previous, "api")
            return responses.ok(dict(deal))

    def _validate(self, body: dict[str, Any]) -> str | None:
        unknown = sorted(set(body) - set(_WRITABLE))
        if unknown:
            return f"body: Unrecognized key(s) in object: {', '.join(repr(k) for k in unknown)}"
        for name, value in body.items():
            problem = self._check(name, _WRITABLE[name], value)
            if problem is not None:
                return problem
        return None

    def _check(self, name: str, kind: str, value: Any) -> str | None:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if kind == "custom":
            return self._check_custom(value)
        if value is None:
            nullable = ("probability", "lost_reason", "close_time", "expected_close_date", "person_id", "org_id")
            return None if name in nullable else f"{name}: Expected {kind}, received null"
        if kind == "string" and not isinstance(value, str):
            return f"{name}: Expected string, received {type(value).__name__}"
        if kind in ("number", "percent") and not is_number:
            return f"{name}: Expected number, received {type(value).__name__}"
        if kind == "percent" and not 0 <= value <= 100:
            return f"{name}: Number must be between 0 and 100"
        if kind in ("integer", "stage") and not (is_number and float(value).is_integer()):
            return f"{name}: Expected integer, received {type(value).__name__}"
        if kind in ("reference", "pipeline", "visibility") and not (is_number and float(value).is_integer()):
            return f"{name}: Expected number, received {type(value).__name__}"
        if kind == "pipeline" and self.state.pipeline(int(value)) is None:
            return f"{name}: Pipeline with id {value} does not exist"
        if kind == "visibility" and value not in _VISIBILITY:
            return f"{name}: Invalid enum value. Expected 1 | 3 | 5 | 7, received {value}"
        if kind == "boolean" and not isinstance(value, bool):
            return f"{name}: Expected boolean, received {type(value).__name__}"
        if kind == "labels" and not (
            isinstance(value, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        ):
            return f"{name}: Expected array of numbers"
        if kind == "stage" and self.state.stage(int(value)) is None:
            return f"{name}: Stage with id {value} does not exist"
        if kind == "status" and value not in ("open", "won", "lost"):
            return f"{name}: Invalid enum value. Expected 'open' | 'won' | 'lost', received '{value}'"
        if kind == "date" and not (isinstance(value, str) and _DATE.match(value)):
            return f"{name}: Invalid date, expected YYYY-MM-DD"
        return None

    def _check_custom(self, value: Any) -> str | None:
        if not isinstance(value, dict):
            return "custom_fields: Expected object"
        for key, item in value.items():
            definition = self.state.custom_field(key)
            if definition is None:
                return f"custom_fields: Unknown custom field key '{key}'"
            if item is None:
                continue
            if definition["field_type"] == "enum":
                if not isinstance(item, int) or isinstance(item, bool):
                    return f"custom_fields.{key}: Expected number (option id), received {type(item).__name__}"
                if self.state.option_label(key, item) is None:
                    return f"custom_fields.{key}: Option with id {item} does not exist"
            elif not isinstance(item, str):
                return f"custom_fields.{key}: Expected string, received {type(item).__name__}"
        return None

    # -- reference data ----------------------------------------------------------------------------------------

    def _paged(self, request: Request, items: list[dict[str, Any]]) -> Response:
        try:
            page, cursor = id_page(items, request.query_params)
        except QueryError as exc:
            return responses.validation(str(exc))
        return responses.ok(page, cursor, paged=True)

    async def pipelines(self, request: Request) -> Response:
        return self._deny(request, "reference") or self._paged(request, [dict(p) for p in self.state.pipelines])

    async def stages(self, request: Request) -> Response:
        denied = self._deny(request, "reference")
        if denied is not None:
            return denied
        raw = request.query_params.get("pipeline_id")
        if raw is not None and not raw.isdigit():
            return responses.validation("pipeline_id: Expected number, received string")
        items = [dict(s) for s in self.state.stages if raw is None or s["pipeline_id"] == int(raw)]
        return self._paged(request, items)

    async def deal_fields(self, request: Request) -> Response:
        return self._deny(request, "reference") or self._paged(request, [dict(f) for f in self.state.fields])
