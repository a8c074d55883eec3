"""Listing rules of the v2 deal endpoints: query validation, filters, sorting and keyset cursors."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmsync_pipedrive.sandbox.state import parse_rfc3339

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
STATUSES = ("open", "won", "lost", "deleted")
SORT_FIELDS = ("id", "update_time", "add_time")
MAX_CUSTOM_FIELDS = 15  # GET /api/v2/deals `custom_fields`: "A maximum of 15 keys is allowed" (v2 spec)


class QueryError(ValueError):
    """A query parameter failed validation; the message is Pipedrive's wording after 'Validation failed: '."""


def _int(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise QueryError(f"{name}: Expected number, received string") from None


def page_limit(params: Mapping[str, str]) -> int:
    limit = _int(params, "limit")
    if limit is None:
        return DEFAULT_LIMIT
    if limit < 1:
        raise QueryError("limit: Number must be greater than or equal to 1")
    if limit > MAX_LIMIT:
        raise QueryError(f"limit: Number must be less than or equal to {MAX_LIMIT}")
    return limit


def encode_cursor(key: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def decode_cursor(raw: str | None) -> list[Any] | None:
    if raw is None or raw == "":
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise QueryError("cursor: Invalid cursor") from None
    if not isinstance(decoded, list) or not decoded:
        raise QueryError("cursor: Invalid cursor")
    return decoded


@dataclass(frozen=True)
class DealQuery:
    """The parsed query of GET /api/v2/deals (and /deals/archived)."""

    limit: int
    cursor: list[Any] | None
    statuses: tuple[str, ...] | None
    updated_since: datetime | None
    updated_until: datetime | None
    sort_by: str
    descending: bool
    pipeline_id: int | None
    stage_id: int | None
    owner_id: int | None
    ids: frozenset[int] | None
    person_id: int | None = None
    org_id: int | None = None
    filter_id: int | None = None
    shape: Shape | None = None

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> DealQuery:
        statuses: tuple[str, ...] | None = None
        if params.get("status"):
            statuses = tuple(s.strip() for s in params["status"].split(","))
            bad = [s for s in statuses if s not in STATUSES]
            if bad:
                raise QueryError(
                    f"status: Invalid enum value. Expected 'open' | 'won' | 'lost' | 'deleted', received '{bad[0]}'"
                )
        sort_by = params.get("sort_by") or "id"
        if sort_by not in SORT_FIELDS:
            raise QueryError(
                f"sort_by: Invalid enum value. Expected 'id' | 'update_time' | 'add_time', received '{sort_by}'"
            )
        direction = params.get("sort_direction") or "asc"
        if direction not in ("asc", "desc"):
            raise QueryError(f"sort_direction: Invalid enum value. Expected 'asc' | 'desc', received '{direction}'")
        ids: frozenset[int] | None = None
        if params.get("ids"):
            try:
                ids = frozenset(int(part) for part in params["ids"].split(","))
            except ValueError:
                raise QueryError("ids: Expected a comma-separated list of numbers") from None
            if len(ids) > 100:
                raise QueryError("ids: Array must contain at most 100 element(s)")
        return cls(
            person_id=_int(params, "person_id"),
            org_id=_int(params, "org_id"),
            filter_id=_int(params, "filter_id"),
            shape=Shape.parse(params),
            limit=page_limit(params),
            cursor=decode_cursor(params.get("cursor")),
            statuses=statuses,
            updated_since=_time(params, "updated_since"),
            updated_until=_time(params, "updated_until"),
            sort_by=sort_by,
            descending=direction == "desc",
            pipeline_id=_int(params, "pipeline_id"),
            stage_id=_int(params, "stage_id"),
            owner_id=_int(params, "owner_id"),
            ids=ids,
        )

    def matches(self, deal: dict[str, Any], deleted_visible: Callable[[dict[str, Any]], bool]) -> bool:
        if deal["is_deleted"]:
            if self.statuses is None or "deleted" not in self.statuses or not deleted_visible(deal):
                return False
        elif self.statuses is not None and deal["status"] not in self.statuses:
            return False
        updated = parse_rfc3339(deal["update_time"])
        if not (
            (self.updated_since is None or updated >= self.updated_since)
            and (self.updated_until is None or updated < self.updated_until)
        ):
            return False
        # "If filter_id is provided, this is ignored" (v2 spec, for ids, owner, person, org, pipeline and stage);
        # the sandbox keeps no saved filters, so a filter_id never gets this far (the app refuses it).
        checks = (
            self.pipeline_id is None or deal["pipeline_id"] == self.pipeline_id,
            self.stage_id is None or deal["stage_id"] == self.stage_id,
            self.owner_id is None or deal["owner_id"] == self.owner_id,
            self.person_id is None or deal.get("person_id") == self.person_id,
            self.org_id is None or deal.get("org_id") == self.org_id,
            self.ids is None or deal["id"] in self.ids,
        )
        return all(checks)

    def sort_key(self, deal: dict[str, Any]) -> list[Any]:
        if self.sort_by == "id":
            return [deal["id"]]
        return [deal[self.sort_by], deal["id"]]

    def page(self, deals: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the matching deals in order, after the cursor, and the next cursor (None at the end)."""
        ordered = sorted(deals, key=self.sort_key, reverse=self.descending)
        if self.cursor is not None:
            after = self.cursor
            width = 1 if self.sort_by == "id" else 2
            if len(after) != width or not isinstance(after[-1], int):
                raise QueryError("cursor: Invalid cursor")
            try:
                if self.descending:
                    ordered = [d for d in ordered if self.sort_key(d) < after]
                else:
                    ordered = [d for d in ordered if self.sort_key(d) > after]
            except TypeError:
                raise QueryError("cursor: Invalid cursor") from None
        chunk = ordered[: self.limit]
        more = len(ordered) > self.limit
        return chunk, encode_cursor(self.sort_key(chunk[-1])) if more and chunk else None


def _flag(params: Mapping[str, str], name: str) -> bool:
    raw = params.get(name)
    if raw is None or raw == "":
        return False
    if raw not in ("true", "false", "1", "0"):
        raise QueryError(f"{name}: Expected boolean, received string")
    return raw in ("true", "1")


@dataclass(frozen=True)
class Shape:
    """How deals are shaped in a v2 answer: which custom fields, and whether option labels come along.

    `custom_fields` (list and single deal): comma-separated keys to include, at most 15 (v2 spec).
    `include_option_labels`: enum custom fields answer `{"id", "label"}` instead of the bare option id (Pipedrive's
    changelog for API v2; the object's exact shape is not in the published spec, see the sandbox README).
    """

    custom_fields: frozenset[str] | None
    option_labels: bool

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Shape:
        keys: frozenset[str] | None = None
        if params.get("custom_fields"):
            keys = frozenset(k.strip() for k in params["custom_fields"].split(",") if k.strip())
            if len(keys) > MAX_CUSTOM_FIELDS:
                raise QueryError(f"custom_fields: Array must contain at most {MAX_CUSTOM_FIELDS} element(s)")
        return cls(custom_fields=keys, option_labels=_flag(params, "include_option_labels"))

    def apply(self, deal: dict[str, Any], label: Callable[[str, Any], str | None]) -> dict[str, Any]:
        fields = deal.get("custom_fields") or {}
        if self.custom_fields is not None:
            fields = {k: v for k, v in fields.items() if k in self.custom_fields}
        if self.option_labels:
            fields = {
                k: {"id": v, "label": label(k, v)} if isinstance(v, int) and label(k, v) is not None else v
                for k, v in fields.items()
            }
        return {**deal, "custom_fields": fields}


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_rfc3339(raw)
    except ValueError:
        raise QueryError(f"{name}: Invalid datetime, expected RFC 3339 format (e.g. 2025-01-01T10:20:00Z)") from None


def id_page(items: list[dict[str, Any]], params: Mapping[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    """Cursor paging in the items' own order, for pipelines, stages and deal fields."""
    limit = page_limit(params)
    cursor = decode_cursor(params.get("cursor"))
    start = 0
    if cursor is not None:
        if not isinstance(cursor[0], int) or cursor[0] < 0:
            raise QueryError("cursor: Invalid cursor")
        start = cursor[0]
    chunk = items[start : start + limit]
    more = start + limit < len(items)
    return chunk, encode_cursor([start + limit]) if more else None
