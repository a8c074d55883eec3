"""A local emulator of Simplicate's API v2 sales module.

Speaks `/api/v2/sales/...` with the Authentication-Key/-Secret headers (401 otherwise), the
`{data, metadata, errors, debug}` envelope, offset/limit paging with `metadata=count`, the `q[...]` filters,
`sort`, `select`, PUT with validation (404/422 error bodies), a per-minute rate limit answering 429, and
Europe/Amsterdam wall-clock timestamps. Seeded with Dutch progress steps, open/scored/lost sales, sales
without a closing date and a `forecast_category` select custom field.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from crmsync.sandbox.base import Sandbox
from crmsync_simplicate.sandbox.app import PREFIX, SimplicateApp
from crmsync_simplicate.sandbox.seed import CATEGORY_FIELD
from crmsync_simplicate.sandbox.state import SalesState
from crmsync_simplicate.translate import AMSTERDAM


class SimplicateSandbox(Sandbox):
    """The Simplicate emulator.

    Args:
        deals: How many sales to seed.
        seed: Seed of the generator.
        requests_per_minute: The account's rate limit (Simplicate guarantees at least 60; the sandbox
            defaults higher so test suites stay fast). None: unlimited.
        clock: Wall-clock time (Europe/Amsterdam, naive) stamped on changes; tests may inject one.
    """

    name = "simplicate"

    def __init__(
        self,
        *,
        deals: int = 60,
        seed: int = 7,
        requests_per_minute: int | None = 600,
        clock: Callable[[], datetime] = AMSTERDAM.now,
    ) -> None:
        super().__init__(deals=deals, seed=seed)
        self.key = f"sandbox-key-{seed}"
        self.secret = f"sandbox-secret-{seed}-do-not-log"
        self.state = SalesState(deals, seed, clock)
        self.requests_per_minute = requests_per_minute
        self.rate_limit = (requests_per_minute, 60.0) if requests_per_minute else None
        self.category_field = CATEGORY_FIELD

    def routes_app(self) -> ASGIApp:
        return SimplicateApp(self.state, self.key, self.secret, self.requests).build()

    def settings(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": f"{base_url.rstrip('/')}{PREFIX}",
            "api_key": self.key,
            "api_secret": self.secret,
            "requests_per_minute": self.requests_per_minute,
        }

    def too_many_requests(self, retry_after: float | None) -> Response:
        # Simplicate documents no rate-limit headers; Retry-After is sent only when the sandbox knows the wait.
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        body = {
            "data": None,
            "errors": [{"code": 429, "type": "RateLimit", "message": "Too Many Requests"}],
            "debug": None,
        }
        return JSONResponse(body, status_code=429, headers=headers)

    def unavailable(self) -> Response:
        body = {
            "data": None,
            "errors": [{"code": 503, "type": "ServiceUnavailable", "message": "Service temporarily unavailable"}],
            "debug": None,
        }
        return JSONResponse(body, status_code=503)

    # -- control surface -------------------------------------------------------------------------------------

    def deal_ids(self) -> list[str]:
        with self.state.lock:
            return list(self.state.sales)

    def touch(self, deal_id: str) -> None:
        self.state.touch(deal_id)

    def edit_by_hand(self, deal_id: str, category: str | None = None, probability: str | None = None) -> None:
        body: dict[str, Any] = {}
        if category is not None:
            body["custom_fields"] = [{"name": self.category_field, "value": category}]
        if probability is not None:
            body["chance_to_score"] = round(float(probability))
        self.state.update_sale(deal_id, body)

    def remote_values(self, deal_id: str) -> tuple[str | None, str | None]:
        sale = self.state.get_sale(deal_id)
        chance = sale.get("chance_to_score")
        return self.state.custom_value(deal_id, self.category_field), None if chance is None else str(chance)

    def delete(self, deal_id: str) -> None:
        self.state.delete(deal_id)

    def missing_id(self) -> str:
        return "sales:0000000000000000"


__all__ = ["SimplicateSandbox"]
