"""Reading a listing one page ahead (crmsync.sync.ahead)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import datetime

import pytest
from two_phase_fake import FakeConnector, FakeCrm

from crmsync.connector import Page
from crmsync.errors import StoreError
from crmsync.store import Store
from crmsync.sync import SyncEngine, chunks
from crmsync.sync.ahead import one_ahead


class Listing:
    """A listing whose every page is a request the test answers by hand, logging what happens in order."""

    def __init__(self, pages: int, fail_at: int | None = None) -> None:
        self.pages = pages
        self.fail_at = fail_at
        self.log: list[str] = []
        self.answers: dict[int, asyncio.Future[None]] = {}
        self.closed = False

    async def listing(self) -> AsyncIterator[int]:
        try:
            for n in range(1, self.pages + 1):
                self.log.append(f"sent {n}")
                answer = self.answers[n] = asyncio.get_running_loop().create_future()
                await answer
                if n == self.fail_at:
                    raise RuntimeError(f"page {n} is broken")
                yield n
        finally:
            self.closed = True

    def answer_all(self) -> None:
        for future in self.answers.values():
            if not future.done():
                future.set_result(None)


async def _answering(listing: Listing) -> None:
    while True:
        listing.answer_all()
        await asyncio.sleep(0)


async def test_pages_come_in_order_and_the_next_request_is_out_before_a_page_is_handled() -> None:
    listing = Listing(3)
    answering = asyncio.create_task(_answering(listing))
    try:
        async for page in one_ahead(listing.listing()):
            listing.log.append(f"handled {page}")  # synchronous work: the event loop is held
    finally:
        answering.cancel()
    assert listing.log == ["sent 1", "sent 2", "handled 1", "sent 3", "handled 2", "handled 3"]


async def _consume(pages: AsyncIterator[int], handled: list[int]) -> None:
    async for page in pages:
        handled.append(page)


async def test_an_error_of_the_next_page_comes_after_this_page_is_handled() -> None:
    listing = Listing(3, fail_at=2)
    handled: list[int] = []
    answering = asyncio.create_task(_answering(listing))
    try:
        with pytest.raises(RuntimeError, match="page 2 is broken"):
            await _consume(one_ahead(listing.listing()), handled)
    finally:
        answering.cancel()
    assert handled == [1]
    assert listing.closed


async def _until(condition: Callable[[], bool]) -> None:
    for _ in range(100):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the listing never got there")


async def test_stopping_early_cancels_the_request_in_flight_and_closes_the_listing() -> None:
    listing = Listing(5)
    pages = one_ahead(listing.listing())
    first = asyncio.ensure_future(anext(pages))
    await _until(lambda: 1 in listing.answers)
    listing.answer_all()  # only page 1 is answered; page 2's request stays in flight
    assert await first == 1
    assert listing.log == ["sent 1", "sent 2"]
    await pages.aclose()
    assert listing.answers[2].cancelled()
    assert listing.closed
    assert listing.log == ["sent 1", "sent 2"], "no page is asked for after the consumer stopped"


async def test_an_empty_listing_yields_nothing() -> None:
    listing = Listing(0)
    assert [page async for page in one_ahead(listing.listing())] == []
    assert listing.closed


class Hanging(FakeConnector):
    """Lists one page, then a second page whose answer never comes."""

    closed = False

    async def deals(self, since: datetime | None, *, reconcile: bool = False) -> AsyncIterator[Page]:
        try:
            async for page in super().deals(since, reconcile=reconcile):
                yield page
                await asyncio.get_running_loop().create_future()  # the next page's request, never answered
        finally:
            Hanging.closed = True


async def test_a_run_stopped_by_a_page_closes_the_listing_and_its_request_in_flight(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: SyncEngine, *args: object) -> None:
        raise StoreError("the disk is full")

    monkeypatch.setattr(SyncEngine, "_page", broken)
    monkeypatch.setattr(chunks, "CHUNK_RECORDS", 1)  # each page handed on as it comes, not gathered with the next
    Hanging.closed = False
    with pytest.raises(StoreError, match="disk is full"):
        await asyncio.wait_for(SyncEngine(store, Hanging(FakeCrm.seeded(8))).run(), timeout=30)
    assert Hanging.closed, "the listing is closed when the run stops, not left to the garbage collector"
