"""The HubSpot sandbox's HTTP API: CRM v3 deals, search, pipelines and properties, as HubSpot shapes them."""

from __future__ import annotations

import bisect
import json
import uuid
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from crmsync.sandbox.headers import EveryAnswerHeaders
from crmsync_hubspot.sandbox import seed
from crmsync_hubspot.sandbox.search import (
    RANGE,
    SEARCH_OPERATORS,
    filter_ok,
    key_of,
    millis,
    parse_sorts,
    query_ok,
    types_of,
)
from crmsync_hubspot.sandbox.state import HubSpotState, PropertyError, Record

LIST_MAX = 100
HISTORY_MAX = 50  # list and batch read with propertiesWithHistory: at most 50 objects (hubspot-api-python#143)
SEARCH_MAX = 200
SEARCH_CAP = 10_000
BATCH_MAX = 100


def _names(values: list[str]) -> list[str] | None:
    """Property names from a query: HubSpot takes both `a,b` and repeated `properties=a&properties=b`."""
    return [name for value in values for name in value.split(",") if name] or None


def error(status: int, message: str, category: str, **extra: Any) -> JSONResponse:
    body = {
        "status": "error",
        "message": message,
        "correlationId": str(uuid.uuid4()),
        "category": category,
        **extra,
    }
    return JSONResponse(body, status_code=status)


def validation_error(message: str, errors: list[dict[str, Any]] | None = None) -> JSONResponse:
    return error(400, message, "VALIDATION_ERROR", errors=errors or [])


def _integer(value: Any, default: int) -> int | None:
    """A query or body integer as HubSpot reads it: ASCII digits only (a string or a JSON number), else None."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


class HubSpotApi:
    """Route handlers over one HubSpotState."""

    def __init__(self, state: HubSpotState, token: str, sandbox: Any) -> None:
        self.state = state
        self.token = token
        self.sandbox = sandbox

    def authorized(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return error(
                401,
                "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                "INVALID_AUTHENTICATION",
            )
        return None

    def ok(self, body: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    async def _body(self, request: Request) -> dict[str, Any] | Response:
        """The request's JSON object, or HubSpot's 400 for a body that is not one."""
        try:
            body = await request.json()
        except ValueError:
            return validation_error("Invalid input JSON: the request body is not valid JSON")
        if not isinstance(body, dict):
            return validation_error("Invalid input JSON: expected an object")
        return body

    async def list_deals(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["list"] += 1
        q = request.query_params
        limit = _integer(q.get("limit"), 10)
        after = _integer(q.get("after"), 0)
        if limit is None or after is None:
            return validation_error("limit and after must be integers")
        if not 1 <= limit <= LIST_MAX:
            return validation_error(f"limit must be between 1 and {LIST_MAX}")
        archived = q.get("archived", "false") == "true"
        names = _names(q.getlist("properties"))
        history = _names(q.getlist("propertiesWithHistory"))
        if history and (refused := self._history_limit(limit)) is not None:
            return refused
        with self.sandbox.lock:
            rows = self.state.after(archived, after)
            page = rows[:limit]
            body: dict[str, Any] = {"results": [self.state.to_json(r, names, history) for r in page]}
        if len(rows) > limit:
            nxt = page[-1].id
            body["paging"] = {"next": {"after": nxt, "link": f"{request.base_url}crm/v3/objects/deals?after={nxt}"}}
        return self.ok(body)

    async def get_deal(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["get"] += 1
        q = request.query_params
        record = self.state.records.get(request.path_params["deal_id"])
        archived = q.get("archived", "false") == "true"
        if record is None or record.archived != archived:
            return error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        names = _names(q.getlist("properties"))
        history = _names(q.getlist("propertiesWithHistory"))
        return self.ok(self.state.to_json(record, names, history))

    async def batch_read(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["batch-read"] += 1
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        inputs = body.get("inputs", [])
        if len(inputs) > BATCH_MAX:
            return validation_error(f"inputs may hold at most {BATCH_MAX} items")
        if body.get("propertiesWithHistory"):
            self.sandbox.history_reads.append(len(inputs))
            if (refused := self._history_limit(len(inputs))) is not None:
                return refused
        found, missing = [], []
        with self.sandbox.lock:
            for item in inputs:
                record = self.state.records.get(str(item.get("id")))
                if record is None or record.archived:
                    missing.append(str(item.get("id")))
                else:
                    found.append(
                        self.state.to_json(
                            record, body.get("properties") or None, body.get("propertiesWithHistory") or None
                        )
                    )
        return self._batch_answer(found, missing)

    def _history_limit(self, count: int) -> Response | None:
        """HubSpot's 400 for more than 50 objects per request with property history (None: allowed)."""
        most = self.sandbox.history_page_max
        if most is None or count <= most:
            return None
        return validation_error(
            f"Cannot request more than {most} objects with propertiesWithHistory; requested {count}.",
            [{"message": f"limit must be at most {most} with propertiesWithHistory", "code": "INVALID_LIMIT"}],
        )

    def _batch_answer(self, results: list[dict[str, Any]], missing: list[str]) -> Response:
        now = seed.iso(datetime.now(UTC))
        body: dict[str, Any] = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        if missing:
            body["numErrors"] = 1
            body["errors"] = [
                {
                    "status": "error",
                    "category": "OBJECT_NOT_FOUND",
                    "message": "Could not get some DEAL objects, they may be deleted or not exist. "
                    "Check that ids are valid.",
                    "context": {"ids": missing},
                    "errors": [],  # StandardError in the spec requires status, category, message, errors,
                    "links": {},  # context and links
                }
            ]
            return self.ok(body, 207)
        return self.ok(body)

    async def search(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["list-search"] += 1
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        limit = _integer(body.get("limit"), 10)
        after = _integer(body.get("after"), 0)
        if limit is None or after is None:
            return validation_error("limit and after must be integers")
        if not 1 <= limit <= SEARCH_MAX:
            return validation_error(f"limit must be between 1 and {SEARCH_MAX}")
        if after + limit > SEARCH_CAP:
            return validation_error(f"Paging past {SEARCH_CAP} results is not supported for search.")
        groups = body.get("filterGroups", [])
        if len(groups) > 5 or sum(len(g.get("filters", [])) for g in groups) > 18:
            return validation_error("Too many filters: at most 5 filterGroups and 18 filters.")
        for group in groups:
            for flt in group.get("filters", []):
                if flt.get("operator") not in SEARCH_OPERATORS:
                    return validation_error(f"Invalid operator {flt.get('operator')!r}")
        sorts = parse_sorts(body.get("sorts"))
        if sorts is None:
            return validation_error("sorts must be a list of property names or {propertyName, direction} objects")
        query = body.get("query")
        if query is not None and not isinstance(query, str):
            return validation_error("query must be a string")
        with self.sandbox.lock:
            key = json.dumps([groups, sorts, query], sort_keys=True)
            cached = self.state.search_cache.get(key)
            if cached is not None and cached[0] == self.state.version:
                rows = cached[1]
            else:
                rows = self._search_rows(groups, sorts, query or "")
                self.state.search_cache = {key: (self.state.version, rows)}
            page = rows[after : after + limit]
            out: dict[str, Any] = {
                "total": len(rows),
                "results": [self.state.to_json(r, body.get("properties") or None, None) for r in page],
            }
        if after + limit < len(rows):
            out["paging"] = {"next": {"after": str(after + limit)}}
        return self.ok(out)

    def _search_rows(self, groups: list[dict[str, Any]], sorts: list[dict[str, Any]], query: str) -> list[Record]:
        fast = None if query.strip() else self._modified_range(groups, sorts)
        if fast is not None:
            return fast
        rows = [
            r
            for r in self.state.live()
            if (not groups or any(all(filter_ok(r, f) for f in g.get("filters", [])) for g in groups))
            and query_ok(r, query)
        ]
        for sort in reversed(sorts or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]):
            name = sort.get("propertyName", "hs_object_id")

            def sort_key(record: Record, name: str = name) -> tuple[bool, Any]:
                value = key_of(name, record.properties.get(name) if name != "hs_object_id" else record.id)
                return (value is None, value if value is not None else 0)

            rows.sort(key=sort_key, reverse=sort.get("direction") == "DESCENDING")
        return rows

    def _modified_range(self, groups: list[dict[str, Any]], sorts: list[dict[str, Any]]) -> list[Record] | None:
        """The common incremental query (one group of GTE/GT/LT/LTE on hs_lastmodifieddate, sorted ascending on
        it) answered from an index kept per data version, so large sandboxes stay quick. None: not that query."""
        name = "hs_lastmodifieddate"
        if len(groups) != 1 or sorts != [{"propertyName": name, "direction": "ASCENDING"}]:
            return None
        filters = groups[0].get("filters", [])
        if not filters or any(f.get("propertyName") != name or f.get("operator") not in RANGE for f in filters):
            return None
        index = self.state.modified_index()
        stamps = [stamp for stamp, _ in index]
        low, high = 0, len(index)
        for flt in filters:
            value = millis(str(flt.get("value")))
            if value is None:
                return None
            operator = flt["operator"]
            if operator in ("GTE", "GT"):
                bound = (bisect.bisect_left if operator == "GTE" else bisect.bisect_right)(stamps, value)
                low = max(low, bound)
            else:
                bound = (bisect.bisect_left if operator == "LT" else bisect.bisect_right)(stamps, value)
                high = min(high, bound)
        return [record for _, record in index[low:high]]

    async def patch_deal(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["write"] += 1
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        with self.sandbox.lock:
            record = self.state.records.get(request.path_params["deal_id"])
            if record is None or record.archived:
                return error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
            try:
                clean = self.state.validate(body.get("properties", {}))
            except PropertyError as exc:
                return self._property_error(exc)
            self.state.update(record, clean, "INTEGRATION")
            return self.ok(self.state.to_json(record, list(clean) + ["hs_lastmodifieddate"], None))

    def _property_error(self, exc: PropertyError) -> Response:
        return validation_error(
            f'Property values were not valid: [{{"isValid":false,"message":"{exc}","error":"{exc.error}",'
            f'"name":"{exc.name}"}}]',
            [{"message": str(exc), "code": exc.error, "context": {"propertyName": [exc.name]}}],
        )

    async def batch_update(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["write"] += 1
        body = await self._body(request)
        if isinstance(body, Response):
            return body
        inputs = body.get("inputs", [])
        if not 1 <= len(inputs) <= BATCH_MAX:
            return validation_error(f"inputs must hold 1 to {BATCH_MAX} items")
        counts = Counter(str(item.get("id")) for item in inputs)
        duplicates = sorted(deal_id for deal_id, n in counts.items() if n > 1)
        if duplicates:
            # HubSpot refuses the whole batch, naming the repeated ids
            return error(
                400,
                f"Duplicate IDs found in batch input: [{', '.join(duplicates)}]. IDs must be unique",
                "VALIDATION_ERROR",
                context={"ids": duplicates},
            )
        with self.sandbox.lock:
            checked = []
            for item in inputs:  # HubSpot refuses the whole batch when one input is invalid
                try:
                    checked.append((str(item.get("id")), self.state.validate(item.get("properties", {}))))
                except PropertyError as exc:
                    return self._property_error(exc)
            results, missing = [], []
            for deal_id, clean in checked:
                record = self.state.records.get(deal_id)
                if record is None or record.archived:
                    missing.append(deal_id)
                    continue
                self.state.update(record, clean, "INTEGRATION")
                results.append(self.state.to_json(record, list(clean) + ["hs_lastmodifieddate"], None))
        return self._batch_answer(results, missing)

    async def archive(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        with self.sandbox.lock:
            record = self.state.records.get(request.path_params["deal_id"])
            if record is not None and not record.archived:
                record.archived = True
                record.archived_at = self.state.tick()
        return Response(status_code=204)

    async def owners(self, request: Request) -> Response:
        """GET /crm/v3/owners: `limit` (≤ 500, default 100), `after`, `archived`; needs crm.objects.owners.read."""
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["owners"] += 1
        if not self.sandbox.owners_scope:
            return error(
                403,
                "This app hasn't been granted all required scopes to make this call.",
                "MISSING_SCOPES",
                errors=[
                    {
                        "message": "One or more of the following scopes are required.",
                        "context": {"requiredGranularScopes": ["crm.objects.owners.read"]},
                    }
                ],
            )
        q = request.query_params
        limit, after = _integer(q.get("limit"), 100), _integer(q.get("after"), 0)
        if limit is None or after is None or not 1 <= limit <= 500:
            return validation_error("limit must be a number from 1 to 500 and after a number")
        archived = q.get("archived", "false") == "true"
        chosen = [o for o in seed.OWNER_PEOPLE if o[5] == archived]
        page = chosen[after : after + limit]
        results = [
            {
                "id": owner_id,
                "email": email,
                "type": "PERSON",
                "firstName": first,
                "lastName": last,
                "userId": user_id,
                "userIdIncludingInactive": user_id,
                "createdAt": "2024-01-15T09:00:00.000Z",
                "updatedAt": "2026-01-15T09:00:00.000Z",
                "archived": is_archived,
            }
            for owner_id, first, last, email, user_id, is_archived in page
        ]
        body: dict[str, Any] = {"results": results}
        if after + limit < len(chosen):
            body["paging"] = {"next": {"after": str(after + limit), "link": f"?after={after + limit}"}}
        return self.ok(body)

    async def pipelines(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["reference"] += 1
        pipeline_id = request.path_params.get("pipeline_id")
        if pipeline_id is None:
            return self.ok({"results": self.state.pipelines})
        for pipeline in self.state.pipelines:
            if pipeline["id"] == pipeline_id:
                if request.url.path.endswith("/stages"):
                    return self.ok({"results": pipeline["stages"]})
                return self.ok(pipeline)
        return error(404, f"Unable to find pipeline {pipeline_id}", "OBJECT_NOT_FOUND")

    async def properties(self, request: Request) -> Response:
        if (denied := self.authorized(request)) is not None:
            return denied
        self.sandbox.requests["reference"] += 1
        from crmsync_hubspot.sandbox.state import READ_ONLY, WRITABLE

        def describe(name: str) -> dict[str, Any]:
            options = [
                {"label": label, "value": value, "displayOrder": i, "hidden": False}
                for i, (label, value) in enumerate(seed.FORECAST_CATEGORY_OPTIONS)
            ]
            kind, field_type = types_of(name)
            return {
                # Property in the spec requires name, label, type, fieldType, description, groupName, options
                "name": name,
                "label": name.replace("_", " ").title(),
                "description": "",
                "groupName": "dealinformation",
                "type": kind,
                "fieldType": field_type,
                "options": options if name == "hs_manual_forecast_category" else [],
                "calculated": name in READ_ONLY,
                "displayOrder": -1,
                "hidden": False,
                "formField": name in WRITABLE,
                "hasUniqueValue": name == "hs_object_id",
                "modificationMetadata": {
                    "readOnlyValue": name in READ_ONLY,
                    "readOnlyDefinition": True,
                    "archivable": False,
                },
            }

        name = request.path_params.get("name")
        every = sorted(READ_ONLY | WRITABLE)
        if name is None:
            return self.ok({"results": [describe(n) for n in every]})
        if name not in every:
            return error(404, f"Unable to find property {name}", "OBJECT_NOT_FOUND")
        return self.ok(describe(name))


def build_app(api: HubSpotApi) -> ASGIApp:
    routes = []
    # Deals answer at their name and at their object type id 0-3 alike (HubSpot's objects API takes either).
    for base in ("/crm/v3/objects/deals", "/crm/v3/objects/0-3"):
        routes += [
            Route(base, api.list_deals, methods=["GET"]),
            Route(f"{base}/batch/read", api.batch_read, methods=["POST"]),
            Route(f"{base}/batch/update", api.batch_update, methods=["POST"]),
            Route(f"{base}/search", api.search, methods=["POST"]),
            Route(base + "/{deal_id}", api.get_deal, methods=["GET"]),
            Route(base + "/{deal_id}", api.patch_deal, methods=["PATCH"]),
            Route(base + "/{deal_id}", api.archive, methods=["DELETE"]),
        ]
    routes += [
        Route("/crm/v3/owners", api.owners, methods=["GET"]),
        Route("/crm/v3/owners/", api.owners, methods=["GET"]),
        Route("/crm/v3/pipelines/deals", api.pipelines, methods=["GET"]),
        Route("/crm/v3/pipelines/deals/{pipeline_id}", api.pipelines, methods=["GET"]),
        Route("/crm/v3/pipelines/deals/{pipeline_id}/stages", api.pipelines, methods=["GET"]),
        Route("/crm/v3/properties/deals", api.properties, methods=["GET"]),
        Route("/crm/v3/properties/deals/{name}", api.properties, methods=["GET"]),
    ]
    # Every answer carries HubSpot's X-HubSpot-RateLimit-* headers, errors included, as HubSpot does.
    # Source: HubSpot's API usage guidelines ("rate limit headers"): -Daily, -Daily-Remaining, -Interval-Milliseconds,
    # -Max, -Remaining (and on some accounts -Secondly, -Secondly-Remaining). The sandbox sends the first five.
    return EveryAnswerHeaders(Starlette(routes=routes), api.sandbox.rate_limit_headers)
