"""The forecast rules: evaluate(), every Condition key, caps, flags, explanations and period_bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from support import DEFAULT_PIPELINE, STAGES, make_deal

from crmsync.mapping import Action, Condition, Mapping, Period, Rule, StageRule
from crmsync.model import DealStatus, ForecastCategory, Owner, Pipeline, Stage
from crmsync.rules import UNMAPPED_STAGE, evaluate, landing_month, matches, period_bounds

D = Decimal
TODAY = date(2026, 5, 15)
C = ForecastCategory


def mapping_with(*rules: Rule, stages: list[StageRule] | None = None) -> Mapping:
    default_stages = [
        StageRule(pipeline="default", stage="contractsent", category=C.COMMIT, probability=D("0.9")),
        StageRule(pipeline="*", stage="Decision maker bought-in", category=C.BEST_CASE),
        StageRule(pipeline="default", stage="appointmentscheduled", category=C.PIPELINE, probability=D("0.1")),
    ]
    return Mapping(connector="hubspot", stages=default_stages if stages is None else stages, rules=list(rules))


def rule(rule_id: str, then: dict[str, Any], **when: Any) -> Rule:
    return Rule(id=rule_id, when=Condition(**when), then=Action(**then))


def test_closed_won_is_closed_at_one() -> None:
    deal = make_deal("closedwon", closed_at=datetime(2026, 4, 30, 23, 0, tzinfo=UTC), close_date=date(2026, 6, 1))
    forecast = evaluate(deal, mapping_with(), TODAY)
    assert (forecast.category, forecast.probability, forecast.rule_ids) == (C.CLOSED, D(1), ("closed-won",))
    assert forecast.weighted_amount == D("10000.00")
    assert forecast.month == "2026-04", "a won deal lands in the month it closed, not its expected close date"


@pytest.mark.parametrize("status", [DealStatus.LOST, DealStatus.DELETED])
def test_closed_lost_and_deleted_are_omitted_at_zero(status: DealStatus) -> None:
    forecast = evaluate(make_deal("closedlost", status=status), mapping_with(), TODAY)
    assert (forecast.category, forecast.probability, forecast.rule_ids) == (C.OMITTED, D(0), ("closed-lost",))
    assert forecast.weighted_amount == D("0.00")


def test_stage_table_by_id() -> None:
    forecast = evaluate(make_deal("contractsent"), mapping_with(), TODAY)
    assert (forecast.category, forecast.probability) == (C.COMMIT, D("0.9"))
    assert forecast.rule_ids == ("stage:default/contractsent",)
    assert forecast.mapped
    assert forecast.flags == ()


def test_stage_table_by_label_with_any_pipeline_falls_back_to_native_probability() -> None:
    forecast = evaluate(make_deal("decisionmakerboughtin"), mapping_with(), TODAY)
    assert (forecast.category, forecast.probability) == (C.BEST_CASE, D("0.8"))
    assert forecast.rule_ids == ("stage:*/Decision maker bought-in", "native-probability")


def test_pipeline_by_label_and_first_matching_rule_wins() -> None:
    dutch = Pipeline(id="1473529", label="Nederland")
    stage = Stage(id="2038311", label="Consultatie gepland", pipeline_id=dutch.id, probability=D("0.1"))
    stages = [
        StageRule(pipeline="default", stage="Consultatie gepland", category=C.COMMIT),
        StageRule(pipeline="Nederland", stage="2038311", category=C.PIPELINE, probability=D("0.15")),
        StageRule(pipeline="*", stage="2038311", category=C.BEST_CASE),
    ]
    forecast = evaluate(make_deal(stage_obj=stage, pipeline=dutch), mapping_with(stages=stages), TODAY)
    assert (forecast.category, forecast.probability) == (C.PIPELINE, D("0.15"))
    assert forecast.rule_ids == ("stage:Nederland/2038311",)


def test_native_probability_missing_means_zero() -> None:
    stage = STAGES["decisionmakerboughtin"].model_copy(update={"probability": None})
    forecast = evaluate(make_deal(stage_obj=stage), mapping_with(), TODAY)
    assert forecast.probability == D(0)
    assert "native-probability" in forecast.rule_ids


def test_unmapped_stage_is_flagged_and_keeps_the_crms_probability() -> None:
    forecast = evaluate(make_deal("mystery"), mapping_with(), TODAY)
    assert not forecast.mapped
    assert forecast.flags == (UNMAPPED_STAGE,)
    assert (forecast.category, forecast.probability) == (C.PIPELINE, D("0.35"))
    assert forecast.rule_ids == ("native-probability",)


def test_a_stage_rule_for_another_pipeline_does_not_match() -> None:
    other = Pipeline(id="other", label="Other")
    stage = STAGES["contractsent"].model_copy(update={"pipeline_id": "other"})
    forecast = evaluate(make_deal(stage_obj=stage, pipeline=other), mapping_with(), TODAY)
    assert not forecast.mapped


# -- every Condition key: (condition, deal fields, expected match) -----------------------------------------------
CONDITIONS = [
    ({"pipeline": ["default"]}, {}, True),
    ({"pipeline": ["Sales Pipeline"]}, {}, True),
    ({"pipeline": ["other"]}, {}, False),
    ({"stage": ["contractsent"]}, {}, True),
    ({"stage": ["Contract sent"]}, {}, True),
    ({"stage": ["closedwon", "appointmentscheduled"]}, {}, False),
    ({"status": ["open"]}, {}, True),
    ({"status": ["won", "lost"]}, {}, False),
    ({"category": ["commit"]}, {}, True),
    ({"category": ["pipeline"]}, {}, False),
    ({"owner": ["101"]}, {"owner": Owner(id="101", email="anna@example.com")}, True),
    ({"owner": ["anna@example.com"]}, {"owner": Owner(id="101", email="anna@example.com")}, True),
    ({"owner": ["102", "bram@example.com"]}, {"owner": Owner(id="101", email="anna@example.com")}, False),
    ({"owner": ["101"]}, {"owner": None}, False),
    ({"amount_min": 10000}, {}, True),
    ({"amount_min": 10000.01}, {}, False),
    ({"amount_max": 10000}, {}, True),
    ({"amount_max": 9999}, {}, False),
    ({"amount_min": 1}, {"amount": None}, False),
    ({"amount_max": 1}, {"amount": None}, False),
    ({"amount_missing": True}, {"amount": None}, True),
    ({"amount_missing": True}, {}, False),
    ({"amount_missing": False}, {}, True),
    ({"close_date_missing": True}, {}, True),
    ({"close_date_missing": True}, {"close_date": TODAY}, False),
    ({"close_date_missing": False}, {"close_date": TODAY}, True),
    ({"close_date_past": True}, {"close_date": date(2026, 5, 14)}, True),
    ({"close_date_past": True}, {"close_date": TODAY}, False),
    ({"close_date_past": False}, {"close_date": TODAY}, True),
    ({"close_date_past": True}, {}, False),
    ({"close_date_within_days": 30}, {"close_date": date(2026, 6, 14)}, True),
    ({"close_date_within_days": 30}, {"close_date": date(2026, 6, 15)}, False),
    ({"close_date_within_days": 30}, {"close_date": date(2020, 1, 1)}, True),
    ({"close_date_beyond_days": 180}, {"close_date": date(2026, 11, 12)}, True),
    ({"close_date_beyond_days": 180}, {"close_date": date(2026, 11, 11)}, False),
    ({"close_date_in": "this_month"}, {"close_date": date(2026, 5, 31)}, True),
    ({"close_date_in": "this_month"}, {"close_date": date(2026, 6, 1)}, False),
    ({"close_date_in": "next_month"}, {"close_date": date(2026, 6, 30)}, True),
    ({"close_date_in": "this_quarter"}, {"close_date": date(2026, 4, 1)}, True),
    ({"close_date_in": "this_quarter"}, {"close_date": date(2026, 7, 1)}, False),
    ({"close_date_in": "next_quarter"}, {"close_date": date(2026, 9, 30)}, True),
    ({"close_date_in": "this_year"}, {"close_date": date(2026, 12, 31)}, True),
    ({"close_date_in": "this_year"}, {}, False),
    ({"close_date_not_in": "this_quarter"}, {"close_date": date(2026, 7, 1)}, True),
    ({"close_date_not_in": "this_quarter"}, {"close_date": date(2026, 6, 30)}, False),
    ({"close_date_not_in": "this_quarter"}, {}, False),
    ({"age_days_min": 30}, {"created_at": datetime(2026, 4, 15, 23, 0, tzinfo=UTC)}, True),
    ({"age_days_min": 30}, {"created_at": datetime(2026, 4, 16, 0, 0, tzinfo=UTC)}, False),
    ({"age_days_max": 30}, {"created_at": datetime(2026, 4, 15, tzinfo=UTC)}, True),
    ({"age_days_max": 29}, {"created_at": datetime(2026, 4, 15, tzinfo=UTC)}, False),
    ({"age_days_min": 1}, {}, False),
    ({"stage": ["contractsent"], "amount_min": 20000}, {}, False),  # AND of keys
    ({}, {}, True),
]


@pytest.mark.parametrize(("condition", "deal_fields", "expected"), CONDITIONS)
def test_condition_keys(condition: dict[str, Any], deal_fields: dict[str, Any], expected: bool) -> None:
    deal = make_deal("contractsent", **deal_fields)
    assert matches(Condition(**condition), deal, C.COMMIT, TODAY) is expected


def test_every_condition_key_has_a_case() -> None:
    covered = {key for condition, _, _ in CONDITIONS for key in condition}
    assert covered == set(Condition.model_fields)


@pytest.mark.parametrize(
    ("period", "today", "start", "end"),
    [
        ("this_month", date(2026, 5, 15), date(2026, 5, 1), date(2026, 5, 31)),
        ("this_month", date(2024, 2, 29), date(2024, 2, 1), date(2024, 2, 29)),
        ("this_month", date(2026, 12, 31), date(2026, 12, 1), date(2026, 12, 31)),
        ("next_month", date(2026, 1, 31), date(2026, 2, 1), date(2026, 2, 28)),
        ("next_month", date(2026, 12, 1), date(2027, 1, 1), date(2027, 1, 31)),
        ("next_month", date(2026, 12, 31), date(2027, 1, 1), date(2027, 1, 31)),
        ("this_quarter", date(2026, 1, 1), date(2026, 1, 1), date(2026, 3, 31)),
        ("this_quarter", date(2026, 5, 15), date(2026, 4, 1), date(2026, 6, 30)),
        ("this_quarter", date(2026, 9, 30), date(2026, 7, 1), date(2026, 9, 30)),
        ("this_quarter", date(2026, 12, 31), date(2026, 10, 1), date(2026, 12, 31)),
        ("next_quarter", date(2026, 2, 1), date(2026, 4, 1), date(2026, 6, 30)),
        ("next_quarter", date(2026, 8, 31), date(2026, 10, 1), date(2026, 12, 31)),
        ("next_quarter", date(2026, 10, 1), date(2027, 1, 1), date(2027, 3, 31)),
        ("next_quarter", date(2026, 12, 31), date(2027, 1, 1), date(2027, 3, 31)),
        ("this_year", date(2026, 7, 4), date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_period_bounds(period: Period, today: date, start: date, end: date) -> None:
    assert period_bounds(period, today) == (start, end)


def test_close_date_periods_around_the_year_end() -> None:
    new_years_eve = date(2026, 12, 31)
    in_january = make_deal(close_date=date(2027, 1, 15))
    in_december = make_deal(close_date=date(2026, 12, 1))
    assert matches(Condition(close_date_in="next_quarter"), in_january, C.COMMIT, new_years_eve)
    assert matches(Condition(close_date_in="next_month"), in_january, C.COMMIT, new_years_eve)
    assert not matches(Condition(close_date_in="this_quarter"), in_january, C.COMMIT, new_years_eve)
    assert matches(Condition(close_date_in="this_quarter"), in_december, C.COMMIT, new_years_eve)
    assert not matches(Condition(close_date_in="this_year"), in_january, C.COMMIT, new_years_eve)


def test_caps_only_lower() -> None:
    caps = rule("cap", {"cap_category": "best_case", "cap_probability": 0.5})
    high = evaluate(make_deal("contractsent"), mapping_with(caps), TODAY)
    assert (high.category, high.probability) == (C.BEST_CASE, D("0.5"))
    assert high.rule_ids == ("stage:default/contractsent", "cap")
    low = evaluate(make_deal("appointmentscheduled"), mapping_with(caps), TODAY)
    assert (low.category, low.probability) == (C.PIPELINE, D("0.1")), "a cap never raises a value"
    assert low.rule_ids == ("stage:default/appointmentscheduled",), "a rule that changed nothing is not listed"


def test_set_then_cap_in_order() -> None:
    rules = (
        rule("big-deals-commit", {"category": "commit", "probability": 0.95}, amount_min=5000),
        rule("overdue", {"cap_category": "pipeline", "cap_probability": 0.2}, close_date_past=True),
    )
    deal = make_deal("appointmentscheduled", close_date=date(2026, 5, 1))
    forecast = evaluate(deal, mapping_with(*rules), TODAY)
    assert (forecast.category, forecast.probability) == (C.PIPELINE, D("0.2"))
    assert forecast.rule_ids == ("stage:default/appointmentscheduled", "big-deals-commit", "overdue")
    assert forecast.weighted_amount == D("2000.00")


def test_a_condition_on_category_sees_the_category_decided_so_far() -> None:
    rules = (
        rule("promote", {"category": "commit"}, stage=["Decision maker bought-in"]),
        rule("commit-needs-amount", {"flag": "commit_without_amount"}, category=["commit"], amount_missing=True),
    )
    forecast = evaluate(make_deal("decisionmakerboughtin", amount=None), mapping_with(*rules), TODAY)
    assert forecast.category is C.COMMIT
    assert forecast.flags == ("commit_without_amount",)
    assert forecast.rule_ids[-2:] == ("promote", "commit-needs-amount")
    assert forecast.weighted_amount is None


def test_flags_are_raised_and_explained() -> None:
    rules = (
        rule("needs-close-date", {"flag": "missing_close_date"}, close_date_missing=True),
        rule("needs-amount", {"flag": "missing_amount"}, amount_missing=True),
    )
    forecast = evaluate(make_deal("contractsent"), mapping_with(*rules), TODAY)
    assert forecast.flags == ("missing_close_date",)
    assert forecast.rule_ids == ("stage:default/contractsent", "needs-close-date")
    assert (forecast.category, forecast.probability) == (C.COMMIT, D("0.9")), "a flag changes no value"


def test_rules_also_apply_to_closed_deals_when_their_conditions_say_so() -> None:
    rules = (rule("cap-all", {"cap_probability": 0.5}),)
    won = evaluate(make_deal("closedwon"), mapping_with(*rules), TODAY)
    assert won.probability == D("0.5")
    only_open = (rule("cap-open", {"cap_probability": 0.5}, status=["open"]),)
    assert evaluate(make_deal("closedwon"), mapping_with(*only_open), TODAY).probability == D(1)


def test_weighted_amount_and_month() -> None:
    deal = make_deal("contractsent", amount=D("1234.56"), close_date=date(2026, 7, 3))
    forecast = evaluate(deal, mapping_with(), TODAY)
    assert forecast.weighted_amount == D("1111.10")
    assert forecast.month == "2026-07"
    assert evaluate(make_deal("contractsent"), mapping_with(), TODAY).month is None


def test_landing_month_of_a_won_deal_without_closed_at_is_its_close_date() -> None:
    assert landing_month(make_deal("closedwon", close_date=date(2026, 3, 9))) == "2026-03"
    assert landing_month(make_deal("closedwon")) is None


def test_evaluate_is_pure() -> None:
    deal = make_deal("contractsent", close_date=date(2026, 5, 1))
    mapping = mapping_with(rule("overdue", {"cap_category": "best_case"}, close_date_past=True))
    assert evaluate(deal, mapping, TODAY) == evaluate(deal, mapping, TODAY)
    assert evaluate(deal, mapping, date(2026, 4, 1)).category is C.COMMIT, "today is an input, not the clock"


def test_the_shipped_hubspot_rules(hubspot_mapping: Mapping) -> None:
    overdue = make_deal("contractsent", close_date=date(2026, 5, 1))
    forecast = evaluate(overdue, hubspot_mapping, TODAY)
    assert (forecast.category, forecast.probability) == (C.BEST_CASE, D("0.5"))
    assert forecast.flags == ("close_date_passed",)
    no_date = evaluate(make_deal("contractsent", amount=None), hubspot_mapping, TODAY)
    assert set(no_date.flags) == {"missing_amount", "missing_close_date"}
    assert (no_date.category, no_date.probability) == (C.PIPELINE, D("0.2"))
    far = evaluate(make_deal("contractsent", close_date=date(2027, 3, 1)), hubspot_mapping, TODAY)
    assert far.category is C.PIPELINE
    assert far.rule_ids == ("stage:default/contractsent", "far-future-pipeline")
    assert DEFAULT_PIPELINE.id == "default"
