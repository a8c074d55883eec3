"""HubSpot CRM v3 connector: deals, pipelines, forecast category and probability write-back."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

from pydantic import Field, SecretStr

from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import ApiError, AuthError, TransportError
from crmsync.http import ApiClient, RateLimiter
from crmsync.kit import CursorPager, StampPager, failed, iso_instant, read_stage, writeback_values, written
from crmsync.kit.checks import option_problems
from crmsync.kit.owners import person, read_owners
from crmsync.model import Deal, Owner, Pipeline, Stage
from crmsync_hubspot.translate import CATEGORY, DEFAULT_FIELDS, PROBABILITY, careful_deal, quick_deal
from crmsync_hubspot.webhook import WEBHOOK

DEALS = "/crm/v3/objects/deals"
OWNERS = "/crm/v3/owners"
LIST_PAGE = 100
HISTORY_PAGE = 50  # a list or batch read asking propertiesWithHistory returns at most 50 objects
SEARCH_PAGE = 200
SEARCH_CAP = 10_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def epoch_millis(moment: datetime) -> int:
    """Epoch milliseconds, floored, in integer arithmetic (no float rounding at millisecond boundaries)."""
    return (moment - EPOCH) // MILLISECOND


def modified_at(record: dict[str, Any]) -> datetime | None:
    """A record's hs_lastmodifieddate (or updatedAt), as `to_deal` reads it; None when missing or unreadable."""
    properties = record.get("properties")
    value = (properties.get("hs_lastmodifieddate") if isinstance(properties, dict) else None) or record.get("updatedAt")
    try:
        return iso_instant(value) if isinstance(value, str) else None
    except (ValueError, OverflowError, OSError):
        return None


def modified_millis(record: dict[str, Any]) -> int | None:
    """A record's modification time in epoch ms; None when missing or unreadable (`to_deal` then quarantines the
    record with the reason)."""
    moment = modified_at(record)
    return None if moment is None else epoch_millis(moment)


class HubSpotSettings(ConnectorSettings):
    base_url: str = "https://api.hubapi.com"
    token: SecretStr = Field(description="private-app or OAuth access token")
    requests_per_10s: int = Field(default=100, ge=1, le=1000, description="100 Free/Starter, 190 Pro/Enterprise")
    search_requests_per_second: int = Field(default=4, ge=1, le=5, description="search's own limit is about 5/s")
    history_on_full_read: bool = Field(
        default=True,
        description="read property history (by id, for deals whose value crmsync did not write) to spot manual edits",
    )


class HubSpotClient(ApiClient):
    """HubSpot's error bodies carry `message` and `category`; 429s may say nothing but the interval headers."""

    error_kinds = ("category", "errorType")
    daily_headers = ("x-hubspot-ratelimit-daily", "x-hubspot-ratelimit-daily-remaining")  # on every answer


class HubSpotConnector(Connector):
    """Reads deals with the list endpoint (full) or search (incremental); writes with batch/update."""

    webhook = WEBHOOK
    name = "hubspot"
    sandbox_class = "crmsync_hubspot.sandbox:HubSpotSandbox"
    Settings = HubSpotSettings
    capabilities = Capabilities(
        page_size=LIST_PAGE,
        write_batch_size=100,
        deals_per_request=100,
        incremental=True,
        detects_manual_override=True,
        rate_limit_requests=100,
        rate_limit_window_seconds=10.0,
        max_concurrency=4,
        reconciles_deletes=True,
        history_by_id=True,
    )
    canonical_fields: ClassVar[frozenset[str]] = frozenset(DEFAULT_FIELDS)
    client_class = HubSpotClient
    settings: HubSpotSettings

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    def rate_limit(self) -> tuple[int | None, float]:
        return self.settings.requests_per_10s, 10.0

    @cached_property
    def search_limiter(self) -> RateLimiter:
        """Search has its own, lower limit (about 5 per second) on top of the ten-secondly one."""
        return RateLimiter(self.settings.search_requests_per_second, 1.0)

    # -- reading -----------------------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.request_object("GET", DEALS, params={"limit": 1})

    async def reference(self) -> Reference:
        body = await self.client.request_object("GET", "/crm/v3/pipelines/deals")
        pipelines: dict[str, Pipeline] = {}
        stages: dict[str, Stage] = {}
        for raw in body.get("results", []):
            if raw.get("archived") is True:
                continue
            pipeline = Pipeline(id=str(raw["id"]), label=str(raw["label"]))
            pipelines[pipeline.id] = pipeline
            for raw_stage in raw.get("stages", []):
                meta = {"order": "displayOrder", "fraction": "metadata.probability", "closed": "metadata.isClosed"}
                stage = read_stage(raw_stage, pipeline.id, **meta)
                stages[stage.id] = stage
        fields_body = await self.client.request_object("GET", "/crm/v3/properties/deals")
        fields = {f["name"]: f for f in fields_body.get("results", [])}
        owners = await read_owners(
            self.connection, "HubSpot owners need the crm.objects.owners.read scope", self._owners
        )
        return Reference(pipelines=pipelines, stages=stages, fields=fields, owners=owners)

    async def _owners(self) -> dict[str, Owner]:
        """Every owner, active and archived (a deal may still name one who left), 500 a page."""
        found: dict[str, Owner] = {}
        for archived in ("false", "true"):
            params = {"limit": 500, "archived": archived}
            pager = CursorPager(self.client, OWNERS, params=params, next="paging.next.after", cursor_param="after")
            async for records in pager.pages():
                for r in records:
                    if isinstance(r, dict):
                        name = " ".join(p for p in (r.get("firstName"), r.get("lastName")) if isinstance(p, str) and p)
                        if (owner := person(r.get("id"), name, r.get("email"))) is not None:
                            found.setdefault(owner.id, owner)
        return found

    def mapping_problems(self, reference: Reference) -> list[str]:
        problems = super().mapping_problems(reference)
        wb = self.mapping.writeback
        for name in filter(None, (wb.category_field, wb.probability_field, *self.mapping.fields.values())):
            definition = reference.fields.get(name)
            if definition is None:
                problems.append(f"property {name!r} does not exist in HubSpot")
            elif name in (wb.category_field, wb.probability_field) and (
                definition.get("modificationMetadata", {}).get("readOnlyValue")
            ):
                problems.append(f"property {name!r} is read-only and cannot receive write-back")
        category = reference.fields.get(wb.category_field or "") or {}
        return problems + option_problems(self.mapping, {str(o.get("value")) for o in category.get("options") or []})

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
        async for records in pages:
            yield Page(records=records)
        if reconcile or since is None:
            async for gone in self._archived():
                yield Page(records=[], deleted_ids=gone)

    def _list(self, params: dict[str, Any], limit: int) -> CursorPager:
        params = {"limit": limit, **params}
        return CursorPager(self.client, DEALS, params=params, next="paging.next.after", cursor_param="after")

    async def _list_all(self) -> AsyncIterator[list[dict[str, Any]]]:
        """Every live deal, 100 a page, without property history: the engine reads the history by id only for the
        deals whose value crmsync did not write (`read`), instead of halving every page to HubSpot's 50."""
        params = {"properties": ",".join(self._properties()), "archived": "false"}
        async for records in self._list(params, LIST_PAGE).pages():
            yield records

    def _history(self) -> list[str]:
        wb = self.mapping.writeback
        if not self.settings.history_on_full_read:
            return []
        return [name for name in (wb.category_field, wb.probability_field) if name]

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """These deals by batch read with the category and probability history, 50 per request (HubSpot's limit
        with propertiesWithHistory; 100 without); archived or unknown ids come back in 207 errors, left out."""
        history = self._history()
        size = HISTORY_PAGE if history else LIST_PAGE
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), size):
            body: dict[str, Any] = {
                "properties": self._properties(),
                "inputs": [{"id": deal_id} for deal_id in ids[start : start + size]],
            }
            if history:
                body["propertiesWithHistory"] = history
            answer = await self.client.request_object("POST", f"{DEALS}/batch/read", json_body=body)
            found.extend(_objects(answer.get("results")))
        return found

    async def _archived(self) -> AsyncIterator[list[str]]:
        """Every archived deal HubSpot still keeps (90 days), whenever it was archived.

        The sweep runs only on reconciling (and full) runs, so a `since` filter would drop the deals archived
        between two sweeps for good; marking a deal deleted again is a no-op in the store.
        """
        async for records in self._list({"archived": "true", "properties": "hs_lastmodifieddate"}, LIST_PAGE).pages():
            gone = [str(r["id"]) for r in records if isinstance(r, dict) and r.get("id") is not None]
            if gone:
                yield gone

    def _search_body(self, lower: int, after: int) -> dict[str, Any]:
        return {
            "filterGroups": [
                {"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": str(lower)}]}
            ],
            "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
            "properties": self._properties(),
            "limit": SEARCH_PAGE,
            "after": str(after),
        }

    def _search_since(self, since: datetime) -> AsyncIterator[list[dict[str, Any]]]:
        """Deals modified at or after `since`, by keyset paging on hs_lastmodifieddate (see `StampPager`). The run
        writes nothing while it lists, so no upper bound is needed: the engine's signpost keeps the cursor at the
        run's start."""
        return StampPager(
            self.client,
            f"{DEALS}/search",
            lower=epoch_millis(since),
            page_size=SEARCH_PAGE,
            window=SEARCH_CAP,
            query=self._search_body,
            stamp=modified_millis,
            next="paging.next",
            before=self.search_limiter.acquire,
        ).pages()

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        # `to_deal`'s two readers, called here: a call less for each of a sync's deals
        connection, mapping = self.connection, self.mapping
        return quick_deal(connection, raw, reference, mapping) or careful_deal(connection, raw, reference, mapping)

    # -- writing -----------------------------------------------------------------------------------------------

    async def write(self, batch: Sequence[DealUpdate]) -> list[WriteOutcome]:
        """One batch update (the writer sends at most 100 deals, each once: HubSpot refuses a repeated id)."""
        inputs = [{"id": u.source_id, "properties": writeback_values(u, self.mapping)} for u in batch]
        try:
            body = await self.client.request_object("POST", f"{DEALS}/batch/update", json_body={"inputs": inputs})
        except (AuthError, TransportError):
            raise
        except ApiError as exc:
            if len(batch) > 1 and exc.status == 400:
                # HubSpot refuses a whole batch for one bad input: retry one by one to pin it down
                outcomes: list[WriteOutcome] = []
                for update in batch:
                    outcomes += await self.write([update])
                return outcomes
            # e.g. a proxy's HTML page: whether HubSpot wrote is unknown, so report failed
            return [failed(u, exc.detail or str(exc)) for u in batch]
        errors: dict[str, str] = {}
        for err in _objects(body.get("errors")):
            for deal_id in (err.get("context") or {}).get("ids", []):
                errors[str(deal_id)] = f"{err.get('category', 'ERROR')}: {err.get('message', '')}".strip()
        done = {str(r.get("id")): modified_at(r) for r in _objects(body.get("results"))}
        return [
            failed(u, errors[u.source_id])
            if u.source_id in errors
            else written(u, done[u.source_id])
            if u.source_id in done
            else failed(u, "HubSpot returned neither a result nor an error for this deal")
            for u in batch
        ]


def _objects(value: Any) -> list[dict[str, Any]]:
    """The objects of a list in an answer; anything else (a string where a list belongs) is none."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []
