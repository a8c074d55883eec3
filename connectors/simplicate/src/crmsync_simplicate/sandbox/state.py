"""The sandbox's data: reference lists and sales in Simplicate's GET shape, and the PUT validation."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from crmsync_simplicate.sandbox import seed
from crmsync_simplicate.translate import AMSTERDAM

# The writable fields of a sale (Simplicate's Swagger, PUT /sales/sales/{id}): `reason` and `organization_id` are
# among them; `reason_id` is not (the lost reason is written as `reason`).
WRITABLE = frozenset(
    {
        "subject",
        "note",
        "start_date",
        "expected_closing_date",
        "expected_revenue",
        "chance_to_score",
        "progress_id",
        "status_id",
        "source_id",
        "reason",
        "organization_id",
        "responsible_employee_id",
        "custom_fields",
    }
)
_LINKS = {  # writable field → (reference list, nested field in the GET shape)
    "progress_id": ("progress", "progress"),
    "status_id": ("status", "status"),
    "source_id": ("source", "source"),
    "reason": ("reason", "reason"),
    "organization_id": ("organization", "organization"),
    "responsible_employee_id": ("employee", "responsible_employee"),
}


class NotFound(LookupError):
    """No record with that id (answered 404)."""


class Invalid(ValueError):
    """A PUT body the API rejects (answered 422); one message per problem."""

    def __init__(self, messages: list[str]) -> None:
        self.messages = messages
        super().__init__("; ".join(messages))


class SalesState:
    """Reference data and sales, guarded by one lock; `clock` gives the wall-clock time stamped on changes."""

    def __init__(self, deals: int, seed_value: int, clock: Callable[[], datetime] = AMSTERDAM.now) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.ref = seed.reference(seed_value)
        today = clock().date()
        self.sales: dict[str, dict[str, Any]] = {s["id"]: s for s in seed.sales(self.ref, deals, seed_value, today)}

    def now(self) -> str:
        return self.clock().isoformat(" ", "seconds")

    # -- reads -----------------------------------------------------------------------------------------------

    def list_sales(self) -> list[dict[str, Any]]:
        with self.lock:
            return [copy.deepcopy(sale) for sale in self.sales.values()]

    def get_sale(self, sale_id: str) -> dict[str, Any]:
        with self.lock:
            sale = self.sales.get(sale_id)
            if sale is None:
                raise NotFound(f"Sale with id '{sale_id}' not found")
            return copy.deepcopy(sale)

    def reference_list(self, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            return copy.deepcopy(self.ref[kind])

    def find(self, kind: str, item_id: str) -> dict[str, Any]:
        item = next((x for x in self.ref[kind] if x["id"] == item_id), None)
        if item is None:
            raise NotFound(f"{kind} with id '{item_id}' not found")
        return copy.deepcopy(item)

    def custom_value(self, sale_id: str, name: str) -> str | None:
        sale = self.get_sale(sale_id)
        return next((f["value"] for f in sale["custom_fields"] if f["name"] == name), None)

    # -- writes ----------------------------------------------------------------------------------------------

    def update_sale(self, sale_id: str, body: Any) -> None:
        """Apply a PUT body; raise NotFound or Invalid without changing anything on failure."""
        if not isinstance(body, dict):
            raise Invalid(["The request body must be a JSON object"])
        with self.lock:
            current = self.sales.get(sale_id)
            if current is None:
                raise NotFound(f"Sale with id '{sale_id}' not found")
            sale = copy.deepcopy(current)
            errors: list[str] = []
            for key, value in body.items():
                if key not in WRITABLE:
                    errors.append(f"Field '{key}' does not exist or is not writable")
                    continue
                try:
                    self._apply(sale, key, value)
                except Invalid as exc:
                    errors.extend(exc.messages)
            if errors:
                raise Invalid(errors)
            if "progress_id" in body and "chance_to_score" not in body:
                # As in Simplicate's UI: moving to another step takes that step's chance.
                sale["chance_to_score"] = int(sale["progress"]["chance_to_score"])
            if "status_id" in body and sale["status"]["id"] != current["status"]["id"]:
                sale["status_updated_at"] = self.now()
            sale["updated_at"] = self.now()
            self.sales[sale_id] = sale

    def _apply(self, sale: dict[str, Any], key: str, value: Any) -> None:
        if key in _LINKS:
            kind, nested = _LINKS[key]
            if value is None and key in ("source_id", "reason"):
                sale[nested] = None
                return
            if key == "reason" and isinstance(value, dict):
                value = value.get("id")  # the reason as the GET shape gives it, or its id
            try:
                sale[nested] = self.find(kind, str(value))
            except NotFound:
                raise Invalid([f"Field '{key}': no {kind} with id '{value}'"]) from None
        elif key == "chance_to_score":
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 100:
                raise Invalid([f"Field 'chance_to_score' must be an integer from 0 to 100, got {value!r}"])
            sale[key] = value
        elif key == "expected_revenue":
            if value is not None and (isinstance(value, bool) or not isinstance(value, int | float) or value < 0):
                raise Invalid([f"Field 'expected_revenue' must be a non-negative number, got {value!r}"])
            sale[key] = None if value is None else float(value)
        elif key in ("start_date", "expected_closing_date"):
            if value is not None:
                try:
                    date.fromisoformat(str(value))
                except ValueError:
                    raise Invalid([f"Field '{key}' must be a date (YYYY-MM-DD), got {value!r}"]) from None
            sale[key] = value
        elif key == "subject":
            if not isinstance(value, str) or not value.strip():
                raise Invalid(["Field 'subject' is required"])
            sale[key] = value
        elif key == "note":
            sale[key] = "" if value is None else str(value)
        else:  # custom_fields
            self._apply_custom(sale, value)

    def _apply_custom(self, sale: dict[str, Any], value: Any) -> None:
        if not isinstance(value, list):
            raise Invalid(["Field 'custom_fields' must be a list of {name, value} objects"])
        errors: list[str] = []
        for entry in value:
            if not isinstance(entry, dict) or "name" not in entry:
                errors.append("Every custom_fields entry needs a 'name' and a 'value'")
                continue
            definition = next((d for d in self.ref["customfields"] if d["name"] == entry["name"]), None)
            if definition is None:
                errors.append(f"Custom field '{entry['name']}' does not exist")
                continue
            new = entry.get("value")
            options = {o["id"]: o["value"] for o in definition["options"]}
            if options and new not in (None, ""):
                # Options are referenced by their `customfieldoption:` id (what the connector writes). The option's
                # text is taken too; whether Simplicate takes text is not documented (see README).
                if new in options:
                    new = options[new]
                elif new not in options.values():
                    ids = ", ".join(f"{i} ({v})" for i, v in options.items())
                    errors.append(f"Custom field '{entry['name']}': '{new}' is not an option id ({ids})")
                    continue
            fields = [f for f in sale["custom_fields"] if f["name"] != entry["name"]]
            if new not in (None, ""):
                fields.append(
                    {
                        "id": definition["id"],
                        "name": definition["name"],
                        "label": definition["label"],
                        "value": str(new),
                        "value_type": definition["value_type"],
                    }
                )
            sale["custom_fields"] = fields
        if errors:
            raise Invalid(errors)

    # -- a person in the UI ----------------------------------------------------------------------------------

    def touch(self, sale_id: str) -> None:
        self.update_sale(sale_id, {})

    def delete(self, sale_id: str) -> None:
        with self.lock:
            if self.sales.pop(sale_id, None) is None:
                raise NotFound(f"Sale with id '{sale_id}' not found")
