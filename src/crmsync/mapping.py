"""Mapping files: how one CRM's deals map onto the canonical model and the forecast rules.

A mapping file is TOML validated by the models below. Unknown keys are rejected, and every error names the
file, the key and what is allowed.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crmsync.config import error_from_validation, parse_toml
from crmsync.errors import MappingError
from crmsync.model import DealStatus, ForecastCategory

OverridePolicy = Literal["respect", "enforce", "reset_on_stage_change"]
Period = Literal["this_month", "this_quarter", "this_year", "next_month", "next_quarter"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StageRule(_Model):
    """Pipeline/stage → category and probability. `stage` is a stage id or its label."""

    pipeline: str = Field(default="*", description="pipeline id or label, '*' for any")
    stage: str
    category: ForecastCategory
    probability: Decimal | None = Field(default=None, ge=0, le=1, description="None: the CRM's own")


class Condition(_Model):
    """When a conditional rule applies. Every given key must hold (AND); list values are alternatives (OR)."""

    pipeline: list[str] | None = None
    stage: list[str] | None = None
    status: list[DealStatus] | None = None
    category: list[ForecastCategory] | None = Field(default=None, description="the category decided so far")
    owner: list[str] | None = Field(default=None, description="owner ids or emails")
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    amount_missing: bool | None = None
    close_date_missing: bool | None = None
    close_date_past: bool | None = Field(default=None, description="close date before today")
    close_date_within_days: int | None = Field(default=None, description="close date ≤ today + N days")
    close_date_beyond_days: int | None = Field(default=None, description="close date > today + N days")
    close_date_in: Period | None = None
    close_date_not_in: Period | None = None
    age_days_min: int | None = Field(default=None, ge=0, description="days since the deal was created")
    age_days_max: int | None = Field(default=None, ge=0)


class Action(_Model):
    """What a rule does. Caps only lower a value; `flag` raises a data-quality flag."""

    category: ForecastCategory | None = None
    probability: Decimal | None = Field(default=None, ge=0, le=1)
    cap_category: ForecastCategory | None = None
    cap_probability: Decimal | None = Field(default=None, ge=0, le=1)
    flag: str | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Action:
        if not self.model_fields_set:
            raise ValueError("a rule must do something: category, probability, cap_category, cap_probability or flag")
        return self


class Rule(_Model):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    when: Condition = Field(default_factory=Condition)
    then: Action


class WriteBack(_Model):
    """Which remote fields receive the results, and how values are translated."""

    category_field: str | None = Field(default=None, description="None: the category is not written")
    probability_field: str | None = Field(default=None, description="None: the probability is not written")
    probability_scale: Literal[1, 100] = Field(default=1, description="1: 0..1, 100: percent")
    probability_decimals: int = Field(default=2, ge=0, le=6)
    category_values: dict[ForecastCategory, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _values_for_every_category(self) -> WriteBack:
        if self.category_field is not None:
            missing = [c.value for c in ForecastCategory if c not in self.category_values]
            if missing:
                raise ValueError(f"category_values has no remote value for: {', '.join(missing)}")
        return self

    def remote_category(self, category: ForecastCategory) -> str:
        return self.category_values[category]

    def canonical_category(self, remote: str | None) -> ForecastCategory | None:
        for category, value in self.category_values.items():
            if value == remote:
                return category
        return None

    def remote_probability(self, probability: Decimal) -> Decimal:
        scaled = probability * self.probability_scale
        return scaled.quantize(Decimal(1).scaleb(-self.probability_decimals))


class Overrides(_Model):
    """What to do when a person set the field by hand in the CRM."""

    category: OverridePolicy = "respect"
    probability: OverridePolicy = "respect"


class Mapping(_Model):
    connector: str
    fields: dict[str, str] = Field(default_factory=dict, description="canonical field → remote field")
    options: dict[str, str | int | bool] = Field(default_factory=dict, description="connector-specific options")
    default_currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    stages: list[StageRule] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)
    writeback: WriteBack = Field(default_factory=WriteBack)
    overrides: Overrides = Field(default_factory=Overrides)
    path: str | None = Field(default=None, exclude=True)

    @field_validator("rules")
    @classmethod
    def _unique_ids(cls, rules: list[Rule]) -> list[Rule]:
        seen: set[str] = set()
        for rule in rules:
            if rule.id in seen:
                raise ValueError(f"rule id {rule.id!r} is used twice")
            seen.add(rule.id)
        return rules

    def digest(self) -> str:
        """A stable hash of the mapping's content: a change means every deal must be recomputed."""
        return hashlib.sha256(self.model_dump_json().encode()).hexdigest()[:16]

    def check_fields(self, allowed: set[str]) -> None:
        """Reject canonical field names the connector does not know, listing those it does."""
        for name in self.fields:
            if name not in allowed:
                raise MappingError(
                    f"unknown canonical field; allowed: {', '.join(sorted(allowed))}",
                    file=self.path,
                    key=f"fields.{name}",
                )

    def field(self, canonical: str, default: str) -> str:
        return self.fields.get(canonical, default)


def parse_mapping(data: dict[str, Any], file: str) -> Mapping:
    try:
        mapping = Mapping.model_validate(data)
    except ValidationError as exc:
        raise error_from_validation(exc, file, cls=MappingError, model=Mapping) from None
    return mapping.model_copy(update={"path": file})


def load_mapping(path: Path) -> Mapping:
    """Load and validate a mapping file; errors name the file and key."""
    return parse_mapping(parse_toml(path), str(path))
