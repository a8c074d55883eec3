"""HubSpot's own Python client, pointed at the sandbox, can list, search and batch-update deals."""

from __future__ import annotations

import pytest
from hubspot import HubSpot
from hubspot.crm.deals import (
    BatchInputSimplePublicObjectBatchInput,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
)
from hubspot.crm.deals.exceptions import ApiException

from crmsync_hubspot.sandbox import HubSpotSandbox


def client(base_url: str, token: str) -> HubSpot:
    return HubSpot(access_token=token, host=base_url)


def test_official_client_lists_every_deal(served: tuple[HubSpotSandbox, str]) -> None:
    box, url = served
    api = client(url, box.token)
    seen, after = [], None
    while True:
        page = api.crm.deals.basic_api.get_page(limit=7, after=after, properties=["dealname", "amount"])
        seen += [deal.id for deal in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    assert sorted(seen) == sorted(box.deal_ids())
    assert all(isinstance(deal.properties["dealname"], str) for deal in page.results)


def test_official_client_searches_and_batch_updates(served: tuple[HubSpotSandbox, str]) -> None:
    box, url = served
    api = client(url, box.token)
    request = PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "pipeline", "operator": "EQ", "value": "default"}]}],
        sorts=[{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        properties=["dealname", "pipeline", "hs_lastmodifieddate"],
        limit=200,
    )
    found = api.crm.deals.search_api.do_search(public_object_search_request=request)
    assert found.total == len(found.results) > 0
    assert {deal.properties["pipeline"] for deal in found.results} == {"default"}
    stamps = [deal.properties["hs_lastmodifieddate"] for deal in found.results]
    assert stamps == sorted(stamps)

    target = found.results[0].id
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[
            SimplePublicObjectBatchInput(
                id=target, properties={"hs_manual_forecast_category": "COMMIT", "hs_forecast_probability": "0.8"}
            )
        ]
    )
    answer = api.crm.deals.batch_api.update(batch_input_simple_public_object_batch_input=batch)
    assert answer.status == "COMPLETE"
    assert box.remote_values(target) == ("COMMIT", "0.8")


def test_official_client_sees_validation_errors(served: tuple[HubSpotSandbox, str]) -> None:
    box, url = served
    api = client(url, box.token)
    target = box.deal_ids()[0]
    batch = BatchInputSimplePublicObjectBatchInput(
        inputs=[SimplePublicObjectBatchInput(id=target, properties={"hs_manual_forecast_category": "MAYBE"})]
    )
    with pytest.raises(ApiException) as info:
        api.crm.deals.batch_api.update(batch_input_simple_public_object_batch_input=batch)
    assert info.value.status == 400
    assert "VALIDATION_ERROR" in info.value.body
    assert box.remote_values(target)[0] is None
