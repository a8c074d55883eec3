"""Pages gathered into chunks before the engine handles them (crmsync.sync.chunks)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from two_phase_fake import FakeConnector, FakeCrm

from crmsync.connector import Page
from crmsync.store import Store
from crmsync.sync import SyncEngine, chunks
from crmsync.sync.chunks import gathered


class Listing:
    """Pages handed out in order; `fail_after` raises once that many were handed out. Knows whether it was closed."""

    def __init__(self, pages: list[Page], fail_after: int | None = None) -> None:
        self.pages, self.fail_after = pages, fail_after
        self.closed = False
        self.handed = 0

    async def listing(self) -> AsyncIterator[Page]:
        try:
            for page in self.pages:
                if self.handed == self.fail_after:
                    raise RuntimeError("page 3 broke off")
                self.handed += 1
                yield page
        finally:
            self.closed = True


def records(start: int, count: int) -> list[dict[str, Any]]:
    return [{"id": str(n)} for n in range(start, start + count)]


async def take(listing: Listing, size: int) -> list[Page]:
    return [page async for page in gathered(listing.listing(), size)]


async def test_pages_are_joined_until_a_chunk_holds_enough_records_in_their_order() -> None:
    listing = Listing([Page(records=records(n * 100, 100)) for n in range(12)])
    got = await take(listing, 500)
    assert [len(page.records) for page in got] == [500, 500, 200]
    assert [r["id"] for page in got for r in page.records] == [str(n) for n in range(1200)]
    assert listing.closed


async def test_an_empty_listing_gives_no_chunk() -> None:
    assert await take(Listing([]), 500) == []
    assert await take(Listing([Page(records=[]), Page(records=[])]), 500) == []


async def test_records_after_a_deletion_start_a_new_chunk_and_deletions_alone_join() -> None:
    """Page by page, an id deleted on one page and listed on a later one ends up live; a chunk handles its
    records before its deletions, so no record may follow a deletion within one."""
    listing = Listing(
        [
            Page(records=records(0, 2), deleted_ids=["9"]),
            Page(records=[], deleted_ids=["8"]),  # only deletions: joins
            Page(records=records(9, 1)),  # a record after a deletion: a new chunk
            Page(records=records(20, 1), deleted_ids=["7"]),
        ]
    )
    got = await take(listing, 500)
    assert [([r["id"] for r in page.records], page.deleted_ids) for page in got] == [
        (["0", "1"], ["9", "8"]),
        (["9", "20"], ["7"]),
    ]


async def test_a_sweep_of_deletions_alone_is_cut_into_chunks_too() -> None:
    """An archive sweep (HubSpot's, Pipedrive's) brings pages of deleted ids only: they count toward a chunk as
    records do, so no chunk holds more ids than a page's worth of them beyond `size` (the store's IN lists)."""
    sweep = [Page(records=[], deleted_ids=[str(n) for n in range(p * 100, p * 100 + 100)]) for p in range(40)]
    got = await take(Listing([Page(records=records(9000, 1)), *sweep]), 500)
    assert [(len(page.records), len(page.deleted_ids)) for page in got] == [(1, 500)] + [(0, 500)] * 7
    assert [i for page in got for i in page.deleted_ids] == [str(n) for n in range(4000)]


async def test_a_page_of_live_ids_stays_on_its_own() -> None:
    scan = Page(records=[], live_ids=["1", "2"])
    listing = Listing([Page(records=records(0, 3)), scan, Page(records=records(3, 1))])
    got = await take(listing, 500)
    assert [len(page.records) for page in got] == [3, 0, 1]
    assert got[1] is scan and got[0].live_ids is None and got[2].live_ids is None


async def test_a_listing_that_fails_hands_out_what_it_gathered_before_the_error() -> None:
    listing = Listing([Page(records=records(n * 10, 10)) for n in range(5)], fail_after=2)
    seen: list[int] = []

    async def consume() -> None:
        async for page in gathered(listing.listing(), 500):
            seen.append(len(page.records))

    with pytest.raises(RuntimeError, match="broke off"):
        await consume()
    assert seen == [20], "the two pages fetched before the error are not lost"
    assert listing.closed


async def test_stopping_early_closes_the_listing() -> None:
    listing = Listing([Page(records=records(n * 10, 10)) for n in range(5)])
    pages = gathered(listing.listing(), 20)
    assert len((await anext(pages)).records) == 20
    await pages.aclose()
    assert listing.closed
    assert listing.handed == 2, "no page is asked for after the consumer stopped"


async def test_the_engine_reads_the_store_once_a_chunk(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """23 deals in pages of five, gathered ten at a time: three chunks, so three reads of the stored deals; every
    deal is still stored and written."""
    reads: list[int] = []
    stored = store.stored_deals

    def counting(connection: str, ids: Any) -> Any:
        ids = list(ids)
        reads.append(len(ids))
        return stored(connection, ids)

    monkeypatch.setattr(store, "stored_deals", counting)
    monkeypatch.setattr(chunks, "CHUNK_RECORDS", 10)
    crm = FakeCrm.seeded(23)
    result = await SyncEngine(store, FakeConnector(crm)).run()
    assert reads == [10, 10, 3]
    assert result.fetched == result.stored == result.written == 23
    assert all(record.category is not None for record in crm.records.values())
