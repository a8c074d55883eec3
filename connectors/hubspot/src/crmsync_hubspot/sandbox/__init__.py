"""A local emulator of HubSpot CRM v3 for deals, for tests, the demo and `crmsync sandbox hubspot`."""

from __future__ import annotations

import math
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

from crmsync.sandbox.base import Sandbox

if TYPE_CHECKING:
    from crmsync_hubspot.sandbox.webhooks import HubSpotWebhooks


class HubSpotSandbox(Sandbox):
    """HubSpot's default pipeline plus the Dutch example pipeline, EUR and USD deals, four owners.

    `rate_limit` emulates the private-app ten-secondly limit; None (default) means unlimited.
    `history_page_max` is how many objects one list or batch read may ask with `propertiesWithHistory` (50 on
    HubSpot; a larger limit is a 400); None lifts the check.
    """

    name = "hubspot"
    history_page_max: int | None = 50  # HubSpot's limit (HISTORY_MAX in sandbox/app.py)
    daily_limit = 1_000_000
    owners_scope = True  # False: /crm/v3/owners answers 403 MISSING_SCOPES, as for an app without the scope

    def __init__(self, *, deals: int = 60, seed: int = 7, token: str = "pat-eu1-sandbox-0000") -> None:
        from crmsync_hubspot.sandbox.app import HubSpotApi, build_app
        from crmsync_hubspot.sandbox.state import HubSpotState

        super().__init__(deals=deals, seed=seed)
        self.token = token
        self.state = HubSpotState(deals, seed)
        self._app = build_app(HubSpotApi(self.state, token, self))
        self.webhooks: HubSpotWebhooks | None = None
        self.history_reads: list[int] = []  # objects asked per batch read with propertiesWithHistory

    def subscribe_webhooks(self, target_url: str, client_secret: str) -> HubSpotWebhooks:
        """Send `deal.propertyChange` and `deal.deletion` events to `target_url`, as an app subscribed to them."""
        from crmsync_hubspot.sandbox.webhooks import HubSpotWebhooks

        self.webhooks = HubSpotWebhooks(target_url, client_secret)
        self.state.on_update = self.webhooks.property_changes
        return self.webhooks

    def routes_app(self) -> ASGIApp:
        return self._app

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "token": self.token}

    def rate_limit_headers(self) -> dict[str, str]:
        """HubSpot's budget headers as of now: the ten-secondly window and the daily budget."""
        most = self.rate_limit[0] if self.rate_limit else 190
        with self.lock:
            used = len(self._window)
            answered = self.answered
        return {
            "X-HubSpot-RateLimit-Max": str(most),
            "X-HubSpot-RateLimit-Remaining": str(max(0, most - used)),
            "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
            "X-HubSpot-RateLimit-Daily": str(self.daily_limit),
            "X-HubSpot-RateLimit-Daily-Remaining": str(max(0, self.daily_limit - answered)),
        }

    def too_many_requests(self, retry_after: float | None) -> Response:
        headers = {**self.rate_limit_headers(), "X-HubSpot-RateLimit-Remaining": "0"}
        if retry_after is not None:
            # Retry-After is delay-seconds, a whole number (RFC 9110 10.2.3); round up so a client never waits short
            headers["Retry-After"] = str(max(1, math.ceil(retry_after)))
        else:
            headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = "200"  # short, so tests stay quick
        body = {
            "status": "error",
            "message": "You have reached your ten_secondly_rolling limit.",
            "errorType": "RATE_LIMIT",
            "correlationId": str(uuid.uuid4()),
            "policyName": "TEN_SECONDLY_ROLLING",
        }
        return JSONResponse(body, status_code=429, headers=headers)

    def unavailable(self) -> Response:
        return JSONResponse(
            {
                "status": "error",
                "message": "Service Unavailable",
                "correlationId": str(uuid.uuid4()),
                "category": "INTERNAL_ERROR",
            },
            status_code=502,
        )

    def deal_ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self.state.live()]

    def touch(self, deal_id: str) -> None:
        with self.lock:
            record = self.state.records[deal_id]
            self.state.update(record, {"description": f"edited {uuid.uuid4().hex[:6]}"}, "CRM_UI")

    def edit_by_hand(self, deal_id: str, category: str | None = None, probability: str | None = None) -> None:
        values: dict[str, str | None] = {}
        if category is not None:
            values["hs_manual_forecast_category"] = category
        if probability is not None:
            values["hs_forecast_probability"] = str(Decimal(probability))
        with self.lock:
            self.state.update(self.state.records[deal_id], values, "CRM_UI")

    def remote_values(self, deal_id: str) -> tuple[str | None, str | None]:
        props = self.state.records[deal_id].properties
        return props.get("hs_manual_forecast_category"), props.get("hs_forecast_probability")

    def delete(self, deal_id: str) -> None:
        with self.lock:
            record = self.state.records[deal_id]
            record.archived = True
            record.archived_at = self.state.tick()
        if self.webhooks is not None:
            self.webhooks.deletion(deal_id)

    def missing_id(self) -> str:
        return "1"
