"""Helpers shared by the Simplicate connector tests: canned Simplicate bodies and respx routes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import respx

ROOT = Path(__file__).resolve().parents[3]
BASE = "https://acme.simplicate.nl/api/v2"
KEY = "key-0123456789"
SECRET = "secret-abcdefghijklmnop"


def ok(data: Any, count: int | None = None) -> httpx.Response:
    body: dict[str, Any] = {"data": data}
    if count is not None:
        body["metadata"] = {"count": count, "offset": 0, "limit": 100}
    body.update({"errors": None, "debug": None})
    return httpx.Response(200, json=body)


def failure(status: int, *messages: str, headers: dict[str, str] | None = None) -> httpx.Response:
    errors = [{"code": status, "type": "Validation", "message": m} for m in messages]
    return httpx.Response(status, json={"data": None, "errors": errors, "debug": None}, headers=headers)


def sale(n: int, updated: str = "2024-05-03 14:01:10", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": f"sales:{n:04x}",
        "subject": f"Sale {n}",
        "organization": {"id": "organization:ab12", "name": "Acme BV", "relation_number": "1001"},
        "responsible_employee": {"id": "employee:77aa", "person_id": "person:55bb", "name": "Jan Jansen"},
        "progress": {
            "id": "salesprogress:3",
            "label": "Offerte",
            "color": "#f5a623",
            "chance_to_score": 50.0,
            "position": 3,
        },
        "status": {"id": "salesstatus:open", "label": "OpportunityStatus_open"},
        "source": {"id": "salessource:1", "name": "Website"},
        "reason": None,
        "lost_to_competitor": None,
        "chance_to_score": 50,
        "expected_revenue": 12500.5,
        "start_date": "2024-04-02",
        "expected_closing_date": "2024-06-30",
        "created_at": "2024-04-02 09:12:44",
        "updated_at": updated,
        "status_updated_at": None,
        "teams": [],
        "custom_fields": [],
    }
    record.update(overrides)
    return record


PROGRESS = [
    {"id": f"salesprogress:{i}", "label": label, "color": "#000", "chance_to_score": float(chance), "position": i}
    for i, (label, chance) in enumerate(
        [("Introductie", 10), ("Kwalificatie", 25), ("Offerte", 50), ("Onderhandeling", 70), ("Mondeling akkoord", 90)],
        start=1,
    )
]
STATUSES = [
    {"id": "salesstatus:open", "label": "OpportunityStatus_open"},
    {"id": "salesstatus:scored", "label": "OpportunityStatus_scored"},
    {"id": "salesstatus:lost", "label": "OpportunityStatus_lost"},
]
CUSTOM_FIELDS = [
    {
        "id": "salescustomfield:1",
        "name": "forecast_category",
        "label": "Forecast categorie",
        "value_type": "select",
        "options": [
            {"id": f"o{i}", "value": v, "label": v}
            for i, v in enumerate(["Pijplijn", "Best case", "Commit", "Gesloten", "Niet in forecast"])
        ],
    },
]


def mock_reference(router: respx.MockRouter, fields: list[dict[str, Any]] | None = None) -> None:
    router.get("/sales/salesprogress").mock(return_value=ok(PROGRESS))
    router.get("/sales/salesstatus").mock(return_value=ok(STATUSES))
    router.get("/sales/salescustomfields").mock(return_value=ok(CUSTOM_FIELDS if fields is None else fields))
    router.get("/sales/salessource").mock(return_value=ok([{"id": "salessource:1", "name": "Website"}]))
    router.get("/sales/salesreason").mock(return_value=ok([{"id": "salesreason:1", "name": "Te duur"}]))
    employees = [{"id": "employee:1", "name": "Jan Jansen", "work_email": "jan@example.com"}]
    router.get("/hrm/employee").mock(return_value=ok(employees))


Handler = Callable[[httpx.Request], httpx.Response]
