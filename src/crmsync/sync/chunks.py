"""Pages gathered into chunks: what the engine pays once a page (the store's reads of the page's deals, its
transaction and commit, the rules' and the ledger's lookups) it pays once for several of the CRM's pages."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from crmsync.connector import Page

CHUNK_RECORDS = 500  # records and deleted ids: five of HubSpot's or Pipedrive's pages, and short IN lists


async def gathered(pages: AsyncIterator[Page], size: int | None = None) -> AsyncGenerator[Page, None]:
    """The listing's pages, consecutive ones joined until they hold at least `size` records and deleted ids
    together (`CHUNK_RECORDS`): an archive sweep of deletions alone is cut into chunks as records are.

    The engine handles a page's records before its deletions, so a chunk keeps that order: once it holds a
    deletion, a page with records starts the next chunk (an id deleted on one page and listed on a later one ends
    up live, as it did page by page). A page of live ids (a reconciling key scan) stays on its own. When the
    listing fails, the records gathered so far are handed out first, so nothing fetched is lost by gathering.
    """
    size = size or CHUNK_RECORDS
    records: list[Any] = []
    deleted: list[str] = []
    try:
        while True:
            try:
                page = await anext(pages)
            except StopAsyncIteration:
                break
            except Exception:
                if records or deleted:
                    yield _chunk(records, deleted)
                raise
            if page.live_ids is not None or (deleted and page.records):
                if records or deleted:
                    yield _chunk(records, deleted)
                    records, deleted = [], []
                if page.live_ids is not None:
                    yield page
                    continue
            records += page.records
            deleted += page.deleted_ids
            if len(records) + len(deleted) >= size:
                yield _chunk(records, deleted)
                records, deleted = [], []
        if records or deleted:
            yield _chunk(records, deleted)
    finally:
        close = getattr(pages, "aclose", None)
        if close is not None:
            await close()


def _chunk(records: list[Any], deleted: list[str]) -> Page:
    return Page.model_construct(records=records, deleted_ids=deleted, live_ids=None)
