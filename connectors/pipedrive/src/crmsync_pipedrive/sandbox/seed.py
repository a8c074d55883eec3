"""Deterministic seeding: the same `seed` and `deals` always give the same company.

Two pipelines: a sales funnel with deal probability enabled and a partner pipeline with it disabled. Deals in
several currencies, some without an expected close date, and a "Forecast category" enum custom field with the
options Pipeline / Best case / Commit / Closed / Omitted.
"""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from crmsync_pipedrive.sandbox.state import SandboxState, rfc3339

ANCHOR = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
FORECAST_FIELD = "Forecast category"
FORECAST_OPTIONS = ("Pipeline", "Best case", "Commit", "Closed", "Omitted")
REGION_OPTIONS = ("EMEA", "Americas", "APAC")
CURRENCIES = ("EUR", "EUR", "USD", "GBP", "SEK")
OWNERS = (101, 102, 103, 104)
# GET /api/v1/users: (id, name, email, active_flag); 105 was deactivated and owns no deal
USERS = (
    (101, "Anne Visser", "anne@example.com", True),
    (102, "Kees de Zwart", "kees@example.com", True),
    (103, "Pieter de Vries", "pieter@example.com", True),
    (104, "Joris Bakker", "joris@example.com", True),
    (105, "Mark Smit", "mark@example.com", False),
)
LOST_REASONS = ("Lost to competitor", "No budget", "Timing")

# (id, name, is_deal_probability_enabled)
PIPELINES = ((1, "Sales funnel", True), (2, "Partner deals", False))
# (id, pipeline_id, name, deal_probability)
STAGES = (
    (1, 1, "Qualified", 10),
    (2, 1, "Contact made", 20),
    (3, 1, "Demo scheduled", 40),
    (4, 1, "Proposal made", 60),
    (5, 1, "Negotiations started", 80),
    (6, 2, "Referral received", 10),
    (7, 2, "Intro call", 30),
    (8, 2, "Joint proposal", 50),
    (9, 2, "Contract sent", 90),
)


def field_key(seed: int, name: str) -> str:
    """A 40-character hash key, like Pipedrive's custom field keys (different per company)."""
    return hashlib.sha1(f"{seed}:{name}".encode()).hexdigest()


def _system_fields() -> list[dict[str, Any]]:
    specs = (
        ("title", "Title", "varchar"),
        ("value", "Value", "monetary"),
        ("currency", "Currency", "varchar"),
        ("pipeline_id", "Pipeline", "double"),
        ("stage_id", "Stage", "stage"),
        ("status", "Status", "status"),
        ("probability", "Probability", "double"),
        ("expected_close_date", "Expected close date", "date"),
        ("owner_id", "Owner", "user"),
        ("add_time", "Deal created", "date"),
        ("update_time", "Update time", "date"),
        ("lost_reason", "Lost reason", "varchar"),
    )
    return [
        {
            "field_code": code,
            "field_name": name,
            "field_type": kind,
            "is_custom_field": False,
            "is_optional_response_field": False,
            "options": None,
            "subfields": None,
        }
        for code, name, kind in specs
    ]


def _custom_field(key: str, name: str, kind: str, options: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {
        "field_code": key,
        "field_name": name,
        "field_type": kind,
        "is_custom_field": True,
        "is_optional_response_field": False,
        "options": options,
        "subfields": None,
    }


def build_state(deals: int, seed: int) -> SandboxState:
    """Build the seeded company."""
    rnd = random.Random(seed)
    forecast_key = field_key(seed, FORECAST_FIELD)
    region_key = field_key(seed, "Region")
    next_step_key = field_key(seed, "Next step")
    forecast_options = [{"id": 31 + i, "label": label, "color": None} for i, label in enumerate(FORECAST_OPTIONS)]
    region_options = [{"id": 51 + i, "label": label, "color": None} for i, label in enumerate(REGION_OPTIONS)]
    fields = [
        *_system_fields(),
        _custom_field(forecast_key, FORECAST_FIELD, "enum", forecast_options),
        _custom_field(region_key, "Region", "enum", region_options),
        _custom_field(next_step_key, "Next step", "varchar", None),
    ]
    created = rfc3339(ANCHOR - timedelta(days=400))
    pipelines = [
        {
            "id": pid,
            "name": name,
            "order_nr": pid,
            "is_deleted": False,
            "is_deal_probability_enabled": enabled,
            "add_time": created,
            "update_time": created,
        }
        for pid, name, enabled in PIPELINES
    ]
    stages = [
        {
            "id": sid,
            "order_nr": sid if pid == 1 else sid - 5,
            "name": name,
            "is_deleted": False,
            "deal_probability": probability,
            "pipeline_id": pid,
            "is_deal_rot_enabled": False,
            "days_to_rotten": None,
            "add_time": created,
            "update_time": created,
        }
        for sid, pid, name, probability in STAGES
    ]
    state = SandboxState(
        pipelines=pipelines,
        stages=stages,
        fields=fields,
        deals={},
        forecast_key=forecast_key,
        api_token=hashlib.sha1(f"api-token:{seed}".encode()).hexdigest(),
        oauth_token=f"v1u:{hashlib.sha256(f'oauth:{seed}'.encode()).hexdigest()[:48]}",
    )
    latest = ANCHOR
    for deal_id in range(1, deals + 1):
        deal = _deal(rnd, deal_id, forecast_key, region_key, next_step_key)
        state.deals[deal_id] = deal
        latest = max(latest, datetime.fromisoformat(deal["update_time"].replace("Z", "+00:00")))
    state.latest = latest
    return state


def _deal(rnd: random.Random, deal_id: int, forecast_key: str, region_key: str, next_step_key: str) -> dict[str, Any]:
    pipeline_id = 1 if rnd.random() < 0.7 else 2
    stage_ids = [s[0] for s in STAGES if s[1] == pipeline_id]
    stage_id = rnd.choice(stage_ids)
    stage_probability = next(s[3] for s in STAGES if s[0] == stage_id)
    roll = rnd.random()
    status = "open" if roll < 0.7 else ("won" if roll < 0.85 else "lost")
    added = ANCHOR + timedelta(days=rnd.randrange(0, 200), minutes=rnd.randrange(0, 600))
    updated = added + timedelta(days=rnd.randrange(0, 60), seconds=rnd.randrange(0, 86400))
    closed = rfc3339(updated) if status != "open" else None
    close_date = None
    if rnd.random() >= 0.2:
        close_date = (added + timedelta(days=rnd.randrange(30, 240))).date().isoformat()
    probability: int | None = None
    if pipeline_id == 1 and rnd.random() < 0.5:
        probability = max(0, min(100, stage_probability + rnd.choice((-10, 0, 0, 5, 10))))
    category = 31 + rnd.randrange(0, 5) if rnd.random() < 0.25 else None
    return {
        "id": deal_id,
        "title": f"{rnd.choice(('Acme', 'Globex', 'Initech', 'Umbrella', 'Hooli', 'Stark', 'Wayne'))} "
        f"{rnd.choice(('renewal', 'expansion', 'pilot', 'licences', 'services'))} #{deal_id}",
        "creator_user_id": OWNERS[0],
        "owner_id": rnd.choice(OWNERS),
        "person_id": rnd.randrange(1, 40) if rnd.random() < 0.8 else None,
        "org_id": rnd.randrange(1, 20) if rnd.random() < 0.8 else None,
        "pipeline_id": pipeline_id,
        "stage_id": stage_id,
        "value": rnd.randrange(10, 2000) * 50 if rnd.random() < 0.95 else 0,
        "currency": rnd.choice(CURRENCIES),
        "add_time": rfc3339(added),
        "update_time": rfc3339(updated),
        "stage_change_time": rfc3339(added + (updated - added) / 2),
        "is_deleted": False,
        "is_archived": False,
        "archive_time": None,
        "status": status,
        "probability": probability,
        "lost_reason": rnd.choice(LOST_REASONS) if status == "lost" else None,
        "visible_to": 3,
        "close_time": closed,
        "won_time": closed if status == "won" else None,
        "lost_time": closed if status == "lost" else None,
        "expected_close_date": close_date,
        "label_ids": [],
        "origin": "ManuallyCreated",
        "channel": None,
        "custom_fields": {
            forecast_key: category,
            region_key: 51 + rnd.randrange(0, 3),
            next_step_key: None,
        },
    }
