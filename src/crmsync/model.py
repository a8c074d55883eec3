"""The canonical model every connector maps its CRM's deals into."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("timestamp must carry a time zone")
    return value


AwareDatetime = Annotated[datetime, AfterValidator(_aware)]


def _currency(value: object) -> object:
    if isinstance(value, str):
        value = value.strip().upper() or None
    return value


def _currency_code(value: str | None) -> str | None:
    if value is not None and not (len(value) == 3 and value.isascii() and value.isalpha()):
        raise ValueError(f"{value!r} is not a three-letter ISO 4217 currency code")
    return value


# A three-letter code; CRMs send ' eur' or 'Eur' at times, which is read as 'EUR', and '' as no currency.
Currency = Annotated[str | None, BeforeValidator(_currency), AfterValidator(_currency_code)]


class ForecastCategory(StrEnum):
    """Forecast categories, in HubSpot's sense. Their order is the order of confidence."""

    OMITTED = "omitted"
    PIPELINE = "pipeline"
    BEST_CASE = "best_case"
    COMMIT = "commit"
    CLOSED = "closed"

    @property
    def rank(self) -> int:
        """Confidence rank: omitted 0 … closed 4; used to cap a category."""
        return list(ForecastCategory).index(self)


DEFAULT_LABELS: dict[ForecastCategory, str] = {
    ForecastCategory.PIPELINE: "Pipeline",
    ForecastCategory.BEST_CASE: "Best case",
    ForecastCategory.COMMIT: "Commit",
    ForecastCategory.CLOSED: "Closed",
    ForecastCategory.OMITTED: "Not forecasted",
}


class DealStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    DELETED = "deleted"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Pipeline(_Frozen):
    id: str
    label: str


class Stage(_Frozen):
    """A pipeline stage (or progress step, or forecast status) as the CRM defines it."""

    id: str
    label: str
    pipeline_id: str
    order: int = 0
    probability: Decimal | None = Field(default=None, ge=0, le=1, description="The CRM's own probability")
    closed: bool = False
    won: bool = False

    @classmethod
    def ending(cls, stage_id: str, label: str, pipeline_id: str, order: int, *, won: bool) -> Stage:
        """A closed stage at 100 % (won) or 0 %: for CRMs that mark won and lost by a status or result, not a
        stage, and get one such stage per outcome."""
        probability = Decimal(1 if won else 0)
        return cls(
            id=stage_id,
            label=label,
            pipeline_id=pipeline_id,
            order=order,
            probability=probability,
            closed=True,
            won=won,
        )


class Owner(_Frozen):
    id: str
    name: str | None = None
    email: str | None = None


class Deal(_Frozen):
    """One deal, opportunity, sale or forecast, in canonical form."""

    connection: str
    source_id: str
    name: str
    pipeline: Pipeline
    stage: Stage
    status: DealStatus
    amount: Decimal | None = Field(default=None, gt=-(10**16), lt=10**16, description="fits NUMERIC(18, 2)")
    currency: Currency = Field(default=None, description="ISO 4217 code")
    close_date: date | None = None
    owner: Owner | None = None
    created_at: AwareDatetime | None = None
    updated_at: AwareDatetime | None = None
    closed_at: AwareDatetime | None = None
    remote_category: str | None = Field(default=None, description="The category field's value as read")
    remote_probability: Decimal | None = Field(default=None, description="The probability field as read")
    category_is_manual: bool | None = Field(
        default=None, description="True/False when the API can tell a person set the category; None otherwise"
    )
    probability_is_manual: bool | None = None
    writable: bool = Field(default=True, description="False for archived records the CRM refuses to edit")
    probability_writable: bool = Field(default=True, description="False where the CRM ignores a deal's own value")
    lost_reason: str | None = None
    lost_to: str | None = None
    group: str | None = Field(default=None, description="Forecast group, team or business unit")
    extra: dict[str, str] = Field(default_factory=dict)


class Forecast(_Frozen):
    """What the rules decided for one deal, and why."""

    category: ForecastCategory
    probability: Decimal = Field(ge=0, le=1)
    weighted_amount: Decimal | None
    month: str | None = Field(description="YYYY-MM the deal lands in, or None for 'no date'")
    rule_ids: tuple[str, ...]
    flags: tuple[str, ...] = ()
    mapped: bool = Field(default=True, description="False when the deal's stage is not in the mapping")
