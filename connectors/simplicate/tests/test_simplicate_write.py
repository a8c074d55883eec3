"""SimplicateConnector.write with respx: PUT bodies, per-deal failures with Simplicate's messages."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest
import respx
from simplicate_support import failure, mock_reference, ok

from crmsync.connector import DealUpdate
from crmsync.errors import AuthError
from crmsync_simplicate.connector import SimplicateConnector


@pytest.fixture(autouse=True)
def reference(router: respx.MockRouter) -> None:
    """The custom field's options: a select option is written by its id."""
    mock_reference(router)


async def test_put_sends_whole_percent_and_custom_field(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    route = router.put("/sales/sales/sales:0001").mock(return_value=ok({"id": "sales:0001"}))
    outcomes = await connector.write([DealUpdate(source_id="sales:0001", category="Commit", probability=Decimal("75"))])
    assert outcomes[0].status == "written"
    body = json.loads(route.calls.last.request.content)
    # the option is referenced by its id (`customfieldoption:…` on Simplicate; "o2" in this test's reference)
    assert body == {"chance_to_score": 75, "custom_fields": [{"name": "forecast_category", "value": "o2"}]}
    assert isinstance(body["chance_to_score"], int)


async def test_only_the_fields_asked_for_are_sent(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    route = router.put("/sales/sales/sales:0002").mock(return_value=ok({"id": "sales:0002"}))
    await connector.write([DealUpdate(source_id="sales:0002", probability=Decimal("33.5"))])
    assert json.loads(route.calls.last.request.content) == {"chance_to_score": 34}
    await connector.write([DealUpdate(source_id="sales:0002", category="")])
    assert json.loads(route.calls.last.request.content) == {
        "custom_fields": [{"name": "forecast_category", "value": ""}]
    }


async def test_partial_failure_reports_each_deal_with_simplicates_message(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    router.put("/sales/sales/sales:0001").mock(return_value=ok({"id": "sales:0001"}))
    router.put("/sales/sales/sales:0002").mock(
        return_value=failure(422, "Custom field 'forecast_category': 'Maybe' is not an option")
    )
    router.put("/sales/sales/sales:0003").mock(return_value=failure(404, "Sale with id 'sales:0003' not found"))
    router.put("/sales/sales/sales:0004").mock(return_value=failure(400, "The request body is not valid JSON"))
    updates = [DealUpdate(source_id=f"sales:000{i}", category="Commit") for i in range(1, 5)]
    outcomes = {o.source_id: o for o in await connector.write(updates)}
    assert outcomes["sales:0001"].status == "written"
    assert outcomes["sales:0002"].status == "failed"
    assert outcomes["sales:0002"].reason == "422: Custom field 'forecast_category': 'Maybe' is not an option"
    assert outcomes["sales:0003"].reason == "404: Sale with id 'sales:0003' not found"
    assert outcomes["sales:0004"].reason == "400: The request body is not valid JSON"


async def test_several_validation_messages_are_joined(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    router.put("/sales/sales/sales:0001").mock(return_value=failure(422, "first problem", "second problem"))
    outcome = (await connector.write([DealUpdate(source_id="sales:0001", probability=Decimal(5))]))[0]
    assert outcome.reason == "422: first problem; second problem"


async def test_429_on_write_is_retried(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    route = router.put("/sales/sales/sales:0001").mock(
        side_effect=[failure(429, "Too Many Requests"), ok({"id": "sales:0001"})]
    )
    outcome = (await connector.write([DealUpdate(source_id="sales:0001", probability=Decimal(5))]))[0]
    assert outcome.status == "written"
    assert route.call_count == 2


async def test_auth_failure_on_write_raises(connector: SimplicateConnector, router: respx.MockRouter) -> None:
    router.put("/sales/sales/sales:0001").mock(return_value=failure(401, "Unauthorized"))
    with pytest.raises(AuthError):
        await connector.write([DealUpdate(source_id="sales:0001", category="Commit")])


async def test_clearing_the_chance_is_skipped_with_a_reason(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    route = router.put("/sales/sales/sales:0001").mock(return_value=httpx.Response(500))
    outcome = (await connector.write([DealUpdate(source_id="sales:0001", clear_probability=True)]))[0]
    assert outcome.status == "skipped"
    assert outcome.reason == "Simplicate cannot empty chance_to_score"
    assert route.call_count == 0


async def test_an_unreachable_sale_is_unknown_alone_and_the_written_ones_stay_written(
    connector: SimplicateConnector, router: respx.MockRouter
) -> None:
    router.put("/sales/sales/sales:0001").mock(return_value=ok({"id": "sales:0001"}))
    router.put("/sales/sales/sales:0002").mock(side_effect=httpx.ConnectError("connection refused"))
    router.put("/sales/sales/sales:0003").mock(return_value=ok({"id": "sales:0003"}))
    updates = [DealUpdate(source_id=f"sales:000{i}", probability=Decimal(40)) for i in (1, 2, 3)]
    outcomes = {o.source_id: o for o in await connector.write(updates)}
    assert {k: o.status for k, o in outcomes.items()} == {
        "sales:0001": "written",
        "sales:0002": "unknown",  # sent, never answered: it may have been applied
        "sales:0003": "written",
    }
    assert "cannot reach" in (outcomes["sales:0002"].reason or "")
