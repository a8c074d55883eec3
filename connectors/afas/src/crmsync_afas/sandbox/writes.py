"""The CmForecast UpdateConnector: PUT updates, POST inserts, DELETE removes, with Profit's validation.

Every refusal raises `ValidationFailed` with the Dutch message Profit would put in `externalMessage`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync_afas.sandbox.state import CATEGORY_FREE_FIELD, Forecast, World, local_now

UPDATE_FIELDS: dict[str, tuple[str, str]] = {
    "PrId": ("string", "Verkooprelatie"),
    "SqNo": ("int", "Volgnummer"),
    "Ds": ("string", "Omschrijving"),
    "EmId": ("string", "Medewerker"),
    "DaSt": ("date", "Begindatum"),
    "DaEn": ("date", "Verwachte einddatum"),
    "ViGr": ("string", "Verkoopkansgroep"),
    "ViSt": ("string", "Voortgang"),
    "Pc": ("decimal", "Scoringskans"),
    "Am": ("decimal", "Verwacht bedrag"),
    "AmF": ("decimal", "Verwacht bedrag valuta"),
    "ViOp": ("string", "Resultaat"),
    "ViRe": ("string", "Reden"),
    "ViFo": ("string", "Verloren aan"),
    "DaSc": ("date", "Werkelijke einddatum"),
    "CuId": ("string", "Valuta"),
    "Rate": ("decimal", "Koers"),
    CATEGORY_FREE_FIELD: ("string", "Forecastcategorie"),
}
CATEGORY_MAX_LENGTH = 40


class ValidationFailed(Exception):
    """Profit refused the update; the message is its externalMessage."""


def _text(fields: dict[str, Any], name: str) -> str | None:
    value = fields[name]
    if value is None or value == "":
        return None
    return str(value)


def _date(fields: dict[str, Any], name: str) -> date | None:
    text = _text(fields, name)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise ValidationFailed(f"De waarde '{text}' bij '{UPDATE_FIELDS[name][1]}' is geen geldige datum.") from None


def _decimal(fields: dict[str, Any], name: str) -> Decimal | None:
    value = fields[name]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationFailed(f"De waarde '{value}' bij '{UPDATE_FIELDS[name][1]}' is geen getal.")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValidationFailed(f"De waarde '{value}' bij '{UPDATE_FIELDS[name][1]}' is geen getal.") from None


def _find(world: World, relation: Any, sequence: Any) -> Forecast:
    try:
        key = (str(relation), int(str(sequence)))
    except ValueError:
        raise ValidationFailed(f"Volgnummer '{sequence}' is geen geheel getal.") from None
    forecast = world.forecasts.get(key)
    if forecast is None:
        raise ValidationFailed(
            f"De verkoopkans met verkooprelatie '{relation}' en volgnummer '{sequence}' bestaat niet."
        )
    return forecast


def _apply(world: World, forecast: Forecast, fields: dict[str, Any]) -> None:
    """Validate every field first, then change the forecast: Profit applies an element entirely or not at all."""
    unknown = [name for name in fields if name not in UPDATE_FIELDS]
    if unknown:
        raise ValidationFailed(f"Het veld '{unknown[0]}' bestaat niet in UpdateConnector 'CmForecast'.")
    changes: dict[str, Any] = {}
    if "Ds" in fields:
        changes["description"] = _text(fields, "Ds") or ""
    if "EmId" in fields:
        employee = _text(fields, "EmId")
        if employee is None or employee not in world.employees:
            raise ValidationFailed(f"De ingevulde waarde bij 'Medewerker' bestaat niet: '{employee or ''}'.")
        changes["employee"] = employee
    if "ViGr" in fields:
        group = _text(fields, "ViGr")
        if group is not None and group not in world.groups:
            raise ValidationFailed(f"De ingevulde waarde bij 'Verkoopkansgroep' bestaat niet: '{group}'.")
        changes["group"] = group
    status = forecast.status
    if "ViSt" in fields:
        status = _text(fields, "ViSt")
        if status is not None and status not in world.statuses:
            raise ValidationFailed(f"De ingevulde waarde bij 'Voortgang' bestaat niet: '{status}'.")
        changes["status"] = status
        linked = world.statuses[status].chance if status is not None else None
        if linked is not None:
            changes["chance"] = linked  # picking a status with a chance fills in the percentage
    if "Pc" in fields:
        chance = _decimal(fields, "Pc")
        if chance is not None and not Decimal(0) <= chance <= Decimal(100):
            raise ValidationFailed(f"De scoringskans moet tussen 0 en 100 liggen (ingevuld: {fields['Pc']}).")
        locked = world.statuses[status].chance if status is not None and status in world.statuses else None
        if world.chance_linked_to_status and locked is not None and chance != locked:
            raise ValidationFailed(
                "De scoringskans is gekoppeld aan de voortgang en kan niet handmatig worden gewijzigd."
            )
        changes["chance"] = chance
    for name, attribute in (("Am", "amount"), ("AmF", "amount")):
        if name in fields:
            changes[attribute] = _decimal(fields, name)
    if "ViOp" in fields:
        result = _text(fields, "ViOp")
        if result not in ("O", "G", "N"):
            raise ValidationFailed(f"De ingevulde waarde bij 'Resultaat' is ongeldig: '{result or ''}' (O, G of N).")
        changes["result"] = result
    for name, attribute in (("ViRe", "reason"), ("ViFo", "lost_to")):
        if name in fields:
            changes[attribute] = _text(fields, name)
    for name, attribute in (("DaSt", "start"), ("DaEn", "end"), ("DaSc", "closed_on")):
        if name in fields:
            changes[attribute] = _date(fields, name)
    if "Rate" in fields:
        rate = _decimal(fields, "Rate")
        if rate is not None and rate <= 0:
            raise ValidationFailed(f"De koers moet groter dan 0 zijn (ingevuld: {fields['Rate']}).")
        changes["rate"] = rate
    if "CuId" in fields:
        currency = _text(fields, "CuId")
        if currency is None or len(currency) != 3:
            raise ValidationFailed(f"De ingevulde waarde bij 'Valuta' bestaat niet: '{currency or ''}'.")
        changes["currency"] = currency
    if CATEGORY_FREE_FIELD in fields:
        category = _text(fields, CATEGORY_FREE_FIELD)
        if category is not None and len(category) > CATEGORY_MAX_LENGTH:
            raise ValidationFailed(f"De waarde bij 'Forecastcategorie' is langer dan {CATEGORY_MAX_LENGTH} tekens.")
        changes["category"] = category
    if changes.get("start") is None and "start" in changes:
        raise ValidationFailed("Het veld 'Begindatum' is verplicht.")
    for attribute, value in changes.items():
        setattr(forecast, attribute, value)
    forecast.modified = local_now()


def update(world: World, fields: dict[str, Any]) -> dict[str, Any]:
    """PUT: the key fields PrId and SqNo are required; every other field present is written."""
    if "PrId" not in fields or "SqNo" not in fields:
        raise ValidationFailed("De sleutelvelden 'Verkooprelatie' (PrId) en 'Volgnummer' (SqNo) zijn verplicht.")
    forecast = _find(world, fields["PrId"], fields["SqNo"])
    rest = {k: v for k, v in fields.items() if k not in ("PrId", "SqNo")}
    _apply(world, forecast, rest)
    return {"SqNo": str(forecast.sequence)}


def insert(world: World, fields: dict[str, Any]) -> dict[str, Any]:
    """POST: a new forecast for an existing sales relation; Profit assigns the sequence number."""
    relation = fields.get("PrId")
    if relation is None or str(relation) not in world.relations:
        raise ValidationFailed(f"De ingevulde waarde bij 'Verkooprelatie' bestaat niet: '{relation or ''}'.")
    if not fields.get("Ds") or not fields.get("EmId"):
        raise ValidationFailed("De velden 'Omschrijving' en 'Medewerker' zijn verplicht.")
    relation = str(relation)
    sequence = 1 + max((s for r, s in world.forecasts if r == relation), default=0)
    forecast = Forecast(
        relation=relation,
        sequence=sequence,
        description="",
        employee=str(fields["EmId"]),
        start=local_now().date(),
        end=None,
        group=None,
        status=None,
        chance=None,
        amount=None,
        currency="EUR",
        result="O",
    )
    _apply(world, forecast, {k: v for k, v in fields.items() if k not in ("PrId", "SqNo")})
    world.forecasts[(relation, sequence)] = forecast
    return {"SqNo": str(sequence)}


def delete_forecast(world: World, relation: str, sequence: str) -> None:
    """DELETE is final: the forecast is gone without a trace."""
    forecast = _find(world, relation, sequence)
    del world.forecasts[(forecast.relation, forecast.sequence)]
