"""An in-memory CRM connector that records the order of its calls, for the two-phase run tests.

No HTTP: the point of these tests is the engine's order of work and its ledger, not the transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from crmsync.connector import Capabilities, Connector, ConnectorSettings, DealUpdate, Page, Reference, WriteOutcome
from crmsync.mapping import Mapping, parse_mapping
from crmsync.model import Deal, DealStatus, Pipeline, Stage

PIPELINE = Pipeline(id="p", label="Sales")
STAGES = {
    "lead": Stage(id="lead", label="Lead", pipeline_id="p", order=0, probability=Decimal("0.1")),
    "offer": Stage(id="offer", label="Offer", pipeline_id="p", order=1, probability=Decimal("0.6")),
    "won": Stage(id="won", label="Won", pipeline_id="p", order=2, probability=Decimal(1), closed=True, won=True),
}

MAPPING: dict[str, Any] = {
    "connector": "fake",
    "stages": [
        {"pipeline": "p", "stage": "lead", "category": "pipeline", "probability": 0.2},
        {"pipeline": "p", "stage": "offer", "category": "commit", "probability": 0.9},
    ],
    "writeback": {
        "category_field": "forecast",
        "probability_field": "chance",
        "category_values": {
            "pipeline": "Pipeline",
            "best_case": "Best case",
            "commit": "Commit",
            "closed": "Closed",
            "omitted": "Omitted",
        },
    },
}

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def fake_mapping() -> Mapping:
    return parse_mapping(MAPPING, "fake.toml")


@dataclass
class Record:
    id: str
    stage: str = "lead"
    updated: datetime | None = START
    category: str | None = None
    probability: Decimal | None = None


@dataclass
class FakeCrm:
    """The remote side: records, the calls made to it in order, and which deals refuse writes."""

    records: dict[str, Record] = field(default_factory=dict)
    calls: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    reverse_outcomes: bool = False
    clock: datetime = START

    @classmethod
    def seeded(cls, count: int) -> FakeCrm:
        crm = cls()
        for index in range(count):
            deal_id = f"d{index:04d}"
            crm.records[deal_id] = Record(deal_id, "offer" if index % 2 else "lead", START + timedelta(minutes=index))
        return crm

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def remote(self) -> dict[str, tuple[str | None, Decimal | None]]:
        return {r.id: (r.category, r.probability) for r in self.records.values()}


def as_raw(record: Any) -> dict[str, Any]:
    """A fake record as the CRM lists it."""
    return {
        "id": record.id,
        "stage": record.stage,
        "updated": record.updated.isoformat() if record.updated else None,
        "category": record.category,
        "probability": str(record.probability) if record.probability is not None else None,
    }


class FakeConnector(Connector):
    name = "fake"
    Settings = ConnectorSettings
    capabilities: ClassVar[Capabilities] = Capabilities(page_size=5, write_batch_size=3)

    def __init__(self, crm: FakeCrm, mapping: Mapping | None = None, connection: str = "fake") -> None:
        super().__init__(connection, ConnectorSettings(base_url="http://127.0.0.1:9"), mapping or fake_mapping())
        self.crm = crm

    async def check(self) -> None:
        self.crm.calls.append(("check", ()))

    async def reference(self) -> Reference:
        self.crm.calls.append(("reference", ()))
        return Reference(pipelines={"p": PIPELINE}, stages=STAGES)

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        chosen = [
            r
            for r in sorted(self.crm.records.values(), key=lambda r: r.id)
            if since is None or r.updated is None or r.updated >= since
        ]
        size = self.capabilities.page_size
        for start in range(0, max(len(chosen), 1), size):
            page = chosen[start : start + size]
            self.crm.calls.append(("list", tuple(r.id for r in page)))
            raw = [as_raw(r) for r in page]
            # the connector's own checkpoint is deliberately wrong: the engine must compute its own
            yield Page(records=raw, checkpoint=datetime(2999, 1, 1, tzinfo=UTC))

    def to_deal(self, raw: dict[str, Any], reference: Reference) -> Deal:
        stage = reference.stages[raw["stage"]]
        status = DealStatus.WON if stage.won else DealStatus.OPEN
        return Deal(
            connection=self.connection,
            source_id=raw["id"],
            name=f"Deal {raw['id']}",
            pipeline=PIPELINE,
            stage=stage,
            status=status,
            amount=Decimal(1000),
            currency="EUR",
            updated_at=datetime.fromisoformat(raw["updated"]) if raw["updated"] else None,
            remote_category=raw["category"],
            remote_probability=Decimal(raw["probability"]) if raw["probability"] is not None else None,
        )

    async def write(self, updates: Sequence[DealUpdate]) -> list[WriteOutcome]:
        self.crm.calls.append(("write", tuple(u.source_id for u in updates)))
        outcomes = []
        for update in updates:
            if update.source_id in self.crm.refuse:
                outcomes.append(WriteOutcome(source_id=update.source_id, status="failed", reason="refused"))
                continue
            record = self.crm.records[update.source_id]
            if update.category is not None:
                record.category = update.category or None
            if update.probability is not None or update.clear_probability:
                record.probability = update.probability
            record.updated = self.crm.tick()
            outcomes.append(WriteOutcome(source_id=update.source_id, status="written"))
        return outcomes[::-1] if self.crm.reverse_outcomes else outcomes


def outcomes_by_deal(store: Any, run_id: int) -> dict[str, set[str]]:
    """The outcomes of each deal's ledger rows in run `run_id`."""
    found: dict[str, set[str]] = {}
    for row in store.ledger(run_id):
        found.setdefault(row["source_id"], set()).add(row["outcome"])
    return found
