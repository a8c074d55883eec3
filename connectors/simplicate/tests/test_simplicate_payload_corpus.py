"""Malformed Simplicate answers (crmsync.testing.payloads): a bad sale is quarantined alone, a bad page is a named
ApiError; never another exception."""

from __future__ import annotations

import pytest
import respx
from simplicate_support import CUSTOM_FIELDS, PROGRESS, STATUSES, sale

from crmsync.testing.payloads import PageCase, Paths, RecordCase, check_page, check_record, page_cases, record_cases
from crmsync_simplicate.connector import SimplicateConnector
from crmsync_simplicate.translate import build_reference

PATHS = Paths(
    id="id", name="subject", amount="expected_revenue", modified="updated_at", close_date="expected_closing_date"
)
RECORDS = record_cases(PATHS)
PAGES = page_cases("data")


@pytest.mark.parametrize("case", RECORDS, ids=[c.id for c in RECORDS])
def test_a_malformed_sale(case: RecordCase, connector: SimplicateConnector) -> None:
    reference = build_reference(PROGRESS, STATUSES, CUSTOM_FIELDS, [], [])
    valid = sale(3, expected_revenue="1500.00", expected_closing_date="2026-06-30")
    check_record(connector, reference, valid, case)


@pytest.mark.parametrize("case", PAGES, ids=[c.id for c in PAGES])
async def test_a_malformed_page(case: PageCase, connector: SimplicateConnector, router: respx.MockRouter) -> None:
    router.get("/sales/sales").mock(side_effect=lambda request: case.answer())

    async def read() -> None:
        [page async for page in connector.deals(None)]

    await check_page(read, case)
