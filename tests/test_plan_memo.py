"""plan_deal (with its memos of probability texts and shared FieldChanges) against the plain version it replaced,
on thousands of random deals, forecasts, marks and write-back settings."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal
from typing import Any, get_args

from crmsync.mapping import Mapping, OverridePolicy, Overrides, WriteBack
from crmsync.model import Deal, DealStatus, Forecast, ForecastCategory, Pipeline, Stage
from crmsync.store import Marks
from crmsync.sync.plan import DealPlan, FieldChange, is_manual, plan_deal

C = ForecastCategory
POLICIES: tuple[OverridePolicy, ...] = get_args(OverridePolicy)
PROBABILITIES = ["0", "-0", "0.0", "1", "0.5", "0.50", "0.505", "0.495", "0.125", "0.9", "0.33333", "0.999"]
REMOTE_PROBABILITIES = [*PROBABILITIES, "50", "90.0", "12.5", "-0.00", "100"]
REMOTE_CATEGORIES = [None, "", "PIPELINE", "COMMIT", "OMIT", "Best case", "commit", "something else"]
LABELS = {C.PIPELINE: "PIPELINE", C.BEST_CASE: "BEST_CASE", C.COMMIT: "COMMIT", C.CLOSED: "CLOSED", C.OMITTED: "OMIT"}


# -- The plain version, as it was before the memos ------------------------------------------------------------------
def _reference_same(a: str | None, b: str | None, numeric: bool) -> bool:
    if a is None or b is None:
        return a is b
    return Decimal(a) == Decimal(b) if numeric else a == b


def _reference_is_manual(
    remote: str | None, connector_says: bool | None, marks: Marks | None = None, numeric: bool = False
) -> bool:
    marks = marks or Marks()
    if remote is None or remote == "":
        return False
    if _reference_same(remote, marks.written, numeric) or _reference_same(remote, marks.unsure, numeric):
        return False
    if connector_says is not None:
        return connector_says
    return marks.respected or marks.written is not None


def _reference_blocked(policy: OverridePolicy, manual: bool, stage_changed: bool) -> str | None:
    if not manual or policy == "enforce":
        return None
    if policy == "reset_on_stage_change" and stage_changed:
        return None
    return f"set by hand in the CRM; override policy '{policy}'"


def _reference_text(value: Decimal | None, decimals: int) -> str | None:
    if value is None:
        return None
    return str(value.quantize(Decimal(1).scaleb(-decimals)))


def plan_deal_reference(
    deal: Deal, forecast: Forecast, mapping: Mapping, marks: dict[str, Marks], previous_stage: str | None
) -> DealPlan:
    wb = mapping.writeback
    plan = DealPlan(deal.source_id)
    if deal.status is DealStatus.DELETED:
        return plan
    stage_changed = previous_stage is not None and previous_stage != deal.stage.id
    not_writable = None
    if not deal.writable:
        not_writable = "archived in the CRM, which refuses edits"
    elif not forecast.mapped:
        not_writable = f"stage {deal.stage.label!r} ({deal.stage.id}) is not in the mapping"
    if wb.category_field is not None:
        new = wb.remote_category(forecast.category)
        old = deal.remote_category or None
        if old != new:
            manual = _reference_is_manual(old, deal.category_is_manual, marks.get("category"))
            blocked = _reference_blocked(mapping.overrides.category, manual, stage_changed)
            reason = not_writable or blocked
            plan.changes.append(FieldChange("category", old, new, reason is None, reason, blocked is not None))
    if wb.probability_field is not None and deal.probability_writable:
        new_p = _reference_text(wb.remote_probability(forecast.probability), wb.probability_decimals)
        old_p = _reference_text(deal.remote_probability, wb.probability_decimals)
        assert new_p is not None
        if old_p is None or Decimal(old_p) != Decimal(new_p):
            manual = _reference_is_manual(old_p, deal.probability_is_manual, marks.get("probability"), numeric=True)
            blocked = _reference_blocked(mapping.overrides.probability, manual, stage_changed)
            reason = not_writable or blocked
            plan.changes.append(FieldChange("probability", old_p, new_p, reason is None, reason, blocked is not None))
    return plan


# -- Random inputs ---------------------------------------------------------------------------------------------------
def maybe(rng: random.Random, value: Any, chance: float = 0.5) -> Any:
    return value if rng.random() < chance else None


def random_mapping(rng: random.Random) -> Mapping:
    writeback = WriteBack(
        category_field=maybe(rng, "forecast_category", 0.8),
        probability_field=maybe(rng, "forecast_probability", 0.8),
        probability_scale=rng.choice([1, 100]),
        probability_decimals=rng.choice([0, 1, 2, 2, 3, 6]),
        category_values=LABELS,
    )
    overrides = Overrides(category=rng.choice(POLICIES), probability=rng.choice(POLICIES))
    return Mapping(connector="test", writeback=writeback, overrides=overrides)


def random_deal(rng: random.Random, index: int) -> Deal:
    stage = Stage(id=rng.choice(["s1", "s2"]), label="Stage 'one'", pipeline_id="p")
    remote_probability = maybe(rng, Decimal(rng.choice(REMOTE_PROBABILITIES)), 0.7)
    return Deal(
        connection="test",
        source_id=str(index),
        name="deal",
        pipeline=Pipeline(id="p", label="P"),
        stage=stage,
        status=rng.choice([DealStatus.OPEN] * 4 + list(DealStatus)),
        remote_category=rng.choice(REMOTE_CATEGORIES),
        remote_probability=remote_probability,
        category_is_manual=rng.choice([None, None, True, False]),
        probability_is_manual=rng.choice([None, None, True, False]),
        writable=rng.random() < 0.85,
        probability_writable=rng.random() < 0.85,
    )


def random_forecast(rng: random.Random) -> Forecast:
    return Forecast(
        category=rng.choice(list(C)),
        probability=Decimal(rng.choice(PROBABILITIES)),
        weighted_amount=None,
        month=None,
        rule_ids=("x",),
        mapped=rng.random() < 0.85,
    )


def random_marks(rng: random.Random) -> dict[str, Marks]:
    marks: dict[str, Marks] = {}
    if rng.random() < 0.5:
        marks["category"] = Marks(
            maybe(rng, rng.choice(list(LABELS.values()))), maybe(rng, "COMMIT", 0.2), rng.random() < 0.3
        )
    if rng.random() < 0.5:
        marks["probability"] = Marks(
            maybe(rng, rng.choice(REMOTE_PROBABILITIES)), maybe(rng, "0.5", 0.2), rng.random() < 0.3
        )
    return marks


def test_random_plans_match_the_reference() -> None:
    rng = random.Random(11)
    mappings = [random_mapping(rng) for _ in range(30)]
    seen: Counter[str] = Counter()
    for _ in range(6000):
        deal, forecast, mapping = random_deal(rng, rng.randint(1, 50)), random_forecast(rng), rng.choice(mappings)
        marks, previous = random_marks(rng), rng.choice([None, "s1", "s2"])
        got = plan_deal(deal, forecast, mapping, marks, previous)
        want = plan_deal_reference(deal, forecast, mapping, marks, previous)
        assert got == want, (deal, forecast, mapping, marks, previous)
        assert got.update == want.update
        for change in want.changes:
            seen[f"{change.field}:{'write' if change.write else 'manual' if change.manual_override else 'held'}"] += 1
    # Every kind of change came up, so the comparison is not vacuous.
    for kind in ("write", "manual", "held"):
        assert seen[f"category:{kind}"] > 100 and seen[f"probability:{kind}"] > 100, seen


def test_texts_of_zero_keep_their_sign() -> None:
    mapping = Mapping(connector="test", writeback=WriteBack(probability_field="p", probability_decimals=2))
    forecast = Forecast(category=C.PIPELINE, probability=Decimal(0), weighted_amount=None, month=None, rule_ids=())
    for remote in ["0", "-0", "0.00", "-0.00", "0"]:
        deal = random_deal(random.Random(1), 1).model_copy(
            update={"remote_probability": Decimal(remote), "status": DealStatus.OPEN, "probability_writable": True}
        )
        for probability in ["-0", "0", "-0"]:
            signed = forecast.model_copy(update={"probability": Decimal(probability)})
            assert plan_deal(deal, signed, mapping, {}, None) == plan_deal_reference(deal, signed, mapping, {}, None)


def test_is_manual_matches_the_reference() -> None:
    rng = random.Random(5)
    for _ in range(3000):
        remote = rng.choice([None, "", "0.5", "0.50", "COMMIT", "0.9"])
        numeric = remote not in ("COMMIT",) and rng.random() < 0.5
        marks = rng.choice([None, Marks(), *random_marks(rng).values()])
        if (
            numeric
            and marks is not None
            and not all(
                value is None or value.replace(".", "").lstrip("-").isdigit() for value in (marks.written, marks.unsure)
            )
        ):
            continue
        says = rng.choice([None, True, False])
        assert is_manual(remote, says, marks, numeric) == _reference_is_manual(remote, says, marks, numeric)


def test_plans_remembered_for_one_mapping_match_the_reference_and_are_each_their_own() -> None:
    """Without marks the changes are remembered per mapping and combination of values: a sync's deals, planned
    one after another under one mapping, get the reference's changes, in lists of their own."""
    rng = random.Random(4)
    for mapping in [random_mapping(rng) for _ in range(4)]:
        plans = []
        for index in range(1500):
            deal, forecast, previous = random_deal(rng, index), random_forecast(rng), rng.choice([None, "s1", "s2"])
            got = plan_deal(deal, forecast, mapping, {}, previous)
            assert got == plan_deal_reference(deal, forecast, mapping, {}, previous), (deal, forecast, mapping)
            plans.append(got)
        assert sum(1 for plan in plans if plan.changes) > 500
    deal, forecast, mapping = random_deal(rng, 1), random_forecast(rng), random_mapping(rng)
    first, second = (plan_deal(deal, forecast, mapping, {}, None) for _ in range(2))
    assert first == second
    first.changes.append(FieldChange("category", None, "x", True))  # the engine's plans are its own
    assert second == plan_deal_reference(deal, forecast, mapping, {}, None)
