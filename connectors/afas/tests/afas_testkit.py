"""Shared helpers of the AFAS connector tests (respx-based)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from crmsync.connector import Page, Reference
from crmsync.mapping import Mapping
from crmsync_afas.connector import AfasConnector
from crmsync_afas.fields import AfasOptions, FieldMap
from crmsync_afas.settings import AfasSettings
from crmsync_afas.translate import PIPELINE, stages_from_statuses

ROOT = Path(__file__).resolve().parents[3]
BASE = "https://12345.rest.afas.online/ProfitRestServices"
GC = f"{BASE}/connectors/crmsync_verkoopkansen"
KEYS = f"{BASE}/connectors/crmsync_verkoopkansen_sleutels"
STATUSES = f"{BASE}/connectors/crmsync_verkoopkansstatussen"
TOKEN = "<token><version>1</version><data>ABC123DEF456</data></token>"


def make(mapping: Mapping, **settings: Any) -> AfasConnector:
    values = {"environment": "12345", "token": TOKEN, "max_retries": 2, "page_size": 2, **settings}
    connector = AfasConnector("afas-test", AfasSettings.model_validate(values), mapping)
    connector.client.backoff = 0.001
    return connector


def row(relation: str, sequence: int, modified: str = "2025-03-01T10:00:00Z", **extra: Any) -> dict[str, Any]:
    return {
        "SalesRelation": relation,
        "SequenceNo": sequence,
        "Description": "Website redesign",
        "Employee": "KEESZ",
        "EmployeeName": "Kees de Zwart",
        "Progress": "OFF",
        "ScoringChance": 50.0,
        "ExpectedAmount": 12500.0,
        "Currency": "EUR",
        "ExpectedEndDate": "2025-06-30T00:00:00Z",
        "Result": "O",
        "ForecastGroup": "NIEUW",
        "ModifiedDate": modified,
        "Forecastcategorie": None,
        **extra,
    }


def query(request: httpx.Request) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(str(request.url)).query, keep_blank_values=True).items()}


def reference(mapping: Mapping) -> Reference:
    rows = [
        {"Code": "OFF", "Omschrijving": "Offerte uitgebracht", "Scoringskans": 50.0},
        {"Code": "INT", "Omschrijving": "Intern overleg", "Scoringskans": None},
    ]
    fields = FieldMap.of(AfasOptions.model_validate(mapping.options), mapping)
    return Reference(pipelines={PIPELINE.id: PIPELINE}, stages=stages_from_statuses(rows, fields))


async def collect(connector: AfasConnector, since: datetime | None = None, reconcile: bool = False) -> list[Page]:
    return [page async for page in connector.deals(since, reconcile=reconcile)]


VALIDATION = {
    "externalMessage": "De ingevulde waarde bij 'Medewerker' bestaat niet.",
    "errorNumber": -2147220469,
    "profitLogReference": "B8213AF1C0DE",
}
