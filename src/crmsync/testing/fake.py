"""FakeConnector: a complete connector for the in-core FakeCrm, so the engine, CLI and scheduler are tested without
any bundled connector. It passes the whole conformance kit.

    crm = FakeCrm(deals=40)
    registry = Registry({"fake": FakeConnector})                       # real HTTP: serve(crm.app())
    registry = Registry({"fake": FakeConnector.using(crm.transport())})  # in process, no socket

The CLI discovers its connectors; `fake_discovery` (also the plugin's fixture of that name) makes it find only this
one, and `python -m crmsync.testing.fake_cli …` is `crmsync …` so in a subprocess.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field, SecretStr

from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.kit import CursorPager, RecordReader, iso_instant, skipped, write_each, written
from crmsync.mapping import Mapping, load_mapping
from crmsync.model import Deal, DealStatus, Pipeline, Stage
from crmsync.registry import ConnectorInfo

if TYPE_CHECKING:
    pass

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
    sandbox_class = "crmsync.testing.fake_crm:FakeCrm"
    Settings = FakeSettings
    capabilities = Capabilities(page_size=50, write_batch_size=10, max_concurrency=4, reconciles_deletes=True)
    canonical_fields = frozenset({"name", "amount", "currency", "close_date"})
    retry_backoff = 0.01
    settings: FakeSettings

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token.get_secret_value()}"}

    def rate_limit(self) -> tuple[int | None, float]:
        return self.settings.requests_per_second, 1.0

    async def check(self) -> None:
        await self.client.request_json("GET", "/v1/me")

    async def reference(self) -> Reference:
        body = await self.client.request_object("GET", "/v1/stages")
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

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        params: dict[str, Any] = {"limit": self.capabilities.page_size}
        if since is not None:
            params["since"] = since.astimezone(UTC).isoformat(timespec="microseconds")
        async for records in CursorPager(
            self.client, "/v1/deals", params=params, items="deals", next="next", cursor_param="after"
        ).pages():
            yield Page(records=records)
        if reconcile:
            ids = await self.client.request_object("GET", "/v1/deal-ids")
            yield Page(records=[], live_ids=[str(i) for i in ids["ids"]])

    async def read(self, ids: Sequence[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for start in range(0, len(ids), 100):
            body = await self.client.request_object(
                "GET", "/v1/deals", params={"ids": ",".join(ids[start : start + 100])}
            )
            found.extend(body["deals"])
        return found

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        reader = RecordReader(raw)
        stage = reference.stages.get(str(reader.path("stage")))
        if stage is None:
            raise reader.fail(f"unknown stage {reader.path('stage')!r}", "stage")
        status = DealStatus.OPEN if not stage.closed else DealStatus.WON if stage.won else DealStatus.LOST
        return Deal(
            connection=self.connection,
            source_id=reader.id,
            name=reader.text("title") or "",
            pipeline=reference.pipelines[stage.pipeline_id],
            stage=stage,
            status=status,
            amount=reader.decimal("value"),
            currency=reader.text("currency") or self.mapping.default_currency,
            close_date=reader.date("close_on"),
            updated_at=reader.instant("updated"),
            remote_category=reader.text("forecast"),
            remote_probability=reader.decimal("chance"),
        )

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        return await write_each(updates, self._write_one)

    async def _write_one(self, update: DealUpdate) -> WriteOutcome:
        body: dict[str, Any] = {}
        if update.category is not None:
            body["forecast"] = update.category
        if update.clear_probability:
            body["chance"] = None
        elif update.probability is not None:
            body["chance"] = str(update.probability)
        if not body:
            return skipped(update, "nothing to write")
        answer = await self.client.request_object("PATCH", f"/v1/deals/{update.source_id}", json_body=body)
        stamp = answer.get("updated")
        return written(update, iso_instant(stamp) if isinstance(stamp, str) else None)
