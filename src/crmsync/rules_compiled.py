"""The forecast rules compiled once per mapping: the results of `crmsync.rules_reference`, in a fraction of its time.

A sync evaluates the same mapping for every deal, so the work that depends only on the mapping is done once:
- the stage table becomes a dict from (pipeline, stage) to the first rule naming them, and each distinct
  (pipeline id, pipeline label, stage id, stage label) of a deal is looked up once;
- each rule's condition becomes a short tuple of predicates, one per key that is given (keys left out cost
  nothing), and the day-relative bounds (`close_date_within_days`, `close_date_in`, …) are computed once per day;
- each (status, pipeline, stage) of a deal is looked up once per day, with where it starts (the stage table's
  decision or the closed outcome) and only the rules whose status, pipeline and stage keys admit it, so a won deal
  never looks at `status = ["open"]` rules, nor a deal at a rule for another stage;
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
    # one key alone (the common rule), checked without looking at the others
    if latest is None and after is None and within is None and outside is None:
        return lambda deal, _: (close := deal.close_date) is not None and (close < today) == past
    if past is None and latest is None and within is None and outside is None:
        return lambda deal, _: (close := deal.close_date) is not None and close > after  # type: ignore[operator]
    if past is None and after is None and within is None and outside is None:
        return lambda deal, _: (close := deal.close_date) is not None and close <= latest  # type: ignore[operator]

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


def _at(c: Condition, pipeline_id: str, pipeline_label: str, stage_id: str, stage_label: str) -> bool:
    """Whether the condition's `pipeline` and `stage` keys (id or label) admit a deal in this pipeline and stage."""
    return (c.pipeline is None or pipeline_id in c.pipeline or pipeline_label in c.pipeline) and (
        c.stage is None or stage_id in c.stage or stage_label in c.stage
    )


def condition_checks(c: Condition, today: date) -> tuple[Predicate, ...]:
    """Predicates that all hold exactly when `matches(c, deal, category, today)` holds, but for `status`, `pipeline`
    and `stage`: the rules are chosen by the deal's status and place (`_at`) beforehand instead."""
    checks: list[Predicate] = []
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
    bare.builder(Forecast, _FORECAST_FIELDS)
    if bare.works(Forecast, _forecast_sample())
    else (lambda values: Forecast.model_construct(**values))  # type: ignore[arg-type]
)


_months: dict[date, str] = {}


def _month(deal: Deal) -> str | None:
    """`landing_month`, remembered per day (strftime costs more than the rest of a deal's rules; a day is its own
    key, where a (year, month) key would be a tuple built for every deal)."""
    closed = deal.closed_at
    day = closed.date() if closed is not None and deal.status is _WON else deal.close_date  # moments: few repeat
    if day is None:
        return None
    text = _months.get(day)
    if text is None:
        text = day.strftime("%Y-%m")
        if len(_months) < _MEMO_LIMIT:
            _months[day] = text
    return text


def _effect(rule: Rule) -> _Effect:
    then = rule.then
    cap_rank = None if then.cap_category is None else RANK[then.cap_category]
    return _Effect(
        then.category, then.probability, cap_rank, then.cap_category, then.cap_probability, then.flag or None, rule.id
    )


_Rules = tuple[tuple[tuple[Predicate, ...], _Effect], ...]
_Place = tuple[DealStatus, str, str, str, str]  # status, pipeline id and label, stage id and label
# category, probability (None: the stage's own), rule ids, flags, and whether the stage is mapped
_Start = tuple[ForecastCategory, Decimal | None, tuple[str, ...], tuple[str, ...], bool]
_DayRules = list[tuple[Condition, tuple[Predicate, ...], _Effect]]  # a day's rules, with their checks


class CompiledRules:
    """One mapping's forecast rules, ready to evaluate deals. Build with `compiled(mapping)`."""

    def __init__(self, mapping: Mapping) -> None:
        self.mapping = mapping
        self._index: dict[tuple[str, str], tuple[int, StageRule]] = {}
        for position, rule in enumerate(mapping.stages):
            self._index.setdefault((rule.pipeline, rule.stage), (position, rule))
        self._effects = [_effect(rule) for rule in mapping.rules]
        # one day's rules with their checks, and its memo of places: one tuple, replaced whole (threads may share it)
        self._day: tuple[date, dict[_Place, tuple[_Start, _Rules]], _DayRules] | None = None
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

    def _stage_for(self, pipeline_id: str, pipeline_label: str, stage_id: str, stage_label: str) -> _Stage | None:
        """The first stage rule naming the pipeline (id, label or '*') and the stage (id or label)."""
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

    def _on(self, today: date) -> tuple[date, dict[_Place, tuple[_Start, _Rules]], _DayRules]:
        """The rules with their checks for `today` (their date bounds depend on it), and a fresh memo of places."""
        rules = [
            (rule.when, condition_checks(rule.when, today), effect)
            for rule, effect in zip(self.mapping.rules, self._effects, strict=True)
        ]
        day = self._day = (today, {}, rules)
        return day

    def _place(self, place: _Place, day_rules: _DayRules) -> tuple[_Start, _Rules]:
        """Where a deal with this status in this pipeline and stage starts (the stage table's decision, or the closed
        outcome), and the rules, in order, whose status, pipeline and stage keys admit it, with their other checks."""
        status, *where = place
        rules = tuple(
            (checks, effect)
            for when, checks, effect in day_rules
            if (when.status is None or status in when.status) and _at(when, *where)
        )
        if status is _WON:
            return (ForecastCategory.CLOSED, ONE, ("closed-won",), (), True), rules
        if status in _LOST_OR_DELETED:
            return (ForecastCategory.OMITTED, ZERO, ("closed-lost",), (), True), rules
        decided = self._stage_for(*where)
        if decided is None:
            return (ForecastCategory.PIPELINE, None, ("native-probability",), (UNMAPPED_STAGE,), False), rules
        if decided.probability is None:
            return (decided.category, None, (decided.rule_id, "native-probability"), (), True), rules
        return (decided.category, decided.probability, (decided.rule_id,), (), True), rules

    def evaluate(self, deal: Deal, today: date) -> Forecast:
        """The same Forecast as `evaluate_reference(deal, mapping, today)`."""
        status = deal.status
        if type(status) is not DealStatus:  # a model built without validation: leave it to the reference
            return evaluate_reference(deal, self.mapping, today)
        day = self._day
        if day is None or day[0] != today:
            day = self._on(today)
        places = day[1]
        pipeline, stage = deal.pipeline, deal.stage
        key = (status, pipeline.id, pipeline.label, stage.id, stage.label)
        try:
            start, rules = places[key]
        except KeyError:
            start, rules = found = self._place(key, day[2])
            if len(places) < _MEMO_LIMIT:
                places[key] = found
        category, probability, rule_ids, flags, mapped = start
        if probability is None:  # the CRM's own probability for the stage
            native = stage.probability
            probability = native if native is not None else ZERO
        fired = False
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
                    flags = (*flags, effect.flag)
                if effect.flag is not None or (new_category, new_probability) != (category, probability):
                    rule_ids = (*rule_ids, effect.rule_id)
                    fired = True
                category, probability = new_category, new_probability
        amount = deal.amount
        values: dict[str, object] = {
            "category": category,
            "probability": probability,
            "weighted_amount": None if amount is None else (amount * probability).quantize(CENT),
            "month": _month(deal),
            "rule_ids": self._shared(rule_ids) if fired else rule_ids,
            "flags": self._shared(flags) if fired else flags,
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
