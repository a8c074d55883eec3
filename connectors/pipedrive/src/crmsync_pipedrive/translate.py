"""Pure translation of Pipedrive API v2 JSON into crmsync's canonical model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from crmsync.connector import Reference
from crmsync.kit import RecordReader, trusted_deal
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus, Pipeline, Stage
from crmsync_pipedrive.fields import DEFAULT_FIELDS, resolve

PROBABILITY_ENABLED = "probability_enabled"


def rfc3339(value: datetime) -> str:
    """A timestamp as Pipedrive's v2 filters take it: UTC, whole seconds, Z."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def won_stage_id(pipeline_id: str) -> str:
    return f"{pipeline_id}:won"


def lost_stage_id(pipeline_id: str) -> str:
    return f"{pipeline_id}:lost"


def closing_stages(pipeline: Pipeline, after: int) -> list[Stage]:
    """Pipedrive marks won/lost by a deal's status, not by a stage: each pipeline gets two closing stages."""
    return [
        Stage.ending(won_stage_id(pipeline.id), "Won", pipeline.id, after + 1, won=True),
        Stage.ending(lost_stage_id(pipeline.id), "Lost", pipeline.id, after + 2, won=False),
    ]


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
    reader = RecordReader(raw)
    deal_id = reader.id
    names = {canonical: mapping.field(canonical, default) for canonical, default in DEFAULT_FIELDS.items()}
    values: dict[str, Any] = {}
    currency = None
    for canonical, name in names.items():
        if name:
            values[name], money_currency = read_field(raw, reference, name)
            currency = currency or (money_currency if canonical == "amount" else None)
    fields = RecordReader(values, source_id=deal_id)  # the mapped values, named as Pipedrive names them

    title = values.get(names["name"])
    if not isinstance(title, str) or not title.strip():
        raise reader.fail("the deal has no title", names["name"])
    pipeline = reference.pipelines.get(str(raw.get("pipeline_id")))
    if pipeline is None:
        raise reader.fail(f"unknown pipeline {raw.get('pipeline_id')!r}", "pipeline_id")
    stage = reference.stages.get(str(raw.get("stage_id")))
    if stage is None or stage.pipeline_id != pipeline.id:
        raise reader.fail(f"unknown stage {raw.get('stage_id')!r} in pipeline {pipeline.label!r}", "stage_id")
    status_text = "deleted" if raw.get("is_deleted") else raw.get("status")
    try:
        status = DealStatus(str(status_text))
    except ValueError:
        raise reader.fail(f"unknown status {status_text!r}", "status") from None
    extra = {"stage_id": stage.id, "stage": stage.label}
    if status is DealStatus.WON:
        stage = reference.stages.get(won_stage_id(pipeline.id), stage)
    elif status is DealStatus.LOST:
        stage = reference.stages.get(lost_stage_id(pipeline.id), stage)
    amount = fields.decimal(names["amount"]) if names["amount"] else None
    if amount == 0:
        amount = None  # Pipedrive shows an unset value as 0
    currency = currency or (fields.text(names["currency"]) if names["currency"] else None) or mapping.default_currency
    owner = fields.text(names["owner"]) if names["owner"] else None
    group = fields.text(names["group"]) if names["group"] else None
    lost_reason = fields.text(names["lost_reason"]) if names["lost_reason"] else None
    closed_at = reader.instant("won_time") or reader.instant("lost_time") or reader.instant("close_time")
    if raw.get("is_archived"):
        extra["archived"] = "true"
    return trusted_deal(
        connection=connection,
        source_id=deal_id,
        name=title.strip(),
        pipeline=pipeline,
        stage=stage,
        status=status,
        amount=amount,
        currency=currency,
        close_date=fields.date(names["close_date"]) if names["close_date"] else None,
        owner=reference.owner_of(owner) if owner else None,
        created_at=reader.instant("add_time"),
        updated_at=reader.instant("update_time"),
        closed_at=closed_at if status in (DealStatus.WON, DealStatus.LOST) else None,
        remote_category=_category(raw, reference, mapping),
        remote_probability=reader.decimal("probability"),
        writable=not raw.get("is_archived"),
        probability_writable=bool(reference.extra.get(PROBABILITY_ENABLED, {}).get(pipeline.id, False)),
        lost_reason=lost_reason if status is DealStatus.LOST else None,
        group=group,
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
