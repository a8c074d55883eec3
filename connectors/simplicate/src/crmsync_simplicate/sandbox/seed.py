"""Deterministic seed data for the Simplicate sandbox: a Dutch sales funnel and its sales."""

from __future__ import annotations

import hashlib
import random
from datetime import date, datetime, timedelta
from typing import Any

CATEGORY_FIELD = "forecast_category"
CATEGORY_OPTIONS = ("Pijplijn", "Best case", "Commit", "Gesloten", "Niet in forecast")

# (label, chance_to_score, colour); position is the index + 1.
PROGRESS = (
    ("Introductie", 10, "#9b9b9b"),
    ("Kwalificatie", 25, "#4a90e2"),
    ("Offerte", 50, "#f5a623"),
    ("Onderhandeling", 70, "#bd10e0"),
    ("Mondeling akkoord", 90, "#7ed321"),
)
STATUSES = (
    ("open", "OpportunityStatus_open"),
    ("scored", "OpportunityStatus_scored"),
    ("lost", "OpportunityStatus_lost"),
)
SOURCES = ("Website", "Netwerk", "Beurs", "Bestaande klant")
REASONS = ("Te duur", "Timing", "Geen budget", "Gekozen voor concurrent")
COMPETITORS = ("Exact", "AFAS", "Teamleader")
EMPLOYEES = ("Jan Jansen", "Fatima el Amrani", "Pieter de Vries", "Sanne Bakker")
ORGANIZATIONS = (
    "Acme BV",
    "Bakkerij Brood & Zo",
    "Gemeente Utrecht",
    "Van Dijk Installatietechniek",
    "Studio Noord",
    "Zorggroep Oost",
    "Hollandse Logistiek",
    "Koffiebranderij Mokka",
)
SUBJECTS = (
    "Website redesign",
    "Hosting contract",
    "Implementatie",
    "Consultancy traject",
    "Onderhoud",
    "Training",
    "Koppeling ERP",
    "Data migratie",
)

# Both seeded fields hold text (a select field's value is its option's text), so both carry value_type "string".
VALUE_TYPE = "string"

# Wall-clock times around the daylight-saving changes of 2024 (Europe/Amsterdam).
DST_STAMPS = (
    "2024-10-27 02:30:00",
    "2024-10-27 01:59:59",
    "2024-10-27 03:00:00",
    "2024-03-31 03:15:00",
    "2024-03-31 01:45:00",
)


def make_id(kind: str, *parts: object) -> str:
    """A Simplicate-style id: `<kind>:<16 hex>`, stable for the same parts."""
    digest = hashlib.sha1(":".join(str(p) for p in (kind, *parts)).encode()).hexdigest()[:16]
    return f"{kind}:{digest}"


def reference(seed: int) -> dict[str, list[dict[str, Any]]]:
    """Progress steps, statuses, sources, reasons, competitors, employees and the sales custom fields."""
    return {
        "progress": [
            {
                "id": make_id("salesprogress", seed, label),
                "label": label,
                "color": color,
                "chance_to_score": float(chance),
                "position": index + 1,
            }
            for index, (label, chance, color) in enumerate(PROGRESS)
        ],
        "status": [{"id": make_id("salesstatus", seed, key), "label": label} for key, label in STATUSES],
        "source": [{"id": make_id("salessource", seed, name), "name": name} for name in SOURCES],
        "reason": [{"id": make_id("salesreason", seed, name), "name": name, "blocked": False} for name in REASONS],
        "competitor": [{"id": make_id("competitor", seed, name), "name": name} for name in COMPETITORS],
        "employee": [
            {"id": make_id("employee", seed, name), "person_id": make_id("person", seed, name), "name": name}
            for name in EMPLOYEES
        ],
        "organization": [
            {"id": make_id("organization", seed, name), "name": name, "relation_number": str(1001 + i)}
            for i, name in enumerate(ORGANIZATIONS)
        ],
        "customfields": [
            {
                "id": make_id("salescustomfield", seed, CATEGORY_FIELD),
                "name": CATEGORY_FIELD,
                "label": "Forecast categorie",
                "render_type": "select",
                "value_type": VALUE_TYPE,
                "position": 1,
                "mandatory": False,
                "filterable": True,
                "searchable": False,
                "options": [
                    {"id": make_id("customfieldoption", seed, value), "value": value, "label": value}
                    for value in CATEGORY_OPTIONS
                ],
            },
            {
                "id": make_id("salescustomfield", seed, "contract_type"),
                "name": "contract_type",
                "label": "Contractvorm",
                "render_type": "textfield",
                "value_type": VALUE_TYPE,
                "position": 2,
                "mandatory": False,
                "filterable": False,
                "searchable": True,
                "options": [],
            },
        ],
    }


def _stamp(rng: random.Random, index: int, today: date) -> str:
    if index < len(DST_STAMPS):
        return DST_STAMPS[index]
    start = datetime.combine(today - timedelta(days=330), datetime.min.time()).replace(hour=8)
    moment = start + timedelta(minutes=rng.randrange(0, 320 * 24 * 60))
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def sales(ref: dict[str, list[dict[str, Any]]], count: int, seed: int, today: date) -> list[dict[str, Any]]:
    """`count` sales in the GET shape, deterministic for `seed` and `today`.

    Dates lie in the 330 days before `today` (closing dates up to ~200 days after), as the other sandboxes seed
    relative to today; the few DST stamps stay at their fixed 2024 wall-clock times.
    """
    rng = random.Random(seed)
    steps = ref["progress"]
    status_by_key = dict(zip((key for key, _ in STATUSES), ref["status"], strict=True))
    out: list[dict[str, Any]] = []
    for i in range(count):
        step = rng.choice(steps)
        roll = rng.random()
        status_key = "open" if roll < 0.7 else "scored" if roll < 0.85 else "lost"
        chance = int(step["chance_to_score"])
        if status_key == "open" and rng.random() < 0.1:
            chance = max(0, min(100, chance + rng.choice((-15, -5, 5, 15))))  # a salesperson's own guess
        updated = _stamp(rng, i, today)
        created_day = date.fromisoformat(updated[:10]) - timedelta(days=rng.randrange(0, 90))
        created = f"{created_day.isoformat()} {rng.randrange(8, 18):02d}:{rng.randrange(60):02d}:00"
        created = min(created, updated)
        closing = None if rng.random() < 0.15 else (created_day + timedelta(days=rng.randrange(20, 200))).isoformat()
        organization = rng.choice(ref["organization"])
        revenue = None if rng.random() < 0.05 else round(rng.randrange(500, 90000) + rng.random(), 2)
        sale: dict[str, Any] = {
            "id": make_id("sales", seed, i),
            "subject": f"{rng.choice(SUBJECTS)} {organization['name']}",
            "note": "",
            "organization": dict(organization),
            "person": None,
            "responsible_employee": dict(rng.choice(ref["employee"])),
            "progress": dict(step),
            "status": dict(status_by_key[status_key]),
            "source": dict(rng.choice(ref["source"])),
            "reason": None,
            "lost_to_competitor": None,
            "chance_to_score": chance,
            "expected_revenue": revenue,
            "start_date": created_day.isoformat(),
            "expected_closing_date": closing,
            "created_at": created,
            "updated_at": updated,
            "status_updated_at": updated if status_key != "open" else None,
            "teams": [],
            "custom_fields": [],
        }
        if status_key == "lost":
            sale["reason"] = dict(rng.choice(ref["reason"]))
            if rng.random() < 0.6:
                sale["lost_to_competitor"] = dict(rng.choice(ref["competitor"]))
        if rng.random() < 0.2:
            field = ref["customfields"][0]
            sale["custom_fields"].append(
                {
                    "id": field["id"],
                    "name": field["name"],
                    "label": field["label"],
                    "value": rng.choice(CATEGORY_OPTIONS),
                    "value_type": field["value_type"],
                }
            )
        out.append(sale)
    return out
