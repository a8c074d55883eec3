"""Simplicate API v2 connector (sales module): sales, progress steps, chance and forecast-category write-back.

Reading pages `/sales/sales` by offset (100 a page, `metadata=count` gives the total, so pages after the first
are fetched concurrently and yielded in order). Pages are sorted by `id`, not `updated_at`: with offset paging,
a sort key that changes while the listing runs (a sale edited by a person, or by our own write-back between
pages) moves records across page boundaries and silently skips others. The engine advances its cursor only
after the run, so page order does not matter for checkpoints. A changing total or a repeated id shows that the
data moved anyway (creates, deletes); the listing is then read once more.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

import httpx
from pydantic import Field, SecretStr, field_validator

from crmsync.config import check_timezone
from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import ApiError, AuthError, ConnectorError
from crmsync.http import RateLimiter
from crmsync.mapping import Mapping
from crmsync.model import Deal
from crmsync_simplicate.client import SimplicateClient
from crmsync_simplicate.localtime import parse_local, since_filter
from crmsync_simplicate.sandbox import SimplicateSandbox
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


class SimplicateConnector(Connector):
    """Reads sales by offset pages; writes chance_to_score and a forecast-category custom field with PUT."""

    name = "simplicate"
    Settings = SimplicateSettings
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
    settings: SimplicateSettings
    client: SimplicateClient

    def __init__(
        self,
        connection: str,
        settings: ConnectorSettings,
        mapping: Mapping,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(connection, settings, mapping)
        assert isinstance(settings, SimplicateSettings)
        self.zone = ZoneInfo(settings.timezone)
        limit = settings.requests_per_minute or self.capabilities.rate_limit_requests
        self.client = SimplicateClient(
            connection,
            settings.base_url,
            headers={
                "Authentication-Key": settings.api_key.get_secret_value(),
                "Authentication-Secret": settings.api_secret.get_secret_value(),
                "Accept": "application/json",
            },
            timeout=settings.timeout_seconds,
            limiter=RateLimiter(limit, self.capabilities.rate_limit_window_seconds),
            max_retries=settings.max_retries,
            max_concurrency=self.capabilities.max_concurrency,
            backoff=1.0,
            transport=transport,
        )

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> SimplicateSandbox:
        return SimplicateSandbox(deals=deals, seed=seed)

    # -- reference data ----------------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.get_list("/sales/salesstatus", {"limit": 1})

    async def _all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        while True:
            data, _ = await self.client.get_list(path, {"offset": len(items), "limit": PAGE})
            items.extend(data)
            if len(data) < PAGE:
                return items

    async def reference(self) -> Reference:
        paths = (
            "/sales/salesprogress",
            "/sales/salesstatus",
            "/sales/salescustomfields",
            "/sales/salessource",
            "/sales/salesreason",
        )
        progress, statuses, fields, sources, reasons = await asyncio.gather(*(self._all(p) for p in paths))
        label = self.mapping.options.get("pipeline_label", "Sales")
        return build_reference(progress, statuses, fields, sources, reasons, str(label))

    def mapping_problems(self, reference: Reference) -> list[str]:
        problems: list[str] = []
        wb = self.mapping.writeback
        if wb.probability_field not in (None, PROBABILITY_FIELD):
            problems.append(
                f"writeback.probability_field is {wb.probability_field!r}; Simplicate's probability is "
                f"{PROBABILITY_FIELD!r}"
            )
        if wb.probability_field is not None and (wb.probability_scale != 100 or wb.probability_decimals != 0):
            problems.append(
                "chance_to_score is a whole percentage: set probability_scale = 100 and probability_decimals = 0"
            )
        if wb.category_field is not None:
            definition = reference.fields.get(wb.category_field)
            if definition is None:
                existing = ", ".join(sorted(reference.fields)) or "none"
                problems.append(
                    f"sales custom field {wb.category_field!r} does not exist in Simplicate; existing: {existing}"
                )
            else:
                options = {str(o.get("value")) for o in definition.get("options") or [] if isinstance(o, dict)}
                for value in wb.category_values.values():
                    if options and value not in options:
                        problems.append(
                            f"{value!r} is not an option of custom field {wb.category_field!r}; "
                            f"options: {', '.join(sorted(options))}"
                        )
        labels: dict[str, str] = reference.extra.get("status_labels", {})
        kinds: dict[str, str] = reference.extra.get("status_kinds", {})
        for status_id, status_label in labels.items():
            if status_id not in kinds:
                problems.append(f"sales status {status_label!r} is neither open, scored nor lost")
        return problems

    # -- reading -----------------------------------------------------------------------------------------------

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(raw, reference, self.mapping, self.connection, self.zone)

    def _checkpoint(self, records: list[dict[str, Any]]) -> datetime | None:
        stamps = []
        for record in records:
            value = record.get("updated_at") or record.get("created_at")
            if isinstance(value, str) and value:
                try:
                    stamps.append(parse_local(value, self.zone))
                except ValueError:
                    continue  # to_deal quarantines the record with the reason
        return max(stamps, default=None)

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"sort": "id", "metadata": "count"}
        if since is not None:
            params["q[updated_at][ge]"] = since_filter(since, self.zone)
        seen: set[str] = set()
        listed: set[str] = set()
        steady = False
        for attempt in range(RESCANS + 1):
            steady = True
            listed = set()
            async for records, same_total in self._scan(params):
                ids = [str(r.get("id")) for r in records]
                if not same_total or any(i in listed for i in ids):
                    steady = False
                listed.update(ids)
                fresh = [r for r, i in zip(records, ids, strict=True) if i not in seen]
                seen.update(ids)
                if fresh:
                    yield Page(records=fresh, checkpoint=self._checkpoint(fresh))
            if steady:
                break
            log.info("[%s] sales changed while being listed; listing again (pass %d)", self.connection, attempt + 2)
        if not reconcile:
            return
        live = listed if (since is None and steady) else await self._live_ids()
        if live is None:
            log.warning("[%s] sales kept changing during the id scan; deletes not reconciled", self.connection)
            return
        yield Page(records=[], live_ids=sorted(live))

    async def _live_ids(self) -> set[str] | None:
        """Every sale id, from a `select=id` scan; None when the data would not hold still."""
        for _ in range(RESCANS + 1):
            ids: set[str] = set()
            steady_all = True
            count = 0
            async for records, steady in self._scan({"sort": "id", "metadata": "count", "select": "id"}):
                steady_all = steady_all and steady
                count += len(records)
                ids.update(str(r.get("id")) for r in records if r.get("id"))
            if steady_all and count == len(ids):
                return ids
        return None

    async def _scan(self, params: dict[str, Any]) -> AsyncIterator[tuple[list[dict[str, Any]], bool]]:
        """Offset pages in order; each with whether the total still matches the first page's.

        Pages after the first are fetched up to `max_concurrency` ahead (the limiter keeps the pace).
        """
        first, total = await self.client.get_list(SALES, {**params, "offset": 0, "limit": PAGE})
        yield first, True
        if total is None:  # no metadata: read on until a short page
            offset, data = PAGE, first
            while len(data) == PAGE:
                data, _ = await self.client.get_list(SALES, {**params, "offset": offset, "limit": PAGE})
                offset += PAGE
                yield data, True
            return
        offsets = iter(range(PAGE, total, PAGE))
        pending: deque[asyncio.Task[tuple[list[dict[str, Any]], int | None]]] = deque()

        def launch() -> None:
            offset = next(offsets, None)
            if offset is not None:
                pending.append(
                    asyncio.ensure_future(self.client.get_list(SALES, {**params, "offset": offset, "limit": PAGE}))
                )

        try:
            for _ in range(self.capabilities.max_concurrency):
                launch()
            while pending:
                data, count = await pending.popleft()
                launch()
                yield data, count == total
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    # -- writing -----------------------------------------------------------------------------------------------

    def _body(self, update: DealUpdate) -> dict[str, Any]:
        body: dict[str, Any] = {}
        wb = self.mapping.writeback
        if update.category is not None and wb.category_field:
            body["custom_fields"] = [{"name": wb.category_field, "value": update.category}]
        if update.probability is not None:
            body[PROBABILITY_FIELD] = int(update.probability.quantize(Decimal(1), rounding=ROUND_HALF_UP))
        return body

    async def _write_one(self, update: DealUpdate) -> WriteOutcome:
        body = self._body(update)
        if not body:
            reason = "Simplicate cannot empty chance_to_score" if update.clear_probability else "nothing to write"
            return WriteOutcome(source_id=update.source_id, status="skipped", reason=reason)
        try:
            await self.client.request("PUT", f"{SALES}/{update.source_id}", json_body=body)
        except AuthError:
            raise
        except ApiError as exc:
            return WriteOutcome(
                source_id=update.source_id, status="failed", reason=f"{exc.status}: {exc.detail or exc}"
            )
        except ConnectorError as exc:  # unreachable after every retry: this sale is unwritten, the others stand
            return WriteOutcome(source_id=update.source_id, status="failed", reason=str(exc))
        return WriteOutcome(source_id=update.source_id, status="written")

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """PUT each sale (Simplicate has no batch endpoint), concurrently within the rate limit.

        Every sale gets its own outcome, so one that cannot be reached never hides those already written; only
        refused credentials end the batch (nothing else could be written either).
        """
        results = await asyncio.gather(*(self._write_one(u) for u in updates), return_exceptions=True)
        outcomes: list[WriteOutcome] = []
        for result in results:
            if isinstance(result, BaseException):
                raise result
            outcomes.append(result)
        return outcomes
