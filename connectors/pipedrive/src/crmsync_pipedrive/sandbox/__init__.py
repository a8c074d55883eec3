"""A local emulator of Pipedrive's API v2 (deals, pipelines, stages, deal fields), for tests and the demo."""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp

from crmsync.sandbox.base import Sandbox
from crmsync_pipedrive.sandbox import responses
from crmsync_pipedrive.sandbox.app import DEFAULT_BURST, build_app
from crmsync_pipedrive.sandbox.seed import FORECAST_FIELD, build_state
from crmsync_pipedrive.sandbox.state import SandboxState, rfc3339
from crmsync_pipedrive.sandbox.webhooks import Subscriptions

BURST_WINDOW = 2.0  # Pipedrive counts its burst limit per token per rolling 2-second window


class PipedriveSandbox(Sandbox):
    """A seeded Pipedrive company speaking API v2 on loopback.

    Args:
        deals: How many (live) deals to seed.
        seed: Seed of the generator.
        burst: Requests allowed per 2-second window; None means no limit is enforced (the headers still
            announce one, as Pipedrive always sends them).
    """

    name = "pipedrive"

    def __init__(self, *, deals: int = 60, seed: int = 7, burst: int | None = None) -> None:
        super().__init__(deals=deals, seed=seed)
        self.state: SandboxState = build_state(deals, seed)
        self.webhooks = Subscriptions()  # what POST /api/v1/webhooks subscribed; see sandbox/webhooks.py
        if burst is not None:
            self.rate_limit = (burst, BURST_WINDOW)

    # -- serving ---------------------------------------------------------------------------------------------

    def routes_app(self) -> ASGIApp:
        return build_app(self)

    def settings(self, base_url: str) -> dict[str, Any]:
        return {"base_url": base_url, "api_token": self.state.api_token}

    def oauth_settings(self, base_url: str) -> dict[str, Any]:
        """Settings that authenticate with an OAuth access token instead of the API token."""
        return {"base_url": base_url, "oauth_token": self.state.oauth_token}

    def burst_state(self) -> tuple[int, int, int]:
        """(limit, remaining, reset seconds) of the current burst window, as the headers report them."""
        if self.rate_limit is None:
            return DEFAULT_BURST, DEFAULT_BURST - 1, math.ceil(BURST_WINDOW)
        limit, window = self.rate_limit
        now = time.monotonic()
        with self.lock:
            live = [t for t in self._window if now - t < window]
        reset = max(1, math.ceil(window - (now - live[0]))) if live else math.ceil(window)
        return limit, max(0, limit - len(live)), reset

    def too_many_requests(self, retry_after: float | None) -> Response:
        limit, window = self.rate_limit if self.rate_limit is not None else (DEFAULT_BURST, BURST_WINDOW)
        # whole seconds until the window frees a slot: never more than the window (the margin the sandbox adds to
        # its wait is not Pipedrive's)
        reset = min(math.ceil(window), max(1, math.ceil(retry_after))) if retry_after is not None else math.ceil(window)
        return responses.rate_limited(limit, reset)

    def unavailable(self) -> Response:
        return responses.unavailable()

    # -- control surface -------------------------------------------------------------------------------------

    def _deal(self, deal_id: str) -> dict[str, Any]:
        deal = self.state.deals.get(int(deal_id)) if deal_id.isdigit() else None
        if deal is None:
            raise KeyError(f"no deal {deal_id} in the sandbox")
        return deal

    def deal_ids(self) -> list[str]:
        with self.lock:
            return [
                str(deal_id)
                for deal_id, deal in sorted(self.state.deals.items())
                if not deal["is_deleted"] and not deal["is_archived"]
            ]

    def touch(self, deal_id: str) -> None:
        with self.lock:
            deal = self._deal(deal_id)
            self.state.stamp(deal)
            self.webhooks.notify("change", dict(deal), {"update_time": None}, "app")

    def edit_by_hand(self, deal_id: str, category: str | None = None, probability: str | None = None) -> None:
        with self.lock:
            deal = self._deal(deal_id)
            changes: dict[str, Any] = {}
            if category is not None:
                key = self.state.forecast_key
                option = self.state.option_id(key, category) if category else None
                changes["custom_fields"] = {key: option}
            if probability is not None:
                changes["probability"] = _number(probability) if probability else None
            previous = {name: deal.get(name) for name in changes}
            self.state.apply(deal, changes)
            self.webhooks.notify("change", dict(deal), previous, "app")

    def remote_values(self, deal_id: str) -> tuple[str | None, str | None]:
        with self.lock:
            deal = self._deal(deal_id)
            option = deal["custom_fields"].get(self.state.forecast_key)
            label = self.state.option_label(self.state.forecast_key, option)
            probability = deal["probability"]
        return label, None if probability is None else _text(probability)

    def delete(self, deal_id: str) -> None:
        """Delete the deal as Pipedrive does: status 'deleted', listed with status=deleted for 30 days."""
        with self.lock:
            deal = self._deal(deal_id)
            deal["is_deleted"] = True
            deal["status"] = "deleted"
            self.state.stamp(deal)
            self.webhooks.notify("delete", dict(deal), None, "app")

    def archive(self, deal_id: str) -> None:
        """Archive the deal: it leaves /deals for /deals/archived and refuses edits."""
        with self.lock:
            deal = self._deal(deal_id)
            now = self.state.now()
            deal["is_archived"] = True
            deal["archive_time"] = rfc3339(now)
            deal["update_time"] = rfc3339(now)

    def missing_id(self) -> str:
        with self.lock:
            return str(max(self.state.deals, default=0) + 10_000)

    # -- helpers for tests and the demo ------------------------------------------------------------------------

    @property
    def forecast_field(self) -> str:
        return FORECAST_FIELD

    def deal(self, deal_id: str) -> dict[str, Any]:
        """A copy of the deal's JSON as the API returns it."""
        with self.lock:
            return dict(self._deal(deal_id))


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if value.is_integer() else value


def _text(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


__all__ = ["PipedriveSandbox"]
