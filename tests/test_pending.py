"""The writer's pending deals: ledger rows grouped per deal, and the update each asks for, as validation builds it."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from pydantic import ValidationError

from crmsync.connector import DealUpdate
from crmsync.sync.writer import PendingDeal, group


def test_rows_are_grouped_per_deal_in_order_of_first_row() -> None:
    rows = [
        {"id": 1, "source_id": "7", "field": "category", "old_value": None, "new_value": "COMMIT"},
        {"id": 2, "source_id": "8", "field": "probability", "old_value": "0.1", "new_value": "0.9"},
        {"id": 3, "source_id": "7", "field": "probability", "old_value": "0.2", "new_value": "0.5"},
        {"id": 4, "source_id": "7", "field": "category", "old_value": "PIPELINE", "new_value": "BEST_CASE"},
    ]
    seven, eight = group(rows)
    assert seven == PendingDeal(
        "7", {"category": "BEST_CASE", "probability": "0.5"}, {"category": None, "probability": "0.2"}, [1, 3, 4]
    )
    assert eight == PendingDeal("8", {"probability": "0.9"}, {"probability": "0.1"}, [2])


@pytest.mark.parametrize(
    ("category", "probability"),
    list(itertools.product([None, "", "COMMIT", "absent"], [None, "", "0.5", "-0", "1E+1", "0.123456789", "absent"])),
)
def test_the_update_is_the_validated_one(category: str | None, probability: str | None) -> None:
    values = {
        name: value for name, value in (("category", category), ("probability", probability)) if value != "absent"
    }
    got = PendingDeal("7", values, {}, [1]).update()
    number = values.get("probability")
    want = DealUpdate(
        source_id="7",
        category=(values["category"] or "") if "category" in values else None,
        probability=Decimal(number) if number not in (None, "") else None,
        clear_probability="probability" in values and number in (None, ""),
    )
    assert got == want
    assert got.model_fields_set == want.model_fields_set
    assert got.model_dump_json() == want.model_dump_json()
    assert [type(v) for v in got.__dict__.values()] == [type(v) for v in want.__dict__.values()]


def test_a_number_validation_refuses_still_meets_validation() -> None:
    with pytest.raises(ValidationError):
        PendingDeal("7", {"probability": "NaN"}, {}, [1]).update()
