"""HubSpot CRM v3 connector: deals, pipelines, forecast category and probability write-back."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from crmsync.connector import (
    Capabilities,
    Connector,
    ConnectorSettings,
    DealUpdate,
    Page,
    Reference,
    WriteOutcome,
)
from crmsync.errors import ApiError, AuthError, RecordError, TransportError
from crmsync.http import ApiClient, CursorGuard, RateLimiter
from crmsync.mapping import Mapping
from crmsync.model import Deal, Pipeline, Stage
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.translate import CATEGORY, DEFAULT_FIELDS, PROBABILITY, parse_time, to_deal

DEALS = "/crm/v3/objects/deals"
LIST_PAGE = 100
SEARCH_PAGE = 200
SEARCH_CAP = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def epoch_millis(moment: datetime) -> int:
    """Epoch milliseconds, floored, in integer arithmetic (no float rounding at millisecond boundaries)."""
    return (moment - EPOCH) // MILLISECOND


def modified_at(record: dict[str, Any]) -> datetime | None:
    """A record's hs_lastmodifieddate (or updatedAt), or None when missing or unparsable.

    An unparsable value is not fatal here: `to_deal` raises the RecordError that quarantines the record.
    """
    try:
        return parse_time(
            (record.get("properties") or {}).get("hs_lastmodifieddate") or record.get("updatedAt"),
            deal_id=str(record.get("id")),
            field="hs_lastmodifieddate",
        )
    except RecordError:
        return None


class HubSpotSettings(ConnectorSettings):
    base_url: str = "https://api.hubapi.com"
    token: SecretStr = Field(description="private-app or OAuth access token")
    requests_per_10s: int = Field(default=100, ge=1, le=1000, description="100 Free/Starter, 190 Pro/Enterprise")
    search_requests_per_second: int = Field(default=4, ge=1, le=5, description="search's own limit is about 5/s")
    history_on_full_read: bool = Field(default=True, description="read property history to spot manual overrides")


class HubSpotClient(ApiClient):
    """HubSpot's error bodies carry `message` and `category`; 429s may say nothing but the interval headers."""

    def error_detail(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return super().error_detail(response)
        if isinstance(body, dict) and body.get("message"):
            kind = body.get("category") or body.get("errorType")
            return f"{kind}: {body['message']}" if kind else str(body["message"])
        return super().error_detail(response)


class HubSpotConnector(Connector):
    """Reads deals with the list endpoint (full) or search (incremental); writes with batch/update."""

    name = "hubspot"
    Settings = HubSpotSettings
    capabilities = Capabilities(
        page_size=LIST_PAGE,
        write_batch_size=100,
        incremental=True,
        detects_manual_override=True,
        rate_limit_requests=100,
        rate_limit_window_seconds=10.0,
        max_concurrency=4,
        reconciles_deletes=True,
    )
    canonical_fields: ClassVar[frozenset[str]] = frozenset(DEFAULT_FIELDS)
    settings: HubSpotSettings
    client: HubSpotClient

    def __init__(
        self,
        connection: str,
        settings: ConnectorSettings,
        mapping: Mapping,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(connection, settings, mapping)
        assert isinstance(settings, HubSpotSettings)
        self.search_limiter = RateLimiter(settings.search_requests_per_second, 1.0)
        self.client = HubSpotClient(
            connection,
            settings.base_url,
            headers={
                "Authorization": f"Bearer {settings.token.get_secret_value()}",
                "Accept": "application/json",
            },
            timeout=settings.timeout_seconds,
            limiter=RateLimiter(settings.requests_per_10s, 10.0),
            max_retries=settings.max_retries,
            max_concurrency=self.capabilities.max_concurrency,
            transport=transport,
        )

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> HubSpotSandbox:
        return HubSpotSandbox(deals=deals, seed=seed)

    # -- reading -----------------------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.request("GET", DEALS, params={"limit": 1})

    async def _json(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None
    ) -> dict[str, Any]:
        """A request whose answer must be a JSON object; anything else is an ApiError naming the request."""
        body = await self.client.request_json(method, path, params=params, json_body=json_body)
        if not isinstance(body, dict):
            raise ApiError(
                f"{method} {path} answered with JSON that is not an object ({type(body).__name__})",
                method=method,
                path=path,
                connection=self.connection,
            )
        return body

    async def reference(self) -> Reference:
        body = await self._json("GET", "/crm/v3/pipelines/deals")
        pipelines: dict[str, Pipeline] = {}
        stages: dict[str, Stage] = {}
        for raw in body.get("results", []):
            if raw.get("archived"):
                continue
            pipeline = Pipeline(id=str(raw["id"]), label=str(raw["label"]))
            pipelines[pipeline.id] = pipeline
            for raw_stage in raw.get("stages", []):
                meta = raw_stage.get("metadata") or {}
                probability = Decimal(meta["probability"]) if meta.get("probability") not in (None, "") else None
                closed = meta.get("isClosed") == "true"
                stages[str(raw_stage["id"])] = Stage(
                    id=str(raw_stage["id"]),
                    label=str(raw_stage["label"]),
                    pipeline_id=pipeline.id,
                    order=int(raw_stage.get("displayOrder", 0)),
                    probability=probability,
                    closed=closed,
                    won=closed and probability == Decimal(1),
                )
        fields_body = await self._json("GET", "/crm/v3/properties/deals")
        fields = {f["name"]: f for f in fields_body.get("results", [])}
        return Reference(pipelines=pipelines, stages=stages, fields=fields)

    def mapping_problems(self, reference: Reference) -> list[str]:
        problems = []
        wb = self.mapping.writeback
        for name in filter(None, (wb.category_field, wb.probability_field, *self.mapping.fields.values())):
            definition = reference.fields.get(name)
            if definition is None:
                problems.append(f"property {name!r} does not exist in HubSpot")
            elif name in (wb.category_field, wb.probability_field) and (
                definition.get("modificationMetadata", {}).get("readOnlyValue")
            ):
                problems.append(f"property {name!r} is read-only and cannot receive write-back")
        category = reference.fields.get(wb.category_field or "")
        if category and category.get("options"):
            allowed = {option["value"] for option in category["options"]}
            for value in wb.category_values.values():
                if value not in allowed:
                    problems.append(
                        f"{value!r} is not an option of {wb.category_field!r}; options: {', '.join(sorted(allowed))}"
                    )
        return problems

    def _properties(self) -> list[str]:
        wb = self.mapping.writeback
        names = {
            *DEFAULT_FIELDS.values(),
            *self.mapping.fields.values(),
            "pipeline",
            "dealstage",
            "createdate",
            "hs_lastmodifieddate",
            wb.category_field or CATEGORY,
            wb.probability_field or PROBABILITY,
        }
        return sorted(names)

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        pages = self._list_all() if since is None else self._search_since(since)
        async for page in pages:
            yield page
        if reconcile or since is None:
            async for page in self._archived():
                yield page

    @staticmethod
    def _page(results: list[dict[str, Any]]) -> Page:
        stamps = [modified_at(r) for r in results]
        return Page(records=results, checkpoint=max(filter(None, stamps), default=None))

    async def _list_all(self) -> AsyncIterator[Page]:
        guard = CursorGuard(self.connection, "GET deals")
        params: dict[str, Any] = {
            "limit": LIST_PAGE,
            "properties": ",".join(self._properties()),
            "archived": "false",
        }
        if self.settings.history_on_full_read:
            params["propertiesWithHistory"] = ",".join(
                filter(None, (self.mapping.writeback.category_field, self.mapping.writeback.probability_field))
            )
        after: str | None = None
        while True:
            body = await self._json("GET", DEALS, params={**params, **({"after": after} if after else {})})
            yield self._page(body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            guard.see(after)

    def now_millis(self) -> int:
        """The client clock in epoch milliseconds."""
        return time.time_ns() // 1_000_000

    def _search_body(self, lower: int, upper: int, after: int) -> dict[str, Any]:
        return {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(lower)},
                        {"propertyName": "hs_lastmodifieddate", "operator": "LT", "value": str(upper)},
                    ]
                }
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self._properties(),
            "limit": SEARCH_PAGE,
            "after": str(after),
        }

    async def _search_since(self, since: datetime) -> AsyncIterator[Page]:
        """Deals modified from `since` up to the millisecond the listing starts, by keyset paging.

        Offset paging over a changing result set skips deals: a deal written between pages (our own write-back, or
        someone's edit) gets a new modification time and moves to the end, so every unread deal shifts forward past
        the next offset, and the cursor then passes them for good. So every query starts at the last modification
        time read (GTE `lower`, `after` = 0) and skips the ids already read at exactly that time. Only a page whose
        deals all share one time (more than SEARCH_PAGE modified in one millisecond) is followed by offset pages
        within that time; those pages are held back until the time is read through, so that no write-back of ours
        lands between them.

        The upper bound (the listing's start, by the client clock) keeps deals modified during the listing out of it,
        so the listing cannot chase its own write-backs; the next run reads them, since the engine's cursor is the
        latest modification time read here. A client clock behind HubSpot's only defers edits to the next run.
        """
        upper = self.now_millis() + 1  # exclusive: the millisecond the listing starts is still in
        lower = epoch_millis(since)
        read_at_lower: set[str] = set()  # ids already read whose modification time is exactly `lower`
        unstamped: set[str] = set()  # ids read without a usable modification time; to_deal quarantines them
        held: list[dict[str, Any]] = []
        offset = 0
        while True:
            if offset + SEARCH_PAGE > SEARCH_CAP:
                raise ApiError(
                    f"search cannot page through more than {SEARCH_CAP} deals modified in the same millisecond "
                    f"(hs_lastmodifieddate = {lower} epoch ms); run a full sync instead",
                    method="POST",
                    path=f"{DEALS}/search",
                    connection=self.connection,
                )
            await self.search_limiter.acquire()  # search has its own, lower limit (about 5 per second)
            answer = await self._json("POST", f"{DEALS}/search", json_body=self._search_body(lower, upper, offset))
            results: list[dict[str, Any]] = answer.get("results") or []
            fresh: list[dict[str, Any]] = []
            stamped: list[tuple[int, str]] = []
            for record in results:
                deal_id = str(record.get("id"))
                stamp = modified_at(record)
                if stamp is None:
                    if deal_id not in unstamped:
                        unstamped.add(deal_id)
                        fresh.append(record)
                    continue
                millis = epoch_millis(stamp)
                if millis == lower and deal_id in read_at_lower:
                    continue
                stamped.append((millis, deal_id))
                fresh.append(record)
            if len(results) < SEARCH_PAGE or not (answer.get("paging") or {}).get("next"):
                if held or fresh:
                    yield self._page(held + fresh)
                return
            last = max((millis for millis, _ in stamped), default=lower)
            if last > lower:
                if held or fresh:
                    yield self._page(held + fresh)
                held = []
                lower, offset = last, 0
                read_at_lower = {deal_id for millis, deal_id in stamped if millis == last}
            else:
                # a full page and no later time: page deeper within this millisecond, holding the records back
                held += fresh
                read_at_lower |= {deal_id for millis, deal_id in stamped if millis == lower}
                offset += len(results)

    async def _archived(self) -> AsyncIterator[Page]:
        """Every archived deal HubSpot still keeps (90 days), whenever it was archived.

        The sweep runs only on reconciling (and full) runs, so a `since` filter would drop the deals archived
        between two sweeps for good; marking a deal deleted again is a no-op in the store.
        """
        guard = CursorGuard(self.connection, "GET archived deals")
        after: str | None = None
        while True:
            params: dict[str, Any] = {
                "limit": LIST_PAGE,
                "archived": "true",
                "properties": "hs_lastmodifieddate",
            }
            if after:
                params["after"] = after
            body = await self._json("GET", DEALS, params=params)
            gone = [str(record["id"]) for record in body.get("results", []) if record.get("id") is not None]
            if gone:
                yield Page(records=[], deleted_ids=gone)
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            guard.see(after)

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(self.connection, raw, reference, self.mapping)

    # -- writing -----------------------------------------------------------------------------------------------

    def _properties_of(self, update: DealUpdate) -> dict[str, str]:
        wb = self.mapping.writeback
        props: dict[str, str] = {}
        if update.category is not None and wb.category_field:
            props[wb.category_field] = update.category
        if wb.probability_field:
            if update.probability is not None:
                props[wb.probability_field] = str(update.probability)
            elif update.clear_probability:
                props[wb.probability_field] = ""
        return props

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome] = []
        for batch in self._batches(updates):
            outcomes += await self._write_batch(batch)
        return outcomes

    def _batches(self, updates: Sequence[DealUpdate]) -> list[list[DealUpdate]]:
        """Batches of at most write_batch_size, in order, none naming a deal twice (HubSpot refuses those whole)."""
        batches: list[list[DealUpdate]] = []
        current: list[DealUpdate] = []
        ids: set[str] = set()
        for update in updates:
            if len(current) == self.capabilities.write_batch_size or update.source_id in ids:
                batches.append(current)
                current, ids = [], set()
            current.append(update)
            ids.add(update.source_id)
        if current:
            batches.append(current)
        return batches

    async def _write_batch(self, batch: Sequence[DealUpdate]) -> list[WriteOutcome]:
        inputs = [{"id": u.source_id, "properties": self._properties_of(u)} for u in batch]
        try:
            response = await self.client.request("POST", f"{DEALS}/batch/update", json_body={"inputs": inputs})
        except (AuthError, TransportError):
            raise
        except ApiError as exc:
            if len(batch) > 1 and exc.status == 400:
                # HubSpot refuses a whole batch for one bad input: retry one by one to pin it down
                outcomes: list[WriteOutcome] = []
                for update in batch:
                    outcomes += await self._write_batch([update])
                return outcomes
            return [WriteOutcome(source_id=u.source_id, status="failed", reason=exc.detail or str(exc)) for u in batch]
        try:
            body = self.client.json(response)
        except ApiError as exc:  # e.g. a proxy's HTML page: whether HubSpot wrote is unknown, so report failed
            return [WriteOutcome(source_id=u.source_id, status="failed", reason=str(exc)) for u in batch]
        if not isinstance(body, dict):
            body = {}
        failed: dict[str, str] = {}
        for err in body.get("errors", []):
            for deal_id in (err.get("context") or {}).get("ids", []):
                failed[str(deal_id)] = f"{err.get('category', 'ERROR')}: {err.get('message', '')}".strip()
        written = {str(r.get("id")) for r in body.get("results", [])}
        outcomes = []
        for update in batch:
            if update.source_id in failed:
                outcomes.append(
                    WriteOutcome(source_id=update.source_id, status="failed", reason=failed[update.source_id])
                )
            elif update.source_id in written:
                outcomes.append(WriteOutcome(source_id=update.source_id, status="written"))
            else:
                outcomes.append(
                    WriteOutcome(
                        source_id=update.source_id,
                        status="failed",
                        reason="HubSpot returned neither a result nor an error for this deal",
                    )
                )
        return outcomes
