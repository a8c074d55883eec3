"""to_deal: Simplicate sales → canonical Deal, including manual-chance detection and bad records."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from simplicate_support import CUSTOM_FIELDS, PROGRESS, STATUSES, sale

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.mapping import Mapping
from crmsync.model import DealStatus
from crmsync_simplicate.connector import SimplicateConnector
from crmsync_simplicate.translate import build_reference, status_kind


@pytest.fixture
def reference() -> Reference:
    return build_reference(PROGRESS, STATUSES, CUSTOM_FIELDS, [], [])


def test_open_sale(connector: SimplicateConnector, reference: Reference) -> None:
    raw = sale(
        1,
        custom_fields=[
            {
                "id": "x",
                "name": "forecast_category",
                "label": "Forecast categorie",
                "value": "Best case",
                "value_type": "select",
            }
        ],
    )
    deal = connector.to_deal(raw, reference)
    assert deal.source_id == "sales:0001"
    assert deal.name == "Sale 1"
    assert deal.status is DealStatus.OPEN
    assert deal.stage.label == "Offerte"
    assert deal.stage.probability == Decimal("0.5")
    assert deal.pipeline.id == "sales"
    assert deal.amount == Decimal("12500.5")
    assert deal.currency == "EUR"
    assert deal.close_date == date(2024, 6, 30)
    assert deal.owner is not None
    assert deal.owner.name == "Jan Jansen"
    assert deal.created_at == datetime(2024, 4, 2, 7, 12, 44, tzinfo=UTC)
    assert deal.updated_at == datetime(2024, 5, 3, 12, 1, 10, tzinfo=UTC)
    assert deal.remote_category == "Best case"
    assert deal.remote_probability == Decimal(50)
    assert deal.probability_is_manual is None
    assert deal.extra["organization"] == "Acme BV"


def test_chance_differing_from_the_step_is_a_persons(connector: SimplicateConnector, reference: Reference) -> None:
    deal = connector.to_deal(sale(2, chance_to_score=65), reference)
    assert deal.probability_is_manual is True
    assert deal.remote_probability == Decimal(65)


def test_lost_sale_keeps_reason_and_competitor(connector: SimplicateConnector, reference: Reference) -> None:
    raw = sale(
        3,
        status={"id": "salesstatus:lost", "label": "OpportunityStatus_lost"},
        reason={"id": "salesreason:1", "name": "Te duur", "blocked": False},
        lost_to_competitor={"id": "competitor:1", "name": "Exact"},
        status_updated_at="2024-11-02 16:00:00",
    )
    deal = connector.to_deal(raw, reference)
    assert deal.status is DealStatus.LOST
    assert deal.stage.closed
    assert not deal.stage.won
    assert deal.lost_reason == "Te duur"
    assert deal.lost_to == "Exact"
    assert deal.closed_at == datetime(2024, 11, 2, 15, 0, tzinfo=UTC)
    assert deal.extra["progress"] == "Offerte"


def test_scored_sale_is_won(connector: SimplicateConnector, reference: Reference) -> None:
    raw = sale(4, status={"id": "salesstatus:scored", "label": "OpportunityStatus_scored"}, reason=None)
    deal = connector.to_deal(raw, reference)
    assert deal.status is DealStatus.WON
    assert deal.stage.won
    assert deal.lost_reason is None


def test_no_date_no_revenue_no_progress(connector: SimplicateConnector, reference: Reference) -> None:
    deal = connector.to_deal(sale(5, expected_closing_date=None, expected_revenue=None, progress=None), reference)
    assert deal.close_date is None
    assert deal.amount is None
    assert deal.stage.id == "salesprogress:none"
    assert deal.probability_is_manual is None


def test_currency_from_the_mapping(reference: Reference, mapping: Mapping) -> None:
    from simplicate_support import BASE

    from crmsync_simplicate.connector import SimplicateSettings

    settings = SimplicateSettings(base_url=BASE, api_key="k" * 8, api_secret="s" * 8)
    connector = SimplicateConnector("x", settings, mapping.model_copy(update={"default_currency": "GBP"}))
    assert connector.to_deal(sale(6), reference).currency == "GBP"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"id": None}, "id"),
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"expected_closing_date": "30-06-2024"}, "expected_closing_date"),
        ({"expected_revenue": "lots"}, "expected_revenue"),
        ({"chance_to_score": 140}, "chance_to_score"),
        ({"status": None}, "status"),
        ({"status": {"id": "salesstatus:x", "label": "OpportunityStatus_parked"}}, "status"),
    ],
)
def test_bad_records_raise_record_error(
    connector: SimplicateConnector, reference: Reference, overrides: dict[str, Any], field: str
) -> None:
    with pytest.raises(RecordError) as info:
        connector.to_deal(sale(7, **overrides), reference)
    assert info.value.field == field
    if field != "id":
        assert info.value.source_id == "sales:0007"


@pytest.mark.parametrize(
    ("label", "kind"),
    [
        ("OpportunityStatus_open", "open"),
        ("OpportunityStatus_scored", "won"),
        ("OpportunityStatus_lost", "lost"),
        ("Verloren", "lost"),
        ("Gescoord", "won"),
        ("Something", None),
    ],
)
def test_status_kind(label: str, kind: str | None) -> None:
    assert status_kind(label) == kind


def test_settings_reject_an_unknown_time_zone() -> None:
    from pydantic import ValidationError

    from crmsync_simplicate.connector import SimplicateSettings

    with pytest.raises(ValidationError, match="unknown time zone"):
        SimplicateSettings(base_url="https://x", api_key="k", api_secret="s", timezone="Europe/Atlantis")
