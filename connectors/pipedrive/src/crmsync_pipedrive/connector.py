"""Pipedrive API v2 connector: deals, pipelines and stages; category to a custom field, probability back.

Choices worth knowing:
- Won and lost are a deal's status in Pipedrive, not stages. `reference()` adds a closing "Won" and "Lost"
  stage to every pipeline and won/lost deals are placed there; the stage they were in is kept in
  `Deal.extra["stage_id"]` / `["stage"]`.
- Deleted deals (status=deleted, listed for 30 days) and archived deals (GET /api/v2/deals/archived) are
  reported in `Page.deleted_ids`, so the store marks them; they are not mapped. Archived deals refuse edits,
  so `write()` skips them with a reason, and `to_deal` maps an archived record with `writable=False`.
- There is no batch update: `write()` sends one PATCH per deal, concurrently, within the burst limit.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, model_validator

from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import ApiError, AuthError, ConfigError
from crmsync.http import RateLimiter
from crmsync.mapping import Mapping
from crmsync.model import Deal, Pipeline, Stage
from crmsync_pipedrive.client import PipedriveClient, burst_budget
from crmsync_pipedrive.fields import DEFAULT_FIELDS, FieldRef, field_definitions, mapping_problems, resolve
from crmsync_pipedrive.sandbox import PipedriveSandbox
from crmsync_pipedrive.translate import (
    PROBABILITY_ENABLED,
    closing_stages,
    parse_time,
    rfc3339,
    stage_from,
    to_deal,
)

PAGE_SIZE = 500
WINDOW_SECONDS = 2.0
DEALS = "/api/v2/deals"
ARCHIVED = "/api/v2/deals/archived"
LISTED_STATUSES = "open,won,lost,deleted"
ARCHIVED_REASON = "archived in Pipedrive, which refuses edits"


class PipedriveSettings(ConnectorSettings):
    """Settings of one Pipedrive connection: an API token, or an OAuth access token."""

    base_url: str = Field(default="https://api.pipedrive.com", description="https://<company>.pipedrive.com")
    api_token: SecretStr = Field(default=SecretStr(""), description="personal API token (x-api-token header)")
    oauth_token: SecretStr = Field(default=SecretStr(""), description="OAuth access token (Bearer)")
    burst_limit: int = Field(
        default=20, ge=1, le=1000, description="requests per 2 s until the first answer's x-ratelimit-limit says"
    )
    write_concurrency: int = Field(default=8, ge=1, le=64, description="PATCH requests in flight at once")

    @model_validator(mode="after")
    def _one_credential(self) -> PipedriveSettings:
        given = [n for n in ("api_token", "oauth_token") if getattr(self, n).get_secret_value()]
        if len(given) != 1:
            raise ValueError("set exactly one of api_token and oauth_token")
        return self

    def auth_headers(self) -> dict[str, str]:
        if self.api_token.get_secret_value():
            return {"x-api-token": self.api_token.get_secret_value()}
        return {"Authorization": f"Bearer {self.oauth_token.get_secret_value()}"}


class PipedriveConnector(Connector):
    """Reads deals through GET /api/v2/deals (+ /archived) and writes with PATCH /api/v2/deals/{id}."""

    name = "pipedrive"
    Settings = PipedriveSettings
    capabilities = Capabilities(
        page_size=PAGE_SIZE,
        write_batch_size=50,  # no batch endpoint: a "batch" is this many PATCHes sent concurrently
        incremental=True,
        detects_manual_override=False,
        rate_limit_requests=20,
        rate_limit_window_seconds=WINDOW_SECONDS,
        max_concurrency=8,
        reconciles_deletes=True,
    )
    canonical_fields: ClassVar[frozenset[str]] = frozenset(DEFAULT_FIELDS)
    settings: PipedriveSettings
    client: PipedriveClient

    def __init__(
        self,
        connection: str,
        settings: ConnectorSettings,
        mapping: Mapping,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(connection, settings, mapping)
        if not isinstance(settings, PipedriveSettings):
            raise ConfigError(f"connection {connection!r}: settings are not Pipedrive settings")
        self.client = PipedriveClient(
            connection,
            settings.base_url,
            headers={**settings.auth_headers(), "Accept": "application/json"},
            timeout=settings.timeout_seconds,
            limiter=RateLimiter(burst_budget(settings.burst_limit), WINDOW_SECONDS),
            max_retries=settings.max_retries,
            max_concurrency=settings.write_concurrency,
            transport=transport,
        )
        self._reference: Reference | None = None
        self._archived: set[str] = set()

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> PipedriveSandbox:
        return PipedriveSandbox(deals=deals, seed=seed)

    # -- reference data ----------------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.data("GET", DEALS, params={"limit": 1})

    async def reference(self) -> Reference:
        pipelines: dict[str, Pipeline] = {}
        enabled: dict[str, bool] = {}
        async for items in self.client.pages("/api/v2/pipelines", {"limit": PAGE_SIZE}):
            for raw in items:
                if raw.get("is_deleted"):
                    continue
                pipeline = Pipeline(id=str(raw["id"]), label=str(raw["name"]))
                pipelines[pipeline.id] = pipeline
                enabled[pipeline.id] = bool(raw.get("is_deal_probability_enabled"))
        stages: dict[str, Stage] = {}
        async for items in self.client.pages("/api/v2/stages", {"limit": PAGE_SIZE}):
            for raw in items:
                if not raw.get("is_deleted") and str(raw.get("pipeline_id")) in pipelines:
                    stage = stage_from(raw)
                    stages[stage.id] = stage
        for pipeline in pipelines.values():
            last = max((s.order for s in stages.values() if s.pipeline_id == pipeline.id), default=0)
            stages.update({s.id: s for s in closing_stages(pipeline, last)})
        raw_fields: list[dict[str, Any]] = []
        async for items in self.client.pages("/api/v2/dealFields", {"limit": PAGE_SIZE}):
            raw_fields.extend(items)
        reference = Reference(
            pipelines=pipelines,
            stages=stages,
            fields=field_definitions(raw_fields),
            extra={PROBABILITY_ENABLED: enabled},
        )
        self._reference = reference
        return reference

    def mapping_problems(self, reference: Reference) -> list[str]:
        return mapping_problems(self.mapping, reference)

    # -- reading -----------------------------------------------------------------------------------------------

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        """Deals changed at or after `since`, oldest change first; on full or reconciling runs also archived deals
        and (reconcile) every live id.

        The listing stops at a signpost taken when it starts (`updated_until`, exclusive, rounded up to the next
        whole second): deals written back while the pages are read move past it and are read by the next run.
        A deal the listing hands back twice anyway (a write in the signpost's second) is yielded once.
        """
        until = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)
        params: dict[str, Any] = {
            "limit": PAGE_SIZE,
            "sort_by": "update_time",
            "sort_direction": "asc",
            "updated_until": rfc3339(until),
        }
        if since is not None:
            params["updated_since"] = rfc3339(since)
        seen: set[str] = set()
        async for items in self.client.pages(DEALS, {**params, "status": LISTED_STATUSES}):
            fresh = [d for d in items if str(d.get("id")) not in seen]
            seen.update(str(d.get("id")) for d in fresh)
            records = [d for d in fresh if not _deleted(d)]
            deleted = [str(d.get("id")) for d in fresh if _deleted(d)]
            yield Page(records=records, deleted_ids=deleted, checkpoint=_checkpoint(fresh))
        if since is not None and not reconcile:
            return  # archived deals live on their own endpoint: swept on full and reconciling runs only
        async for items in self.client.pages(ARCHIVED, params):
            ids = [str(d.get("id")) for d in items]
            self._archived.update(ids)
            if ids:
                yield Page(records=[], deleted_ids=ids, checkpoint=_checkpoint(items))
        if reconcile:
            live: list[str] = []
            async for items in self.client.pages(DEALS, {"limit": PAGE_SIZE, "sort_by": "id"}):
                live.extend(str(d.get("id")) for d in items)
            yield Page(records=[], live_ids=live)

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(raw, reference, connection=self.connection, mapping=self.mapping)

    # -- writing -----------------------------------------------------------------------------------------------

    async def _category_field(self) -> FieldRef | None:
        name = self.mapping.writeback.category_field
        if name is None:
            return None
        reference = self._reference or await self.reference()
        return resolve(reference, name)

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        field = await self._category_field()
        results = await asyncio.gather(*(self._write_one(u, field) for u in updates), return_exceptions=True)
        outcomes: list[WriteOutcome] = []
        for update, result in zip(updates, results, strict=True):
            if isinstance(result, AuthError):
                raise result  # the credentials stopped working: nothing else will be written either
            if isinstance(result, BaseException):
                if not isinstance(result, Exception):
                    raise result
                outcomes.append(WriteOutcome(source_id=update.source_id, status="failed", reason=str(result)))
            else:
                outcomes.append(result)
        return outcomes

    def _body(self, update: DealUpdate, field: FieldRef | None) -> dict[str, Any] | str:
        """The PATCH body, or the reason there is none."""
        body: dict[str, Any] = {}
        if update.category is not None:
            if field is None:
                return f"custom field {self.mapping.writeback.category_field!r} does not exist in Pipedrive"
            option = field.option_id(update.category) if update.category else None
            if update.category and option is None:
                labels = ", ".join(repr(label) for label in field.options.values())
                return f"field {field.name!r} has no option {update.category!r}; options: {labels}"
            body["custom_fields"] = {field.code: option}
        if update.clear_probability:
            body["probability"] = None
        elif update.probability is not None:
            body["probability"] = _number(update.probability)
        return body

    async def _write_one(self, update: DealUpdate, field: FieldRef | None) -> WriteOutcome:
        deal_id = update.source_id
        if deal_id in self._archived:
            return WriteOutcome(source_id=deal_id, status="skipped", reason=ARCHIVED_REASON)
        if not deal_id.isdigit():
            return WriteOutcome(source_id=deal_id, status="failed", reason="not a Pipedrive deal id")
        body = self._body(update, field)
        if isinstance(body, str):
            return WriteOutcome(source_id=deal_id, status="failed", reason=body)
        if not body:
            return WriteOutcome(source_id=deal_id, status="skipped", reason="nothing to write")
        try:
            await self.client.data("PATCH", f"{DEALS}/{deal_id}", json_body=body)
        except AuthError:
            raise
        except ApiError as exc:
            detail = exc.detail or str(exc)
            if exc.status == 400 and "archived" in detail.lower():
                self._archived.add(deal_id)
                return WriteOutcome(source_id=deal_id, status="skipped", reason=f"archived in Pipedrive: {detail}")
            return WriteOutcome(source_id=deal_id, status="failed", reason=f"{exc.status}: {detail}")
        return WriteOutcome(source_id=deal_id, status="written")


def _deleted(raw: dict[str, Any]) -> bool:
    return bool(raw.get("is_deleted")) or raw.get("status") == "deleted"


def _checkpoint(items: list[dict[str, Any]]) -> datetime | None:
    """The latest update_time in a page; a record whose time cannot be read is left to to_deal to quarantine."""
    stamps = []
    for raw in items:
        try:
            stamps.append(parse_time(raw.get("update_time"), deal_id=str(raw.get("id")), field="update_time"))
        except Exception:
            continue
    return max(filter(None, stamps), default=None)


def _number(value: Decimal) -> int | float:
    """Pipedrive's v2 validation wants a JSON number: an integer percent where it is one."""
    return int(value) if value == value.to_integral_value() else float(value)
