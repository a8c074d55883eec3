"""GetConnector query semantics: the filter triple (operators 1-15, `,` = AND, `;` = OR) or `filterjson`,
ordering, skip/take.

Every problem raises `QueryError` with the message Profit would give; the app turns it into its 500 body.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync_afas.sandbox.state import FieldDef, GetConnectorDef, Value


class QueryError(Exception):
    """A request Profit refuses with a 500 and its error body."""


Row = dict[str, Value]


def _typed(field: FieldDef, text: str) -> Value:
    text = text.strip()
    try:
        if field.data_type == "int":
            return int(text)
        if field.data_type == "decimal":
            return Decimal(text.replace(",", "."))
        if field.data_type == "date":
            raw = text[:-1] if text.endswith(("Z", "z")) else text
            return datetime.fromisoformat(raw).replace(tzinfo=None) if "T" in raw else datetime.fromisoformat(raw)
    except (ValueError, InvalidOperation):
        raise QueryError(f"De waarde '{text}' is ongeldig voor het veld '{field.id}'.") from None
    return text


def _comparable(value: Value) -> Any:
    """The value as both `orderbyfieldids` and the comparison operators (1-5, 7) see it.

    Strings compare case-insensitively, as in Profit's SQL Server collation, and the same function serves the
    order and the filter: so `(relation > r) OR (relation = r AND sequence > s)` returns exactly the rows sorted
    after key (r, s), with relation compared as a string ("9001" > "10199") and the sequence as a number.
    """
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str):
        return value.lower()
    return value


def _compare(op: int, value: Value, wanted: Value) -> bool:
    if op == 8:
        return value is None or value == ""
    if op == 9:
        return not (value is None or value == "")
    if op == 7 and isinstance(wanted, str) and wanted.startswith("%") and wanted.endswith("%"):
        op = 11  # "text is not present in field": operator 7 with %…% (AFAS's filter docs, option 2)
    if op in (6, 10, 11, 12, 13, 14, 15):
        have = "" if value is None else str(value).lower()
        want = str(wanted).lower().strip("%")  # the docs write contains as %NL%
        tests: dict[int, Callable[[], bool]] = {
            6: lambda: want in have,
            15: lambda: want in have,  # quick filter: Profit's "snelfilter"; treated as contains (see README)
            10: lambda: have.startswith(want),
            11: lambda: want not in have,
            12: lambda: not have.startswith(want),
            13: lambda: have.endswith(want),
            14: lambda: not have.endswith(want),
        }
        return tests[op]()
    if value is None:
        return op == 7
    a, b = _comparable(value), _comparable(wanted)
    try:
        return bool({1: a == b, 2: a >= b, 3: a <= b, 4: a > b, 5: a < b, 7: a != b}[op])
    except TypeError:
        return False


Clause = tuple[FieldDef, int, Value]


def parse_filter(connector: GetConnectorDef, ids: str, values: str, operators: str) -> list[list[Clause]]:
    """The filter triple as OR-groups of AND-clauses."""
    id_groups, value_groups, op_groups = ids.split(";"), values.split(";"), operators.split(";")
    if not (len(id_groups) == len(value_groups) == len(op_groups)):
        raise QueryError("Het aantal filtervelden, filterwaarden en operatoren komt niet overeen.")
    groups: list[list[Clause]] = []
    for field_ids, field_values, ops in zip(id_groups, value_groups, op_groups, strict=True):
        parts = field_ids.split(","), field_values.split(","), ops.split(",")
        if not (len(parts[0]) == len(parts[1]) == len(parts[2])):
            raise QueryError("Het aantal filtervelden, filterwaarden en operatoren komt niet overeen.")
        clauses: list[Clause] = []
        for field_id, value, op_text in zip(*parts, strict=True):
            clauses.append(_clause(connector, field_id, op_text, value))
        groups.append(clauses)
    return groups


def _clause(connector: GetConnectorDef, field_id: str, op_text: str, value: str) -> Clause:
    field = connector.field(field_id.strip())
    if field is None:
        raise QueryError(f"Onbekend veld '{field_id}' in GetConnector '{connector.id}'.")
    try:
        op = int(op_text)
    except ValueError:
        raise QueryError(f"Ongeldige operator '{op_text}'.") from None
    if not 1 <= op <= 15:
        raise QueryError(f"Ongeldige operator '{op_text}'.")
    wanted: Value = None
    if op in (6, 10, 11, 12, 13, 14, 15) or (op == 7 and value.startswith("%") and value.endswith("%")):
        wanted = value
    elif op not in (8, 9):
        wanted = _typed(field, value)
    return (field, op, wanted)


def parse_filterjson(connector: GetConnectorDef, text: str) -> list[list[Clause]]:
    """`filterjson`: the filter XML's structure as JSON, `{"Filters":{"Filter":[{"@FilterId":"Filter 1","Field":
    [{"@FieldId":"X","@OperatorType":"1","#text":"v"}]}]}}`. Filters are ORed, the fields of one filter ANDed
    (AFAS's "XML filter for GetConnector" page; a lone Filter or Field may be an object instead of a list)."""
    try:
        body = json.loads(text)
        filters = body["Filters"]["Filter"]
    except (ValueError, KeyError, TypeError):
        raise QueryError('De filterjson is ongeldig: verwacht {"Filters":{"Filter":[…]}}.') from None
    groups: list[list[Clause]] = []
    for item in filters if isinstance(filters, list) else [filters]:
        fields = item.get("Field") if isinstance(item, dict) else None
        if fields is None:
            raise QueryError("De filterjson is ongeldig: een Filter zonder Field.")
        clauses = []
        for entry in fields if isinstance(fields, list) else [fields]:
            if not isinstance(entry, dict) or "@FieldId" not in entry or "@OperatorType" not in entry:
                raise QueryError("De filterjson is ongeldig: elk Field heeft @FieldId en @OperatorType.")
            value = entry.get("#text")
            clauses.append(_clause(connector, str(entry["@FieldId"]), str(entry["@OperatorType"]), str(value or "")))
        groups.append(clauses)
    return groups


def matches(row: Row, groups: list[list[Clause]]) -> bool:
    return any(all(_compare(op, row[f.id], wanted) for f, op, wanted in group) for group in groups)


def sort_rows(connector: GetConnectorDef, rows: list[Row], order: str) -> list[Row]:
    """Sort by a comma list of field ids, `-` for descending; empty values first, as SQL Server does."""
    keys: list[tuple[str, bool]] = []
    for part in order.split(","):
        name = part.strip()
        descending = name.startswith("-")
        name = name.lstrip("-")
        if connector.field(name) is None:
            raise QueryError(f"Onbekend veld '{name}' in GetConnector '{connector.id}'.")
        keys.append((name, descending))
    for name, descending in reversed(keys):
        rows.sort(key=lambda r, n=name: (r[n] is not None, _comparable(r[n])), reverse=descending)  # type: ignore[misc]
    return rows


def render(value: Value) -> Any:
    """A value as Profit's JSON shows it: dates with the misleading Z, decimals as numbers."""
    if isinstance(value, datetime):
        return value.replace(microsecond=0).isoformat() + "Z"
    if isinstance(value, date):
        return f"{value.isoformat()}T00:00:00Z"
    if isinstance(value, Decimal):
        return float(value)
    return value
