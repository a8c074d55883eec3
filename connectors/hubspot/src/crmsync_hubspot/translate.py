"""Pure mapping from HubSpot's deal JSON (string-typed properties) to the canonical Deal."""

from __future__ import annotations

from typing import Any

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.kit import RecordReader, trusted_deal
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus

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


def manual_from_history(raw: dict[str, Any], name: str) -> bool | None:
    """Whether a person made the latest change of property `name`, from propertiesWithHistory."""
    histories = raw.get("propertiesWithHistory")
    history = histories.get(name) if isinstance(histories, dict) else None
    entries = [entry for entry in history if isinstance(entry, dict)] if isinstance(history, list) else []
    if not entries:
        return None
    latest = max(entries, key=lambda entry: str(entry.get("timestamp", "")))
    source = latest.get("sourceType")
    if source in PEOPLE:
        return True
    if source in MACHINES:
        return False
    return None


_resolved: tuple[Mapping, dict[str, str]] | None = None  # the last mapping's property names


def _names(mapping: Mapping) -> dict[str, str]:
    """The HubSpot property of each canonical field, resolved once per mapping (a sync maps every deal alike)."""
    global _resolved
    resolved = _resolved
    if resolved is None or resolved[0] is not mapping:
        resolved = _resolved = (mapping, {name: mapping.field(name, field) for name, field in DEFAULT_FIELDS.items()})
    return resolved[1]


def to_deal(connection: str, raw: dict[str, Any], reference: Reference, mapping: Mapping) -> Deal:
    """Map one HubSpot deal object to the canonical Deal.

    Raises:
        RecordError: no id, an unknown pipeline or stage, or a value that does not parse.
    """
    top = RecordReader(raw)
    deal_id = top.id
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise RecordError(f"'properties' is a JSON {type(properties).__name__}, not an object", source_id=deal_id)
    props = RecordReader(properties, source_id=deal_id)

    names = _names(mapping)
    pipeline = reference.pipelines.get(props.text("pipeline") or "")
    if pipeline is None:
        raise props.fail(f"unknown pipeline {props.path('pipeline')!r}", "pipeline")
    stage = reference.stages.get(props.text("dealstage") or "")
    if stage is None or stage.pipeline_id != pipeline.id:
        raise props.fail(f"unknown stage {props.path('dealstage')!r} in pipeline {pipeline.label!r}", "dealstage")
    archived = raw.get("archived") is True or str(raw.get("archived")).lower() == "true"  # "false" is not true
    status = DealStatus.OPEN
    if stage.closed:
        status = DealStatus.WON if stage.won else DealStatus.LOST
    if archived:
        status = DealStatus.DELETED
    close_moment = props.instant(names["close_date"])
    owner_id = props.text(names["owner"])
    category_field = mapping.writeback.category_field or CATEGORY
    probability_field = mapping.writeback.probability_field or PROBABILITY
    return trusted_deal(
        connection=connection,
        source_id=deal_id,
        name=props.text(names["name"]) or f"Deal {deal_id}",
        pipeline=pipeline,
        stage=stage,
        status=status,
        amount=props.decimal(names["amount"]),
        currency=props.text(names["currency"]) or mapping.default_currency or None,
        close_date=close_moment.date() if close_moment else None,
        owner=reference.owner_of(owner_id) if owner_id else None,
        created_at=props.instant("createdate") or top.instant("createdAt"),
        updated_at=props.instant("hs_lastmodifieddate") or top.instant("updatedAt"),
        closed_at=close_moment if stage.closed else None,
        remote_category=props.text(category_field),
        remote_probability=props.decimal(probability_field),
        category_is_manual=manual_from_history(raw, category_field),
        probability_is_manual=manual_from_history(raw, probability_field),
        writable=not archived,
        lost_reason=props.text(names["lost_reason"]) if status is DealStatus.LOST else None,
        group=props.text(names["group"]),
    )
