"""The HubSpot sandbox follows HubSpot's documented API where a real client would notice (sources in each test and
in the sandbox README)."""

from __future__ import annotations

import httpx
import pytest
from hubspot import HubSpot
from hubspot.crm.deals import PublicObjectSearchRequest
from hubspot.crm.pipelines import PipelineStage
from hubspot.crm.properties import ModelProperty

from crmsync.mapping import Mapping
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox

DEALS = "/crm/v3/objects/deals"


def client(served: tuple[HubSpotSandbox, str]) -> httpx.Client:
    box, url = served
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {box.token}"})


def test_more_than_50_deals_with_property_history_is_a_400(served: tuple[HubSpotSandbox, str]) -> None:
    """hubspot-api-python#143: list and batch read with propertiesWithHistory allow at most 50 objects."""
    box = served[0]
    box.history_page_max = 50
    with client(served) as http:
        refused = http.get(DEALS, params={"limit": 51, "propertiesWithHistory": "hs_manual_forecast_category"})
        allowed = http.get(DEALS, params={"limit": 50, "propertiesWithHistory": "hs_manual_forecast_category"})
        without = http.get(DEALS, params={"limit": 100})
        batch = http.post(
            f"{DEALS}/batch/read",
            json={"propertiesWithHistory": ["dealstage"], "inputs": [{"id": str(i)} for i in range(51)]},
        )
    assert refused.status_code == 400 and refused.json()["category"] == "VALIDATION_ERROR"
    assert {"status", "message", "correlationId", "category"} <= set(refused.json())
    assert allowed.status_code == 200 and without.status_code == 200
    assert batch.status_code == 400


@pytest.mark.parametrize(
    "sorts", [["hs_lastmodifieddate"], [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}]]
)
def test_search_takes_sorts_as_strings_and_as_objects(served: tuple[HubSpotSandbox, str], sorts: list[object]) -> None:
    """The spec's PublicObjectSearchRequest declares `sorts: list[str]`; the search guide shows objects. Both work."""
    with client(served) as http:
        answer = http.post(
            f"{DEALS}/search", json={"sorts": sorts, "properties": ["hs_lastmodifieddate"], "limit": 200}
        )
    assert answer.status_code == 200
    stamps = [deal["properties"]["hs_lastmodifieddate"] for deal in answer.json()["results"]]
    assert stamps == sorted(stamps) and len(stamps) == 30


def test_the_official_client_searches_with_string_sorts_and_a_query(served: tuple[HubSpotSandbox, str]) -> None:
    box, url = served
    name = box.state.records[box.deal_ids()[0]].properties["dealname"] or ""
    word = name.split()[0]
    api = HubSpot(access_token=box.token, host=url)
    request = PublicObjectSearchRequest(query=word.lower(), sorts=["hs_lastmodifieddate"], properties=["dealname"])
    request.limit = 200
    found = api.crm.deals.search_api.do_search(public_object_search_request=request)
    names = {i: (box.state.records[i].properties["dealname"] or "").lower().split() for i in box.deal_ids()}
    expected = {i for i, words in names.items() if any(w.startswith(word.lower()) for w in words)}
    assert found.total == len(expected) and 0 < found.total < 30
    assert {deal.id for deal in found.results} == expected


def test_null_is_no_clear_and_an_empty_string_clears(served: tuple[HubSpotSandbox, str]) -> None:
    """HubSpot's CRM objects guide: to clear a property, set it to an empty string. null does not clear."""
    box = served[0]
    deal = box.deal_ids()[0]
    box.edit_by_hand(deal, "COMMIT", "0.5")
    with client(served) as http:
        http.patch(f"{DEALS}/{deal}", json={"properties": {"hs_forecast_probability": None}}).raise_for_status()
        assert box.remote_values(deal) == ("COMMIT", "0.5")
        inputs = [{"id": deal, "properties": {"hs_manual_forecast_category": None, "hs_forecast_probability": ""}}]
        http.post(f"{DEALS}/batch/update", json={"inputs": inputs}).raise_for_status()
    assert box.remote_values(deal) == ("COMMIT", None)


def test_207_error_items_carry_every_key_the_spec_requires(served: tuple[HubSpotSandbox, str]) -> None:
    """StandardError (CRM objects spec): status, category, message, errors, context and links are required."""
    box = served[0]
    with client(served) as http:
        answer = http.post(
            f"{DEALS}/batch/update",
            json={"inputs": [{"id": box.missing_id(), "properties": {"hs_manual_forecast_category": "COMMIT"}}]},
        )
    assert answer.status_code == 207
    (item,) = answer.json()["errors"]
    assert {"status", "category", "message", "errors", "context", "links"} <= set(item)


def test_property_definitions_deserialize_in_the_official_models(served: tuple[HubSpotSandbox, str]) -> None:
    """Property in the properties spec requires name, label, type, fieldType, description, groupName, options; the
    official client refuses an answer without them."""
    box, url = served
    api = HubSpot(access_token=box.token, host=url)
    listed = api.crm.properties.core_api.get_all(object_type="deals").results
    category = api.crm.properties.core_api.get_by_name(object_type="deals", property_name="hs_manual_forecast_category")
    assert isinstance(category, ModelProperty)
    assert {o.value for o in category.options} == {"OMIT", "PIPELINE", "BEST_CASE", "COMMIT", "CLOSED"}
    assert all(p.description is not None and p.options is not None for p in listed)


def test_deals_answer_at_object_type_id_0_3_and_stages_by_pipeline(served: tuple[HubSpotSandbox, str]) -> None:
    """Objects API: an object type is named or given by its id (deals are 0-3); pipelines API: GET …/{id}/stages."""
    with client(served) as http:
        by_name = http.get(DEALS, params={"limit": 5}).json()
        by_type = http.get("/crm/v3/objects/0-3", params={"limit": 5}).json()
        stages = http.get("/crm/v3/pipelines/deals/default/stages")
    assert [d["id"] for d in by_type["results"]] == [d["id"] for d in by_name["results"]]
    assert stages.status_code == 200
    first = stages.json()["results"][0]
    assert first["id"] == "appointmentscheduled"
    PipelineStage(
        id=first["id"],
        label=first["label"],
        display_order=first["displayOrder"],
        archived=first["archived"],
        write_permissions=first["writePermissions"],
        created_at=first["createdAt"],
        updated_at=first["updatedAt"],
        metadata=first["metadata"],
    )


def test_every_answer_carries_the_rate_limit_headers(served: tuple[HubSpotSandbox, str]) -> None:
    """HubSpot's usage guidelines: X-HubSpot-RateLimit-* on every answer, errors included."""
    box = served[0]
    names = {
        "x-hubspot-ratelimit-max",
        "x-hubspot-ratelimit-remaining",
        "x-hubspot-ratelimit-interval-milliseconds",
        "x-hubspot-ratelimit-daily",
        "x-hubspot-ratelimit-daily-remaining",
    }
    with client(served) as http:
        answers = [
            http.get(DEALS),
            http.get(f"{DEALS}/{box.missing_id()}"),
            http.get("/crm/v3/pipelines/deals"),
            httpx.get(f"{served[1]}{DEALS}"),  # no token: 401
        ]
    assert [a.status_code for a in answers] == [200, 404, 200, 401]
    for answer in answers:
        assert names <= set(answer.headers), answer.request.url
    first, second = (int(a.headers["x-hubspot-ratelimit-daily-remaining"]) for a in answers[:2])
    assert second < first


def test_retry_after_is_whole_seconds(served: tuple[HubSpotSandbox, str]) -> None:
    """Retry-After carries delay-seconds, a non-negative integer (RFC 9110 §10.2.3)."""
    box = served[0]
    box.faults.script = ["429-retry-after"]
    with client(served) as http:
        answer = http.get(DEALS)
    assert answer.status_code == 429
    assert answer.headers["retry-after"].isdigit()
    assert answer.json()["policyName"] == "TEN_SECONDLY_ROLLING"


async def test_the_connector_full_read_stays_within_50_with_history(
    served: tuple[HubSpotSandbox, str], mapping: Mapping
) -> None:
    box, url = served
    assert box.history_page_max == 50, "the sandbox enforces HubSpot's limit by default"
    settings = HubSpotSettings(**box.settings(url))
    async with HubSpotConnector("hubspot", settings, mapping) as connector:
        seen = [record async for page in connector.deals(None) for record in page.records]
    assert len(seen) == len(box.deal_ids())
