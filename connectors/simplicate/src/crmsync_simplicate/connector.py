"""Simplicate API v2 connector (sales module): sales, progress steps, chance and forecast-category write-back.

Reading pages `/sales/sales` by offset (100 a page, `metadata=count` gives the total, so pages after the first
are fetched concurrently and yielded in order). Pages are sorted by `id`, not `updated_at`: with offset paging,
a sort key that changes while the listing runs (a sale edited by a person between pages) moves records across
page boundaries and silently skips others; ids never move. The engine takes its cursor from the deals after the
run, so page order does not matter for checkpoints. A changing total or a repeated id shows that the data moved
anyway (creates, deletes); the listing is then read once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import cached_property
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, field_validator

from crmsync.config import check_timezone
from crmsync.connector import (
    Capabilities,
    Connector,
    ConnectorOptions,
    ConnectorSettings,
    DealUpdate,
    Page,
    Reference,
    WriteOutcome,
)
from crmsync.kit import OffsetPager, Rescans, skipped, write_each, written
from crmsync.kit.checks import Percentage, option_problems
from crmsync.kit.owners import person, read_owners
from crmsync.localtime import WallClock
from crmsync.model import Deal, Owner
from crmsync_simplicate.translate import DEFAULT_FIELDS, build_reference, to_deal

log = logging.getLogger("crmsync.simplicate")

SALES = "/sales/sales"
PAGE = 100
PROBABILITY_FIELD = "chance_to_score"
RESCANS = 2


class SimplicateSettings(ConnectorSettings):
    """Settings of one Simplicate account.

    `base_url` is `https://{domain}.simplicate.nl/api/v2` (or `.simplicate.app`).
    """

    api_key: SecretStr = Field(description="Authentication-Key of an API key (Simplicate → Settings → API)")
    api_secret: SecretStr = Field(description="Authentication-Secret of that API key")
    requests_per_minute: int | None = Field(
        default=None, ge=1, le=10_000, description="the account's rate limit; default 60 (the guaranteed minimum)"
    )
    timezone: str = Field(default="Europe/Amsterdam", description="the zone of Simplicate's zone-less timestamps")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        return check_timezone(value)


class SimplicateOptions(ConnectorOptions):
    pipeline_label: str = Field(default="Sales", description="the label of Simplicate's one implicit pipeline")


class SimplicateConnector(Connector):
    """Reads sales by offset pages; writes chance_to_score and a forecast-category custom field with PUT."""

    name = "simplicate"
    sandbox_class = "crmsync_simplicate.sandbox:SimplicateSandbox"
    probability = Percentage(PROBABILITY_FIELD, whole=True)
    Settings = SimplicateSettings
    Options = SimplicateOptions
    capabilities = Capabilities(
        page_size=PAGE,
        write_batch_size=10,
        incremental=True,
        detects_manual_override=True,
        rate_limit_requests=60,
        rate_limit_window_seconds=60.0,
        max_concurrency=4,
        reconciles_deletes=True,
    )
    canonical_fields: ClassVar[frozenset[str]] = frozenset(DEFAULT_FIELDS)
    retry_backoff = 1.0
    settings: SimplicateSettings
    options: SimplicateOptions
    _reference: Reference | None = None

    def auth_headers(self) -> dict[str, str]:
        return {
            "Authentication-Key": self.settings.api_key.get_secret_value(),
            "Authentication-Secret": self.settings.api_secret.get_secret_value(),
        }

    def rate_limit(self) -> tuple[int | None, float]:
        return self.settings.requests_per_minute or self.capabilities.rate_limit_requests, 60.0

    @cached_property
    def clock(self) -> WallClock:
        return WallClock(ZoneInfo(self.settings.timezone), separator=" ")

    # -- reference data ----------------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.request_object("GET", "/sales/salesstatus", params={"limit": 1})

    def _pager(self, path: str, params: dict[str, Any] | None = None) -> OffsetPager:
        counted = params is not None and params.get("metadata") == "count"
        ahead = self.capabilities.max_concurrency if counted else 1
        total = "metadata.count" if counted else None
        return OffsetPager(self.client, path, params=params, items="data", page_size=PAGE, total=total, ahead=ahead)

    async def _all(self, path: str) -> list[dict[str, Any]]:
        return [item async for items in self._pager(path).pages() for item in items]

    async def reference(self) -> Reference:
        paths = ("salesprogress", "salesstatus", "salescustomfields", "salessource", "salesreason")
        progress, statuses, fields, sources, reasons = await asyncio.gather(*(self._all(f"/sales/{p}") for p in paths))
        self._reference = build_reference(progress, statuses, fields, sources, reasons, self.options.pipeline_label)
        what = "Simplicate employees (GET /hrm/employee)"
        self._reference.owners = await read_owners(self.connection, what, self._employees)
        return self._reference

    async def _employees(self) -> dict[str, Owner]:
        found = await self._all("/hrm/employee")
        people = [person(e.get("id"), e.get("name"), e.get("work_email")) for e in found if isinstance(e, dict)]
        return {p.id: p for p in people if p is not None}

    def mapping_problems(self, reference: Reference) -> list[str]:
        problems = super().mapping_problems(reference)
        wb = self.mapping.writeback
        if wb.category_field is not None:
            definition = reference.fields.get(wb.category_field)
            if definition is None:
                existing = ", ".join(sorted(reference.fields)) or "none"
                problems.append(
                    f"sales custom field {wb.category_field!r} does not exist in Simplicate; existing: {existing}"
                )
            problems += option_problems(self.mapping, set(_options(definition)))
        labels: dict[str, str] = reference.extra.get("status_labels", {})
        kinds: dict[str, str] = reference.extra.get("status_kinds", {})
        for status_id, status_label in labels.items():
            if status_id not in kinds:
                problems.append(f"sales status {status_label!r} is neither open, scored nor lost")
        return problems

    # -- reading -----------------------------------------------------------------------------------------------

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(raw, reference, self.mapping, self.connection, self.clock)

    def _rescans(self, params: dict[str, Any], what: str) -> Rescans:
        def again(attempt: int) -> None:
            log.info("[%s] %s changed while being listed; listing again (pass %d)", self.connection, what, attempt)

        return Rescans(lambda: self._pager(SALES, params), passes=RESCANS + 1, again=again)

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"sort": "id", "metadata": "count"}
        if since is not None:
            params["q[updated_at][ge]"] = self.clock.since(since)
        listing = self._rescans(params, "sales")
        async for records in listing.pages():
            yield Page(records=records)
        if not reconcile:
            return
        live = listing.keys if (since is None and listing.steady) else None
        if live is None:
            live = await self._rescans({"sort": "id", "metadata": "count", "select": "id"}, "sale ids").scan()
        if live is None:
            log.warning("[%s] sales kept changing during the id scan; deletes not reconciled", self.connection)
            return
        yield Page(records=[], live_ids=sorted(set(live)))

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """These sales, one `GET /sales/sales/{id}` each (run within the client's concurrency); gone ones left out."""

        async def one(sale_id: str) -> dict[str, Any] | None:
            response = await self.client.request("GET", f"{SALES}/{sale_id}", ok=(200, 404))
            if response.status_code == 404:
                return None
            data = self.client.object(response).get("data")
            return data if isinstance(data, dict) else None

        found = await asyncio.gather(*(one(sale_id) for sale_id in ids))
        return [record for record in found if record is not None]

    # -- writing -----------------------------------------------------------------------------------------------

    def _body(self, update: DealUpdate) -> dict[str, Any]:
        body: dict[str, Any] = {}
        wb = self.mapping.writeback
        if update.category is not None and wb.category_field:
            body["custom_fields"] = [{"name": wb.category_field, "value": self._option_id(update.category)}]
        if update.probability is not None:
            body[PROBABILITY_FIELD] = int(update.probability.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return body

    def _option_id(self, value: str) -> str:
        """A select option is written by its `customfieldoption:` id; a free field (or an unknown text) as is."""
        fields = self._reference.fields if self._reference else {}
        definition = fields.get(self.mapping.writeback.category_field or "")
        return _options(definition).get(value, value) if value else value

    async def _write_one(self, update: DealUpdate) -> WriteOutcome:
        body = self._body(update)
        if not body:
            reason = "Simplicate cannot empty chance_to_score" if update.clear_probability else "nothing to write"
            return skipped(update, reason)
        await self.client.request("PUT", f"{SALES}/{update.source_id}", json_body=body)
        return written(update)

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """PUT each sale (Simplicate has no batch endpoint), concurrently within the rate limit."""
        if self._reference is None and self.mapping.writeback.category_field:
            await self.reference()
        return await write_each(updates, self._write_one)


def _options(definition: Any) -> dict[str, str]:
    """A select custom field's options: their text → their `customfieldoption:` id."""
    options = definition.get("options") if isinstance(definition, dict) else None
    return {
        str(o.get("value")): str(o.get("id") or o.get("value"))
        for o in options or []
        if isinstance(o, dict) and o.get("value") is not None
    }
