"""Helpers for tests against the served fake CRM, and canonical deals for the pure tests (fixtures: conftest)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from crmsync.connector import Reference
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus, Pipeline, Stage
from crmsync.rules import evaluate
from crmsync.testing.fake import MAPPING_PATH, FakeConnector, FakeSettings
from crmsync.testing.fake_crm import FakeCrm

TOKEN_VAR = "CRMSYNC_TEST_FAKE_TOKEN"


def write_config(tmp_path: Path, base_url: str, *, mapping: Path | None = None, extra: str = "") -> Path:
    path = tmp_path / "crmsync.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///{tmp_path / "state.db"}"

[connections.fake]
connector = "fake"
mapping = "{mapping or MAPPING_PATH}"
{extra}
[connections.fake.settings]
base_url = "{base_url}"
token = "${{{TOKEN_VAR}}}"
max_retries = 0
"""
    )
    return path


class Served:
    """The fake CRM served on loopback, with helpers to build fake connectors against it."""

    def __init__(self, box: FakeCrm, base_url: str) -> None:
        self.box = box
        self.base_url = base_url

    def settings(self, **overrides: Any) -> FakeSettings:
        return FakeSettings(**{**self.box.settings(self.base_url), **overrides})

    def connector(self, mapping: Mapping, cls: type[FakeConnector] = FakeConnector, **overrides: Any) -> FakeConnector:
        return cls("fake", self.settings(**overrides), mapping)

    def remote(self) -> dict[str, tuple[str | None, str | None]]:
        """Category and probability of every live deal as the fake CRM holds them."""
        return {deal_id: self.box.remote_values(deal_id) for deal_id in self.box.deal_ids()}

    async def reference(self, mapping: Mapping) -> Reference:
        async with self.connector(mapping) as connector:
            return await connector.reference()

    def expected(self, mapping: Mapping, reference: Reference, today: date) -> dict[str, tuple[str, Decimal]]:
        """What the rules want in the CRM for every live deal, worked out with the pure functions."""
        wanted: dict[str, tuple[str, Decimal]] = {}
        wb = mapping.writeback
        translate = self.connector(mapping)  # to_deal only: no request is sent
        for deal_id in self.box.deal_ids():
            forecast = evaluate(translate.to_deal(dict(self.box.records[deal_id]), reference), mapping, today)
            wanted[deal_id] = (wb.remote_category(forecast.category), wb.remote_probability(forecast.probability))
        return wanted


def same_values(remote: tuple[str | None, str | None], wanted: tuple[str, Decimal]) -> bool:
    category, probability = remote
    return category == wanted[0] and probability is not None and Decimal(probability) == wanted[1]


DEFAULT_PIPELINE = Pipeline(id="default", label="Sales Pipeline")
STAGES = {
    "appointmentscheduled": Stage(
        id="appointmentscheduled",
        label="Appointment scheduled",
        pipeline_id="default",
        order=0,
        probability=Decimal("0.2"),
    ),
    "decisionmakerboughtin": Stage(
        id="decisionmakerboughtin",
        label="Decision maker bought-in",
        pipeline_id="default",
        order=3,
        probability=Decimal("0.8"),
    ),
    "contractsent": Stage(
        id="contractsent", label="Contract sent", pipeline_id="default", order=4, probability=Decimal("0.9")
    ),
    "closedwon": Stage(
        id="closedwon",
        label="Closed won",
        pipeline_id="default",
        order=5,
        probability=Decimal(1),
        closed=True,
        won=True,
    ),
    "closedlost": Stage(
        id="closedlost", label="Closed lost", pipeline_id="default", order=6, probability=Decimal(0), closed=True
    ),
    "mystery": Stage(id="mystery", label="Mystery", pipeline_id="default", order=9, probability=Decimal("0.35")),
}


def make_deal(stage: str = "contractsent", **fields: Any) -> Deal:
    """A canonical HubSpot-like deal in the default pipeline; keyword arguments override any field."""
    stage_obj = fields.pop("stage_obj", None) or STAGES[stage]
    status = DealStatus.OPEN
    if stage_obj.closed:
        status = DealStatus.WON if stage_obj.won else DealStatus.LOST
    values: dict[str, Any] = {
        "connection": "hubspot",
        "source_id": "42",
        "name": "Acme — licenties",
        "pipeline": fields.pop("pipeline", DEFAULT_PIPELINE),
        "stage": stage_obj,
        "status": status,
        "amount": Decimal("10000"),
        "currency": "EUR",
        "close_date": None,
        **fields,
    }
    return Deal(**values)
