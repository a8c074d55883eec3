"""Write-back planning: plan_deal, is_manual and effective_forecast (pure functions)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from support import make_deal

from crmsync.mapping import Mapping, OverridePolicy, Overrides, WriteBack
from crmsync.model import DealStatus, Forecast, ForecastCategory
from crmsync.store import Marks
from crmsync.sync.plan import DealPlan, FieldChange, effective_forecast, is_manual, plan_deal

D = Decimal
COMMIT_90 = Forecast(
    category=ForecastCategory.COMMIT,
    probability=D("0.9"),
    weighted_amount=D("9000.00"),
    month=None,
    rule_ids=("stage:default/contractsent",),
)
NO_HISTORY: dict[str, str | None] = {}


def with_policy(mapping: Mapping, category: OverridePolicy, probability: OverridePolicy = "respect") -> Mapping:
    return mapping.model_copy(update={"overrides": Overrides(category=category, probability=probability)})


def fields(plan: DealPlan) -> dict[str, FieldChange]:
    return {change.field: change for change in plan.changes}


def test_nothing_is_planned_when_the_remote_values_already_match(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="COMMIT", remote_probability=D("0.90"))
    assert plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None).changes == []
    assert plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None).update is None


def test_only_the_differing_value_is_planned(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="COMMIT", remote_probability=D("0.5"))

    plan = plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None)

    assert plan.changes == [FieldChange("probability", "0.50", "0.90", True)]
    assert plan.update is not None
    assert plan.update.category is None, "the category is left as it is"
    assert plan.update.probability == D("0.90")


def test_both_values_are_planned_for_an_empty_remote(hubspot_mapping: Mapping) -> None:
    plan = plan_deal(make_deal(), COMMIT_90, hubspot_mapping, NO_HISTORY, None)
    assert [(c.field, c.old, c.new, c.write) for c in plan.changes] == [
        ("category", None, "COMMIT", True),
        ("probability", None, "0.90", True),
    ]
    assert plan.update is not None
    assert (plan.update.source_id, plan.update.category, plan.update.probability) == ("42", "COMMIT", D("0.90"))


@pytest.mark.parametrize(
    ("scale", "decimals", "remote", "planned"),
    [
        (1, 2, D("0.9"), False),
        (1, 2, D("0.900"), False),
        (1, 2, D("0.9049"), False),  # equal at two decimals
        (1, 2, D("0.91"), True),
        (1, 4, D("0.9001"), True),
        (100, 0, D("90"), False),
        (100, 0, D("90.4"), False),
        (100, 0, D("0.9"), True),  # a 0..1 value where percent is expected
        (100, 1, D("89.9"), True),
    ],
)
def test_probability_is_compared_at_the_mappings_decimals_and_scale(
    hubspot_mapping: Mapping, scale: int, decimals: int, remote: Decimal, planned: bool
) -> None:
    wb = hubspot_mapping.writeback.model_copy(update={"probability_scale": scale, "probability_decimals": decimals})
    mapping = hubspot_mapping.model_copy(update={"writeback": wb})
    deal = make_deal(remote_category="COMMIT", remote_probability=remote)

    changes = fields(plan_deal(deal, COMMIT_90, mapping, NO_HISTORY, None))

    assert ("probability" in changes) is planned
    if planned:
        assert D(changes["probability"].new) == (D("0.9") * scale).quantize(D(1).scaleb(-decimals))


@pytest.mark.parametrize(
    ("remote", "connector_says", "last_written", "manual"),
    [
        (None, True, None, False),
        ("", True, "COMMIT", False),
        ("COMMIT", True, "COMMIT", False),  # our own last write, whatever the API says
        ("COMMIT", None, "COMMIT", False),
        ("PIPELINE", True, None, True),  # the API saw a person
        ("PIPELINE", False, "COMMIT", False),  # the API saw a machine (a workflow, say)
        ("PIPELINE", None, "COMMIT", True),  # differs from what we wrote and the API cannot tell
        ("PIPELINE", None, None, False),  # never written by us, no history: first adoption
    ],
)
def test_is_manual(remote: str | None, connector_says: bool | None, last_written: str | None, manual: bool) -> None:
    assert is_manual(remote, connector_says, Marks(written=last_written)) is manual


def test_a_manual_category_is_respected(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="PIPELINE", remote_probability=D("0.90"), category_is_manual=True)

    plan = plan_deal(deal, COMMIT_90, hubspot_mapping, {"category": Marks(written="COMMIT")}, "contractsent")

    [change] = plan.changes
    assert (change.field, change.old, change.new, change.write, change.manual_override) == (
        "category",
        "PIPELINE",
        "COMMIT",
        False,
        True,
    )
    assert change.reason == "set by hand in the CRM; override policy 'respect'"
    assert plan.update is None


def test_a_manual_category_is_overwritten_under_enforce(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="PIPELINE", remote_probability=D("0.90"), category_is_manual=True)

    plan = plan_deal(deal, COMMIT_90, with_policy(hubspot_mapping, "enforce"), NO_HISTORY, "contractsent")

    assert [(c.field, c.write, c.reason) for c in plan.changes] == [("category", True, None)]
    assert plan.update is not None
    assert plan.update.category == "COMMIT"


@pytest.mark.parametrize(
    ("previous_stage", "written"),
    [("contractsent", False), ("appointmentscheduled", True), (None, False)],
    ids=["same-stage", "stage-changed", "first-seen"],
)
def test_reset_on_stage_change(hubspot_mapping: Mapping, previous_stage: str | None, written: bool) -> None:
    deal = make_deal(remote_category="PIPELINE", remote_probability=D("0.30"), probability_is_manual=True)
    deal = deal.model_copy(update={"category_is_manual": True})
    mapping = with_policy(hubspot_mapping, "reset_on_stage_change", "reset_on_stage_change")

    changes = fields(plan_deal(deal, COMMIT_90, mapping, NO_HISTORY, previous_stage))

    assert changes["category"].write is written
    assert changes["probability"].write is written
    if not written:
        assert changes["category"].reason == "set by hand in the CRM; override policy 'reset_on_stage_change'"


def test_policies_apply_per_field(hubspot_mapping: Mapping) -> None:
    deal = make_deal(
        remote_category="PIPELINE", remote_probability=D("0.30"), category_is_manual=True, probability_is_manual=True
    )
    mapping = with_policy(hubspot_mapping, "respect", "enforce")

    changes = fields(plan_deal(deal, COMMIT_90, mapping, NO_HISTORY, None))

    assert (changes["category"].write, changes["probability"].write) == (False, True)


def test_our_own_last_write_is_not_manual(hubspot_mapping: Mapping) -> None:
    """The remote still holds what crmsync wrote (the API reports INTEGRATION as a person for some portals)."""
    deal = make_deal("decisionmakerboughtin", remote_category="COMMIT", category_is_manual=True)
    best_case = COMMIT_90.model_copy(update={"category": ForecastCategory.BEST_CASE, "probability": D("0.8")})

    changes = fields(plan_deal(deal, best_case, hubspot_mapping, {"category": Marks(written="COMMIT")}, "contractsent"))

    assert changes["category"].write
    assert not changes["category"].manual_override


def test_first_adoption_takes_over_a_value_we_never_wrote(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="BEST_CASE", remote_probability=D("0.55"))  # API cannot tell who set it

    changes = fields(plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None))

    assert changes["category"].write
    assert changes["probability"].write


def test_a_value_that_differs_from_our_last_write_is_manual_without_api_history(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="BEST_CASE", remote_probability=D("0.90"))

    changes = fields(plan_deal(deal, COMMIT_90, hubspot_mapping, {"category": Marks(written="COMMIT")}, "contractsent"))

    assert not changes["category"].write
    assert changes["category"].manual_override


def test_archived_deals_are_planned_but_not_written(hubspot_mapping: Mapping) -> None:
    deal = make_deal(writable=False)

    plan = plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None)

    assert plan.changes
    assert all(not c.write and c.reason == "archived in the CRM, which refuses edits" for c in plan.changes)
    assert plan.update is None


def test_deleted_deals_get_no_plan(hubspot_mapping: Mapping) -> None:
    deal = make_deal(status=DealStatus.DELETED)
    assert plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None).changes == []


def test_unmapped_stage_deals_are_skipped_with_their_stage(hubspot_mapping: Mapping) -> None:
    unmapped = COMMIT_90.model_copy(update={"mapped": False, "category": ForecastCategory.PIPELINE})

    plan = plan_deal(make_deal("mystery"), unmapped, hubspot_mapping, NO_HISTORY, None)

    assert plan.changes
    assert all(not c.write for c in plan.changes)
    assert plan.changes[0].reason == "stage 'Mystery' (mystery) is not in the mapping"
    assert plan.update is None


def test_fields_without_a_target_are_not_planned(hubspot_mapping: Mapping) -> None:
    no_category = hubspot_mapping.model_copy(update={"writeback": WriteBack(probability_field="p")})
    assert [c.field for c in plan_deal(make_deal(), COMMIT_90, no_category, NO_HISTORY, None).changes] == [
        "probability"
    ]
    fixed = make_deal(probability_writable=False)
    assert [c.field for c in plan_deal(fixed, COMMIT_90, hubspot_mapping, NO_HISTORY, None).changes] == ["category"]


def test_effective_forecast_takes_a_respected_override(hubspot_mapping: Mapping) -> None:
    deal = make_deal(
        remote_category="BEST_CASE", remote_probability=D("0.40"), category_is_manual=True, probability_is_manual=True
    )
    plan = plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None)

    effective = effective_forecast(COMMIT_90, plan, hubspot_mapping, deal.amount)

    assert effective.category is ForecastCategory.BEST_CASE
    assert effective.probability == D("0.4")
    assert effective.weighted_amount == D("4000.00")
    assert effective.rule_ids == ("stage:default/contractsent", "manual-override")


def test_effective_forecast_is_the_rules_when_nothing_is_respected(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="BEST_CASE", category_is_manual=True)
    enforce = with_policy(hubspot_mapping, "enforce", "enforce")
    plan = plan_deal(deal, COMMIT_90, enforce, NO_HISTORY, None)
    assert effective_forecast(COMMIT_90, plan, enforce, deal.amount) is COMMIT_90


def test_effective_forecast_ignores_a_remote_value_outside_the_mapping(hubspot_mapping: Mapping) -> None:
    deal = make_deal(remote_category="SOMETHING_ELSE", remote_probability=D("0.90"), category_is_manual=True)
    plan = plan_deal(deal, COMMIT_90, hubspot_mapping, NO_HISTORY, None)
    assert plan.changes[0].manual_override
    assert effective_forecast(COMMIT_90, plan, hubspot_mapping, deal.amount).category is ForecastCategory.COMMIT


def test_effective_forecast_reads_a_percent_probability(hubspot_mapping: Mapping) -> None:
    wb = hubspot_mapping.writeback.model_copy(update={"probability_scale": 100, "probability_decimals": 0})
    mapping = hubspot_mapping.model_copy(update={"writeback": wb})
    deal = make_deal(remote_category="COMMIT", remote_probability=D("35"), probability_is_manual=True)
    plan = plan_deal(deal, COMMIT_90, mapping, NO_HISTORY, None)

    effective = effective_forecast(COMMIT_90, plan, mapping, None)

    assert effective.probability == D("0.35")
    assert effective.category is ForecastCategory.COMMIT
