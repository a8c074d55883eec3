"""The forecast rules compiled once per mapping: the results of `crmsync.rules_reference`, in a fraction of its time.

A sync evaluates the same mapping for every deal, so the work that depends only on the mapping is done once:
- the stage table becomes a dict from (pipeline, stage) to the first rule naming them, and each distinct
  (pipeline id, pipeline label, stage id, stage label) of a deal is looked up once;
- each rule's condition becomes a short tuple of predicates, one per key that is given (keys left out cost
  nothing), and the day-relative bounds (`close_date_within_days`, `close_date_in`, …) are computed once per day;
- the rules are grouped by the deal statuses they apply to, so a won deal never looks at `status = ["open"]` rules;
- the Forecast is built without validating values that are valid by construction.

A mapping is immutable once loaded (`Mapping` is a frozen model; its lists are never edited in place), which is
what makes caching its compiled form by identity sound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import NamedTuple

from crmsync import bare
from crmsync.mapping import Condition, Mapping, Rule, StageRule
from crmsync.model import Deal, DealStatus, Forecast, ForecastCategory
from crmsync.periods import named_bounds
from crmsync.rules_reference import ONE, UNMAPPED_STAGE, ZERO, evaluate_reference, matches

Predicate = Callable[[Deal, ForecastCategory], bool]

CENT = Decimal("0.01")
RANK = {category: rank for rank, category in enumerate(ForecastCategory)}
_WON = DealStatus.WON
_LOST_OR_DELETED = (DealStatus.LOST, DealStatus.DELETED)
_FORECAST_FIELDS = set(Forecast.model_fields)
_MEMO_LIMIT = 10_000
_CACHE_LIMIT = 32


class _Stage(NamedTuple):
    """What the stage table decides for an open deal: category, probability (None: the CRM's) and rule id."""

    category: ForecastCategory
    probability: Decimal | None
    rule_id: str


class _Effect(NamedTuple):
    """A rule's action, and its id."""

    category: ForecastCategory | None
    probability: Decimal | None
    cap_rank: int | None
    cap_category: ForecastCategory | None
    cap_probability: Decimal | None
    flag: str | None
    rule_id: str


def _pipeline_in(values: list[str]) -> Predicate:
    allowed = frozenset(values)
    return lambda deal, _: deal.pipeline.id in allowed or deal.pipeline.label in allowed


def _stage_in(values: list[str]) -> Predicate:
    allowed = frozenset(values)
    return lambda deal, _: deal.stage.id in allowed or deal.stage.label in allowed


def _owner_in(values: list[str]) -> Predicate:
    allowed = frozenset(values)

    def check(deal: Deal, _: ForecastCategory) -> bool:
        owner = deal.owner
        return owner is not None and (owner.id in allowed or (owner.email is not None and owner.email in allowed))

    return check


def _presence_and_amount_checks(c: Condition) -> list[Predicate]:
    checks: list[Predicate] = []
    if c.amount_missing is not None:
        missing = c.amount_missing
        checks.append(lambda deal, _: (deal.amount is None) == missing)
    if c.close_date_missing is not None:
        no_date = c.close_date_missing
        checks.append(lambda deal, _: (deal.close_date is None) == no_date)
    low, high = c.amount_min, c.amount_max
    if low is not None or high is not None:

        def amount(deal: Deal, _: ForecastCategory) -> bool:
            value = deal.amount
            if value is None:
                return False
            return not ((low is not None and value < low) or (high is not None and value > high))

        checks.append(amount)
    return checks


def _close_date_check(c: Condition, today: date) -> Predicate | None:
    """The close-date keys against bounds computed for `today`; raises where the reference would (a date overflow)."""
    past = c.close_date_past
    latest = None if c.close_date_within_days is None else today + timedelta(days=c.close_date_within_days)
    after = None if c.close_date_beyond_days is None else today + timedelta(days=c.close_date_beyond_days)
    within = None if c.close_date_in is None else named_bounds(c.close_date_in, today)
    outside = None if c.close_date_not_in is None else named_bounds(c.close_date_not_in, today)
    if past is None and latest is None and after is None and within is None and outside is None:
        return None

    def close_date(deal: Deal, _: ForecastCategory) -> bool:
        close = deal.close_date
        if close is None:
            return False
        if past is not None and (close < today) != past:
            return False
        if latest is not None and close > latest:
            return False
        if after is not None and close <= after:
            return False
        if within is not None and not within[0] <= close <= within[1]:
            return False
        return outside is None or not outside[0] <= close <= outside[1]

    return close_date


def _age_check(c: Condition, today: date) -> Predicate | None:
    low, high = c.age_days_min, c.age_days_max
    if low is None and high is None:
        return None

    def age(deal: Deal, _: ForecastCategory) -> bool:
        if deal.created_at is None:
            return False
        days = (today - deal.created_at.date()).days
        return not ((low is not None and days < low) or (high is not None and days > high))

    return age


def condition_checks(c: Condition, today: date) -> tuple[Predicate, ...]:
    """Predicates that all hold exactly when `matches(c, deal, category, today)` holds, but for `status`: the rules
    are grouped by the statuses they apply to instead."""
    checks: list[Predicate] = []
    if c.pipeline is not None:
        checks.append(_pipeline_in(c.pipeline))
    if c.stage is not None:
        checks.append(_stage_in(c.stage))
    if c.category is not None:
        categories = frozenset(c.category)
        checks.append(lambda _, category: category in categories)
    if c.owner is not None:
        checks.append(_owner_in(c.owner))
    checks += _presence_and_amount_checks(c)
    try:
        close_date = _close_date_check(c, today)
    except (OverflowError, ValueError):
        # A bound beyond the calendar: the reference raises when (and only when) it reaches that key.
        return (lambda deal, category: matches(c, deal, category, today),)
    age = _age_check(c, today)
    checks += [check for check in (close_date, age) if check is not None]
    return tuple(checks)


def _forecast_sample() -> dict[str, object]:
    return {
        "category": ForecastCategory.COMMIT,
        "probability": Decimal("0.5"),
        "weighted_amount": Decimal("5.00"),
        "month": "2026-01",
        "rule_ids": ("r",),
        "flags": (),
        "mapped": True,
    }


# A Forecast from values valid by construction, without validation (which costs more than the rules themselves).
_new_forecast: Callable[[dict[str, object]], Forecast] = (
    (lambda values: bare.build(Forecast, values, _FORECAST_FIELDS))
    if bare.works(Forecast, _forecast_sample())
    else (lambda values: Forecast.model_construct(**values))  # type: ignore[arg-type]
)


_months: dict[tuple[int, int], str] = {}


def _month(deal: Deal) -> str | None:
    """`landing_month`, remembered per year and month (strftime costs more than the rest of a deal's rules)."""
    day: date | None = deal.closed_at if deal.status is _WON and deal.closed_at is not None else deal.close_date
    if day is None:
        return None
    key = (day.year, day.month)
    text = _months.get(key)
    if text is None:
        text = day.strftime("%Y-%m")
        if len(_months) < _MEMO_LIMIT:
            _months[key] = text
    return text


def _effect(rule: Rule) -> _Effect:
    then = rule.then
    cap_rank = None if then.cap_category is None else RANK[then.cap_category]
    return _Effect(
        then.category, then.probability, cap_rank, then.cap_category, then.cap_probability, then.flag or None, rule.id
    )


_Rules = tuple[tuple[tuple[Predicate, ...], _Effect], ...]


class CompiledRules:
    """One mapping's forecast rules, ready to evaluate deals. Build with `compiled(mapping)`."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self._index: dict[tuple[str, str], tuple[int, StageRule]] = {}
        for position, rule in enumerate(mapping.stages):
            self._index.setdefault((rule.pipeline, rule.stage), (position, rule))
        self._stages: dict[tuple[str, str, str, str], _Stage | None] = {}
        self._effects = [_effect(rule) for rule in mapping.rules]
        self._day: tuple[date, dict[DealStatus, _Rules]] | None = None
        self._tuples: dict[tuple[str, ...], tuple[str, ...]] = {}

    def _shared(self, ids: tuple[str, ...]) -> tuple[str, ...]:
        """An equal tuple made earlier if there is one: deals share a few combinations of rule ids and flags, and
        keeping one copy of each spares the garbage collector thousands of objects per page."""
        shared = self._tuples.get(ids)
        if shared is not None:
            return shared
        if len(self._tuples) < _MEMO_LIMIT:
            self._tuples[ids] = ids
        return ids

    def _stage_for(self, key: tuple[str, str, str, str]) -> _Stage | None:
        """The first stage rule naming the pipeline (id, label or '*') and the stage (id or label)."""
        pipeline_id, pipeline_label, stage_id, stage_label = key
        found = [
            hit
            for pipeline in ("*", pipeline_id, pipeline_label)
            for stage in (stage_id, stage_label)
            if (hit := self._index.get((pipeline, stage))) is not None
        ]
        if not found:
            return None
        rule = min(found, key=lambda hit: hit[0])[1]
        return _Stage(rule.category, rule.probability, f"stage:{rule.pipeline}/{rule.stage}")

    def _rules_on(self, today: date) -> dict[DealStatus, _Rules]:
        """Per deal status, the rules that can apply to it on `today`, in order, with their checks."""
        rules = [
            (rule.when, condition_checks(rule.when, today), effect)
            for rule, effect in zip(self.mapping.rules, self._effects, strict=True)
        ]
        by_status = {
            status: tuple(
                (checks, effect) for when, checks, effect in rules if when.status is None or status in when.status
            )
            for status in DealStatus
        }
        self._day = (today, by_status)
        return by_status

    def evaluate(self, deal: Deal, today: date) -> Forecast:
        """The same Forecast as `evaluate_reference(deal, mapping, today)`."""
        day = self._day
        by_status = day[1] if day is not None and day[0] == today else self._rules_on(today)
        status = deal.status
        rules = by_status.get(status)
        if rules is None:  # not a DealStatus (a model built without validation): leave it to the reference
            return evaluate_reference(deal, self.mapping, today)
        flags: list[str] = []
        mapped = True
        if status is _WON:
            category, probability = ForecastCategory.CLOSED, ONE
            rule_ids = ["closed-won"]
        elif status in _LOST_OR_DELETED:
            category, probability = ForecastCategory.OMITTED, ZERO
            rule_ids = ["closed-lost"]
        else:
            pipeline, stage = deal.pipeline, deal.stage
            key = (pipeline.id, pipeline.label, stage.id, stage.label)
            try:
                decided = self._stages[key]
            except KeyError:
                decided = self._stage_for(key)
                if len(self._stages) < _MEMO_LIMIT:
                    self._stages[key] = decided
            native = stage.probability
            if decided is None:
                mapped = False
                flags.append(UNMAPPED_STAGE)
                category = ForecastCategory.PIPELINE
                probability = native if native is not None else ZERO
                rule_ids = ["native-probability"]
            else:
                category = decided.category
                if decided.probability is not None:
                    probability = decided.probability
                    rule_ids = [decided.rule_id]
                else:
                    probability = native if native is not None else ZERO
                    rule_ids = [decided.rule_id, "native-probability"]
        for checks, effect in rules:
            for check in checks:
                if not check(deal, category):
                    break
            else:
                new_category = category if effect.category is None else effect.category
                new_probability = probability if effect.probability is None else effect.probability
                if effect.cap_rank is not None and RANK[new_category] > effect.cap_rank:
                    new_category = effect.cap_category  # type: ignore[assignment]
                if effect.cap_probability is not None and new_probability > effect.cap_probability:
                    new_probability = effect.cap_probability
                if effect.flag is not None:
                    flags.append(effect.flag)
                if effect.flag is not None or (new_category, new_probability) != (category, probability):
                    rule_ids.append(effect.rule_id)
                category, probability = new_category, new_probability
        amount = deal.amount
        values: dict[str, object] = {
            "category": category,
            "probability": probability,
            "weighted_amount": None if amount is None else (amount * probability).quantize(CENT),
            "month": _month(deal),
            "rule_ids": self._shared(tuple(rule_ids)),
            "flags": self._shared(tuple(flags)) if flags else (),
            "mapped": mapped,
        }
        if type(probability) is Decimal and probability.is_finite() and ZERO <= probability <= ONE:
            return _new_forecast(values)
        return Forecast(**values)  # validates, raising as the reference does


_cache: dict[int, tuple[Mapping, CompiledRules]] = {}
_cache_lock = threading.Lock()


def compiled(mapping: Mapping) -> CompiledRules:
    """The compiled rules of `mapping`, built on first use and kept while the mapping is among the last few used."""
    entry = _cache.get(id(mapping))
    if entry is not None and entry[0] is mapping:
        return entry[1]
    rules = CompiledRules(mapping)
    with _cache_lock:
        while len(_cache) >= _CACHE_LIMIT:
            del _cache[next(iter(_cache))]
        # The entry holds the mapping itself, so its id cannot be reused by another object while cached.
        _cache[id(mapping)] = (mapping, rules)
    return rules
