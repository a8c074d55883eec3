"""FakeConnector: a complete connector for the in-core FakeCrm, so the engine, CLI and scheduler are tested without
any bundled connector. It passes the whole conformance kit.

    crm = FakeCrm(deals=40)
    registry = Registry({"fake": FakeConnector})                       # real HTTP: serve(crm.app())
    registry = Registry({"fake": FakeConnector.using(crm.transport())})  # in process, no socket

The CLI discovers its connectors; `fake_discovery` (also the plugin's fixture of that name) makes it find only this
one, and `python -m crmsync.testing.fake_cli …` is `crmsync …` so in a subprocess.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from importlib.metadata import version
from pathlib import Path
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr

from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.errors import ApiError, AuthError, RecordError
from crmsync.http import ApiClient, CursorGuard, RateLimiter
from crmsync.mapping import Mapping, load_mapping
from crmsync.model import Deal, DealStatus, Pipeline, Stage
from crmsync.registry import ConnectorInfo
from crmsync.testing.fake_crm import FakeCrm

MAPPING_PATH = Path(__file__).with_name("fake.toml")


def fake_mapping() -> Mapping:
    """The fake connector's mapping (src/crmsync/testing/fake.toml)."""
    return load_mapping(MAPPING_PATH)


def fake_discovery() -> dict[str, ConnectorInfo]:
    """A stand-in for `crmsync.registry.discover` that finds the fake connector and nothing installed."""
    return {"fake": ConnectorInfo("fake", "crmsync", version("crmsync"), FakeConnector)}


class FakeSettings(ConnectorSettings):
    token: SecretStr
    requests_per_second: int | None = Field(default=None, ge=1)


class FakeConnector(Connector):
    name = "fake"
    Settings = FakeSettings
    capabilities = Capabilities(page_size=50, write_batch_size=10, max_concurrency=4, reconciles_deletes=True)
    canonical_fields = frozenset({"name", "amount", "currency", "close_date"})
    transport: ClassVar[httpx.AsyncBaseTransport | None] = None
    settings: FakeSettings
    client: ApiClient

    def __init__(self, connection: str, settings: ConnectorSettings, mapping: Mapping) -> None:
        super().__init__(connection, settings, mapping)
        self.client = ApiClient(
            connection,
            self.settings.base_url,
            headers={"Authorization": f"Bearer {self.settings.token.get_secret_value()}"},
            timeout=self.settings.timeout_seconds,
            limiter=RateLimiter(self.settings.requests_per_second, 1.0),
            max_retries=self.settings.max_retries,
            max_concurrency=self.capabilities.max_concurrency,
            backoff=0.01,
            transport=self.transport,
        )

    @classmethod
    def using(cls, transport: httpx.AsyncBaseTransport) -> type[FakeConnector]:
        """A FakeConnector class whose instances talk through `transport` (e.g. `FakeCrm.transport()`)."""
        return type(cls.__name__, (cls,), {"transport": transport})

    @classmethod
    def sandbox(cls, *, deals: int = 60, seed: int = 7) -> FakeCrm:
        return FakeCrm(deals=deals, seed=seed)

    async def check(self) -> None:
        await self.client.request_json("GET", "/v1/me")

    async def reference(self) -> Reference:
        body = await self.client.request_json("GET", "/v1/stages")
        pipelines = {p["id"]: Pipeline(id=p["id"], label=p["label"]) for p in body["pipelines"]}
        stages = {
            s["id"]: Stage(
                id=s["id"],
                label=s["label"],
                pipeline_id=s["pipeline"],
                order=s["order"],
                probability=Decimal(s["probability"]),
                closed=s["closed"],
                won=s["won"],
            )
            for s in body["stages"]
        }
        return Reference(pipelines=pipelines, stages=stages)

    def mapping_problems(self, reference: Reference) -> list[str]:
        known = {s.label for s in reference.stages.values()} | set(reference.stages)
        return [f"stage {rule.stage!r} is not in the CRM" for rule in self.mapping.stages if rule.stage not in known]

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"limit": self.capabilities.page_size}
        if since is not None:
            params["since"] = since.astimezone(UTC).isoformat(timespec="microseconds")
        guard = CursorGuard(self.connection, "GET /v1/deals")
        while True:
            body = await self.client.request_json("GET", "/v1/deals", params=params)
            records = body["deals"]
            stamps = [datetime.fromisoformat(r["updated"]) for r in records if r.get("updated")]
            yield Page(records=records, checkpoint=max(stamps) if stamps else None)
            guard.see(body["next"])
            if body["next"] is None:
                break
            params = {**params, "after": body["next"], "until": body["as_of"]}  # our own writes move deals later
        if reconcile:
            ids = await self.client.request_json("GET", "/v1/deal-ids")
            yield Page(records=[], live_ids=[str(i) for i in ids["ids"]])

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        deal_id = str(raw.get("id") or "") or None

        def decimal(field: str) -> Decimal | None:
            value = raw.get(field)
            try:
                return None if value in (None, "") else Decimal(str(value))
            except InvalidOperation:
                raise RecordError(f"{value!r} is not a number", source_id=deal_id, field=field) from None

        if deal_id is None:
            raise RecordError("no id", field="id")
        stage = reference.stages.get(str(raw.get("stage")))
        if stage is None:
            raise RecordError(f"unknown stage {raw.get('stage')!r}", source_id=deal_id, field="stage")
        status = DealStatus.OPEN if not stage.closed else DealStatus.WON if stage.won else DealStatus.LOST
        try:
            close = date.fromisoformat(raw["close_on"]) if raw.get("close_on") else None
            updated = datetime.fromisoformat(raw["updated"])
        except (ValueError, TypeError, KeyError) as exc:
            raise RecordError(f"bad date: {exc}", source_id=deal_id, field="close_on/updated") from None
        return Deal(
            connection=self.connection,
            source_id=deal_id,
            name=str(raw.get("title") or ""),
            pipeline=reference.pipelines[stage.pipeline_id],
            stage=stage,
            status=status,
            amount=decimal("value"),
            currency=raw.get("currency") or self.mapping.default_currency,
            close_date=close,
            updated_at=updated,
            remote_category=raw.get("forecast"),
            remote_probability=decimal("chance"),
        )

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        return list(await asyncio.gather(*(self._write_one(update) for update in updates)))

    async def _write_one(self, update: DealUpdate) -> WriteOutcome:
        body: dict[str, Any] = {}
        if update.category is not None:
            body["forecast"] = update.category
        if update.clear_probability:
            body["chance"] = None
        elif update.probability is not None:
            body["chance"] = str(update.probability)
        if not body:
            return WriteOutcome(source_id=update.source_id, status="skipped", reason="nothing to write")
        try:
            await self.client.request_json("PATCH", f"/v1/deals/{update.source_id}", json_body=body)
        except AuthError:
            raise  # wrong credentials stop the run; never a per-deal failure
        except ApiError as exc:
            return WriteOutcome(source_id=update.source_id, status="failed", reason=str(exc))
        return WriteOutcome(source_id=update.source_id, status="written")
