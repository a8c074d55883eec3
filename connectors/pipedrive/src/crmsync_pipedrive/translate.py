"""Pure translation of Pipedrive API v2 JSON into crmsync's canonical model."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus, Owner, Pipeline, Stage
from crmsync_pipedrive.fields import DEFAULT_FIELDS, resolve

HUNDRED = Decimal(100)
PROBABILITY_ENABLED = "probability_enabled"


def rfc3339(value: datetime) -> str:
    """A timestamp as Pipedrive's v2 filters take it: UTC, whole seconds, Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: Any, *, deal_id: str | None, field: str) -> datetime | None:
    """An RFC 3339 timestamp (v2 sends UTC with Z) as an aware UTC datetime; None stays None."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise RecordError(f"expected an RFC 3339 timestamp, got {value!r}", source_id=deal_id, field=field)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise RecordError(f"not an RFC 3339 timestamp: {value!r}", source_id=deal_id, field=field) from None
    if parsed.tzinfo is None:
        # Pipedrive's older "YYYY-MM-DD HH:MM:SS" form is UTC without saying so
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def won_stage_id(pipeline_id: str) -> str:
    return f"{pipeline_id}:won"


def lost_stage_id(pipeline_id: str) -> str:
    return f"{pipeline_id}:lost"


def closing_stages(pipeline: Pipeline, after: int) -> list[Stage]:
    """Pipedrive marks won/lost by a deal's status, not by a stage: each pipeline gets two closing stages."""
    return [
        Stage(
            id=won_stage_id(pipeline.id),
            label="Won",
            pipeline_id=pipeline.id,
            order=after + 1,
            probability=Decimal(1),
            closed=True,
            won=True,
        ),
        Stage(
            id=lost_stage_id(pipeline.id),
            label="Lost",
            pipeline_id=pipeline.id,
            order=after + 2,
            probability=Decimal(0),
            closed=True,
            won=False,
        ),
    ]


def stage_from(raw: dict[str, Any]) -> Stage:
    percent = raw.get("deal_probability")
    return Stage(
        id=str(raw["id"]),
        label=str(raw["name"]),
        pipeline_id=str(raw["pipeline_id"]),
        order=int(raw.get("order_nr") or 0),
        probability=None if percent is None else Decimal(str(percent)) / HUNDRED,
    )


def _decimal(value: Any, *, deal_id: str, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RecordError(f"expected a number, got {value!r}", source_id=deal_id, field=field)
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise RecordError(f"expected a number, got {value!r}", source_id=deal_id, field=field) from None


def _date(value: Any, *, deal_id: str, field: str) -> date | None:
    if value is None or value == "":
        return None
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        raise RecordError(f"expected a date YYYY-MM-DD, got {value!r}", source_id=deal_id, field=field) from None


def _option(value: Any) -> int | None:
    """An enum custom field's option id: v2 sends the integer; tolerate {"id": ..} and digit strings."""
    if isinstance(value, dict):
        value = value.get("id", value.get("value"))
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def read_field(raw: dict[str, Any], reference: Reference, name: str) -> tuple[Any, str | None]:
    """The value of a mapped field (system code, custom field name or key) and, for money, its currency.

    Enum fields give their option's label; monetary custom fields their amount and currency.
    """
    field = resolve(reference, name)
    if field is None or not field.custom:
        return raw.get(field.code if field else name), None
    value = (raw.get("custom_fields") or {}).get(field.code)
    if field.field_type in ("enum", "status") or field.options:
        option = _option(value)
        return (field.options.get(option, str(option)) if option is not None else None), None
    if isinstance(value, dict):
        currency = value.get("currency")
        return value.get("value"), currency if isinstance(currency, str) else None
    return value, None


def to_deal(raw: dict[str, Any], reference: Reference, *, connection: str, mapping: Mapping) -> Deal:
    """Map one v2 deal to the canonical Deal; raise RecordError naming the field for a bad record."""
    if not isinstance(raw.get("id"), int | str) or raw.get("id") in ("", None):
        raise RecordError("the deal has no id", field="id")
    deal_id = str(raw["id"])

    def field(canonical: str) -> tuple[Any, str | None]:
        name = mapping.field(canonical, DEFAULT_FIELDS[canonical])
        return read_field(raw, reference, name) if name else (None, None)

    title = field("name")[0]
    if not isinstance(title, str) or not title.strip():
        raise RecordError("the deal has no title", source_id=deal_id, field=mapping.field("name", "title"))
    pipeline = reference.pipelines.get(str(raw.get("pipeline_id")))
    if pipeline is None:
        raise RecordError(f"unknown pipeline {raw.get('pipeline_id')!r}", source_id=deal_id, field="pipeline_id")
    stage = reference.stages.get(str(raw.get("stage_id")))
    if stage is None or stage.pipeline_id != pipeline.id:
        raise RecordError(
            f"unknown stage {raw.get('stage_id')!r} in pipeline {pipeline.label!r}", source_id=deal_id, field="stage_id"
        )
    status_text = "deleted" if raw.get("is_deleted") else raw.get("status")
    try:
        status = DealStatus(str(status_text))
    except ValueError:
        raise RecordError(f"unknown status {status_text!r}", source_id=deal_id, field="status") from None
    extra = {"stage_id": stage.id, "stage": stage.label}
    if status is DealStatus.WON:
        stage = reference.stages.get(won_stage_id(pipeline.id), stage)
    elif status is DealStatus.LOST:
        stage = reference.stages.get(lost_stage_id(pipeline.id), stage)

    amount_value, money_currency = field("amount")
    amount = _decimal(amount_value, deal_id=deal_id, field=mapping.field("amount", "value"))
    if amount == 0:
        amount = None  # Pipedrive shows an unset value as 0
    currency = money_currency or field("currency")[0] or mapping.default_currency
    owner_value = field("owner")[0]
    group = field("group")[0]
    lost_reason = field("lost_reason")[0]
    category = _category(raw, reference, mapping)
    probability = _decimal(raw.get("probability"), deal_id=deal_id, field="probability")
    enabled = reference.extra.get(PROBABILITY_ENABLED, {})
    closed_at = None
    for name in ("won_time", "lost_time", "close_time"):
        closed_at = closed_at or parse_time(raw.get(name), deal_id=deal_id, field=name)
    if raw.get("is_archived"):
        extra["archived"] = "true"
    return Deal(
        connection=connection,
        source_id=deal_id,
        name=title.strip(),
        pipeline=pipeline,
        stage=stage,
        status=status,
        amount=amount,
        currency=str(currency) if currency else None,
        close_date=_date(
            field("close_date")[0], deal_id=deal_id, field=mapping.field("close_date", "expected_close_date")
        ),
        owner=Owner(id=str(owner_value)) if owner_value not in (None, "") else None,
        created_at=parse_time(raw.get("add_time"), deal_id=deal_id, field="add_time"),
        updated_at=parse_time(raw.get("update_time"), deal_id=deal_id, field="update_time"),
        closed_at=closed_at if status in (DealStatus.WON, DealStatus.LOST) else None,
        remote_category=category,
        remote_probability=probability,
        writable=not raw.get("is_archived"),
        probability_writable=bool(enabled.get(pipeline.id, False)),
        lost_reason=str(lost_reason) if lost_reason and status is DealStatus.LOST else None,
        group=str(group) if group not in (None, "") else None,
        extra=extra,
    )


def _category(raw: dict[str, Any], reference: Reference, mapping: Mapping) -> str | None:
    name = mapping.writeback.category_field
    if name is None:
        return None
    field = resolve(reference, name)
    if field is None:
        return None
    option = _option((raw.get("custom_fields") or {}).get(field.code))
    if option is None:
        return None
    # an option that no longer exists is kept as its id: it is nobody's label, so never ours
    return field.options.get(option, str(option))
