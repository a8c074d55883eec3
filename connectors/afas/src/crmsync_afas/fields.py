"""Which GetConnector fields hold what: the mapping's `[fields]` and `[options]`, and checks against metainfo.

Forecast GetConnectors are defined per customer, so their field ids differ. The mapping file names the
GetConnector (`options.get_connector`) and maps canonical names to its field ids. `REQUIRED` names have
defaults (the sandbox's ids); `OPTIONAL` names are read only when the mapping names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import Field, StrictBool

from crmsync.connector import ConnectorOptions
from crmsync.mapping import Mapping

REQUIRED: dict[str, str] = {
    "relation": "SalesRelation",  # key part 1: the sales relation (PrId)
    "sequence": "SequenceNo",  # key part 2: the sequence number (SqNo)
    "name": "Description",
    "status": "Progress",  # the forecast status ("voortgang", ViSt)
    "probability": "ScoringChance",  # the scoring chance in percent (Pc)
    "amount": "ExpectedAmount",
    "currency": "Currency",
    "close_date": "ExpectedEndDate",
    "result": "Result",  # O open, G closed and scored, N closed and not scored
    "owner": "Employee",
    "group": "ForecastGroup",
    "modified": "ModifiedDate",
    "category": "Forecastcategorie",  # the category free field, as the GetConnector shows it
}
OPTIONAL: dict[str, str] = {
    "owner_name": "EmployeeName",
    "organisation": "OrganisationName",
    "created": "CreatedDate",
    "closed_date": "ActualEndDate",
    "lost_reason": "Reason",
    "lost_to": "LostTo",
}
CANONICAL = frozenset(REQUIRED) | frozenset(OPTIONAL)


class AfasOptions(ConnectorOptions):
    """The mapping's [options]: which GetConnectors hold forecasts, keys and statuses."""

    get_connector: str = Field(min_length=1, description="the id of the forecast GetConnector")
    status_connector: str = Field(min_length=1, description="the GetConnector of forecast statuses and chances")
    key_connector: str | None = Field(default=None, min_length=1, description="a lighter GetConnector of the keys")
    status_id_field: str = Field(default="Code", min_length=1)
    status_label_field: str = Field(default="Omschrijving", min_length=1)
    status_chance_field: str = Field(default="Scoringskans", min_length=1)
    chance_linked_to_status: StrictBool = False


@dataclass(frozen=True)
class FieldMap:
    """The resolved field ids of the forecast, key and status GetConnectors."""

    get_connector: str
    key_connector: str | None
    status_connector: str
    fields: dict[str, str]  # canonical → field id of get_connector
    status_id: str
    status_label: str
    status_chance: str
    chance_linked_to_status: bool

    @classmethod
    def of(cls, options: AfasOptions, mapping: Mapping) -> FieldMap:
        """The options (validated by the connector) with the mapping's fields over the defaults."""
        return cls(
            get_connector=options.get_connector,
            key_connector=options.key_connector,
            status_connector=options.status_connector,
            fields={**REQUIRED, **{k: v for k, v in mapping.fields.items() if k in CANONICAL}},
            status_id=options.status_id_field,
            status_label=options.status_label_field,
            status_chance=options.status_chance_field,
            chance_linked_to_status=options.chance_linked_to_status,
        )

    def id(self, canonical: str) -> str | None:
        """The field id holding `canonical`, or None for an optional field the mapping does not name."""
        return self.fields.get(canonical)

    @property
    def key_fields(self) -> tuple[str, str]:
        return self.fields["relation"], self.fields["sequence"]

    def problems(self, metainfo: dict[str, list[str]]) -> list[str]:
        """Mapped fields missing from the GetConnectors' metainfo (connector id → its field ids)."""
        found: list[str] = []

        def check(connector: str, wanted: dict[str, str], where: str) -> None:
            existing = metainfo.get(connector)
            if existing is None:
                found.append(f"GetConnector {connector!r} was not read (options.{where})")
                return
            for key, field_id in wanted.items():
                if field_id not in existing:
                    found.append(
                        f"GetConnector {connector!r} has no field {field_id!r} ({key}); "
                        f"its fields are: {', '.join(existing) or 'none'}"
                    )

        check(self.get_connector, {f"fields.{k}": v for k, v in self.fields.items()}, "get_connector")
        if self.key_connector is not None:
            relation, sequence = self.key_fields
            check(self.key_connector, {"fields.relation": relation, "fields.sequence": sequence}, "key_connector")
        status_fields = {
            "options.status_id_field": self.status_id,
            "options.status_label_field": self.status_label,
            "options.status_chance_field": self.status_chance,
        }
        check(self.status_connector, status_fields, "status_connector")
        return found


def field_ids(metainfo: dict[str, Any]) -> list[str]:
    """The field ids of a /metainfo/get answer."""
    return [str(f.get("id")) for f in metainfo.get("fields", []) if isinstance(f, dict) and f.get("id")]
