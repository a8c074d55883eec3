"""The sandbox's data: forecasts, statuses, employees and forecast groups, and the GetConnectors over them.

Times are kept as naive Amsterdam wall-clock values, as Profit keeps them; the API renders them with a Z.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crmsync_afas.translate import AMSTERDAM

Value = str | int | Decimal | date | datetime | None

# The sandbox's free field ("vrije rubriek") holding the forecast category. GetConnectors show it under a
# caption; the UpdateConnector knows it by its generated U-id.
CATEGORY_FREE_FIELD = "U6C0D3A9E4B2F4A7C8E1D5B3A2F6C9E01"
CATEGORY_CAPTION = "Forecastcategorie"

FORECAST_CONNECTOR = "crmsync_verkoopkansen"
KEY_CONNECTOR = "crmsync_verkoopkansen_sleutels"
STATUS_CONNECTOR = "crmsync_verkoopkansstatussen"
UPDATE_CONNECTOR = "CmForecast"


def local_now() -> datetime:
    """Now on the Amsterdam wall clock, to the second, naive (as Profit stores it)."""
    return AMSTERDAM.now()


@dataclass
class Status:
    code: str
    label: str
    chance: Decimal | None


@dataclass
class Forecast:
    """One forecast ("verkoopkans"); attribute comments give the CmForecast field."""

    relation: str  # PrId
    sequence: int  # SqNo
    description: str  # Ds
    employee: str  # EmId
    start: date  # DaSt
    end: date | None  # DaEn
    group: str | None  # ViGr
    status: str | None  # ViSt
    chance: Decimal | None  # Pc
    amount: Decimal | None  # AmF
    currency: str  # CuId
    result: str  # ViOp: O, G, N
    reason: str | None = None  # ViRe
    lost_to: str | None = None  # ViFo
    closed_on: date | None = None  # DaSc
    category: str | None = None  # the category free field
    rate: Decimal | None = None  # Rate: exchange rate of CuId
    created: datetime = field(default_factory=local_now)
    modified: datetime = field(default_factory=local_now)

    @property
    def key(self) -> str:
        return f"{self.relation}-{self.sequence}"


@dataclass(frozen=True)
class FieldDef:
    """One field of a GetConnector, as /metainfo/get describes it, and how to read it from a record."""

    id: str
    field_id: str
    data_type: str  # string, int, decimal, date, boolean
    label: str
    read: Callable[[Any], Value]
    length: int = 0
    decimals: int = 0
    control_type: int = 1

    def meta(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fieldId": self.field_id,
            "dataType": self.data_type,
            "label": self.label,
            "length": self.length,
            "controlType": self.control_type,
            "decimals": self.decimals,
            "decimalsFieldId": "",
        }


@dataclass(frozen=True)
class GetConnectorDef:
    id: str
    description: str
    fields: tuple[FieldDef, ...]
    source: str  # 'forecasts' or 'statuses'

    def field(self, field_id: str) -> FieldDef | None:
        return next((f for f in self.fields if f.id == field_id), None)


@dataclass
class World:
    """Everything the sandbox environment holds."""

    statuses: dict[str, Status]
    employees: dict[str, str]  # code → name
    groups: dict[str, str]  # code → label
    relations: dict[str, str]  # PrId → organisation name
    forecasts: dict[tuple[str, int], Forecast]
    chance_linked_to_status: bool = False

    def employee_name(self, forecast: Forecast) -> str | None:
        return self.employees.get(forecast.employee)


def _forecast_fields(world: World) -> tuple[FieldDef, ...]:
    return (
        FieldDef("SalesRelation", "PrId", "string", "Verkooprelatie", lambda f: f.relation, 15),
        FieldDef("OrganisationName", "Nm", "string", "Naam", lambda f: world.relations.get(f.relation), 255),
        FieldDef("SequenceNo", "SqNo", "int", "Volgnummer", lambda f: f.sequence, 9),
        FieldDef("Description", "Ds", "string", "Omschrijving", lambda f: f.description, 255),
        FieldDef("Employee", "EmId", "string", "Medewerker", lambda f: f.employee, 15),
        FieldDef("EmployeeName", "EmNm", "string", "Naam medewerker", world.employee_name, 255),
        FieldDef("StartDate", "DaSt", "date", "Begindatum", lambda f: f.start, control_type=4),
        FieldDef("ExpectedEndDate", "DaEn", "date", "Verwachte einddatum", lambda f: f.end, control_type=4),
        FieldDef("ForecastGroup", "ViGr", "string", "Verkoopkansgroep", lambda f: f.group, 10),
        FieldDef("Progress", "ViSt", "string", "Voortgang", lambda f: f.status, 10),
        FieldDef("ScoringChance", "Pc", "decimal", "Scoringskans", lambda f: f.chance, 5, 2),
        FieldDef("ExpectedAmount", "AmF", "decimal", "Verwacht bedrag", lambda f: f.amount, 15, 2),
        FieldDef("Currency", "CuId", "string", "Valuta", lambda f: f.currency, 3),
        FieldDef("Result", "ViOp", "string", "Resultaat", lambda f: f.result, 1),
        FieldDef("Reason", "ViRe", "string", "Reden", lambda f: f.reason, 10),
        FieldDef("LostTo", "ViFo", "string", "Verloren aan", lambda f: f.lost_to, 255),
        FieldDef("ActualEndDate", "DaSc", "date", "Werkelijke einddatum", lambda f: f.closed_on, control_type=4),
        FieldDef(CATEGORY_CAPTION, CATEGORY_FREE_FIELD, "string", CATEGORY_CAPTION, lambda f: f.category, 40),
        FieldDef("CreatedDate", "CrDa", "date", "Aanmaakdatum", lambda f: f.created, control_type=4),
        FieldDef("ModifiedDate", "MdDa", "date", "Datum gewijzigd", lambda f: f.modified, control_type=4),
    )


def get_connectors(world: World) -> dict[str, GetConnectorDef]:
    """The GetConnectors the sandbox's administrator defined (ids and fields as a customer might choose)."""
    fields = _forecast_fields(world)
    keys = tuple(f for f in fields if f.id in ("SalesRelation", "SequenceNo"))
    status_fields = (
        FieldDef("Code", "ViSt", "string", "Voortgang", lambda s: s.code, 10),
        FieldDef("Omschrijving", "Ds", "string", "Omschrijving", lambda s: s.label, 255),
        FieldDef("Scoringskans", "Pc", "decimal", "Scoringskans", lambda s: s.chance, 5, 2),
    )
    return {
        FORECAST_CONNECTOR: GetConnectorDef(FORECAST_CONNECTOR, "Verkoopkansen voor crmsync", fields, "forecasts"),
        KEY_CONNECTOR: GetConnectorDef(KEY_CONNECTOR, "Sleutels van verkoopkansen", keys, "forecasts"),
        STATUS_CONNECTOR: GetConnectorDef(STATUS_CONNECTOR, "Voortgang verkoopkansen", status_fields, "statuses"),
    }
