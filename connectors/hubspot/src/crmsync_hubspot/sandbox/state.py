"""The HubSpot sandbox's data: deals with string-typed properties, property history, pipelines."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync_hubspot.sandbox import seed

READ_ONLY = {
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
    "hs_deal_stage_probability",
    "hs_is_closed",
    "hs_is_closed_won",
    "hs_projected_amount",
    "hs_forecast_amount",
}
WRITABLE = {
    "dealname",
    "amount",
    "deal_currency_code",
    "closedate",
    "pipeline",
    "dealstage",
    "hubspot_owner_id",
    "hs_manual_forecast_category",
    "hs_forecast_probability",
    "closed_lost_reason",
    "description",
}
DEFAULT_PROPERTIES = [
    "dealname",
    "amount",
    "closedate",
    "pipeline",
    "dealstage",
    "createdate",
    "hs_lastmodifieddate",
    "hs_object_id",
]
CATEGORY_VALUES = {value for _, value in seed.FORECAST_CATEGORY_OPTIONS}


class PropertyError(Exception):
    """A write HubSpot would refuse with 400 VALIDATION_ERROR."""

    def __init__(self, message: str, error: str, name: str) -> None:
        self.error = error
        self.name = name
        super().__init__(message)


@dataclass
class Record:
    id: str
    properties: dict[str, str | None]
    created_at: datetime
    updated_at: datetime
    archived: bool = False
    archived_at: datetime | None = None
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class HubSpotState:
    """All deals of one sandbox account."""

    def __init__(self, deals: int, seed_value: int) -> None:
        self.now = datetime.now(UTC)
        self.pipelines = seed.pipelines()
        self.stages = {s["id"]: (p, s) for p in self.pipelines for s in p["stages"]}
        self.records: dict[str, Record] = {}
        for raw in seed.deals(deals, seed_value, self.now):
            record = Record(raw["id"], raw["properties"], _parse(raw["createdAt"]), _parse(raw["updatedAt"]))
            self._derive(record)
            self.records[record.id] = record
        self._clock = self.now
        self.on_update: Callable[[str, dict[str, str | None], str], None] | None = None  # webhooks
        self.version = 0  # bumped on every change, so cached listings and searches stay correct
        self._sorted_key: tuple[bool, int] | None = None
        self._sorted: list[Record] = []
        self._sorted_ids: list[int] = []
        self.search_cache: dict[str, tuple[int, list[Record]]] = {}
        self._modified_key: tuple[int, int] | None = None
        self._modified: list[tuple[float, Record]] = []

    def tick(self) -> datetime:
        """The time of an edit, at HubSpot's millisecond resolution: real time, never behind an earlier edit's.

        Edits made within one millisecond share it, as they can in HubSpot (which documents no unique stamps): a
        client paging by `hs_lastmodifieddate` has to handle ties. An edit is never stamped ahead of real time
        (HubSpot never stamps one in the future, and clients bound their reads by their own clock), unless the
        machine's clock stepped back, when the clock holds still rather than run backwards.
        """
        self.version += 1
        now = datetime.now(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        if now > self._clock:
            self._clock = now
        return self._clock

    def _derive(self, record: Record) -> None:
        """Recompute HubSpot's calculated properties."""
        _pipeline, stage = self.stages[record.properties["dealstage"] or ""]
        props = record.properties
        props["hs_deal_stage_probability"] = stage["metadata"]["probability"]
        props["hs_is_closed"] = stage["metadata"]["isClosed"]
        props["hs_is_closed_won"] = "true" if stage["metadata"]["probability"] == "1.0" else "false"

    def by_id(self, archived: bool) -> list[Record]:
        """Live (or archived) records in id order, cached until the next edit or archive."""
        key = (archived, self.version)
        if self._sorted_key != key:
            self._sorted = sorted((r for r in self.records.values() if r.archived == archived), key=lambda r: int(r.id))
            self._sorted_ids = [int(r.id) for r in self._sorted]
            self._sorted_key = key
        return self._sorted

    def modified_index(self) -> list[tuple[float, Record]]:
        """Live records with a modification time, ordered by it (ties by id), cached until the next change."""
        key = (self.version, len(self.records))  # tests may add records directly, without an edit
        if self._modified_key != key:
            indexed = []
            for record in self.live():
                stamp = record.properties.get("hs_lastmodifieddate")
                try:
                    millis = datetime.fromisoformat((stamp or "").replace("Z", "+00:00")).timestamp() * 1000
                except ValueError:
                    continue  # HubSpot would not find it by this filter either
                indexed.append((millis, record))
            indexed.sort(key=lambda pair: (pair[0], int(pair[1].id)))
            self._modified = indexed
            self._modified_key = key
        return self._modified

    def after(self, archived: bool, after: int) -> list[Record]:
        """Records with an id above `after`, in id order."""
        rows = self.by_id(archived)
        return rows[bisect.bisect_right(self._sorted_ids, after) :]

    def live(self) -> list[Record]:
        return [r for r in self.records.values() if not r.archived]

    def validate(self, properties: dict[str, Any]) -> dict[str, str | None]:
        clean: dict[str, str | None] = {}
        for name, value in properties.items():
            if value is None:
                # HubSpot clears a property with an empty string ("To clear a property value, set it to an empty
                # string", CRM objects guide); null is no clear. Its effect is undocumented: the sandbox keeps
                # the value.
                continue
            if name in READ_ONLY:
                raise PropertyError(f'Property "{name}" is read-only', "READ_ONLY_VALUE", name)
            if name not in WRITABLE:
                raise PropertyError(f'Property "{name}" does not exist', "PROPERTY_DOESNT_EXIST", name)
            text = str(value)
            if name == "hs_manual_forecast_category" and text != "" and text not in CATEGORY_VALUES:
                raise PropertyError(
                    f"{text} was not one of the allowed options: [{', '.join(sorted(CATEGORY_VALUES))}]",
                    "INVALID_OPTION",
                    name,
                )
            if name in ("hs_forecast_probability", "amount") and text != "":
                try:
                    number = Decimal(str(text))
                except InvalidOperation:
                    raise PropertyError(f"{text} is not a valid number", "INVALID_DECIMAL", name) from None
                if name == "hs_forecast_probability" and not 0 <= number <= 1:
                    raise PropertyError(f"{text} is not between 0 and 1", "INVALID_DECIMAL", name)
            if name == "dealstage" and text not in self.stages:
                raise PropertyError(f"{text} is not a valid deal stage", "INVALID_OPTION", name)
            clean[name] = None if text == "" else text
        return clean

    def update(self, record: Record, properties: dict[str, str | None], source: str) -> None:
        moment = self.tick()
        for name, value in properties.items():
            record.properties[name] = value
            record.history.setdefault(name, []).insert(
                0,
                {
                    "value": value or "",
                    "timestamp": seed.iso(moment),
                    "sourceType": source,
                    "sourceId": "userId:9001" if source == "CRM_UI" else "crmsync",
                    **({"updatedByUserId": 9001} if source == "CRM_UI" else {}),
                },
            )
        self._derive(record)
        record.updated_at = moment
        record.properties["hs_lastmodifieddate"] = seed.iso(moment)
        if self.on_update is not None:
            self.on_update(record.id, properties, source)

    def to_json(self, record: Record, names: list[str] | None, history: list[str] | None) -> dict[str, Any]:
        wanted = names or DEFAULT_PROPERTIES
        body: dict[str, Any] = {
            "id": record.id,
            "properties": {
                name: record.properties.get(name)
                for name in wanted
                if name in record.properties or name in WRITABLE | READ_ONLY
            },
            "createdAt": seed.iso(record.created_at),
            "updatedAt": seed.iso(record.updated_at),
            "archived": record.archived,
        }
        body["properties"]["hs_object_id"] = record.id
        if record.archived and record.archived_at:
            body["archivedAt"] = seed.iso(record.archived_at)
        if history:
            body["propertiesWithHistory"] = {
                name: record.history.get(name, [])
                + (
                    [
                        {
                            "value": record.properties.get(name) or "",
                            "timestamp": seed.iso(record.created_at),
                            "sourceType": "CRM_UI",
                            "sourceId": "userId:9001",
                        }
                    ]
                    if record.properties.get(name) and not record.history.get(name)
                    else []
                )
                for name in history
            }
        return body
