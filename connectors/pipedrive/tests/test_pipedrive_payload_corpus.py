"""Malformed Pipedrive answers (crmsync.testing.payloads): a bad deal is quarantined alone, a bad page is a named
ApiError; never another exception."""

from __future__ import annotations

import pytest
import respx
from test_pipedrive_connector import BASE, connector, mock_reference, raw_deal

from crmsync.testing.payloads import PageCase, Paths, RecordCase, check_page, check_record, page_cases, record_cases
from crmsync_pipedrive.connector import PipedriveConnector

__all__ = ["connector"]  # the fixture, shared with the connector's unit tests

PATHS = Paths(id="id", name="title", amount="value", modified="update_time", close_date="expected_close_date")
RECORDS = record_cases(PATHS)
PAGES = page_cases("data")


@pytest.mark.parametrize("case", RECORDS, ids=[c.id for c in RECORDS])
@respx.mock
async def test_a_malformed_deal(case: RecordCase, connector: PipedriveConnector) -> None:
    mock_reference(respx.mock)
    check_record(connector, await connector.reference(), raw_deal(5), case)


@pytest.mark.parametrize("case", PAGES, ids=[c.id for c in PAGES])
@respx.mock
async def test_a_malformed_page(case: PageCase, connector: PipedriveConnector) -> None:
    respx.get(f"{BASE}/api/v2/deals").mock(side_effect=lambda request: case.answer())

    async def read() -> None:
        [page async for page in connector.deals(None)]

    await check_page(read, case)
