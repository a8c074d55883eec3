"""HubSpot CRM v3 connector: deals, pipelines, forecast category and probability write-back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
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
from crmsync.errors import ApiError, AuthError, TransportError
from crmsync.http import ApiClient, CursorGuard, RateLimiter
from crmsync.mapping import Mapping
from crmsync.model import Deal, Pipeline, Stage
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.translate import CATEGORY, DEFAULT_FIELDS, PROBABILITY, parse_time, to_deal

DEALS = "/crm/v3/objects/deals"
LIST_PAGE = 100
SEARCH_PAGE = 200
SEARCH_CAP = 10_000


class HubSpotSettings(ConnectorSettings):
    base_url: str = "https://api.hubapi.com"
    token: SecretStr = Field(description="private-app or OAuth access token")
    requests_per_10s: int = Field(default=100, ge=1, le=1000, description="100 Free/Starter, 190 Pro/Enterprise")
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

    async def reference(self) -> Reference:
        body = (await self.client.request("GET", "/crm/v3/pipelines/deals")).json()
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
        fields_body = (await self.client.request("GET", "/crm/v3/properties/deals")).json()
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
            async for page in self._archived(since):
                yield page

    def _page(self, results: list[dict[str, Any]]) -> Page:
        stamps = [
            parse_time(
                r.get("properties", {}).get("hs_lastmodifieddate") or r.get("updatedAt"),
                deal_id=str(r.get("id")),
                field="hs_lastmodifieddate",
            )
            for r in results
        ]
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
            body = (
                await self.client.request("GET", DEALS, params={**params, **({"after": after} if after else {})})
            ).json()
            yield self._page(body.get("results", []))
            after = ((body.get("paging") or {}).get("next") or {}).get("after")
            if not after:
                return
            guard.see(after)

    async def _search_since(self, since: datetime) -> AsyncIterator[Page]:
        """Search by hs_lastmodifieddate ≥ since, ascending; a new query window before the 10,000 cap."""
        lower = int(since.timestamp() * 1000)
        seen_at_lower: set[str] = set()
        while True:
            after = 0
            last_stamp: int | None = None
            ids_at_last: set[str] = set()
            while True:
                body = {
                    "filterGroups": [
                        {
                            "filters": [
                                {
                                    "propertyName": "hs_lastmodifieddate",
                                    "operator": "GTE",
                                    "value": str(lower),
                                }
                            ]
                        }
                    ],
                    "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
                    "properties": self._properties(),
                    "limit": SEARCH_PAGE,
                    "after": str(after),
                }
                answer = (await self.client.request("POST", f"{DEALS}/search", json_body=body)).json()
                results = [r for r in answer.get("results", []) if str(r.get("id")) not in seen_at_lower]
                for record in results:
                    stamp = parse_time(
                        record["properties"].get("hs_lastmodifieddate"),
                        deal_id=str(record["id"]),
                        field="hs_lastmodifieddate",
                    )
                    millis = int(stamp.timestamp() * 1000) if stamp else lower
                    if millis != last_stamp:
                        last_stamp, ids_at_last = millis, set()
                    ids_at_last.add(str(record["id"]))
                if results:
                    yield self._page(results)
                next_after = ((answer.get("paging") or {}).get("next") or {}).get("after")
                if not next_after:
                    return
                after = int(next_after)
                if after + SEARCH_PAGE > SEARCH_CAP:
                    break
            if last_stamp is None or last_stamp < lower or (last_stamp == lower and not ids_at_last - seen_at_lower):
                raise ApiError(
                    f"more than {SEARCH_CAP} deals share one modification time; use a full sync",
                    connection=self.connection,
                )
            # start a new window at the last timestamp seen, skipping the ids already read at exactly that time
            seen_at_lower = ids_at_last | (seen_at_lower if last_stamp == lower else set())
            lower = last_stamp

    async def _archived(self, since: datetime | None) -> AsyncIterator[Page]:
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
            body = (await self.client.request("GET", DEALS, params=params)).json()
            gone = []
            for record in body.get("results", []):
                archived_at = parse_time(record.get("archivedAt"), deal_id=str(record.get("id")), field="archivedAt")
                if since is None or archived_at is None or archived_at >= since:
                    gone.append(str(record["id"]))
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
        for start in range(0, len(updates), self.capabilities.write_batch_size):
            outcomes += await self._write_batch(updates[start : start + self.capabilities.write_batch_size])
        return outcomes

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
        body = response.json()
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
