"""Malformed AFAS Profit answers (crmsync.testing.payloads): a bad forecast row is quarantined alone, a bad page is
a named ApiError; never another exception."""

from __future__ import annotations

import pytest
import respx
from afas_testkit import GC, make, reference, row

from crmsync.mapping import Mapping
from crmsync.testing.payloads import PageCase, Paths, RecordCase, check_page, check_record, page_cases, record_cases

PATHS = Paths(
    id="SalesRelation",
    name="Description",
    amount="ExpectedAmount",
    modified="ModifiedDate",
    close_date="ExpectedEndDate",
)
RECORDS = record_cases(PATHS)
PAGES = page_cases("rows")


@pytest.mark.parametrize("case", RECORDS, ids=[c.id for c in RECORDS])
def test_a_malformed_row(case: RecordCase, mapping: Mapping) -> None:
    check_record(make(mapping), reference(mapping), row("10178", 4), case)


@pytest.mark.parametrize("case", PAGES, ids=[c.id for c in PAGES])
@respx.mock
async def test_a_malformed_page(case: PageCase, mapping: Mapping) -> None:
    respx.get(GC).mock(side_effect=lambda request: case.answer())
    connector = make(mapping)

    async def read() -> None:
        [page async for page in connector.deals(None)]

    await check_page(read, case)
