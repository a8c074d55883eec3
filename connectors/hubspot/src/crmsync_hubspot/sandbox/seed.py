"""Seed data of the HubSpot sandbox: HubSpot's default pipeline and the Dutch example pipeline."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

# (id, label, probability, closed)
DEFAULT_STAGES = [
    ("appointmentscheduled", "Appointment scheduled", "0.2", False),
    ("qualifiedtobuy", "Qualified to buy", "0.4", False),
    ("presentationscheduled", "Presentation scheduled", "0.6", False),
    ("decisionmakerboughtin", "Decision maker bought-in", "0.8", False),
    ("contractsent", "Contract sent", "0.9", False),
    ("closedwon", "Closed won", "1.0", True),
    ("closedlost", "Closed lost", "0.0", True),
]
# Custom pipelines get numeric ids in HubSpot.
DUTCH_PIPELINE = ("1473529", "Nederland — nieuwe klanten")
DUTCH_STAGES = [
    ("2038311", "Consultatie gepland", "0.1", False),
    ("2038312", "Mondelinge interesse bevestigd", "0.3", False),
    ("2038313", "Voorwaarden finalisatie", "0.6", False),
    ("2038314", "Ter ondertekening verzonden", "0.85", False),
    ("2038315", "Afgesloten gewonnen", "1.0", True),
    ("2038316", "Afgesloten verloren", "0.0", True),
]
OWNERS = ["101", "102", "103", "104"]
# /crm/v3/owners: (id, firstName, lastName, email, userId, archived); 105 has left (archived, on no deal)
OWNER_PEOPLE = [
    ("101", "Fatima", "El Amrani", "fatima@example.com", 9001, False),
    ("102", "Jan", "Jansen", "jan@example.com", 9002, False),
    ("103", "Sanne", "Bakker", "sanne@example.com", 9003, False),
    ("104", "Joris", "Bakker", "joris@example.com", 9004, False),
    ("105", "Kees", "de Zwart", "kees@example.com", 9005, True),
]
COMPANIES = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Van Dijk Bouw",
    "Bakkerij de Molen",
    "Kaasmakerij Gouda",
    "Fietsfabriek Noord",
    "Tulp & Co",
]

PRODUCTS = ["licenties", "renewal", "implementatie", "expansion", "pilot"]

FORECAST_CATEGORY_OPTIONS = [
    ("Not forecasted", "OMIT"),
    ("Pipeline", "PIPELINE"),
    ("Best case", "BEST_CASE"),
    ("Commit", "COMMIT"),
    ("Closed won", "CLOSED"),
]


def iso(moment: datetime) -> str:
    """HubSpot's timestamp format: UTC, milliseconds, Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def pipelines() -> list[dict[str, Any]]:
    def stages(rows: list[tuple[str, str, str, bool]]) -> list[dict[str, Any]]:
        return [
            {
                "id": sid,
                "label": label,
                "displayOrder": order,
                "archived": False,
                "metadata": {"isClosed": "true" if closed else "false", "probability": prob},
                "createdAt": "2025-01-01T00:00:00.000Z",
                "updatedAt": "2025-01-01T00:00:00.000Z",
                "writePermissions": "CRM_PERMISSIONS_ENFORCEMENT",
            }
            for order, (sid, label, prob, closed) in enumerate(rows)
        ]

    common = {
        "archived": False,
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": "2025-01-01T00:00:00.000Z",
    }
    return [
        {
            "id": "default",
            "label": "Sales Pipeline",
            "displayOrder": 0,
            "stages": stages(DEFAULT_STAGES),
            **common,
        },
        {
            "id": DUTCH_PIPELINE[0],
            "label": DUTCH_PIPELINE[1],
            "displayOrder": 1,
            "stages": stages(DUTCH_STAGES),
            **common,
        },
    ]


def deals(count: int, seed: int, now: datetime) -> list[dict[str, Any]]:
    """`count` deals spread over both pipelines, EUR and USD, some without close date or amount."""
    rng = random.Random(seed)
    result = []
    for index in range(count):
        dutch = index % 3 == 0
        pipeline, stage_rows = (DUTCH_PIPELINE[0], DUTCH_STAGES) if dutch else ("default", DEFAULT_STAGES)
        stage = rng.choices(stage_rows, weights=[5, 4, 3, 3, 2, 2, 2][: len(stage_rows)])[0]
        created = now - timedelta(days=rng.randint(20, 400), minutes=rng.randint(0, 1440))
        modified = created + (now - created) * rng.random()
        amount = None if rng.random() < 0.08 else f"{rng.randint(10, 400) * 250}"
        close = (
            None
            if rng.random() < 0.1
            else (now + timedelta(days=rng.randint(-90, 240))).replace(hour=0, minute=0, second=0, microsecond=0)
        )
        if stage[3]:  # closed: close date in the past
            close = (modified - timedelta(days=rng.randint(0, 5))).replace(hour=0, minute=0, second=0, microsecond=0)
        deal_id = str(9_000_000 + index * 7 + 1)
        props = {
            "dealname": f"{rng.choice(COMPANIES)} — {rng.choice(PRODUCTS)}",
            "amount": amount,
            "deal_currency_code": "EUR" if dutch or rng.random() < 0.5 else "USD",
            "closedate": iso(close) if close else None,
            "pipeline": pipeline,
            "dealstage": stage[0],
            "hubspot_owner_id": rng.choice(OWNERS),
            "createdate": iso(created),
            "hs_lastmodifieddate": iso(modified),
            "hs_object_id": deal_id,
            "hs_manual_forecast_category": None,
            "hs_forecast_probability": None,
            "closed_lost_reason": "Te duur" if stage[0] in ("closedlost", "2038316") else None,
        }
        result.append({"id": deal_id, "properties": props, "createdAt": iso(created), "updatedAt": iso(modified)})
    return result
