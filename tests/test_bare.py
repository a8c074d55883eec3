"""crmsync.bare: models built from valid values without validation are the validated models."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import BaseModel, ConfigDict, field_validator

from crmsync import bare
from crmsync.model import Owner, Pipeline, Stage


def test_build_is_the_validated_model() -> None:
    values = {"id": "s", "label": "S", "pipeline_id": "p", "order": 2, "probability": Decimal("0.5"), "closed": False}
    values["won"] = False
    built = bare.build(Stage, dict(values), set(values))
    checked = Stage(**values)
    assert built == checked
    assert built.model_dump_json() == checked.model_dump_json()
    assert built.model_fields_set == checked.model_fields_set
    assert hash(built) == hash(checked)
    with pytest.raises(ValueError, match="frozen"):
        built.label = "T"  # type: ignore[misc]


def test_replace_is_model_copy_and_leaves_the_original() -> None:
    owner = Owner(id="o", name="Ann")
    replaced = bare.replace(owner, {"email": "ann@example.com"})
    assert replaced == owner.model_copy(update={"email": "ann@example.com"})
    assert replaced.model_fields_set == {"id", "name", "email"}
    assert owner.email is None and owner.model_fields_set == {"id", "name"}


def test_works_refuses_a_model_whose_validation_changes_the_values() -> None:
    class Upper(BaseModel):
        model_config = ConfigDict(frozen=True)
        code: str

        @field_validator("code")
        @classmethod
        def upper(cls, value: str) -> str:
            return value.upper()

    assert bare.works(Pipeline, {"id": "p", "label": "P"})
    assert not bare.works(Upper, {"code": "eur"})  # a bare object would keep 'eur': the fast path must stay off
    assert not bare.works(Pipeline, {"id": "p"})  # validation raises: not a sample the check can vouch for


def test_a_builder_builds_what_build_builds_each_with_its_own_fields_set() -> None:
    values = {"id": "s", "label": "S", "pipeline_id": "p", "order": 2, "probability": Decimal("0.5"), "closed": False}
    values["won"] = False
    make = bare.builder(Stage, set(values))
    first, second = make(dict(values)), make(dict(values))
    assert first == second == Stage(**values) == bare.build(Stage, dict(values), set(values))
    assert first.model_fields_set == set(values)
    assert first.model_fields_set is not second.model_fields_set
