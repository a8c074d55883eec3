"""Pipedrive API v2 connector: deals, pipelines and stages; category to a custom field, probability back.

Choices worth knowing:
- Won and lost are a deal's status in Pipedrive, not stages. `reference()` adds a closing "Won" and "Lost"
  stage to every pipeline and won/lost deals are placed there; the stage they were in is kept in
  `Deal.extra["stage_id"]` / `["stage"]`.
- Deleted deals (status=deleted, listed for 30 days) and archived deals (GET /api/v2/deals/archived) are
  reported in `Page.deleted_ids`, so the store marks them; they are not mapped. Archived deals refuse edits,
  so `write()` skips them with a reason, and `to_deal` maps an archived record with `writable=False`.
- There is no batch update: `write()` sends one PATCH per deal, concurrently, within the burst limit.
- Every answer is an envelope `{success, data, additional_data}`; the client refuses any other body by name.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from functools import cached_property
from typing import Any, ClassVar

from pydantic import Field, SecretStr, model_validator

from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import ApiError
from crmsync.kit import failed, iso_instant, json_number, read_stage, skipped, write_each, written
from crmsync.kit.checks import Percentage
from crmsync.kit.owners import person, read_owners
from crmsync.model import Deal, Owner, Pipeline, Stage
from crmsync_pipedrive.client import PipedriveClient, burst_budget
from crmsync_pipedrive.fields import DEFAULT_FIELDS, FieldRef, field_definitions, mapping_problems, resolve
from crmsync_pipedrive.translate import PROBABILITY_ENABLED, closing_stages, rfc3339, to_deal
from crmsync_pipedrive.webhook import WEBHOOK

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

    webhook = WEBHOOK
    probability = Percentage("probability")
    name = "pipedrive"
    sandbox_class = "crmsync_pipedrive.sandbox:PipedriveSandbox"
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
    client_class = PipedriveClient
    settings: PipedriveSettings
    client: PipedriveClient
    _reference: Reference | None = None

    def auth_headers(self) -> dict[str, str]:
        return self.settings.auth_headers()

    def rate_limit(self) -> tuple[int | None, float]:
        return burst_budget(self.settings.burst_limit), WINDOW_SECONDS

    def concurrency(self) -> int:
        return self.settings.write_concurrency

    @cached_property
    def archived(self) -> set[str]:
        """Ids of deals seen archived (on their endpoint, or by a refused write): Pipedrive refuses their edits."""
        return set()

    # -- reference data ----------------------------------------------------------------------------------------

    async def check(self) -> None:
        await self.client.data("GET", DEALS, params={"limit": 1})

    async def _all(self, path: str) -> list[dict[str, Any]]:
        return [item async for items in self.client.pages(path, {"limit": PAGE_SIZE}).pages() for item in items]

    async def reference(self) -> Reference:
        pipelines: dict[str, Pipeline] = {}
        enabled: dict[str, bool] = {}
        for raw in await self._all("/api/v2/pipelines"):
            if not raw.get("is_deleted"):
                pipelines[str(raw["id"])] = Pipeline(id=str(raw["id"]), label=str(raw["name"]))
                enabled[str(raw["id"])] = bool(raw.get("is_deal_probability_enabled"))
        stages: dict[str, Stage] = {}
        for raw in await self._all("/api/v2/stages"):
            pipeline_id = str(raw.get("pipeline_id"))
            if not raw.get("is_deleted") and pipeline_id in pipelines:
                stage = read_stage(raw, pipeline_id, label="name", order="order_nr", percent="deal_probability")
                stages[stage.id] = stage
        for pipeline in pipelines.values():
            last = max((s.order for s in stages.values() if s.pipeline_id == pipeline.id), default=0)
            stages.update({s.id: s for s in closing_stages(pipeline, last)})
        self._reference = Reference(
            pipelines=pipelines,
            stages=stages,
            fields=field_definitions(await self._all("/api/v2/dealFields")),
            owners=await read_owners(self.connection, "Pipedrive users (GET /v1/users)", self._users),
            extra={PROBABILITY_ENABLED: enabled},
        )
        return self._reference

    async def _users(self) -> dict[str, Owner]:
        """The company's users, deactivated ones included (their deals keep a name), from API v1's /users."""
        data = (await self.client.request_object("GET", "/api/v1/users")).get("data")
        users = [person(u.get("id"), u.get("name"), u.get("email")) for u in data or [] if isinstance(u, dict)]
        return {u.id: u for u in users if u is not None}

    def mapping_problems(self, reference: Reference) -> list[str]:
        return super().mapping_problems(reference) + mapping_problems(self.mapping, reference)

    # -- reading -----------------------------------------------------------------------------------------------

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        """Deals changed at or after `since`, oldest change first; on full or reconciling runs also archived deals
        and (reconcile) every live id. A deal edited while the pages are read moves to the end of the listing
        and may come again: it is yielded once.
        """
        params: dict[str, Any] = {"limit": PAGE_SIZE, "sort_by": "update_time", "sort_direction": "asc"}
        if since is not None:
            params["updated_since"] = rfc3339(since)
        seen: set[str] = set()
        async for items in self.client.pages(DEALS, {**params, "status": LISTED_STATUSES}).pages():
            fresh = [d for d in items if not isinstance(d, dict) or str(d.get("id")) not in seen]
            seen.update(str(d.get("id")) for d in fresh if isinstance(d, dict))
            yield Page(
                records=[d for d in fresh if not _deleted(d)],
                deleted_ids=[str(d.get("id")) for d in fresh if _deleted(d)],
            )
        if since is not None and not reconcile:
            return  # archived deals live on their own endpoint: swept on full and reconciling runs only
        async for items in self.client.pages(ARCHIVED, params).pages():
            ids = [str(d.get("id")) for d in items if isinstance(d, dict) and d.get("id") is not None]
            self.archived.update(ids)
            if ids:
                yield Page(records=[], deleted_ids=ids)
        if reconcile:
            live = await self._all_ids()
            yield Page(records=[], live_ids=live)

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        """These deals through the listing's `ids` filter (at most 100 a request); deleted ones left out."""
        numeric = [deal_id for deal_id in ids if deal_id.isdigit()]
        found: list[dict[str, Any]] = []
        for start in range(0, len(numeric), 100):
            params = {"limit": PAGE_SIZE, "ids": ",".join(numeric[start : start + 100]), "status": LISTED_STATUSES}
            async for items in self.client.pages(DEALS, params).pages():
                found.extend(d for d in items if isinstance(d, dict) and not _deleted(d))
        return found

    async def _all_ids(self) -> list[str]:
        pager = self.client.pages(DEALS, {"limit": PAGE_SIZE, "sort_by": "id"})
        return [str(d.get("id")) async for items in pager.pages() for d in items if isinstance(d, dict)]

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        return to_deal(raw, reference, connection=self.connection, mapping=self.mapping)

    # -- writing -----------------------------------------------------------------------------------------------

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        name = self.mapping.writeback.category_field
        field = None if name is None else resolve(self._reference or await self.reference(), name)
        return await write_each(updates, lambda update: self._write_one(update, field))

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
            body["probability"] = json_number(update.probability)
        return body

    async def _write_one(self, update: DealUpdate, field: FieldRef | None) -> WriteOutcome:
        deal_id = update.source_id
        if deal_id in self.archived:
            return skipped(update, ARCHIVED_REASON)
        if not deal_id.isdigit():
            return failed(update, "not a Pipedrive deal id")
        body = self._body(update, field)
        if isinstance(body, str):
            return failed(update, body)
        if not body:
            return skipped(update, "nothing to write")
        try:
            answer = await self.client.data("PATCH", f"{DEALS}/{deal_id}", json_body=body)
        except ApiError as exc:
            detail = exc.detail or str(exc)
            if exc.status != 400 or "archived" not in detail.lower():
                raise
            self.archived.add(deal_id)
            return skipped(update, f"archived in Pipedrive: {detail}")
        stamp = answer.get("update_time") if isinstance(answer, dict) else None
        try:
            return written(update, iso_instant(stamp) if isinstance(stamp, str) else None)
        except (ValueError, OverflowError, OSError):  # an unreadable stamp costs only the skip of a relisting
            return written(update)


def _deleted(raw: Any) -> bool:
    return isinstance(raw, dict) and (bool(raw.get("is_deleted")) or raw.get("status") == "deleted")
