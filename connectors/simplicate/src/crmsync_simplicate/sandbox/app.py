"""The sandbox's Starlette app: Simplicate's /api/v2 sales endpoints with its envelope and error bodies."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from crmsync_simplicate.sandbox.query import QueryError, parse_query
from crmsync_simplicate.sandbox.state import Invalid, NotFound, SalesState

PREFIX = "/api/v2"
REFERENCE_PATHS = {
    "salesprogress": "progress",
    "salesstatus": "status",
    "salessource": "source",
    "salesreason": "reason",
    "salescustomfields": "customfields",
}


def envelope(data: Any, metadata: dict[str, Any] | None = None, status: int = 200) -> JSONResponse:
    body: dict[str, Any] = {"data": data}
    if metadata is not None:
        body["metadata"] = metadata
    body.update({"errors": None, "debug": None})
    return JSONResponse(body, status_code=status)


def error(status: int, kind: str, messages: list[str], headers: dict[str, str] | None = None) -> JSONResponse:
    errors = [{"code": status, "type": kind, "message": message} for message in messages]
    return JSONResponse({"data": None, "errors": errors, "debug": None}, status_code=status, headers=headers)


class SimplicateApp:
    """Builds the routes over a SalesState; counts requests into `requests`."""

    def __init__(self, state: SalesState, key: str, secret: str, requests: Counter[str]) -> None:
        self.state = state
        self.key = key
        self.secret = secret
        self.requests = requests

    def build(self) -> Starlette:
        routes = [
            Route(f"{PREFIX}/hrm/employee", self.list_employees, methods=["GET"]),
            Route(f"{PREFIX}/sales/sales", self.list_sales, methods=["GET"]),
            Route(f"{PREFIX}/sales/sales/{{sale_id}}", self.one_sale, methods=["GET", "PUT"]),
            Route(f"{PREFIX}/sales/{{kind}}", self.list_reference, methods=["GET"]),
            Route(f"{PREFIX}/sales/{{kind}}/{{item_id}}", self.one_reference, methods=["GET"]),
        ]
        return Starlette(routes=routes)

    def _denied(self, request: Request) -> Response | None:
        key = request.headers.get("authentication-key")
        secret = request.headers.get("authentication-secret")
        if key == self.key and secret == self.secret:
            return None
        self.requests["unauthorized"] += 1
        return error(401, "Authentication", ["Invalid or missing Authentication-Key / Authentication-Secret"])

    def _listing(self, request: Request, items: list[dict[str, Any]]) -> Response:
        try:
            query = parse_query(request.query_params.multi_items())
        except QueryError as exc:
            return error(400, "BadRequest", [str(exc)])
        page, count = query.run(items)
        metadata = None
        if query.metadata:
            metadata = {"count": count, "offset": query.offset, "limit": query.limit}
        return envelope(page, metadata)

    async def list_sales(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        self.requests["list"] += 1
        return self._listing(request, self.state.list_sales())

    async def one_sale(self, request: Request) -> Response:
        if (denied := self._denied(request)) is not None:
            return denied
        sale_id = request.path_params["sale_id"]
        if request.method == "GET":
            self.requests["get"] += 1
            try:
                return envelope(self.state.get_sale(sale_id))
            except NotFound as exc:
                return error(404, "NotFound", [str(exc)])
        self.requests["write"] += 1
        try:
            body = json.loads(await request.body() or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError):
            return error(400, "BadRequest", ["The request body is not valid JSON"])
        try:
            self.state.update_sale(sale_id, body)
        except NotFound as exc:
            return error(404, "NotFound", [str(exc)])
        except Invalid as exc:
            return error(422, "Validation", exc.messages)
        return envelope({"id": sale_id})

    def _reference_kind(self, request: Request) -> str | Response:
        """The reference list a /sales/{kind} path names, or the answer refusing the request."""
        if (denied := self._denied(request)) is not None:
            return denied
        kind = REFERENCE_PATHS.get(request.path_params["kind"])
        if kind is None:
            return error(404, "NotFound", [f"Endpoint '{request.url.path}' does not exist"])
        self.requests["reference"] += 1
        return kind

    async def list_employees(self, request: Request) -> Response:
        """GET /hrm/employee: the employees (the sales' responsible_employee), with work e-mail, paged and filtered
        like every Simplicate listing."""
        if (denied := self._denied(request)) is not None:
            return denied
        self.requests["employees"] += 1
        employees = [
            {**e, "work_email": f"{e['name'].split()[0].lower()}@example.com", "employment_status": "active"}
            for e in self.state.reference_list("employee")
        ]
        return self._listing(request, employees)

    async def list_reference(self, request: Request) -> Response:
        kind = self._reference_kind(request)
        if isinstance(kind, Response):
            return kind
        return self._listing(request, self.state.reference_list(kind))

    async def one_reference(self, request: Request) -> Response:
        kind = self._reference_kind(request)
        if isinstance(kind, Response):
            return kind
        try:
            return envelope(self.state.find(kind, request.path_params["item_id"]))
        except NotFound as exc:
            return error(404, "NotFound", [str(exc)])
