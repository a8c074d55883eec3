"""Pure mapping from HubSpot's deal JSON (string-typed properties) to the canonical Deal."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.kit import RecordReader, blank_deal, trusted_deal, typed_deal
from crmsync.kit.records import LARGEST, MAX_NUMBER_TEXT, zulu_instant
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


@dataclass(frozen=True)
class _Names:
    """Where one mapping's values are in HubSpot's properties, resolved once (a sync maps every deal alike)."""

    fields: dict[str, str]  # canonical field → HubSpot property
    category: str
    probability: str


# The property names of the mappings seen, by identity (a worker maps for several connections at once), each kept
# with its mapping so a reused id is not taken for it.
_resolved: dict[int, tuple[Mapping, _Names]] = {}


def _names(mapping: Mapping) -> _Names:
    """The HubSpot properties of `mapping`, resolved once per mapping."""
    found = _resolved.get(id(mapping))
    if found is None or found[0] is not mapping:
        if len(_resolved) >= 64:  # mappings reloaded over a long life: start again rather than grow
            _resolved.clear()
        names = _Names(
            {name: mapping.field(name, field) for name, field in DEFAULT_FIELDS.items()},
            mapping.writeback.category_field or CATEGORY,
            mapping.writeback.probability_field or PROBABILITY,
        )
        found = _resolved[id(mapping)] = (mapping, names)
    return found[1]


def to_deal(connection: str, raw: dict[str, Any], reference: Reference, mapping: Mapping) -> Deal:
    """Map one HubSpot deal object to the canonical Deal.

    Raises:
        RecordError: no id, an unknown pipeline or stage, or a value that does not parse.
    """
    return quick_deal(connection, raw, reference, mapping) or careful_deal(connection, raw, reference, mapping)


def careful_deal(connection: str, raw: dict[str, Any], reference: Reference, mapping: Mapping) -> Deal:
    """`to_deal` through `RecordReader`, which reads any value a field may hold and names what does not parse."""
    top = RecordReader(raw)
    deal_id = top.id
    properties = raw.get("properties")
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise RecordError(f"'properties' is a JSON {type(properties).__name__}, not an object", source_id=deal_id)
    props = RecordReader(properties, source_id=deal_id)

    resolved = _names(mapping)
    names = resolved.fields
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
    category_field, probability_field = resolved.category, resolved.probability
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


class _Odd(Exception):
    """A value `quick_deal` leaves to `careful_deal`."""


_ODD = _Odd()
_OPEN, _WON, _LOST, _DELETED = DealStatus.OPEN, DealStatus.WON, DealStatus.LOST, DealStatus.DELETED


def _text(value: Any) -> str | None:
    if type(value) is str:
        return value.strip() or None
    if value is None:
        return None
    raise _ODD


def _number(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if type(value) is not str or len(value) > MAX_NUMBER_TEXT:
        raise _ODD
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _ODD from None
    if not (number.is_finite() and -LARGEST < number < LARGEST):
        raise _ODD
    return number


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise _ODD
    moment = zulu_instant(value)  # HubSpot's own form, '2026-02-09T11:37:06.826Z', as iso_instant reads it
    if moment is None or moment.tzinfo is not UTC:
        raise _ODD
    return moment


_closes: dict[str, tuple[datetime, date]] = {}  # close dates read lately: a page's deals share a few (midnights)
_NO_CLOSE = (None, None)


def _close(value: Any) -> tuple[datetime, date] | tuple[None, None]:
    """The close moment and its date."""
    if type(value) is str:
        found = _closes.get(value)
        if found is not None:
            return found
    moment = _instant(value)
    if moment is None:
        return _NO_CLOSE
    if len(_closes) >= 4096:
        _closes.clear()
    found = _closes[value] = (moment, moment.date())
    return found


def quick_deal(connection: str, raw: dict[str, Any], reference: Reference, mapping: Mapping) -> Deal | None:
    """The Deal `careful_deal` maps from a record as HubSpot sends it (every property a string or null, known
    pipeline and stage), at about half the cost; None for anything else, which `careful_deal` reads or names.

    Each value is read as `RecordReader` reads a string, and checked to its exact type, so the Deal is built
    without validating it again (`tests/test_hubspot_quick.py` compares the two on odd records)."""
    try:
        properties, deal_id = raw["properties"], raw["id"]
        if type(properties) is not dict or type(deal_id) is not str or not deal_id or deal_id.strip() != deal_id:
            return None
        get: Callable[[str], Any] = properties.get
        pipeline = reference.pipelines.get(get("pipeline"))
        stage = reference.stages.get(get("dealstage"))
        archived = raw.get("archived", False)
        if pipeline is None or stage is None or stage.pipeline_id != pipeline.id or type(archived) is not bool:
            return None
        status = _DELETED if archived else (_WON if stage.won else _LOST) if stage.closed else _OPEN
        names = _names(mapping)
        fields = names.fields
        close, day = _close(get(fields["close_date"]))
        owner_id = _text(get(fields["owner"]))
        values = blank_deal()  # set below in the Deal's order: the dict's order is the model's
        values["connection"] = connection
        values["source_id"] = deal_id
        values["name"] = _text(get(fields["name"])) or f"Deal {deal_id}"
        values["pipeline"] = pipeline
        values["stage"] = stage
        values["status"] = status
        values["amount"] = _number(get(fields["amount"]))
        values["currency"] = _text(get(fields["currency"])) or mapping.default_currency or None
        if close is not None:
            values["close_date"] = day
            if stage.closed:
                values["closed_at"] = close
        if owner_id:
            values["owner"] = reference.owner_of(owner_id)
        values["created_at"] = _instant(get("createdate")) or _instant(raw.get("createdAt"))
        values["updated_at"] = _instant(get("hs_lastmodifieddate")) or _instant(raw.get("updatedAt"))
        # the fields a record often lacks keep the blank's None, without a call
        if (value := get(names.category)) is not None:
            values["remote_category"] = _text(value)
        if (value := get(names.probability)) is not None:
            values["remote_probability"] = _number(value)
        if "propertiesWithHistory" in raw:
            values["category_is_manual"] = manual_from_history(raw, names.category)
            values["probability_is_manual"] = manual_from_history(raw, names.probability)
        if archived:
            values["writable"] = False
        if status is _LOST and (value := get(fields["lost_reason"])) is not None:
            values["lost_reason"] = _text(value)
        if (value := get(fields["group"])) is not None:
            values["group"] = _text(value)
        return typed_deal(values)
    except (_Odd, KeyError, TypeError, ValidationError):  # TypeError: an unhashable pipeline or stage
        return None  # ValidationError: a currency that is no code, which careful_deal names
