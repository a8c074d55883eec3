"""Helpers for the HubSpot engine, CLI and scheduler tests (moved from the core's tests/, which now run on the
fake connector): a HubSpot sandbox served on loopback and connectors built against it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmsync.connector import Reference
from crmsync.mapping import Mapping
from crmsync.rules import evaluate
from crmsync.sandbox import serve
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.translate import to_deal

ROOT = Path(__file__).resolve().parents[3]
HUBSPOT_MAPPING = ROOT / "mappings" / "hubspot.toml"


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


def serve_hubspot() -> Iterator[Served]:
    """The body of a `served` fixture: a 40-deal HubSpot sandbox (seed 11) on loopback."""
    box = HubSpotSandbox(deals=40, seed=11)
    with serve(box.app()) as server:
        yield Served(box, server.base_url)
