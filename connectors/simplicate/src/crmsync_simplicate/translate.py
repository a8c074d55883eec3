"""Pure translation between Simplicate's payloads and the canonical model.

Simplicate has one implicit pipeline. Its stages are the progress steps (each with a fixed chance to score and
a position) while a sale is open; a scored or lost sale sits in the matching status "stage" (closed, won or
not), the way closed-won/closed-lost stages work elsewhere. The step a closed sale ended in is kept in
`Deal.extra["progress"]`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.kit import RecordReader, read_stage, trusted_deal
from crmsync.localtime import WallClock
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus, Owner, Pipeline, Stage

AMSTERDAM = WallClock(ZoneInfo("Europe/Amsterdam"), separator=" ")  # the zone is a setting; this is the default
PIPELINE_ID = "sales"
NO_PROGRESS = "salesprogress:none"
StatusKind = Literal["open", "won", "lost"]
DEFAULT_FIELDS = {
    "name": "subject",
    "amount": "expected_revenue",
    "close_date": "expected_closing_date",
    "owner": "responsible_employee",
    "group": "teams",
}
_KIND_WORDS: tuple[tuple[StatusKind, tuple[str, ...]], ...] = (
    ("won", ("scored", "score", "won", "accepted", "gewonnen", "gescoord")),
    ("lost", ("lost", "declined", "verloren", "afgewezen")),
    ("open", ("open",)),
)


def status_kind(label: str) -> StatusKind | None:
    """Open / won / lost from a status label such as `OpportunityStatus_scored`; None when unrecognised."""
    text = label.lower().replace("opportunitystatus_", "")
    for kind, words in _KIND_WORDS:
        if any(word in text for word in words):
            return kind
    return None


def build_reference(
    progress: list[dict[str, Any]],
    statuses: list[dict[str, Any]],
    custom_fields: list[dict[str, Any]],
    sources: list[dict[str, Any]],
    reasons: list[dict[str, Any]],
    pipeline_label: str = "Sales",
) -> Reference:
    """The Reference from Simplicate's reference lists; steps first (by position), then scored and lost."""
    pipeline = Pipeline(id=PIPELINE_ID, label=pipeline_label)
    stages: dict[str, Stage] = {}
    last = 0
    for raw in sorted(progress, key=lambda r: int(r.get("position") or 0)):
        stage = read_stage(raw, PIPELINE_ID, order="position", percent="chance_to_score")
        stages[stage.id] = stage
        last = max(last, stage.order)
    kinds: dict[str, str] = {}
    for raw in statuses:
        label = str(raw.get("label") or raw["id"])
        kind = status_kind(label)
        if kind is None:
            continue
        kinds[str(raw["id"])] = kind
        if kind != "open":
            won = kind == "won"
            label, order = ("Scored", last + 1) if won else ("Lost", last + 2)
            stages[str(raw["id"])] = Stage.ending(str(raw["id"]), label, PIPELINE_ID, order, won=won)
    return Reference(
        pipelines={pipeline.id: pipeline},
        stages=stages,
        fields={str(f["name"]): f for f in custom_fields if f.get("name")},
        extra={
            "status_kinds": kinds,
            "status_labels": {str(s["id"]): str(s.get("label")) for s in statuses},
            "sources": {str(s["id"]): s.get("name") for s in sources},
            "reasons": {str(r["id"]): r.get("name") for r in reasons},
        },
    )


def custom_value(raw: dict[str, Any], name: str) -> str | None:
    """The value of the sale's custom field `name`, or None when unset."""
    for item in raw.get("custom_fields") or []:
        if isinstance(item, dict) and name in (item.get("name"), item.get("label")):
            value = item.get("value")
            return None if value in (None, "") else str(value)
    return None


def _reader(raw: dict[str, Any], clock: WallClock) -> RecordReader:
    """A reader of one sale: Simplicate's ids are text, its times the account's zone-less wall clock."""
    if isinstance(raw, dict) and not isinstance(raw.get("id"), str):
        raise RecordError("missing or non-text id", source_id=None, field="id")
    return RecordReader(raw, parse_instant=clock.parse, parse_date=clock.date)


def _read_chance(reader: RecordReader, field: str) -> Decimal | None:
    chance = reader.decimal(field)
    if chance is not None and not 0 <= chance <= 100:
        raise reader.fail(f"{chance} is outside 0..100", field)
    return chance


def _stage(reader: RecordReader, reference: Reference) -> Stage:
    progress = reader.raw.get("progress")
    if not isinstance(progress, dict) or not progress.get("id"):
        return Stage(id=NO_PROGRESS, label="(no progress step)", pipeline_id=PIPELINE_ID)
    known = reference.stages.get(str(progress["id"]))
    if known is not None:
        return known
    chance = _read_chance(reader, "progress.chance_to_score")  # a step added after the reference was read
    return Stage(
        id=str(progress["id"]),
        label=str(progress.get("label") or progress["id"]),
        pipeline_id=PIPELINE_ID,
        order=int(progress.get("position") or 0),
        probability=None if chance is None else chance / 100,
    )


def _status(reader: RecordReader, reference: Reference) -> StatusKind:
    status = reader.raw.get("status")
    if not isinstance(status, dict) or not (status.get("id") or status.get("label")):
        raise reader.fail("the sale has no status", "status")
    kinds: dict[str, StatusKind] = reference.extra.get("status_kinds", {})
    kind = kinds.get(str(status.get("id"))) or status_kind(str(status.get("label") or ""))
    if kind is None:
        raise reader.fail(f"status {status.get('label')!r} is neither open, scored nor lost", "status")
    return kind


def _owner(reader: RecordReader, path: str) -> Owner | None:
    value = reader.path(path)
    if isinstance(value, dict) and value.get("id"):
        return Owner(id=str(value["id"]), name=value.get("name"), email=value.get("email"))
    if isinstance(value, str) and value:
        return Owner(id=value)
    return None


def _name(value: Any, *keys: str) -> str | None:
    """The name (or label) of a linked object like `{"id": …, "name": …}`, or of the first of a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict):
        value = next((value[key] for key in keys or ("name", "label") if value.get(key)), None)
    return None if value in (None, "") else str(value)


def to_deal(raw: dict[str, Any], reference: Reference, mapping: Mapping, connection: str, clock: WallClock) -> Deal:
    """Map one raw sale to a canonical Deal; raise RecordError for a bad record."""
    reader = _reader(raw, clock)
    fields = {key: mapping.field(key, default) for key, default in DEFAULT_FIELDS.items()}
    kind = _status(reader, reference)
    step = _stage(reader, reference)
    stage = step
    status = {"open": DealStatus.OPEN, "won": DealStatus.WON, "lost": DealStatus.LOST}[kind]
    if kind != "open":
        status_id = str(raw["status"].get("id"))
        label = "Scored" if kind == "won" else "Lost"
        stage = reference.stages.get(status_id) or Stage.ending(
            status_id or kind, label, PIPELINE_ID, 0, won=kind == "won"
        )
    created = reader.instant("created_at")
    updated = reader.instant("updated_at") or created
    chance = _read_chance(reader, "chance_to_score")
    step_chance = None if step.probability is None else step.probability * 100
    manual = True if chance is not None and step_chance is not None and chance != step_chance else None
    category_field = mapping.writeback.category_field
    extra = {
        key: value
        for key, value in {
            "progress": step.label if step.id != NO_PROGRESS else None,
            "source": _name(raw.get("source")),
            "organization": _name(raw.get("organization")),
        }.items()
        if value is not None
    }
    name = reader.path(fields["name"])
    return trusted_deal(
        connection=connection,
        source_id=reader.id,
        name=str(name) if name not in (None, "") else reader.id,
        pipeline=reference.pipelines.get(PIPELINE_ID) or Pipeline(id=PIPELINE_ID, label="Sales"),
        stage=stage,
        status=status,
        amount=reader.decimal(fields["amount"]),
        currency=mapping.default_currency or "EUR",
        close_date=reader.date(fields["close_date"]),
        owner=_owner(reader, fields["owner"]),
        created_at=created,
        updated_at=updated,
        closed_at=(reader.instant("status_updated_at") or updated) if kind != "open" else None,
        remote_category=custom_value(raw, category_field) if category_field else None,
        remote_probability=chance,
        category_is_manual=None,
        probability_is_manual=manual,
        lost_reason=_name(raw.get("reason")) if kind == "lost" else None,
        lost_to=_name(raw.get("lost_to_competitor")) if kind == "lost" else None,
        group=_name(reader.path(fields["group"]), "name", "id"),
        extra=extra,
    )
