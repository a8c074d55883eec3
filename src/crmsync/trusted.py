"""`trusted_deal`: the canonical Deal from values a connector has read, at under half of validation's cost (exported by
`crmsync.kit`; kept beside the model so the core can use it without the kit).

A connector reads every value through `RecordReader`, which already refuses what does not parse (a number out
of range, a timestamp without a zone), and takes pipelines, stages and owners from its validated reference
data. Validating the Deal again costs more than all that reading, so `trusted_deal` checks only what a reader
cannot vouch for in a way that matters to the model: each value's exact type, an amount's size, a timestamp's
zone, the currency's code. Anything else (a subclass, a value out of range, a currency such as 'EURO') goes
through full validation, which raises the same ValidationError `Deal(...)` raises.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crmsync import bare
from crmsync.model import Deal, DealStatus, Owner, Pipeline, Stage

_FIELDS = set(Deal.model_fields)
_bare_deal = bare.builder(Deal, _FIELDS)
_OWNER_FIELDS = set(Owner.model_fields)
_BOUND = Decimal(10) ** 16  # the Deal's own bounds: -(10**16) < amount < 10**16


def _text(value: str | None) -> bool:
    return value is None or type(value) is str


_CODES: dict[str, str | bool | None] = {}  # texts read so far: a CRM's deals share a handful of currencies


def _currency(value: str | None) -> str | bool | None:
    """The code as `Deal` keeps it (' eur' → 'EUR', '' → None), or False when only validation can say."""
    if value is None:
        return None
    if type(value) is not str:
        return False
    try:
        return _CODES[value]
    except KeyError:
        pass
    code = value.strip().upper()
    found = (code if len(code) == 3 and code.isascii() and code.isalpha() else False) if code else None
    if len(_CODES) < 1000:
        _CODES[value] = found
    return found


def trusted_deal(
    *,
    connection: str,
    source_id: str,
    name: str,
    pipeline: Pipeline,
    stage: Stage,
    status: DealStatus,
    amount: Decimal | None = None,
    currency: str | None = None,
    close_date: date | None = None,
    owner: Owner | None = None,
    created_at: datetime | None = None,
    updated_at: datetime | None = None,
    closed_at: datetime | None = None,
    remote_category: str | None = None,
    remote_probability: Decimal | None = None,
    category_is_manual: bool | None = None,
    probability_is_manual: bool | None = None,
    writable: bool = True,
    probability_writable: bool = True,
    lost_reason: str | None = None,
    lost_to: str | None = None,
    group: str | None = None,
    extra: dict[str, str] | None = None,
) -> Deal:
    """The Deal `Deal(...)` builds from the same values (every field counts as set); raises its ValidationError."""
    values: dict[str, Any] = {
        "connection": connection,
        "source_id": source_id,
        "name": name,
        "pipeline": pipeline,
        "stage": stage,
        "status": status,
        "amount": amount,
        "currency": currency,
        "close_date": close_date,
        "owner": owner,
        "created_at": created_at,
        "updated_at": updated_at,
        "closed_at": closed_at,
        "remote_category": remote_category,
        "remote_probability": remote_probability,
        "category_is_manual": category_is_manual,
        "probability_is_manual": probability_is_manual,
        "writable": writable,
        "probability_writable": probability_writable,
        "lost_reason": lost_reason,
        "lost_to": lost_to,
        "group": group,
        "extra": extra or {},
    }
    code = _currency(currency)
    # inline, not a helper per kind: a call per field would cost a fifth of the validation spared
    if (
        type(connection) is str
        and type(source_id) is str
        and type(name) is str
        and type(pipeline) is Pipeline
        and type(stage) is Stage
        and type(status) is DealStatus
        and code is not False
        and (amount is None or (type(amount) is Decimal and amount.is_finite() and -_BOUND < amount < _BOUND))
        and (close_date is None or type(close_date) is date)
        and (owner is None or type(owner) is Owner)
        and (created_at is None or (type(created_at) is datetime and created_at.tzinfo is not None))
        and (updated_at is None or (type(updated_at) is datetime and updated_at.tzinfo is not None))
        and (closed_at is None or (type(closed_at) is datetime and closed_at.tzinfo is not None))
        and (remote_category is None or type(remote_category) is str)
        and (remote_probability is None or (type(remote_probability) is Decimal and remote_probability.is_finite()))
        and (category_is_manual is None or category_is_manual is True or category_is_manual is False)
        and (probability_is_manual is None or probability_is_manual is True or probability_is_manual is False)
        and (writable is True or writable is False)
        and (probability_writable is True or probability_writable is False)
        and (lost_reason is None or type(lost_reason) is str)
        and (lost_to is None or type(lost_to) is str)
        and (group is None or type(group) is str)
        and (not extra or all(type(k) is str and type(v) is str for k, v in extra.items()))
    ):
        values["currency"] = code  # as the model keeps it (' eur' → 'EUR')
        values["extra"] = dict(extra) if extra else {}  # the deal's own dict
        if _FAST:
            return _bare_deal(values)
    return Deal(**values)


# Every field of Deal, in declaration order, at its default (None where it has none): copying it and setting the
# values costs half of a dict display of 23 keys
_BLANK: dict[str, Any] = {
    name: None if field.is_required() else field.get_default(call_default_factory=True)
    for name, field in Deal.model_fields.items()
}


def blank_deal() -> dict[str, Any]:
    """A fresh dict of every Deal field at its default (None where it has none), in declaration order, for
    `typed_deal`: set each value the record has, keeping the order."""
    values = _BLANK.copy()
    values["extra"] = {}  # its own
    return values


def typed_deal(values: dict[str, Any]) -> Deal:
    """The Deal `Deal(**values)` builds, for a reader that has checked each value itself: `values` holds every
    field in declaration order, each of its exact type and in the model's bounds, as `trusted_deal` checks them
    (a reader's amount is below 10**15; its timestamps carry a zone). Only the currency code is checked here. The
    dict is the Deal's own from now on."""
    code = _currency(values["currency"])
    if code is not False and _FAST:
        values["currency"] = code
        return _bare_deal(values)
    return Deal(**values)


def trusted_owner(owner_id: str, name: str | None = None, email: str | None = None) -> Owner:
    """`Owner(id=…, name=…, email=…)` for text values, without validating them again."""
    if _FAST and type(owner_id) is str and _text(name) and _text(email):
        return bare.build(Owner, {"id": owner_id, "name": name, "email": email}, _OWNER_FIELDS)
    return Owner(id=owner_id, name=name, email=email)


def _sample() -> dict[str, object]:
    pipeline = Pipeline(id="p", label="P")
    stage = Stage(id="s", label="S", pipeline_id="p", probability=Decimal("0.5"))
    return {
        "connection": "c",
        "source_id": "1",
        "name": "n",
        "pipeline": pipeline,
        "stage": stage,
        "status": DealStatus.OPEN,
        "amount": Decimal("10.5"),
        "currency": "EUR",
        "close_date": date(2026, 1, 2),
        "owner": Owner(id="o", name="O", email=None),
        "created_at": datetime.fromisoformat("2026-01-01T00:00:00+00:00"),
        "updated_at": None,
        "closed_at": None,
        "remote_category": "commit",
        "remote_probability": Decimal("0.4"),
        "category_is_manual": True,
        "probability_is_manual": None,
        "writable": True,
        "probability_writable": False,
        "lost_reason": None,
        "lost_to": None,
        "group": "g",
        "extra": {"k": "v"},
    }


_FAST = bare.works(Deal, _sample()) and bare.works(Owner, {"id": "o", "name": None, "email": "e@x"})
