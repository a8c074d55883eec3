"""Helpers for tests against the served HubSpot sandbox (imported by test modules; fixtures are in conftest)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from crmsync.connector import Reference
from crmsync.mapping import Mapping
from crmsync.rules import evaluate
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.translate import to_deal


class Served:
    """A HubSpot sandbox served on loopback, with helpers to build connectors against it."""

    def __init__(self, box: HubSpotSandbox, base_url: str) -> None:
        self.box = box
        self.base_url = base_url

    def settings(self, **overrides: Any) -> HubSpotSettings:
        return HubSpotSettings(**{**self.box.settings(self.base_url), **overrides})

    def connector(
        self, mapping: Mapping, cls: type[HubSpotConnector] = HubSpotConnector, **overrides: Any
    ) -> HubSpotConnector:
        connector = cls("hubspot", self.settings(**overrides), mapping)
        connector.client.backoff = 0.01  # keep retries quick; hints from the sandbox are honoured regardless
        return connector

    def remote(self) -> dict[str, tuple[str | None, str | None]]:
        """Category and probability of every live deal as the sandbox holds them."""
        return {deal_id: self.box.remote_values(deal_id) for deal_id in self.box.deal_ids()}

    async def reference(self, mapping: Mapping) -> Reference:
        async with self.connector(mapping) as connector:
            return await connector.reference()

    def expected(self, mapping: Mapping, reference: Reference, today: date) -> dict[str, tuple[str, Decimal]]:
        """What the rules want in the CRM for every live deal, worked out with the pure functions."""
        wanted: dict[str, tuple[str, Decimal]] = {}
        wb = mapping.writeback
        for deal_id in self.box.deal_ids():
            record = self.box.state.records[deal_id]
            raw = self.box.state.to_json(record, list(record.properties), None)
            forecast = evaluate(to_deal("hubspot", raw, reference, mapping), mapping, today)
            wanted[deal_id] = (wb.remote_category(forecast.category), wb.remote_probability(forecast.probability))
        return wanted


def same_values(remote: tuple[str | None, str | None], wanted: tuple[str, Decimal]) -> bool:
    category, probability = remote
    return category == wanted[0] and probability is not None and Decimal(probability) == wanted[1]
