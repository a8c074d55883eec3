"""Deal fields: Pipedrive's custom fields have 40-character hash keys that differ per company, so the mapping
names them and they are resolved by name through GET /api/v2/dealFields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from crmsync.connector import Reference
from crmsync.kit.checks import option_problems
from crmsync.mapping import Mapping

# canonical field -> Pipedrive's own deal field (the default when the mapping's [fields] does not say)
DEFAULT_FIELDS: dict[str, str] = {
    "name": "title",
    "amount": "value",
    "currency": "currency",
    "close_date": "expected_close_date",
    "owner": "owner_id",
    "lost_reason": "lost_reason",
    "group": "",
}
# Pipedrive's own top-level deal properties, valid in [fields] whatever dealFields lists
SYSTEM_FIELDS = frozenset(
    {
        "title",
        "value",
        "currency",
        "expected_close_date",
        "owner_id",
        "lost_reason",
        "status",
        "stage_id",
        "pipeline_id",
        "probability",
        "org_id",
        "person_id",
        "creator_user_id",
        "origin",
        "channel",
    }
)


@dataclass(frozen=True)
class FieldRef:
    """Where a mapped field lives: a top-level deal property, or a key under `custom_fields`."""

    code: str
    name: str
    field_type: str
    custom: bool
    options: dict[int, str]

    def option_id(self, label: str) -> int | None:
        return next((oid for oid, text in self.options.items() if text == label), None)


def field_definitions(raw_fields: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Reference.fields: every deal field by its name (and custom fields also by their key)."""
    found: dict[str, dict[str, Any]] = {}
    for raw in raw_fields:
        code = str(raw.get("field_code", ""))
        name = str(raw.get("field_name", code))
        definition: dict[str, Any] = {
            "code": code,
            "name": name,
            "type": str(raw.get("field_type", "")),
            "custom": bool(raw.get("is_custom_field")),
            "options": [
                {"id": int(o["id"]), "label": str(o["label"])}
                for o in raw.get("options") or []
                if isinstance(o, dict) and "id" in o and "label" in o
            ],
        }
        found.setdefault(name, definition)
        if definition["custom"]:
            found[code] = definition
        else:
            found.setdefault(code, definition)
    return found


def resolve(reference: Reference, name: str) -> FieldRef | None:
    """A field by name, by custom key or by system field code."""
    definition = reference.fields.get(name)
    if definition is None:
        return None
    return FieldRef(
        code=definition["code"],
        name=definition["name"],
        field_type=definition["type"],
        custom=definition["custom"],
        options={int(o["id"]): str(o["label"]) for o in definition["options"]},
    )


def _custom_names(reference: Reference) -> str:
    names = sorted({d["name"] for d in reference.fields.values() if d["custom"]})
    return ", ".join(repr(n) for n in names) or "none"


def mapping_problems(mapping: Mapping, reference: Reference) -> list[str]:
    """What keeps the mapping from working against this Pipedrive company, in words `crmsync check` prints."""
    problems: list[str] = []
    wb = mapping.writeback
    if wb.category_field is not None:
        problems += _category_problems(mapping, reference, wb.category_field)
    for canonical, remote in mapping.fields.items():
        if remote and remote not in SYSTEM_FIELDS and resolve(reference, remote) is None:
            problems.append(
                f"fields.{canonical} names {remote!r}, which is not a Pipedrive deal field; "
                f"custom fields: {_custom_names(reference)}"
            )
    return problems


def _category_problems(mapping: Mapping, reference: Reference, name: str) -> list[str]:
    field = resolve(reference, name)
    if field is None or not field.custom:
        return [
            f"writeback.category_field: custom deal field {name!r} does not exist in Pipedrive "
            f"(create a single option field with that name); custom fields: {_custom_names(reference)}"
        ]
    if field.field_type != "enum":
        return [f"writeback.category_field: {name!r} is a {field.field_type} field; it must be a single option field"]
    return option_problems(mapping, set(field.options.values()))
