"""ConnectorConformance: the standard tests of the connector contract, run against the connector's sandbox."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import SecretStr

from crmsync.connector import Connector, DealUpdate, Page
from crmsync.errors import ApiError, AuthError, RecordError
from crmsync.mapping import Mapping, load_mapping
from crmsync.model import Deal, ForecastCategory
from crmsync.sandbox import Sandbox, serve
from crmsync.store import Store
from crmsync.sync import SyncEngine

ConnectorFactory = Callable[..., Connector]


@contextmanager
def served_sandbox(connector_class: type[Connector], deals: int, seed: int = 7) -> Iterator[tuple[Sandbox, str]]:
    """The connector's sandbox, seeded and served on loopback; yields it with its base URL."""
    sandbox = connector_class.sandbox(deals=deals, seed=seed)
    if sandbox is None:
        raise AssertionError(f"{connector_class.__name__} has no sandbox")
    with serve(sandbox.app()) as server:
        yield sandbox, server.base_url


# Bundled connectors' known breaches of a rule, by (connector name, test name): the test runs as a strict xfail, so
# it fails the day the connector is fixed and the entry must go. Never add a new connector here: fix it.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _known_bug(connector_class: type[Connector], request: pytest.FixtureRequest) -> None:
    reason = KNOWN_BUGS.get((connector_class.name, request.node.originalname))
    if reason is not None:
        request.node.add_marker(pytest.mark.xfail(strict=True, reason=reason))


def _secret_fields(settings: dict[str, Any], connector_class: type[Connector]) -> list[str]:
    model = connector_class.Settings
    return [name for name, info in model.model_fields.items() if info.annotation is SecretStr and name in settings]


async def read_all(connector: Connector, since: datetime | None = None, reconcile: bool = False) -> list[Page]:
    pages: list[Page] = []
    iterator: AsyncIterator[Page] = connector.deals(since, reconcile=reconcile)
    async for page in iterator:
        pages.append(page)
        if len(pages) > 10_000:
            raise AssertionError("paging does not terminate")
    return pages


def _ids(pages: list[Page]) -> list[str]:
    return [str(record.get("id")) for page in pages for record in page.records]


class ConnectorConformance:
    """Subclass in a connector's tests and set the class attributes; every test here then runs against it.

    Attributes:
        connector_class: The connector under test.
        mapping_path: Its mapping file.
        sandbox_deals: Deals to seed: more than one page, so paging is exercised.
        record_id: Maps a raw record to the id `to_deal` gives it (default: its 'id').
    """

    connector_class: ClassVar[type[Connector]]
    mapping_path: ClassVar[Path]
    sandbox_deals: ClassVar[int] = 250

    def record_id(self, raw: dict[str, Any]) -> str:
        return str(raw.get("id"))

    # -- fixtures ---------------------------------------------------------------------------------------------

    @pytest.fixture
    def mapping(self) -> Mapping:
        return load_mapping(self.mapping_path)

    @pytest.fixture
    def sandbox(self) -> Iterator[Sandbox]:
        with served_sandbox(self.connector_class, self.sandbox_deals) as (sandbox, base_url):
            sandbox.base_url = base_url  # type: ignore[attr-defined]
            yield sandbox

    @pytest.fixture
    async def make_connector(self, sandbox: Sandbox, mapping: Mapping) -> AsyncIterator[ConnectorFactory]:
        made: list[Connector] = []

        def factory(**overrides: Any) -> Connector:
            settings = {**sandbox.settings(sandbox.base_url), "max_retries": 3, **overrides}  # type: ignore[attr-defined]
            connector = self.connector_class(
                "conformance", self.connector_class.Settings.model_validate(settings), mapping
            )
            made.append(connector)
            return connector

        yield factory
        for connector in made:
            await connector.aclose()

    # -- check and reference data -------------------------------------------------------------------------------

    async def test_check_reaches_the_sandbox(self, make_connector: ConnectorFactory) -> None:
        await make_connector().check()

    async def test_wrong_credentials_raise_auth_error_without_the_secret(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
    ) -> None:
        canary = f"canary-{uuid.uuid4().hex}"
        secrets = _secret_fields(sandbox.settings("http://x"), self.connector_class)
        assert secrets, "the connector's settings should hold at least one SecretStr"
        caplog.set_level(logging.DEBUG)
        connector = make_connector(**{name: canary for name in secrets})
        with pytest.raises(AuthError) as info:
            await connector.check()
        assert canary not in str(info.value)
        assert canary not in repr(info.value)
        assert canary not in caplog.text
        assert canary not in repr(connector.settings)

    async def test_reference_data_is_consistent(self, make_connector: ConnectorFactory) -> None:
        reference = await make_connector().reference()
        assert reference.pipelines, "no pipelines"
        assert reference.stages, "no stages"
        for stage in reference.stages.values():
            assert stage.pipeline_id in reference.pipelines, f"stage {stage.id} names an unknown pipeline"
            if stage.won:
                assert stage.closed
        assert any(s.won for s in reference.stages.values()), "no won stage/status"
        assert any(s.closed and not s.won for s in reference.stages.values()), "no lost stage/status"

    async def test_mapping_fits_the_sandbox(self, make_connector: ConnectorFactory) -> None:
        connector = make_connector()
        assert connector.mapping_problems(await connector.reference()) == []

    async def test_check_really_sends_a_request(self, make_connector: ConnectorFactory, sandbox: Sandbox) -> None:
        before = sandbox.answered
        await make_connector().check()
        assert sandbox.answered > before, "check() must reach the CRM, not only build a client"

    async def test_a_non_json_200_is_an_api_error_naming_the_request(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, request: pytest.FixtureRequest
    ) -> None:
        _known_bug(self.connector_class, request)
        sandbox.faults.script = ["html"]  # a proxy's login page instead of the CRM's answer
        with pytest.raises(ApiError) as info:
            await make_connector().reference()
        error = info.value
        assert error.connection == "conformance"
        assert error.method and error.method in str(error)
        assert error.path and error.path.startswith("/") and error.path in str(error)

    def test_importing_the_connector_loads_no_sandbox(self, request: pytest.FixtureRequest) -> None:
        """A production sync imports the connector, never its emulator (nor the web framework it runs on)."""
        _known_bug(self.connector_class, request)
        module = self.connector_class.__module__
        name = self.connector_class.__name__
        script = (
            "import sys, importlib\n"
            f"cls = getattr(importlib.import_module({module!r}), {name!r})\n"
            "before = set(sys.modules)\n"
            "box = cls.sandbox(deals=1)\n"
            "print(type(box).__module__ in before)\n"
        )
        answer = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        assert answer.stdout.strip() == "False", f"{module} imports its sandbox at import time"

    # -- reading ------------------------------------------------------------------------------------------------

    async def test_full_read_returns_every_deal_once(self, make_connector: ConnectorFactory, sandbox: Sandbox) -> None:
        pages = await read_all(make_connector())
        ids = _ids(pages)
        assert len([p for p in pages if p.records]) > 1, "seed more deals than one page holds"
        assert len(ids) == len(set(ids)), "a deal came twice"
        assert sorted(ids) == sorted(sandbox.deal_ids())

    async def test_every_seeded_record_maps(self, make_connector: ConnectorFactory, sandbox: Sandbox) -> None:
        connector = make_connector()
        reference = await connector.reference()
        deals = [connector.to_deal(raw, reference) for page in await read_all(connector) for raw in page.records]
        assert {d.status.value for d in deals} >= {"open", "won", "lost"}
        for deal in deals:
            assert deal.updated_at is not None and deal.updated_at.tzinfo is not None
            assert deal.stage.pipeline_id == deal.pipeline.id
            # a deal built without validation (`trusted_deal`) must be the one validation builds
            checked = Deal.model_validate(deal.model_dump())
            assert checked == deal and checked.model_dump_json() == deal.model_dump_json(), deal.source_id

    async def test_raw_id_is_the_deals_source_id(self, make_connector: ConnectorFactory) -> None:
        """The engine names quarantined and stored records by the raw record's 'id'; it must be the Deal's id."""
        connector = make_connector()
        reference = await connector.reference()
        for page in await read_all(connector):
            for raw in page.records:
                assert str(raw.get("id")) == connector.to_deal(raw, reference).source_id

    @pytest.mark.parametrize("raw", ["a string", ["a", "list"], 42, None, True])
    async def test_a_record_that_is_not_an_object_is_a_record_error(
        self, make_connector: ConnectorFactory, raw: Any
    ) -> None:
        """The engine quarantines one such record and keeps the rest of its page; it must not be a TypeError."""
        connector = make_connector()
        reference = await connector.reference()
        with pytest.raises(RecordError):
            connector.to_deal(raw, reference)

    async def test_incremental_read_returns_only_changed_deals(
        self, make_connector: ConnectorFactory, sandbox: Sandbox
    ) -> None:
        connector = make_connector()
        reference = await connector.reference()

        def stamps(pages: list[Page]) -> list[datetime]:
            deals = [connector.to_deal(raw, reference) for page in pages for raw in page.records]
            return [deal.updated_at for deal in deals if deal.updated_at is not None]

        checkpoints = stamps(await read_all(connector))
        assert checkpoints, "no deal carries a modification time"
        since = max(checkpoints) + timedelta(seconds=1)
        await asyncio.sleep(1.1)  # second-resolution CRMs: edits must land after `since`
        touched = sorted(sandbox.deal_ids()[:3])
        for deal_id in touched:
            sandbox.touch(deal_id)
        pages = await read_all(connector, since)
        ids = _ids(pages)
        assert sorted(set(ids)) == touched
        assert max(stamps(pages)) >= since

    async def test_an_edit_made_while_a_run_lists_is_read_by_the_next_run(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """The cursor never passes the run's start, so a deal edited after the listing read it is read again."""
        store = Store(f"sqlite:///{tmp_path / 'edits.db'}")
        try:
            await SyncEngine(store, make_connector()).run()
            await asyncio.sleep(1.1)  # second-resolution CRMs: the next run starts in a later second
            edited: list[str] = []
            during = make_connector()
            listing = during.deals

            async def deals_then_edit(since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
                read_so_far: set[str] = set()
                async for page in listing(since, reconcile=reconcile):
                    read_so_far.update(self.record_id(raw) for raw in page.records)
                    yield page
                    if not edited and page.records:
                        edited.append(self.record_id(page.records[0]))
                        sandbox.touch(edited[0])  # a person edits a deal this run has already read ...
                        await asyncio.sleep(1.1)
                        later = next(i for i in sandbox.deal_ids() if i not in read_so_far)
                        sandbox.touch(later)  # ... and, a second later, one it has yet to read: its newer time is
                        # read by this listing, so a cursor taken from the deals read would pass the first edit

            during.deals = deals_then_edit  # type: ignore[method-assign]
            await SyncEngine(store, during, full=True).run()
            assert edited, "the run listed nothing"
            after = make_connector()
            read: list[str] = []
            plain = after.deals

            async def recording(since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
                async for page in plain(since, reconcile=reconcile):
                    read.extend(self.record_id(raw) for raw in page.records)
                    yield page

            after.deals = recording  # type: ignore[method-assign]
            await SyncEngine(store, after, overlap=timedelta(0)).run()  # no overlap window to hide a lost edit
            assert edited[0] in read, "the edit made during the listing was missed by the next incremental run"
        finally:
            store.close()

    async def test_reconcile_reports_deleted_deals(self, make_connector: ConnectorFactory, sandbox: Sandbox) -> None:
        gone = sandbox.deal_ids()[1]
        sandbox.delete(gone)
        pages = await read_all(make_connector(), None, reconcile=True)
        deleted = {i for p in pages for i in p.deleted_ids}
        live_scans = [set(p.live_ids) for p in pages if p.live_ids is not None]
        assert gone in deleted or (live_scans and all(gone not in scan for scan in live_scans))
        assert gone not in _ids(pages)

    # -- retries ---------------------------------------------------------------------------------------------------

    @pytest.mark.parametrize("fault", ["429", "429-retry-after", "503", "drop"])
    async def test_transient_failures_are_retried(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, fault: str
    ) -> None:
        sandbox.faults.script = [fault, fault]
        started = time.monotonic()
        reference = await make_connector(timeout_seconds=5).reference()
        assert reference.stages
        assert sandbox.faults.script == [], "the injected faults were not all met"
        assert time.monotonic() - started < 60

    # -- writing ---------------------------------------------------------------------------------------------------

    def _update(self, mapping: Mapping, source_id: str, category: ForecastCategory, probability: str) -> DealUpdate:
        wb = mapping.writeback
        return DealUpdate(
            source_id=source_id,
            category=wb.remote_category(category) if wb.category_field else None,
            probability=wb.remote_probability(Decimal(probability)) if wb.probability_field else None,
        )

    async def _open_ids(self, connector: Connector, count: int) -> list[str]:
        reference = await connector.reference()
        found = []
        for page in await read_all(connector):
            for raw in page.records:
                deal = connector.to_deal(raw, reference)
                if deal.status.value == "open" and deal.writable and deal.probability_writable:
                    found.append(deal.source_id)
        assert len(found) >= count
        return found[:count]

    async def test_read_by_id_returns_what_the_listing_shows(
        self, make_connector: ConnectorFactory, sandbox: Sandbox
    ) -> None:
        connector = make_connector()
        reference = await connector.reference()
        listed = {
            deal.source_id: deal
            for page in await read_all(connector)
            for deal in (connector.to_deal(raw, reference) for raw in page.records)
        }
        wanted = sorted(listed)[:3]
        raws = await make_connector().read([*wanted, sandbox.missing_id()])
        if raws is None:
            assert type(connector).read is Connector.read, "only the base class's read may answer None"
            return
        got = {deal.source_id: deal for deal in (connector.to_deal(raw, reference) for raw in raws)}
        assert sorted(got) == wanted, "every asked id that exists, and no other"
        for deal_id in wanted:
            assert got[deal_id].model_dump(exclude={"extra"}) == listed[deal_id].model_dump(exclude={"extra"})

    async def test_write_reports_partial_failure_per_deal(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, mapping: Mapping
    ) -> None:
        connector = make_connector()
        good = await self._open_ids(connector, 2)
        missing = sandbox.missing_id()
        updates = [self._update(mapping, i, ForecastCategory.COMMIT, "0.75") for i in [good[0], missing, good[1]]]
        outcomes = {o.source_id: o for o in await connector.write(updates)}
        assert set(outcomes) == {good[0], good[1], missing}
        assert outcomes[good[0]].status == outcomes[good[1]].status == "written"
        assert outcomes[missing].status == "failed"
        assert outcomes[missing].reason
        category, probability = sandbox.remote_values(good[0])
        if mapping.writeback.category_field:
            assert category == mapping.writeback.remote_category(ForecastCategory.COMMIT)
        if mapping.writeback.probability_field:
            assert probability is not None
            assert Decimal(probability) == mapping.writeback.remote_probability(Decimal("0.75"))

    async def test_auth_error_in_write_stops_the_run(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        """Revoked credentials mid-run are not a per-deal failure: `write` lets AuthError out and the run fails."""
        connector = make_connector()
        original = connector.write

        async def revoked(updates: Any) -> Any:
            sandbox.faults.script = ["401"] * 1000
            return await original(updates)

        connector.write = revoked  # type: ignore[method-assign]
        store = Store(f"sqlite:///{tmp_path / 'auth.db'}")
        try:
            with pytest.raises(AuthError):
                await SyncEngine(store, connector).run()
            [run] = store.runs("conformance")
            assert run["status"] == "failed"
            assert run["written"] in (0, None)
        finally:
            sandbox.faults.script = []
            store.close()

    async def test_no_secret_in_the_store_after_a_sync(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, tmp_path: Path
    ) -> None:
        secrets = [
            str(value)
            for name, value in sandbox.settings("http://x").items()
            if name in _secret_fields(sandbox.settings("http://x"), self.connector_class)
        ]
        assert secrets and all(len(s) >= 6 for s in secrets), "the sandbox's secrets are too short to search for"
        path = tmp_path / "secrets.db"
        store = Store(f"sqlite:///{path}")
        try:
            result = await SyncEngine(store, make_connector()).run()
            assert result.stored > 0
        finally:
            store.close()
        content = path.read_bytes()
        for secret in secrets:
            assert secret.encode() not in content, "a secret reached the store"

    async def test_sync_round_trip_respects_manual_override(
        self, make_connector: ConnectorFactory, sandbox: Sandbox, mapping: Mapping, tmp_path: Path
    ) -> None:
        store = Store(f"sqlite:///{tmp_path / 'conformance.db'}")
        first = await SyncEngine(store, make_connector()).run()
        assert first.fetched == len(sandbox.deal_ids())
        assert first.written > 0
        assert first.failed == 0
        second = await SyncEngine(store, make_connector()).run()
        assert second.planned == 0 and second.written == 0
        target = (await self._open_ids(make_connector(), 1))[0]
        wb = mapping.writeback
        if wb.category_field:
            current = sandbox.remote_values(target)[0]
            by_hand = next(v for v in wb.category_values.values() if v != current)
            sandbox.edit_by_hand(target, category=by_hand)
            third = await SyncEngine(store, make_connector()).run()
            assert sandbox.remote_values(target)[0] == by_hand, "a hand-set category was overwritten under respect"
            skipped = [r for r in store.ledger(third.run_id) if r["source_id"] == target and r["field"] == "category"]
            assert skipped and skipped[0]["outcome"] == "respected"
        store.close()
