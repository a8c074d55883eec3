"""Pure mapping from HubSpot's deal JSON (string-typed properties) to the canonical Deal."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus, Owner

# canonical field → default HubSpot property
DEFAULT_FIELDS = {
    "name": "dealname",
    "amount": "amount",
    "currency": "deal_currency_code",
    "close_date": "closedate",
    "owner": "hubspot_owner_id",
    "lost_reason": "closed_lost_reason",
    "group": "hubspot_team_id",
}
CATEGORY = "hs_manual_forecast_category"
PROBABILITY = "hs_forecast_probability"
PEOPLE = {"CRM_UI", "MOBILE_IOS", "MOBILE_ANDROID", "IMPORT"}
MACHINES = {"INTEGRATION", "API", "AUTOMATION_PLATFORM", "WORKFLOWS", "CALCULATED"}


def parse_time(value: str | None, *, deal_id: str, field: str) -> datetime | None:
    if not value:
        return None
    try:
        if not isinstance(value, str):
            raise TypeError(value)
        if value.isdigit():
            return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, TypeError, OverflowError, OSError):  # OverflowError/OSError: epoch values out of range
        raise RecordError(f"{value!r} is not a timestamp", source_id=deal_id, field=field) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_decimal(value: str | None, *, deal_id: str, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise RecordError(f"{value!r} is not a number", source_id=deal_id, field=field) from None
    if not number.is_finite():
        raise RecordError(f"{value!r} is not a finite number", source_id=deal_id, field=field)
    return number


def manual_from_history(raw: dict[str, Any], name: str) -> bool | None:
    """Whether a person made the latest change of property `name`, from propertiesWithHistory."""
    history = (raw.get("propertiesWithHistory") or {}).get(name)
    if not history:
        return None
    latest = max(history, key=lambda entry: entry.get("timestamp", ""))
    source = latest.get("sourceType")
    if source in PEOPLE:
        return True
    if source in MACHINES:
        return False
    return None


def to_deal(connection: str, raw: dict[str, Any], reference: Reference, mapping: Mapping) -> Deal:
    """Map one HubSpot deal object to the canonical Deal.

    Raises:
        RecordError: no id, an unknown pipeline or stage, or a value that does not parse.
    """
    deal_id = str(raw.get("id") or "")
    if not deal_id:
        raise RecordError("deal object has no 'id'")
    props: dict[str, str | None] = raw.get("properties") or {}

    def prop(canonical: str) -> str | None:
        return props.get(mapping.field(canonical, DEFAULT_FIELDS[canonical]))

    pipeline = reference.pipelines.get(props.get("pipeline") or "")
    if pipeline is None:
        raise RecordError(f"unknown pipeline {props.get('pipeline')!r}", source_id=deal_id, field="pipeline")
    stage = reference.stages.get(props.get("dealstage") or "")
    if stage is None or stage.pipeline_id != pipeline.id:
        raise RecordError(
            f"unknown stage {props.get('dealstage')!r} in pipeline {pipeline.label!r}",
            source_id=deal_id,
            field="dealstage",
        )
    status = DealStatus.OPEN
    if stage.closed:
        status = DealStatus.WON if stage.won else DealStatus.LOST
    if raw.get("archived"):
        status = DealStatus.DELETED
    close_moment = parse_time(prop("close_date"), deal_id=deal_id, field="closedate")
    close_date: date | None = close_moment.astimezone(UTC).date() if close_moment else None
    owner_id = prop("owner")
    return Deal(
        connection=connection,
        source_id=deal_id,
        name=prop("name") or f"Deal {deal_id}",
        pipeline=pipeline,
        stage=stage,
        status=status,
        amount=parse_decimal(prop("amount"), deal_id=deal_id, field="amount"),
        currency=(prop("currency") or mapping.default_currency or None),
        close_date=close_date,
        owner=Owner(id=owner_id) if owner_id else None,
        created_at=parse_time(props.get("createdate") or raw.get("createdAt"), deal_id=deal_id, field="createdate"),
        updated_at=parse_time(
            props.get("hs_lastmodifieddate") or raw.get("updatedAt"),
            deal_id=deal_id,
            field="hs_lastmodifieddate",
        ),
        closed_at=close_moment if stage.closed else None,
        remote_category=props.get(mapping.writeback.category_field or CATEGORY) or None,
        remote_probability=parse_decimal(
            props.get(mapping.writeback.probability_field or PROBABILITY), deal_id=deal_id, field=PROBABILITY
        ),
        category_is_manual=manual_from_history(raw, mapping.writeback.category_field or CATEGORY),
        probability_is_manual=manual_from_history(raw, mapping.writeback.probability_field or PROBABILITY),
        writable=not raw.get("archived", False),
        lost_reason=prop("lost_reason") if status is DealStatus.LOST else None,
        group=prop("group"),
    )
