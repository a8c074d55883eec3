"""Malformed HubSpot answers (crmsync.testing.payloads): a bad deal is quarantined alone, a bad page is a named
ApiError; never another exception."""

from __future__ import annotations

import pytest
import respx
from test_hubspot_connector import DEALS, REFERENCE, deal, make

from crmsync.mapping import Mapping
from crmsync.testing.payloads import PageCase, Paths, RecordCase, check_page, check_record, page_cases, record_cases

PATHS = Paths(
    id="id",
    name="properties.dealname",
    amount="properties.amount",
    modified="properties.hs_lastmodifieddate",
    close_date="properties.closedate",
)
RECORDS = record_cases(PATHS)
PAGES = page_cases("results")


@pytest.mark.parametrize("case", RECORDS, ids=[c.id for c in RECORDS])
def test_a_malformed_deal(case: RecordCase, mapping: Mapping) -> None:
    check_record(make(mapping), REFERENCE, deal("7", closedate="2026-04-30T00:00:00Z", amount="10"), case)


@pytest.mark.parametrize("case", PAGES, ids=[c.id for c in PAGES])
async def test_a_malformed_page(case: PageCase, mapping: Mapping) -> None:
    with respx.mock:
        respx.get(DEALS).mock(side_effect=lambda request: case.answer())
        respx.post(f"{DEALS}/search").mock(side_effect=lambda request: case.answer())
        connector = make(mapping)

        async def read() -> None:
            [page async for page in connector.deals(None)]

        await check_page(read, case)
