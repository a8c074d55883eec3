"""Write-back planning: pure functions deciding what to write to one deal, and why not otherwise."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from crmsync.connector import DealUpdate
from crmsync.mapping import Mapping, OverridePolicy, WriteBack
from crmsync.model import Deal, DealStatus, Forecast
from crmsync.store.ledger import Marks


@dataclass(frozen=True)
class FieldChange:
    """One field of one deal: the remote value, the value the rules want, and whether to write it."""

    field: str
    old: str | None
    new: str
    write: bool
    reason: str | None = None
    manual_override: bool = False


@dataclass(slots=True)
class DealPlan:
    """What to write to one deal (not frozen: a frozen dataclass costs a microsecond a deal to build)."""

    source_id: str
    changes: list[FieldChange] = field(default_factory=list)

    @property
    def update(self) -> DealUpdate | None:
        """The update to send, or None when there is nothing to write."""
        values: dict[str, object] = {}
        for change in self.changes:
            if change.write:
                values[change.field] = Decimal(change.new) if change.field == "probability" else change.new
        return DealUpdate(source_id=self.source_id, **values) if values else None


_NO_MARKS = Marks()  # frozen: one instance stands for "the ledger says nothing"
_DELETED = DealStatus.DELETED  # a member read from its enum class costs 90 ns, a module global 20


def _same(a: str | None, b: str | None, numeric: bool) -> bool:
    if a is None or b is None:
        return a is b
    return Decimal(a) == Decimal(b) if numeric else a == b


def marked_ids(marks: dict[str, dict[str, Marks]]) -> set[str]:
    """The deals the ledger says anything of (field → deal id → Marks; most deals of a first sync: none)."""
    return set().union(*marks.values())


def marks_for(marks: dict[str, dict[str, Marks]], source_id: str) -> dict[str, Marks]:
    """What the ledger says of each field of one deal."""
    return {name: found[source_id] for name, found in marks.items() if source_id in found}


def unexplained(deal: Deal, plan: DealPlan, marks: dict[str, Marks]) -> bool:
    """Whether the plan would change a field whose remote value crmsync did not write and the record cannot say
    who set: reading the deal's history (where the CRM offers it) decides between a person's edit and a value to
    take over."""
    for change in plan.changes:
        says = deal.category_is_manual if change.field == "category" else deal.probability_is_manual
        mark = marks.get(change.field) or _NO_MARKS
        numeric = change.field == "probability"
        ours = _same(change.old, mark.written, numeric) or _same(change.old, mark.unsure, numeric)
        if says is None and change.old not in (None, "") and not ours:
            return True
    return False


def is_manual(
    remote: str | None, connector_says: bool | None, marks: Marks | None = None, numeric: bool = False
) -> bool:
    """Whether a person set the remote value by hand.

    Our own write is never manual (nor a write whose outcome is unknown, when the remote shows its value); the
    connector's answer wins when the API can tell (HubSpot's property history); a value crmsync left alone once
    because a person set it stays a person's; and a value that differs from what crmsync last wrote is a person's.
    A value crmsync never wrote and the API cannot explain is taken over (first adoption).
    Probabilities compare as numbers, so a change of decimals in the mapping does not look like a person's edit.
    """
    if remote is None or remote == "":
        return False
    marks = marks or _NO_MARKS
    if _same(remote, marks.written, numeric) or _same(remote, marks.unsure, numeric):
        return False
    if connector_says is not None:
        return connector_says
    return marks.respected or marks.written is not None


def _blocked(policy: OverridePolicy, manual: bool, stage_changed: bool) -> str | None:
    if not manual or policy == "enforce":
        return None
    if policy == "reset_on_stage_change" and stage_changed:
        return None
    return f"set by hand in the CRM; override policy '{policy}'"


def _probability_text(value: Decimal, decimals: int) -> str:
    return str(value.quantize(Decimal(1).scaleb(-decimals)))


# Memos for per-deal work that depends on a few distinct values: the texts of probabilities, and the FieldChanges
# themselves (frozen, so one instance can stand in every plan that holds an equal one). Keys carry the sign, as
# Decimal("-0") == Decimal("0") but their texts differ. Decimals are computed in the default context, which
# crmsync never changes.
_MEMO_LIMIT = 10_000
_remote_texts: dict[tuple[Decimal, bool, int, int], str] = {}
_read_texts: dict[tuple[Decimal, bool, int], str] = {}
_changes: dict[tuple[str, str | None, str, bool, str | None, bool], FieldChange] = {}


def _remote_text(probability: Decimal, wb: WriteBack) -> str:
    """The text the write-back sends for `probability`, as scaled and rounded by the mapping."""
    key = (probability, probability.is_signed(), wb.probability_scale, wb.probability_decimals)
    text = _remote_texts.get(key)
    if text is None:
        text = _probability_text(wb.remote_probability(probability), wb.probability_decimals)
        if len(_remote_texts) < _MEMO_LIMIT:
            _remote_texts[key] = text
    return text


def _read_text(value: Decimal | None, decimals: int) -> str | None:
    """The text of a probability as read from the CRM, rounded as the mapping writes it."""
    if value is None:
        return None
    key = (value, value.is_signed(), decimals)
    text = _read_texts.get(key)
    if text is None:
        text = _probability_text(value, decimals)
        if len(_read_texts) < _MEMO_LIMIT:
            _read_texts[key] = text
    return text


def _change(field: str, old: str | None, new: str, reason: str | None, blocked: bool) -> FieldChange:
    """`FieldChange(field, old, new, reason is None, reason, blocked)`, shared with equal earlier plans."""
    key = (field, old, new, reason is None, reason, blocked)
    change = _changes.get(key)
    if change is None:
        change = FieldChange(*key)
        if len(_changes) < _MEMO_LIMIT:
            _changes[key] = change
    return change


def plan_deal(
    deal: Deal,
    forecast: Forecast,
    mapping: Mapping,
    marks: dict[str, Marks],
    previous_stage: str | None,
) -> DealPlan:
    """Decide which of the deal's category/probability fields to write.

    Only values that differ from the remote value are considered; manual overrides follow the mapping's policy;
    deleted or archived deals and deals in unmapped stages are never written.
    """
    if deal.status is _DELETED:
        return DealPlan(deal.source_id, [])
    stage_changed = previous_stage is not None and previous_stage != deal.stage.id
    not_writable = None
    if not deal.writable:
        not_writable = "archived in the CRM, which refuses edits"
    elif not forecast.mapped:
        not_writable = f"stage {deal.stage.label!r} ({deal.stage.id}) is not in the mapping"
    if marks:
        return DealPlan(deal.source_id, _planned(deal, forecast, mapping, marks, stage_changed, not_writable))
    # Without marks the changes depend on these values alone (and the mapping): deals share a few combinations
    probability, remote = forecast.probability, deal.remote_probability
    key = (
        not_writable,
        stage_changed,
        forecast.category,
        deal.remote_category,
        deal.category_is_manual,
        probability,
        probability.is_signed(),  # -0 equals 0, but its text differs
        remote,
        remote is not None and remote.is_signed(),
        deal.probability_is_manual,
        deal.probability_writable,
    )
    memo = _plans
    if memo is None or memo[0] is not mapping:
        memo = _remember_plans(mapping)
    changes = memo[1].get(key)
    if changes is None:
        changes = _planned(deal, forecast, mapping, marks, stage_changed, not_writable)
        if len(memo[1]) < _MEMO_LIMIT:
            memo[1][key] = changes
    return DealPlan(deal.source_id, list(changes))


_PlanKey = tuple[object, ...]
_plans: tuple[Mapping, dict[_PlanKey, list[FieldChange]]] | None = None  # the last mapping's plans without marks


def _remember_plans(mapping: Mapping) -> tuple[Mapping, dict[_PlanKey, list[FieldChange]]]:
    global _plans
    _plans = (mapping, {})
    return _plans


def _planned(
    deal: Deal,
    forecast: Forecast,
    mapping: Mapping,
    marks: dict[str, Marks],
    stage_changed: bool,
    not_writable: str | None,
) -> list[FieldChange]:
    """The changes `plan_deal` plans."""
    wb = mapping.writeback
    changes: list[FieldChange] = []
    if wb.category_field is not None:
        new = wb.remote_category(forecast.category)
        old = deal.remote_category or None
        if old != new:
            # is_manual and _blocked, spared for a field the CRM holds no value in (a first sync's every deal)
            manual = old is not None and is_manual(old, deal.category_is_manual, marks.get("category"))
            blocked = _blocked(mapping.overrides.category, manual, stage_changed) if manual else None
            changes.append(_change("category", old, new, not_writable or blocked, blocked is not None))
    if wb.probability_field is not None and deal.probability_writable:
        new_p = _remote_text(forecast.probability, wb)
        old_p = _read_text(deal.remote_probability, wb.probability_decimals)
        # Equal texts (both quantized alike) are equal numbers; different texts may still be (-0.00 and 0.00).
        if old_p is None or (old_p != new_p and Decimal(old_p) != Decimal(new_p)):
            manual = old_p is not None and is_manual(old_p, deal.probability_is_manual, marks.get("probability"), True)
            blocked = _blocked(mapping.overrides.probability, manual, stage_changed) if manual else None
            changes.append(_change("probability", old_p, new_p, not_writable or blocked, blocked is not None))
    return changes


def effective_forecast(forecast: Forecast, plan: DealPlan, mapping: Mapping, amount: Decimal | None) -> Forecast:
    """The forecast as it stands in the CRM: a respected manual override replaces the rules' value."""
    update: dict[str, object] = {}
    for change in plan.changes:
        if not change.manual_override or change.old is None:
            continue
        if change.field == "category":
            category = mapping.writeback.canonical_category(change.old)
            if category is not None:
                update["category"] = category
        else:
            update["probability"] = min(Decimal(1), Decimal(change.old) / mapping.writeback.probability_scale)
    if not update:
        return forecast
    probability = update.get("probability")
    if isinstance(probability, Decimal) and amount is not None:
        update["weighted_amount"] = (amount * probability).quantize(Decimal("0.01"))
    update["rule_ids"] = (*forecast.rule_ids, "manual-override")
    return forecast.model_copy(update=update)
