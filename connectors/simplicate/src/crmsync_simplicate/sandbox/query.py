"""Simplicate's list query language, as the sandbox understands it.

`offset`, `limit` (at most 100), `sort=field` / `sort=-field` (comma separated), `select=id,progress.,status.`,
`metadata=count` (or `offset,limit,count`), and filters:

- `q[field]=value` equality; `*` in the value is a wildcard (case-insensitive); `q[field]=*` any non-null value,
  `q[field]=null` no value;
- `q[field][ge]=`, `[gt]`, `[le]`, `[lt]` comparisons (datetimes compare as wall-clock text, as Simplicate's
  database does);
- `q[field][]=A&q[field][]=B` one of several values;
- `q[or][field]=...` filters ORed with the rest: `q[a]=X&q[or][b]=Y` is a=X OR b=Y (Simplicate's filtering docs,
  "Search for all entries in 'name' that have 'Alice' OR values in 'email' that end with 'gmail.com'"); the plain
  filters among themselves are ANDed;
- dotted names reach nested objects: `q[status.label]=OpportunityStatus_open`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from functools import partial
from typing import Any

MAX_LIMIT = 100
_KEY = re.compile(r"^q((?:\[[^\[\]]*\])+)$")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "ge": lambda a, b: a >= b,
    "gt": lambda a, b: a > b,
    "le": lambda a, b: a <= b,
    "lt": lambda a, b: a < b,
}


class QueryError(ValueError):
    """A query parameter the API would reject (answered 400)."""


def lookup(item: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a nested record, or None."""
    value: Any = item
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _coerce(actual: Any, wanted: str) -> Any:
    if isinstance(actual, bool):
        return wanted.lower() in ("1", "true")
    if isinstance(actual, int | float):
        try:
            return float(wanted)
        except ValueError:
            raise QueryError(f"'{wanted}' is not a number") from None
    return wanted


def _equals(actual: Any, wanted: str) -> bool:
    if wanted == "null":
        return actual is None or actual == ""
    if wanted == "*":
        return actual is not None and actual != ""
    if actual is None:
        return False
    if "*" in wanted and isinstance(actual, str):
        return fnmatchcase(actual.lower(), wanted.lower().replace("[", "[[]"))
    coerced = _coerce(actual, wanted)
    if isinstance(coerced, float):
        return float(actual) == coerced
    return str(actual).lower() == str(coerced).lower()


@dataclass(frozen=True)
class Filter:
    path: str
    op: str  # eq, in, ge, gt, le, lt
    values: tuple[str, ...]

    def matches(self, item: dict[str, Any]) -> bool:
        actual = lookup(item, self.path)
        if self.op == "eq":
            return _equals(actual, self.values[0])
        if self.op == "in":
            return any(_equals(actual, value) for value in self.values)
        if actual is None:
            return False
        wanted = _coerce(actual, self.values[0])
        left = float(actual) if isinstance(wanted, float) else str(actual)
        return _OPS[self.op](left, wanted)


@dataclass
class Query:
    offset: int = 0
    limit: int = MAX_LIMIT
    sort: list[tuple[str, bool]] = field(default_factory=list)  # (path, descending)
    select: list[str] | None = None
    metadata: list[str] = field(default_factory=list)
    filters: list[Filter] = field(default_factory=list)
    any_of: list[Filter] = field(default_factory=list)

    def matches(self, item: dict[str, Any]) -> bool:
        if not self.any_of:
            return all(f.matches(item) for f in self.filters)
        if self.filters and all(f.matches(item) for f in self.filters):
            return True
        return any(f.matches(item) for f in self.any_of)

    def run(self, items: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
        """The selected page and the number of matching records."""
        rows = [item for item in items if self.matches(item)]
        for path, descending in reversed(self.sort):
            rows.sort(key=partial(_row_key, path), reverse=descending)
        page = rows[self.offset : self.offset + self.limit]
        return [self.project(item) for item in page], len(rows)

    def project(self, item: dict[str, Any]) -> dict[str, Any]:
        if not self.select:
            return item
        out: dict[str, Any] = {}
        for selector in self.select:
            path = selector.rstrip(".")
            value = lookup(item, path)
            target = out
            parts = path.split(".")
            for part in parts[:-1]:
                target = target.setdefault(part, {})
            target[parts[-1]] = value
        return out


def _row_key(path: str, item: dict[str, Any]) -> tuple[int, Any]:
    return _sort_key(lookup(item, path))


def _sort_key(value: Any) -> tuple[int, Any]:
    if value is None:
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, float(value))
    return (2, str(value).lower())


def _int(name: str, text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise QueryError(f"parameter '{name}' must be an integer, got '{text}'") from None
    if value < minimum:
        raise QueryError(f"parameter '{name}' must be at least {minimum}")
    return value


def parse_query(params: Iterable[tuple[str, str]]) -> Query:
    """Parse a list request's query string; raise QueryError for what the API rejects."""
    query = Query()
    lists: dict[tuple[bool, str], list[str]] = {}
    for key, value in params:
        if key == "offset":
            query.offset = _int(key, value, 0)
        elif key == "limit":
            query.limit = min(MAX_LIMIT, _int(key, value, 1))
        elif key == "sort":
            query.sort = [(part.lstrip("-"), part.startswith("-")) for part in value.split(",") if part]
        elif key == "select":
            query.select = [part for part in value.split(",") if part]
        elif key == "metadata":
            query.metadata = [part for part in value.split(",") if part]
        elif key.startswith("q["):
            _parse_filter(query, lists, key, value)
    for (is_or, path), values in lists.items():
        (query.any_of if is_or else query.filters).append(Filter(path, "in", tuple(values)))
    return query


def _parse_filter(query: Query, lists: dict[tuple[bool, str], list[str]], key: str, value: str) -> None:
    match = _KEY.match(key)
    if match is None:
        raise QueryError(f"malformed filter '{key}'")
    parts = re.findall(r"\[([^\[\]]*)\]", match.group(1))
    is_or = parts[0] == "or"
    if is_or:
        parts = parts[1:]
    if not parts or not parts[0]:
        raise QueryError(f"malformed filter '{key}'")
    path, rest = parts[0], parts[1:]
    target = query.any_of if is_or else query.filters
    if not rest:
        target.append(Filter(path, "eq", (value,)))
    elif rest == [""]:
        lists.setdefault((is_or, path), []).append(value)
    elif len(rest) == 1 and rest[0] in _OPS:
        target.append(Filter(path, rest[0], (value,)))
    else:
        raise QueryError(f"unsupported filter operator in '{key}'; use [ge], [gt], [le], [lt] or []")
