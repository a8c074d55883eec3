"""The compiled rules (`crmsync.rules.evaluate`) against the plain reference, on thousands of random deals.

Every result must be the same Forecast: equal, with the same field types and representation (`repr` tells
Decimal('0.5') from Decimal('0.50')), the same dump, JSON and hash.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from crmsync.mapping import Action, Condition, Mapping, Period, Rule, StageRule, load_mapping
from crmsync.model import Deal, DealStatus, Forecast, ForecastCategory, Owner, Pipeline, Stage
from crmsync.rules import UNMAPPED_STAGE, evaluate
from crmsync.rules_reference import evaluate_reference
from crmsync.testing.fake import MAPPING_PATH

MAPPINGS = [*sorted((Path(__file__).resolve().parents[1] / "mappings").glob("*.toml")), Path(MAPPING_PATH)]
DAYS = [date(2026, 5, 15), date(2026, 3, 31), date(2026, 4, 1), date(2026, 12, 31), date(2024, 2, 29), date(2027, 1, 1)]
PERIODS: tuple[str, ...] = get_args(Period)
C = ForecastCategory

# Pipelines and stages whose ids and labels collide across each other, as CRMs allow.
PIPELINES = [
    Pipeline(id="default", label="Sales Pipeline"),
    Pipeline(id="nl", label="Nederland — nieuwe klanten"),
    Pipeline(id="p3", label="default"),
]
STAGE_NAMES = [
    ("appointmentscheduled", "Appointment scheduled"),
    ("contractsent", "Contract sent"),
    ("decisionmakerboughtin", "Decision maker bought-in"),
    ("s1", "contractsent"),
    ("s2", "Ter ondertekening verzonden"),
    ("closedwon", "Closed won"),
    ("unknown", "Not in any mapping"),
]
OWNERS = [
    None,
    Owner(id="1", email="anne@example.com"),
    Owner(id="2"),
    Owner(id="anne@example.com", email="bob@example.com"),
    Owner(id="3", name="Cas", email="cas@example.com"),
]
OWNER_KEYS = ["1", "2", "3", "anne@example.com", "bob@example.com", "nobody@example.com"]
# Day offsets and amounts that the conditions use as bounds too, so that the boundaries are hit exactly.
OFFSETS = [0, 1, 30, 31, 90, 180, 181, 365]
AMOUNTS = [Decimal(0), Decimal("0.01"), Decimal("-250.5"), Decimal(1000), Decimal("1000.00"), Decimal(50_000)]
ZONES = [UTC, timezone(timedelta(hours=-11)), timezone(timedelta(hours=13))]


def assert_same(got: Forecast, want: Forecast) -> None:
    assert got == want
    assert repr(got) == repr(want)
    assert got.model_dump() == want.model_dump()
    assert got.model_dump_json() == want.model_dump_json()
    assert got.model_fields_set == want.model_fields_set
    assert hash(got) == hash(want)
    assert [type(value) for value in got.__dict__.values()] == [type(value) for value in want.__dict__.values()]


def outcome(function: Any, deal: Deal, mapping: Mapping, today: date) -> Forecast | type[BaseException]:
    try:
        return function(deal, mapping, today)  # type: ignore[no-any-return]
    except Exception as exc:
        return type(exc)


def random_probability(rng: random.Random) -> Decimal:
    return rng.choice([Decimal(0), Decimal(1), Decimal("0.5"), Decimal("0.50"), Decimal(rng.randint(0, 100)) / 100])


def random_day(rng: random.Random, today: date) -> date:
    if rng.random() < 0.3:  # the edges of months, quarters and years around today
        firsts = [date(today.year + year, month, 1) for year in (-1, 0, 1) for month in (1, 4, 7, 10)]
        return rng.choice(firsts) - timedelta(days=rng.randint(0, 1))
    return today + timedelta(days=rng.choice([*OFFSETS, *(-offset for offset in OFFSETS), rng.randint(-800, 800)]))


def random_deal(rng: random.Random, index: int) -> Deal:
    today = rng.choice(DAYS)
    pipeline = rng.choice(PIPELINES)
    stage_id, stage_label = rng.choice(STAGE_NAMES)
    native = None if rng.random() < 0.3 else random_probability(rng)
    stage = Stage(id=stage_id, label=stage_label, pipeline_id=pipeline.id, probability=native)
    status = rng.choice([DealStatus.OPEN] * 5 + [DealStatus.WON, DealStatus.LOST, DealStatus.DELETED])
    amount = rng.choice([None, *AMOUNTS, Decimal(rng.randint(0, 200_000)) / 4])
    created = None
    if rng.random() < 0.8:
        created = datetime.combine(random_day(rng, today), datetime.min.time(), rng.choice(ZONES))
        created += timedelta(minutes=rng.choice([0, 1, 719, 1439]))
    closed_at = None
    if status is DealStatus.WON and rng.random() < 0.8:
        closed_at = datetime.combine(random_day(rng, today), datetime.min.time(), rng.choice(ZONES))
    return Deal(
        connection="test",
        source_id=str(index),
        name=f"deal {index}",
        pipeline=pipeline,
        stage=stage,
        status=status,
        amount=amount,
        close_date=None if rng.random() < 0.2 else random_day(rng, today),
        owner=rng.choice(OWNERS),
        created_at=created,
        closed_at=closed_at,
    )


def _some(rng: random.Random, values: list[Any]) -> list[Any]:
    return rng.sample(values, rng.randint(0, min(3, len(values))))


def random_condition(rng: random.Random) -> Condition:
    names = [p.id for p in PIPELINES] + [p.label for p in PIPELINES] + ["other"]
    stages = [s for pair in STAGE_NAMES for s in pair]
    choices: dict[str, Any] = {
        "pipeline": lambda: _some(rng, names),
        "stage": lambda: _some(rng, stages),
        "status": lambda: _some(rng, list(DealStatus)),
        "category": lambda: _some(rng, list(C)),
        "owner": lambda: _some(rng, OWNER_KEYS),
        "amount_min": lambda: rng.choice([*AMOUNTS, Decimal(rng.randint(-10, 60_000))]),
        "amount_max": lambda: rng.choice([*AMOUNTS, Decimal(rng.randint(-10, 60_000)) / 2]),
        "amount_missing": lambda: rng.random() < 0.5,
        "close_date_missing": lambda: rng.random() < 0.5,
        "close_date_past": lambda: rng.random() < 0.5,
        "close_date_within_days": lambda: rng.choice([*OFFSETS, -1, rng.randint(-30, 400)]),
        "close_date_beyond_days": lambda: rng.choice([*OFFSETS, -1, rng.randint(-30, 400)]),
        "close_date_in": lambda: rng.choice(PERIODS),
        "close_date_not_in": lambda: rng.choice(PERIODS),
        "age_days_min": lambda: rng.choice([*OFFSETS, rng.randint(0, 400)]),
        "age_days_max": lambda: rng.choice([*OFFSETS, rng.randint(0, 800)]),
    }
    keys = rng.sample(sorted(choices), rng.choice([0, 1, 1, 2, 2, 3, 4]))
    return Condition(**{key: choices[key]() for key in keys})


def random_action(rng: random.Random) -> Action:
    choices: dict[str, Any] = {
        "category": lambda: rng.choice(list(C)),
        "probability": lambda: random_probability(rng),
        "cap_category": lambda: rng.choice(list(C)),
        "cap_probability": lambda: random_probability(rng),
        "flag": lambda: rng.choice(["stale", "check_amount", ""]),
    }
    keys = rng.sample(sorted(choices), rng.randint(1, 3))
    return Action(**{key: choices[key]() for key in keys})


def random_mapping(rng: random.Random) -> Mapping:
    names = [p.id for p in PIPELINES] + [p.label for p in PIPELINES] + ["*", "*", "other"]
    stages = [
        StageRule(
            pipeline=rng.choice(names),
            stage=rng.choice([s for pair in STAGE_NAMES[:-1] for s in pair]),
            category=rng.choice(list(C)),
            probability=None if rng.random() < 0.3 else random_probability(rng),
        )
        for _ in range(rng.randint(0, 12))
    ]
    rules = [Rule(id=f"r{i}", when=random_condition(rng), then=random_action(rng)) for i in range(rng.randint(0, 10))]
    return Mapping(connector="test", stages=stages, rules=rules)


def compare(mappings: list[Mapping], deals: list[Deal], days: list[date]) -> Counter[str]:
    """Evaluate every deal with both implementations; return how often each rule id and flag came up."""
    seen: Counter[str] = Counter()
    for mapping in mappings:
        for today in days:  # several days in turn, and back: the per-day bounds must follow `today`
            for deal in deals:
                got, want = outcome(evaluate, deal, mapping, today), outcome(evaluate_reference, deal, mapping, today)
                if isinstance(want, Forecast):
                    assert isinstance(got, Forecast), (deal, mapping, today)
                    assert_same(got, want)
                    seen.update(f"id:{rule_id}" for rule_id in want.rule_ids)
                    seen.update(f"flag:{flag}" for flag in want.flags)
                else:
                    assert got is want, (deal, mapping, today)
                    seen[f"raised:{want.__name__}"] += 1
    return seen


def test_random_deals_under_random_mappings_match_the_reference() -> None:
    rng = random.Random(20260515)
    deals = [random_deal(rng, index) for index in range(150)]
    mappings = [random_mapping(rng) for _ in range(40)]
    seen = compare(mappings, deals, [DAYS[0], DAYS[3], DAYS[0], DAYS[4]])
    # The data reach every branch, so the comparison is not vacuous.
    assert seen["id:closed-won"] and seen["id:closed-lost"] and seen["id:native-probability"]
    assert seen[f"flag:{UNMAPPED_STAGE}"] and seen["flag:stale"]
    assert any(key.startswith("id:stage:*/") for key in seen)
    assert sum(count for key, count in seen.items() if key.startswith("id:r")) > 2000


def test_random_deals_under_the_shipped_mappings_match_the_reference() -> None:
    rng = random.Random(7)
    deals = [random_deal(rng, index) for index in range(2000)]
    mappings = [load_mapping(path) for path in MAPPINGS]
    seen = compare(mappings, deals, DAYS)
    assert sum(count for key, count in seen.items() if key.startswith("id:stage:")) > 1000
    assert seen["flag:close_date_passed"] and seen["flag:missing_amount"]


def test_first_matching_stage_rule_wins_whatever_the_key_it_matches_by() -> None:
    pipeline, stage = PIPELINES[2], Stage(id="s1", label="contractsent", pipeline_id="p3", probability=Decimal("0.4"))
    deal = Deal(connection="t", source_id="1", name="d", pipeline=pipeline, stage=stage, status=DealStatus.OPEN)
    candidates = [
        StageRule(pipeline="default", stage="contractsent", category=C.COMMIT, probability=Decimal("0.9")),
        StageRule(pipeline="*", stage="s1", category=C.BEST_CASE),
        StageRule(pipeline="p3", stage="contractsent", category=C.PIPELINE, probability=Decimal("0.2")),
        StageRule(pipeline="default", stage="s1", category=C.OMITTED, probability=Decimal(0)),
    ]
    for first in range(len(candidates)):
        order = candidates[first:] + candidates[:first]
        for stages in (order, order[::-1]):
            mapping = Mapping(connector="test", stages=stages)
            assert_same(evaluate(deal, mapping, DAYS[0]), evaluate_reference(deal, mapping, DAYS[0]))


def test_an_edited_copy_of_a_mapping_is_compiled_anew() -> None:
    deal = random_deal(random.Random(1), 1).model_copy(update={"status": DealStatus.OPEN})
    mapping = Mapping(connector="test", rules=[Rule(id="all", then=Action(category=C.COMMIT))])
    assert evaluate(deal, mapping, DAYS[0]).category is C.COMMIT
    edited = mapping.model_copy(update={"rules": [Rule(id="all", then=Action(category=C.BEST_CASE))]})
    assert evaluate(deal, edited, DAYS[0]).category is C.BEST_CASE
    assert evaluate(deal, mapping, DAYS[0]).category is C.COMMIT


def test_a_bound_beyond_the_calendar_raises_as_the_reference_does() -> None:
    rng = random.Random(3)
    deals = [random_deal(rng, index) for index in range(200)]
    mapping = Mapping(
        connector="test",
        rules=[
            Rule(id="far", when=Condition(status=["open"], close_date_within_days=10**7), then=Action(flag="x")),
            Rule(id="near", when=Condition(close_date_beyond_days=-(10**6)), then=Action(flag="y")),
        ],
    )
    seen = compare([mapping], deals, [DAYS[0]])
    assert seen["raised:OverflowError"] and seen["id:closed-won"]


@pytest.mark.parametrize("status", ["open", "won", "lost", "something else"])
def test_a_deal_built_without_validation_is_judged_as_the_reference_judges_it(status: str) -> None:
    mapping = load_mapping(MAPPINGS[0])
    for deal in [random_deal(random.Random(seed), seed) for seed in range(40)]:
        raw = deal.model_copy(update={"status": status})
        assert_same(evaluate(raw, mapping, DAYS[0]), evaluate_reference(raw, mapping, DAYS[0]))


def test_an_invalid_native_probability_fails_validation_in_both() -> None:
    stage = Stage.model_construct(id="unknown", label="x", pipeline_id="p", probability=Decimal(2))
    deal = random_deal(random.Random(2), 2).model_copy(update={"stage": stage, "status": DealStatus.OPEN})
    mapping = Mapping(connector="test")
    with pytest.raises(ValidationError):
        evaluate_reference(deal, mapping, DAYS[0])
    with pytest.raises(ValidationError):
        evaluate(deal, mapping, DAYS[0])


def test_the_unvalidated_forecast_is_the_validated_one_and_its_fallback_too(monkeypatch: pytest.MonkeyPatch) -> None:
    from crmsync import bare, rules_compiled

    assert bare.works(Forecast, rules_compiled._forecast_sample()), (
        "pydantic changed its slots: the fast path is off (slower, still right)"
    )
    monkeypatch.setattr(rules_compiled, "_new_forecast", lambda values: Forecast.model_construct(**values))
    rng = random.Random(11)
    compare([load_mapping(path) for path in MAPPINGS], [random_deal(rng, index) for index in range(200)], DAYS[:2])
