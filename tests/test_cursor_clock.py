"""The engine moves the cursor to what the CRM's clock vouches for: its time when a whole listing's first request
reached it, by its own HTTP Date, compared with ours when it was read (not when a long listing ends)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

from two_phase_fake import FakeConnector, FakeCrm

from crmsync.connector import Page
from crmsync.store import Store
from crmsync.sync import SyncEngine

OVERLAP = timedelta(minutes=10)
# the engine's clock tolerance here: a listing takes longer than this (see Slow), setting up a run does not
TOLERANCE = timedelta(seconds=2)


class Slow(FakeConnector):
    """Answers its first listing request with the CRM's clock at `server`, then takes longer than the engine's clock
    tolerance to finish the listing."""

    server: datetime | None = None

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        if self.server is not None:
            self.client.note_clock(self.server, 0.0)  # as ApiClient takes it from the first answer's Date
        async for page in super().deals(since, reconcile=reconcile):
            yield page
        await asyncio.sleep(2.5)


async def sync(store: Store, clock: datetime | None, **options: object) -> None:
    connector = Slow(FakeCrm.seeded(3))
    connector.server = clock
    await SyncEngine(store, connector, overlap=OVERLAP, future_tolerance=TOLERANCE, **options).run()  # type: ignore[arg-type]


async def test_a_listing_longer_than_the_tolerance_still_vouches_for_the_crms_clock(store: Store) -> None:
    server = datetime.now(UTC)  # not cut to whole seconds as HTTP's Date is: that alone could use up the tolerance
    await sync(store, server)
    assert store.cursor("fake") == server - OVERLAP


async def test_a_crm_clock_far_from_ours_vouches_for_nothing(store: Store) -> None:
    await sync(store, datetime.now(UTC) - timedelta(hours=1))
    stamps = max(r.updated for r in FakeCrm.seeded(3).records.values() if r.updated is not None)
    assert store.cursor("fake") == stamps, "the cursor is the latest stamp read, as without a server clock"


async def test_a_dry_run_moves_no_cursor(store: Store) -> None:
    await sync(store, datetime.now(UTC), mode="dry-run")
    assert store.cursor("fake") is None
