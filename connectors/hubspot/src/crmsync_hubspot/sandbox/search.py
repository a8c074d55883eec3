"""Search semantics of the HubSpot sandbox: filters, sorts (objects or strings) and the free-text query."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync_hubspot.sandbox.state import Record


def millis(value: str | None) -> float | None:
    """Compare values of date properties by epoch milliseconds (accepts ms or ISO strings).

    A stored value that is no date (only a test can put one there) compares as no value: it matches no range filter
    and sorts last, instead of failing the whole search.
    """
    if value is None or value == "":
        return None
    try:
        return float(Decimal(value))
    except InvalidOperation:
        pass
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None


DATE_PROPERTIES = {"closedate", "createdate", "hs_lastmodifieddate"}
NUMBER_PROPERTIES = {
    "amount",
    "hs_forecast_probability",
    "hs_deal_stage_probability",
    "hs_object_id",
    "hs_projected_amount",
    "hs_forecast_amount",
}
BOOLEAN_PROPERTIES = {"hs_is_closed", "hs_is_closed_won"}


def types_of(name: str) -> tuple[str, str]:
    """(type, fieldType) of a deal property, as /crm/v3/properties/deals reports them."""
    if name == "hs_manual_forecast_category":
        return "enumeration", "select"
    if name in NUMBER_PROPERTIES:
        return "number", "number"
    if name in DATE_PROPERTIES:
        return "datetime", "date"
    if name in BOOLEAN_PROPERTIES:
        return "bool", "booleancheckbox"
    return "string", "text"


def key_of(name: str, value: str | None) -> Any:
    if value is None or value == "":
        return None
    if name in DATE_PROPERTIES:
        return millis(value)
    if name in NUMBER_PROPERTIES:
        try:
            return Decimal(value)
        except InvalidOperation:
            return value
    return value.lower()


def filter_ok(record: Record, flt: dict[str, Any]) -> bool:
    name = flt.get("propertyName", "")
    op = flt.get("operator", "EQ")
    actual = key_of(name, record.properties.get(name) if name != "hs_object_id" else record.id)
    if op == "HAS_PROPERTY":
        return actual is not None
    if op == "NOT_HAS_PROPERTY":
        return actual is None
    if op in ("IN", "NOT_IN"):
        values = [key_of(name, str(v)) for v in flt.get("values", [])]
        return bool((actual in values) == (op == "IN"))
    if op == "BETWEEN":
        low, high = key_of(name, str(flt.get("value"))), key_of(name, str(flt.get("highValue")))
        return actual is not None and low <= actual <= high
    expected = key_of(name, str(flt.get("value")))
    if op == "EQ":
        return bool(actual == expected)
    if op == "NEQ":
        return bool(actual != expected)
    if op == "CONTAINS_TOKEN":
        return actual is not None and str(expected).strip("*") in str(actual)
    if op == "NOT_CONTAINS_TOKEN":
        return actual is None or str(expected).strip("*") not in str(actual)
    if actual is None:
        return False
    comparisons = {
        "LT": actual < expected,
        "LTE": actual <= expected,
        "GT": actual > expected,
        "GTE": actual >= expected,
    }
    return bool(comparisons[op])


# The default searchable properties of deals for a free-text `query` (HubSpot's CRM search guide, "Search
# default searchable properties"): the query matches a token of any of them, case-insensitively.
QUERY_PROPERTIES = ("dealname", "pipeline", "dealstage", "description", "dealtype")


def parse_sorts(raw: Any) -> list[dict[str, Any]] | None:
    """Search sorts in HubSpot's object form; None when malformed.

    HubSpot takes both forms: the `{"propertyName", "direction"}` objects its search guide shows and plain strings
    (`["hs_lastmodifieddate"]`, the `list[str]` the spec's PublicObjectSearchRequest and the official SDKs
    declare). A string sorts ascending on that property.
    """
    if raw is None:
        return []
    if not isinstance(raw, list):
        return None
    out = []
    for item in raw:
        if isinstance(item, str) and item:
            out.append({"propertyName": item, "direction": "ASCENDING"})
        elif isinstance(item, dict) and isinstance(item.get("propertyName"), str):
            direction = item.get("direction", "ASCENDING")
            if direction not in ("ASCENDING", "DESCENDING"):
                return None
            out.append({"propertyName": item["propertyName"], "direction": direction})
        else:
            return None
    return out


def query_ok(record: Record, query: str) -> bool:
    """Every word of the query starts a word of one of the default searchable properties."""
    values = [record.properties.get(name) or "" for name in QUERY_PROPERTIES]
    words = [word for value in values for word in value.lower().split()]
    return all(any(w.startswith(term) for w in words) for term in query.lower().split())


RANGE = {"GTE", "GT", "LT", "LTE"}
SEARCH_OPERATORS = {
    "EQ",
    "NEQ",
    "LT",
    "LTE",
    "GT",
    "GTE",
    "BETWEEN",
    "IN",
    "NOT_IN",
    "HAS_PROPERTY",
    "NOT_HAS_PROPERTY",
    "CONTAINS_TOKEN",
    "NOT_CONTAINS_TOKEN",
}
