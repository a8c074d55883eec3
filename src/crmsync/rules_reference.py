"""The forecast rules, written plainly: the specification `crmsync.rules.evaluate` must agree with.

`crmsync.rules_compiled` computes the same results several times faster; tests/test_rules_compiled.py compares the
two on thousands of random deals. Change the rules here first, then there.

Order of evaluation, each step recording the id of the rule that decided:
1. closed-won → closed at 100 % (`closed-won`); closed-lost or deleted → omitted at 0 % (`closed-lost`);
2. otherwise the mapping's stage table (`stage:<pipeline>/<stage>`), its probability falling back to the
   CRM's own stage probability (`native-probability`); a stage missing from the table is flagged
   `unmapped_stage` and keeps the CRM's probability in the pipeline category;
3. then every conditional rule in order (its own id) that sets or caps category/probability or raises a flag.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from decimal import Decimal

from crmsync.mapping import Condition, Mapping, Period, Rule, StageRule
from crmsync.model import Deal, DealStatus, Forecast, ForecastCategory
from crmsync.periods import named_bounds

UNMAPPED_STAGE = "unmapped_stage"
ONE = Decimal(1)
ZERO = Decimal(0)


def period_bounds(period: Period, today: date) -> tuple[date, date]:
    """First and last day (inclusive) of a named period relative to `today`."""
    return named_bounds(period, today)


def _matches_stage(rule: StageRule, deal: Deal) -> bool:
    pipeline_ok = rule.pipeline in ("*", deal.pipeline.id, deal.pipeline.label)
    return pipeline_ok and rule.stage in (deal.stage.id, deal.stage.label)


def find_stage_rule(mapping: Mapping, deal: Deal) -> StageRule | None:
    """The first stage rule naming the deal's pipeline (or '*') and stage (id or label)."""
    return next((rule for rule in mapping.stages if _matches_stage(rule, deal)), None)


def _in(values: Iterable[str] | None, *candidates: str | None) -> bool:
    if values is None:
        return True
    allowed = set(values)
    return any(candidate in allowed for candidate in candidates if candidate is not None)


def matches(condition: Condition, deal: Deal, category: ForecastCategory, today: date) -> bool:
    """Whether every key given in `condition` holds for `deal` (with `category` decided so far)."""
    c = condition
    owner = deal.owner
    checks = [
        _in(c.pipeline, deal.pipeline.id, deal.pipeline.label),
        _in(c.stage, deal.stage.id, deal.stage.label),
        c.status is None or deal.status in c.status,
        c.category is None or category in c.category,
        _in(c.owner, owner.id if owner else None, owner.email if owner else None),
        c.amount_missing is None or (deal.amount is None) == c.amount_missing,
        c.close_date_missing is None or (deal.close_date is None) == c.close_date_missing,
    ]
    if not all(checks):
        return False
    if c.amount_min is not None or c.amount_max is not None:
        if deal.amount is None:
            return False
        if c.amount_min is not None and deal.amount < c.amount_min:
            return False
        if c.amount_max is not None and deal.amount > c.amount_max:
            return False
    if not _matches_close_date(c, deal.close_date, today):
        return False
    if c.age_days_min is not None or c.age_days_max is not None:
        if deal.created_at is None:
            return False
        age = (today - deal.created_at.date()).days
        if c.age_days_min is not None and age < c.age_days_min:
            return False
        if c.age_days_max is not None and age > c.age_days_max:
            return False
    return True


def _matches_close_date(c: Condition, close: date | None, today: date) -> bool:
    date_keys = (c.close_date_past, c.close_date_within_days, c.close_date_beyond_days, c.close_date_in)
    if all(key is None for key in date_keys) and c.close_date_not_in is None:
        return True
    if close is None:
        return False
    if c.close_date_past is not None and (close < today) != c.close_date_past:
        return False
    if c.close_date_within_days is not None and close > today + timedelta(days=c.close_date_within_days):
        return False
    if c.close_date_beyond_days is not None and close <= today + timedelta(days=c.close_date_beyond_days):
        return False
    if c.close_date_in is not None:
        start, end = period_bounds(c.close_date_in, today)
        if not start <= close <= end:
            return False
    if c.close_date_not_in is not None:
        start, end = period_bounds(c.close_date_not_in, today)
        if start <= close <= end:
            return False
    return True


def _apply(rule: Rule, category: ForecastCategory, probability: Decimal) -> tuple[ForecastCategory, Decimal]:
    action = rule.then
    if action.category is not None:
        category = action.category
    if action.probability is not None:
        probability = action.probability
    if action.cap_category is not None and category.rank > action.cap_category.rank:
        category = action.cap_category
    if action.cap_probability is not None and probability > action.cap_probability:
        probability = action.cap_probability
    return category, probability


def landing_month(deal: Deal) -> str | None:
    """YYYY-MM of the month a deal lands in: when it closed if won, else its expected close date."""
    if deal.status is DealStatus.WON and deal.closed_at is not None:
        return deal.closed_at.strftime("%Y-%m")
    return deal.close_date.strftime("%Y-%m") if deal.close_date else None


def evaluate_reference(deal: Deal, mapping: Mapping, today: date) -> Forecast:
    """Decide the forecast category and probability of one deal, plainly. Pure: same inputs, same result."""
    rule_ids: list[str] = []
    flags: list[str] = []
    mapped = True
    if deal.status is DealStatus.WON:
        category, probability = ForecastCategory.CLOSED, ONE
        rule_ids.append("closed-won")
    elif deal.status in (DealStatus.LOST, DealStatus.DELETED):
        category, probability = ForecastCategory.OMITTED, ZERO
        rule_ids.append("closed-lost")
    else:
        stage_rule = find_stage_rule(mapping, deal)
        native = deal.stage.probability
        if stage_rule is None:
            mapped = False
            flags.append(UNMAPPED_STAGE)
            category = ForecastCategory.PIPELINE
            probability = native if native is not None else ZERO
            rule_ids.append("native-probability")
        else:
            category = stage_rule.category
            rule_ids.append(f"stage:{stage_rule.pipeline}/{stage_rule.stage}")
            if stage_rule.probability is not None:
                probability = stage_rule.probability
            else:
                probability = native if native is not None else ZERO
                rule_ids.append("native-probability")
    for rule in mapping.rules:
        if not matches(rule.when, deal, category, today):
            continue
        new_category, new_probability = _apply(rule, category, probability)
        if rule.then.flag:
            flags.append(rule.then.flag)
        if (new_category, new_probability) != (category, probability) or rule.then.flag:
            rule_ids.append(rule.id)
        category, probability = new_category, new_probability
    weighted = (deal.amount * probability).quantize(Decimal("0.01")) if deal.amount is not None else None
    return Forecast(
        category=category,
        probability=probability,
        weighted_amount=weighted,
        month=landing_month(deal),
        rule_ids=tuple(rule_ids),
        flags=tuple(flags),
        mapped=mapped,
    )
