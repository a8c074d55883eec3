"""A local emulator of AFAS Profit's REST API for forecasts ("verkoopkansen").

Three GetConnectors (forecasts, their keys only, and the forecast statuses with their chances), the CmForecast
UpdateConnector, AfasToken auth, 503 maintenance mode with `retry_after` in the body, a limit on parallel
requests, and Amsterdam wall-clock times written with a misleading Z. See `app.py` for the routes.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
from decimal import Decimal
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from crmsync.sandbox.base import Sandbox
from crmsync_afas.sandbox.app import build_app
from crmsync_afas.sandbox.seed import seed_world
from crmsync_afas.sandbox.state import (
    CATEGORY_CAPTION,
    CATEGORY_FREE_FIELD,
    FORECAST_CONNECTOR,
    KEY_CONNECTOR,
    STATUS_CONNECTOR,
    local_now,
)

__all__ = [
    "CATEGORY_CAPTION",
    "CATEGORY_FREE_FIELD",
    "FORECAST_CONNECTOR",
    "KEY_CONNECTOR",
    "STATUS_CONNECTOR",
    "AfasSandbox",
    "token_xml",
]

VALIDATION_ERROR_NUMBER = -2147220469


def token_xml(data: str) -> str:
    """The token XML Profit hands out for an app connector user."""
    return f"<token><version>1</version><data>{data}</data></token>"


class AfasSandbox(Sandbox):
    """A seeded Profit environment.

    Attributes:
        token_data: The hex data part of the one valid token.
        environment: The environment number the sandbox pretends to be.
        max_parallel: Opt-in (None by default): requests served at once, beyond which the sandbox answers 429.
            Invented for tests of the connector's own concurrency cap: AFAS documents only that about 5-8
            parallel calls are advisable, not a limit or its answer (see the sandbox README).
        maintenance_retry_after: When set, every request gets the maintenance 503 with this `retry_after`.
        unavailable_retry_after: `retry_after` of an injected 503 fault (short, so retries can succeed).
        shuffle_unordered: Rows of a GetConnector called without `orderbyfieldids` come in no stable order.
    """

    name = "afas"

    def __init__(self, *, deals: int = 60, seed: int = 7) -> None:
        super().__init__(deals=deals, seed=seed)
        self.world = seed_world(deals=deals, seed=seed)
        self.token_data = hashlib.sha256(f"afas-sandbox-{seed}".encode()).hexdigest().upper()
        self.environment = "O12345AA"
        self.max_parallel: int | None = None
        self.in_flight = 0
        self.maintenance_retry_after: int | None = None
        self.unavailable_retry_after = 1
        self.shuffle_unordered = True
        self._references = itertools.count(1)

    # -- serving ---------------------------------------------------------------------------------------------

    def routes_app(self) -> ASGIApp:
        return build_app(self)

    def app(self) -> ASGIApp:
        return _Gate(super().app(), self)

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": f"{base_url.rstrip('/')}/ProfitRestServices", "token": token_xml(self.token_data)}

    def error_body(self, message: str) -> dict[str, Any]:
        """Profit's body for every validation or business error (sent with status 500)."""
        reference = hashlib.md5(f"{self.seed}-{next(self._references)}".encode()).hexdigest().upper()
        return {
            "externalMessage": message,
            "errorNumber": VALIDATION_ERROR_NUMBER,
            "profitLogReference": reference,
        }

    def too_many_requests(self, retry_after: float | None) -> Response:
        headers = {"Retry-After": f"{max(1, round(retry_after))}"} if retry_after is not None else {}
        body = {"error": {"code": "429", "message": "Te veel gelijktijdige verzoeken voor deze omgeving."}}
        return JSONResponse(body, status_code=429, headers=headers)

    def unavailable(self) -> Response:
        return self._maintenance(self.unavailable_retry_after)

    def _maintenance(self, retry_after: int) -> Response:
        body = {
            "error": {"code": "503", "message": "Profit is in onderhoud. Probeer het later opnieuw."},
            "retry_after": retry_after,
        }
        return JSONResponse(body, status_code=503)

    # -- control surface -------------------------------------------------------------------------------------

    def _forecast(self, deal_id: str) -> Any:
        relation, _, sequence = deal_id.rpartition("-")
        try:
            return self.world.forecasts[(relation, int(sequence))]
        except (KeyError, ValueError):
            raise KeyError(f"no forecast {deal_id!r} in the sandbox") from None

    def deal_ids(self) -> list[str]:
        with self.lock:
            return [forecast.key for forecast in self.world.forecasts.values()]

    def touch(self, deal_id: str) -> None:
        with self.lock:
            forecast = self._forecast(deal_id)
            forecast.description = forecast.description.rstrip(" *") + " *"
            forecast.modified = local_now()

    def edit_by_hand(self, deal_id: str, category: str | None = None, probability: str | None = None) -> None:
        with self.lock:
            forecast = self._forecast(deal_id)
            if category is not None:
                forecast.category = category or None
            if probability is not None:
                forecast.chance = Decimal(probability) if probability else None
            forecast.modified = local_now()

    def remote_values(self, deal_id: str) -> tuple[str | None, str | None]:
        with self.lock:
            forecast = self._forecast(deal_id)
            chance = forecast.chance
        if chance is None:
            return forecast.category, None
        text = format(chance.normalize(), "f")
        return forecast.category, text

    def delete(self, deal_id: str) -> None:
        with self.lock:
            forecast = self._forecast(deal_id)
            del self.world.forecasts[(forecast.relation, forecast.sequence)]

    def missing_id(self) -> str:
        return "99999-1"

    def set_status(self, deal_id: str, status: str) -> None:
        """Pick a status in the UI: a status with a chance fills in the percentage."""
        with self.lock:
            forecast = self._forecast(deal_id)
            forecast.status = status
            if self.world.statuses[status].chance is not None:
                forecast.chance = self.world.statuses[status].chance
            forecast.modified = local_now()


class _Gate:
    """Outermost layer: maintenance mode and the limit on parallel requests."""

    def __init__(self, app: ASGIApp, sandbox: AfasSandbox) -> None:
        self.inner = app
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return
        sandbox = self.sandbox
        if sandbox.maintenance_retry_after is not None:
            await sandbox._maintenance(sandbox.maintenance_retry_after)(scope, receive, send)
            return
        with sandbox.lock:
            sandbox.in_flight += 1
            over = sandbox.max_parallel is not None and sandbox.in_flight > sandbox.max_parallel
            sandbox.requests["peak_parallel"] = max(sandbox.requests["peak_parallel"], sandbox.in_flight)
        try:
            if over:
                await sandbox.too_many_requests(1)(scope, receive, send)
                return
            await asyncio.sleep(0)
            await self.inner(scope, receive, send)
        finally:
            with sandbox.lock:
                sandbox.in_flight -= 1
