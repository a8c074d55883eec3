"""trusted_deal builds exactly the Deal that validation builds, or raises what validation raises."""

from __future__ import annotations

import inspect
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from crmsync.kit import blank_deal, trusted_deal, trusted_owner, typed_deal
from crmsync.model import Deal, DealStatus, Owner, Pipeline, Stage


class Text(str):
    """A str subclass: not the exact type, so it must take the validated path."""


PIPELINE = Pipeline(id="p", label="P")
AWARE = datetime(2026, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))
INSTANTS: list[Any] = [None, AWARE, datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 1), date(2026, 3, 1), "x"]
TEXTS: list[Any] = [None, "text", "", Text("sub"), 5]
BOOLS: list[Any] = [None, True, False, 1, "true", "maybe"]
VALUES: dict[str, list[Any]] = {
    "connection": ["crm", "", Text("crm"), 7],
    "source_id": ["1", "a" * 40, 12],
    "name": ["Deal", "", None],
    "pipeline": [PIPELINE, {"id": "p", "label": "P"}, "p"],
    "stage": [
        Stage(id="s", label="S", pipeline_id="p", probability=Decimal("0.3")),
        Stage(id="t", label="T", pipeline_id="p"),
    ],
    "status": [DealStatus.OPEN, DealStatus.WON, "lost", "bogus"],
    "amount": [
        None,
        Decimal("1250.50"),
        Decimal("-0"),
        Decimal("9999999999999999"),
        Decimal("1E16"),
        Decimal("-1E16"),
        Decimal("NaN"),
        Decimal("Infinity"),
        5,
        2.5,
        "7",
        True,
    ],
    "currency": [None, "EUR", " eur", "Usd ", "", "   ", "EURO", "E1R", "€€€", 978],
    "close_date": [None, date(2026, 6, 30), datetime(2026, 6, 30), datetime(2026, 6, 30, 10), "2026-06-30", "soon"],
    "owner": [None, Owner(id="o"), {"id": "o"}, "o"],
    "created_at": INSTANTS,
    "updated_at": INSTANTS,
    "closed_at": INSTANTS,
    "remote_category": TEXTS,
    "remote_probability": [None, Decimal("0.5"), Decimal("NaN"), 0.5, "0.5", "half"],
    "category_is_manual": BOOLS,
    "probability_is_manual": BOOLS,
    "writable": [True, False, 1, "yes"],
    "probability_writable": [True, False, 0, "no"],
    "lost_reason": TEXTS,
    "lost_to": TEXTS,
    "group": TEXTS,
    "extra": [{}, {"k": "v"}, {"k": 1}, {1: "v"}, {"k": Text("v")}],
}


def outcome(build: Any, values: dict[str, Any]) -> Deal | list[tuple[Any, ...]]:
    try:
        return build(**values)  # type: ignore[no-any-return]
    except ValidationError as exc:
        return [(e["loc"], e["type"], e["msg"]) for e in exc.errors()]


def assert_same(got: Deal | list[tuple[Any, ...]], want: Deal | list[tuple[Any, ...]]) -> None:
    if isinstance(want, Deal):
        assert isinstance(got, Deal), got
        assert got == want
        assert got.model_dump_json() == want.model_dump_json()
        assert [type(v) for v in got.__dict__.values()] == [type(v) for v in want.__dict__.values()]
    else:
        assert got == want


def test_its_parameters_are_the_deals_fields_with_their_defaults() -> None:
    parameters = inspect.signature(trusted_deal).parameters
    assert list(parameters) == list(Deal.model_fields)
    for name, field in Deal.model_fields.items():
        default = parameters[name].default
        if field.is_required():
            assert default is inspect.Parameter.empty, name
        elif field.default_factory is not None:
            assert default is None and field.default_factory() == {}, name  # None stands for a new empty dict
        else:
            assert default == field.default, name


def test_valid_values_give_the_validated_deal() -> None:
    rng = random.Random(5)
    for _ in range(500):
        values = {name: rng.choice(choices[:2]) for name, choices in VALUES.items()}
        got = outcome(trusted_deal, values)
        assert isinstance(got, Deal)
        assert_same(got, outcome(Deal, values))


def test_any_values_give_what_validation_gives() -> None:
    rng = random.Random(8)
    for _ in range(3000):
        # mostly valid values with a few odd ones, so each odd value is met alone as well as with others
        values = {name: rng.choice(choices if rng.random() < 0.15 else choices[:2]) for name, choices in VALUES.items()}
        assert_same(outcome(trusted_deal, values), outcome(Deal, values))


def test_each_odd_value_alone_gives_what_validation_gives() -> None:
    base = {name: choices[0] for name, choices in VALUES.items()}
    for name, choices in VALUES.items():
        for value in choices:
            values = {**base, name: value}
            assert_same(outcome(trusted_deal, values), outcome(Deal, values))


def test_defaults_are_the_deals() -> None:
    required = {"connection": "c", "source_id": "1", "name": "n", "pipeline": PIPELINE}
    required |= {"stage": VALUES["stage"][0], "status": DealStatus.OPEN}
    got, want = trusted_deal(**required), Deal(**required)
    assert got == want
    assert got.extra == {} and got.extra is not trusted_deal(**required).extra  # each deal its own dict


def test_trusted_owner_is_the_validated_owner() -> None:
    for values in ({"id": "o"}, {"id": "o", "name": "Ann", "email": "ann@example.com"}, {"id": "o", "name": ""}):
        got = trusted_owner(values["id"], values.get("name"), values.get("email"))
        assert got == Owner(**values) and got.model_dump_json() == Owner(**values).model_dump_json()


def test_a_blank_deal_holds_every_field_in_order_at_its_default() -> None:
    blank = blank_deal()
    assert list(blank) == list(Deal.model_fields)
    for name, field in Deal.model_fields.items():
        assert blank[name] == (None if field.is_required() else field.get_default(call_default_factory=True)), name
    assert blank["extra"] is not blank_deal()["extra"]  # each deal its own dict


def test_typed_deal_is_the_validated_deal_and_checks_the_currency() -> None:
    rng = random.Random(9)
    for _ in range(300):
        values = blank_deal()
        values.update({name: rng.choice(choices[:2]) for name, choices in VALUES.items()})  # exact types
        values["pipeline"] = PIPELINE  # the second choice is a dict
        values["currency"] = rng.choice(VALUES["currency"][:-1])  # text, valid or not
        assert_same(outcome(lambda **given: typed_deal(dict(given)), values), outcome(Deal, values))
