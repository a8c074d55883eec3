"""FakeCrm: a tiny in-memory CRM (Starlette) the fake connector speaks to; the core's tests need no real CRM.

The API, all JSON, a bearer token on every request:
    GET   /v1/me                                  who am I (the connection check)
    GET   /v1/stages                              {"pipelines": [...], "stages": [...]}
    GET   /v1/deals?since=&until=&after=&limit=   {"deals": [...], "next": key|null, "as_of": iso}, by (updated, id)
    GET   /v1/deal-ids                            {"ids": [...]} every live id, for reconciling hard deletes
    PATCH /v1/deals/{id}                          {"forecast": str|"", "chance": str|null} → the deal; 404 if none

Knobs for tests, besides the inherited `faults` (scripted 429/503/drop/html/401): `page_delay` (slow pages),
`edit`/`edit_by_hand`/`touch`/`delete` (a person in the CRM), `requests` (per kind) and `answered` (every request).
"""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp

from crmsync.sandbox.base import Sandbox

PIPELINES = [{"id": "sales", "label": "Sales"}]
STAGES = [
    {"id": "lead", "label": "Lead", "order": 0, "probability": "0.1", "closed": False, "won": False},
    {"id": "qualified", "label": "Qualified", "order": 1, "probability": "0.3", "closed": False, "won": False},
    {"id": "proposal", "label": "Proposal", "order": 2, "probability": "0.5", "closed": False, "won": False},
    {"id": "negotiation", "label": "Negotiation", "order": 3, "probability": "0.8", "closed": False, "won": False},
    {"id": "won", "label": "Won", "order": 4, "probability": "1", "closed": True, "won": True},
    {"id": "lost", "label": "Lost", "order": 5, "probability": "0", "closed": True, "won": False},
]
STAGE_WEIGHTS = [3, 3, 3, 3, 2, 2]


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


class FakeCrm(Sandbox):
    """The fake CRM's state and API. `FakeCrm(deals=40)`; serve with `crmsync.sandbox.serve(crm.app())`
    (real loopback HTTP) or use `crm.transport()` in process."""

    name = "fake"

    def __init__(self, *, deals: int = 60, seed: int = 7, token: str = "fake-token-5b1e9c") -> None:
        super().__init__(deals=deals, seed=seed)
        self.token = token
        self.page_delay = 0.0
        self.history: dict[str, list[tuple[str, str | None, str]]] = {}  # id → (field, value, "api" | "ui")
        self._last = datetime.now(UTC) - timedelta(days=1)
        rng = random.Random(seed)
        today = date.today()
        self.records: dict[str, dict[str, Any]] = {}
        for n in range(deals):
            deal_id = str(1001 + n)
            stage = rng.choices(STAGES, weights=STAGE_WEIGHTS)[0]["id"]
            close = today + timedelta(days=rng.randint(-30, 90)) if rng.random() > 0.1 else None
            self.records[deal_id] = {
                "id": deal_id,
                "title": f"Deal {deal_id}",
                "stage": stage,
                "value": f"{rng.randint(1, 500) * 100}.00" if rng.random() > 0.05 else None,
                "currency": "EUR",
                "close_on": close.isoformat() if close else None,
                "forecast": None,
                "chance": None,
                "updated": _stamp(self._now()),
            }

    def _now(self) -> datetime:
        """Strictly increasing modification times, so keyset paging and cursors are exact."""
        self._last = max(datetime.now(UTC), self._last + timedelta(microseconds=1))
        return self._last

    # -- serving --------------------------------------------------------------------------------------------

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "token": self.token}

    def transport(self) -> httpx.AsyncBaseTransport:
        """An in-process transport to this CRM, for tests where a socket is not the point."""
        return httpx.ASGITransport(app=self.app())

    def routes_app(self) -> ASGIApp:
        return Starlette(
            routes=[
                Route("/v1/me", self._me),
                Route("/v1/stages", self._stages),
                Route("/v1/deals", self._list),
                Route("/v1/deal-ids", self._ids),
                Route("/v1/deals/{deal_id}", self._patch, methods=["PATCH"]),
            ]
        )

    def _denied(self, request: Request) -> Response | None:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return JSONResponse({"error": "invalid token"}, status_code=401)
        return None

    async def _me(self, request: Request) -> Response:
        self.requests["check"] += 1
        return self._denied(request) or JSONResponse({"user": "tester"})

    async def _stages(self, request: Request) -> Response:
        self.requests["reference"] += 1
        stages = [{**s, "pipeline": "sales"} for s in STAGES]
        return self._denied(request) or JSONResponse({"pipelines": PIPELINES, "stages": stages})

    async def _list(self, request: Request) -> Response:
        if "ids" in request.query_params:
            return self._by_ids(request)
        self.requests["list-since" if request.query_params.get("since") else "list"] += 1
        if denied := self._denied(request):
            return denied
        if self.page_delay:
            await asyncio.sleep(self.page_delay)
        query = request.query_params
        limit = min(int(query.get("limit", "50")), 100)
        with self.lock:
            as_of = query.get("until") or _stamp(self._last)
            since, after = query.get("since", ""), tuple(query.get("after", "|").split("|", 1))
            rows = sorted(
                (r for r in self.records.values() if since <= r["updated"] <= as_of),
                key=lambda r: (r["updated"], r["id"]),
            )
            rows = [dict(r) for r in rows if (r["updated"], r["id"]) > after][: limit + 1]
        more = len(rows) > limit
        rows = rows[:limit]
        after_key = f"{rows[-1]['updated']}|{rows[-1]['id']}" if more else None
        return JSONResponse({"deals": rows, "next": after_key, "as_of": as_of})

    def _by_ids(self, request: Request) -> Response:
        """`?ids=a,b,c` (at most 100): those deals, wherever they are in the listing order; unknown ids left out."""
        self.requests["read-ids"] += 1
        if denied := self._denied(request):
            return denied
        wanted = [i for i in request.query_params["ids"].split(",") if i][:100]
        with self.lock:
            rows = [dict(self.records[i]) for i in wanted if i in self.records]
        return JSONResponse({"deals": rows, "next": None, "as_of": _stamp(self._last)})

    async def _ids(self, request: Request) -> Response:
        self.requests["list-ids"] += 1
        with self.lock:
            ids = sorted(self.records)
        return self._denied(request) or JSONResponse({"ids": ids})

    async def _patch(self, request: Request) -> Response:
        self.requests["write"] += 1
        if denied := self._denied(request):
            return denied
        deal_id = request.path_params["deal_id"]
        body = await request.json()
        unknown = set(body) - {"forecast", "chance"}
        if unknown:
            return JSONResponse({"error": f"cannot write {', '.join(sorted(unknown))}"}, status_code=400)
        with self.lock:
            if deal_id not in self.records:
                return JSONResponse({"error": f"no deal {deal_id}"}, status_code=404)
            self.edit(deal_id, by="api", **{k: (v or None) for k, v in body.items()})
            return JSONResponse(dict(self.records[deal_id]))

    # -- control surface (a person in the CRM) ------------------------------------------------------------

    def edit(self, deal_id: str, *, by: str = "ui", **fields: Any) -> None:
        """Change any of a deal's fields (title, stage, value, close_on, forecast, chance) and its stamp."""
        with self.lock:
            record = self.records[deal_id]
            for key, value in fields.items():
                if key not in record or key in ("id", "updated"):
                    raise KeyError(f"the fake CRM's deals have no editable field {key!r}")
                record[key] = value
                if key in ("forecast", "chance"):
                    self.history.setdefault(deal_id, []).append((key, value, by))
            record["updated"] = _stamp(self._now())

    def deal_ids(self) -> list[str]:
        with self.lock:
            return sorted(self.records)

    def touch(self, deal_id: str) -> None:
        self.edit(deal_id)

    def edit_by_hand(self, deal_id: str, category: str | None = None, probability: str | None = None) -> None:
        changes = {"forecast": category} if category is not None else {}
        if probability is not None:
            changes["chance"] = probability
        self.edit(deal_id, **changes)

    def remote_values(self, deal_id: str) -> tuple[str | None, str | None]:
        record = self.records[deal_id]
        return record["forecast"], record["chance"]

    def delete(self, deal_id: str) -> None:
        with self.lock:
            del self.records[deal_id]

    def missing_id(self) -> str:
        return "999999"
