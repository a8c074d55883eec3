"""The Simplicate sandbox over real HTTP on loopback: auth, envelope, paging, filters, PUT validation, 429."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest

from crmsync.sandbox import RunningServer, serve
from crmsync_simplicate.sandbox import SimplicateSandbox


class Api:
    def __init__(self, sandbox: SimplicateSandbox, server: RunningServer) -> None:
        self.sandbox = sandbox
        settings = sandbox.settings(server.base_url)
        self.base = settings["base_url"]
        self.headers = {"Authentication-Key": settings["api_key"], "Authentication-Secret": settings["api_secret"]}

    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.headers)

    def put(self, path: str, body: Any) -> httpx.Response:
        return httpx.put(self.base + path, json=body, headers=self.headers)


@pytest.fixture
def api() -> Iterator[Api]:
    sandbox = SimplicateSandbox(deals=130, seed=3, clock=lambda: datetime(2025, 1, 15, 10, 0, 0))
    with serve(sandbox.app()) as server:
        yield Api(sandbox, server)


def test_missing_or_wrong_credentials_answer_401_with_errors_body(api: Api) -> None:
    response = httpx.get(api.base + "/sales/sales")
    assert response.status_code == 401
    body = response.json()
    assert body["data"] is None
    assert body["errors"][0]["code"] == 401
    wrong = httpx.get(api.base + "/sales/sales", headers={**api.headers, "Authentication-Secret": "nope"})
    assert wrong.status_code == 401
    assert api.sandbox.listing_requests() == 0


def test_envelope_and_offset_paging_with_count(api: Api) -> None:
    first = api.get("/sales/sales", limit=100, offset=0, metadata="count", sort="updated_at").json()
    assert set(first) == {"data", "metadata", "errors", "debug"}
    assert first["metadata"] == {"count": 130, "offset": 0, "limit": 100}
    second = api.get("/sales/sales", limit=100, offset=100, metadata="count", sort="updated_at").json()
    assert len(first["data"]) == 100
    assert len(second["data"]) == 30
    ids = [s["id"] for s in first["data"] + second["data"]]
    assert len(set(ids)) == 130
    stamps = [s["updated_at"] for s in first["data"] + second["data"]]
    assert stamps == sorted(stamps)
    assert api.sandbox.listing_requests() == 2


def test_limit_is_capped_at_100_and_metadata_only_on_request(api: Api) -> None:
    body = api.get("/sales/sales", limit=500).json()
    assert len(body["data"]) == 100
    assert "metadata" not in body


def test_descending_sort_and_select(api: Api) -> None:
    body = api.get("/sales/sales", sort="-updated_at", select="id,progress.", limit=5).json()
    assert set(body["data"][0]) == {"id", "progress"}
    assert set(body["data"][0]["progress"]) >= {"id", "label", "chance_to_score", "position"}
    full = api.get("/sales/sales", sort="-updated_at", limit=5).json()["data"]
    assert [s["id"] for s in body["data"]] == [s["id"] for s in full]
    assert full[0]["updated_at"] >= full[-1]["updated_at"]


def test_comparison_filters_use_amsterdam_wall_clock_text(api: Api) -> None:
    body = api.get("/sales/sales", **{"q[updated_at][ge]": "2024-10-27 02:30:00", "metadata": "count"}).json()
    assert body["metadata"]["count"] == len(body["data"]) or body["metadata"]["count"] > 100
    assert all(s["updated_at"] >= "2024-10-27 02:30:00" for s in body["data"])
    gt = api.get("/sales/sales", **{"q[updated_at][gt]": "2024-10-27 02:30:00"}).json()["data"]
    assert "2024-10-27 02:30:00" in {s["updated_at"] for s in body["data"]}
    assert "2024-10-27 02:30:00" not in {s["updated_at"] for s in gt}
    lt = api.get("/sales/sales", **{"q[updated_at][lt]": "2024-03-31 03:15:00"}).json()["data"]
    le = api.get("/sales/sales", **{"q[updated_at][le]": "2024-03-31 03:15:00"}).json()["data"]
    assert len(le) == len(lt) + 1


def test_equality_wildcard_list_null_and_or_filters(api: Api) -> None:
    open_sales = api.get("/sales/sales", **{"q[status.label]": "OpportunityStatus_open"}).json()["data"]
    assert open_sales
    assert {s["status"]["label"] for s in open_sales} == {"OpportunityStatus_open"}
    wild = api.get("/sales/sales", **{"q[subject]": "*acme*"}).json()["data"]
    assert wild
    assert all("acme" in s["subject"].lower() for s in wild)
    no_date = api.get("/sales/sales", **{"q[expected_closing_date]": "null"}).json()["data"]
    assert no_date
    assert all(s["expected_closing_date"] is None for s in no_date)
    either = httpx.get(
        api.base + "/sales/sales",
        params=[("q[progress.label][]", "Offerte"), ("q[progress.label][]", "Introductie")],
        headers=api.headers,
    ).json()["data"]
    assert {s["progress"]["label"] for s in either} == {"Offerte", "Introductie"}
    ored = httpx.get(
        api.base + "/sales/sales",
        params=[("q[or][status.label]", "OpportunityStatus_lost"), ("q[or][progress.label]", "Offerte")],
        headers=api.headers,
    ).json()["data"]
    assert all(s["status"]["label"] == "OpportunityStatus_lost" or s["progress"]["label"] == "Offerte" for s in ored)
    numeric = api.get("/sales/sales", **{"q[chance_to_score][ge]": "70"}).json()["data"]
    assert numeric
    assert all(s["chance_to_score"] >= 70 for s in numeric)


def test_bad_query_answers_400_with_errors_body(api: Api) -> None:
    response = api.get("/sales/sales", **{"q[updated_at][between]": "x"})
    assert response.status_code == 400
    assert "operator" in response.json()["errors"][0]["message"]
    assert api.get("/sales/sales", offset="-1").status_code == 400


def test_reference_endpoints(api: Api) -> None:
    steps = api.get("/sales/salesprogress").json()["data"]
    assert [s["label"] for s in steps][:3] == ["Introductie", "Kwalificatie", "Offerte"]
    assert all(isinstance(s["chance_to_score"], float) for s in steps)
    statuses = {s["label"] for s in api.get("/sales/salesstatus").json()["data"]}
    assert statuses == {"OpportunityStatus_open", "OpportunityStatus_scored", "OpportunityStatus_lost"}
    fields = api.get("/sales/salescustomfields").json()["data"]
    assert "forecast_category" in {f["name"] for f in fields}
    assert api.get("/sales/salesreason").json()["data"]
    assert api.get("/sales/salessource").json()["data"]
    one = api.get(f"/sales/salesprogress/{steps[0]['id']}").json()["data"]
    assert one == steps[0]
    assert api.get("/sales/salesnothing").status_code == 404


def test_put_updates_chance_and_custom_field_and_stamps_updated_at(api: Api) -> None:
    sale_id = api.sandbox.deal_ids()[10]
    response = api.put(
        f"/sales/sales/{sale_id}",
        {"chance_to_score": 35, "custom_fields": [{"name": "forecast_category", "value": "Commit"}]},
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"id": sale_id}, "errors": None, "debug": None}
    assert api.sandbox.remote_values(sale_id) == ("Commit", "35")
    sale = api.get(f"/sales/sales/{sale_id}").json()["data"]
    assert sale["updated_at"] == "2025-01-15 10:00:00"
    cleared = api.put(f"/sales/sales/{sale_id}", {"custom_fields": [{"name": "forecast_category", "value": ""}]})
    assert cleared.status_code == 200
    assert api.sandbox.remote_values(sale_id) == (None, "35")


def test_put_moving_step_takes_its_chance(api: Api) -> None:
    sale_id = api.sandbox.deal_ids()[0]
    steps = api.get("/sales/salesprogress").json()["data"]
    assert api.put(f"/sales/sales/{sale_id}", {"progress_id": steps[3]["id"]}).status_code == 200
    sale = api.get(f"/sales/sales/{sale_id}").json()["data"]
    assert sale["progress"]["label"] == steps[3]["label"]
    assert sale["chance_to_score"] == 70


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"chance_to_score": 35.5}, "chance_to_score"),
        ({"chance_to_score": 120}, "0 to 100"),
        ({"custom_fields": [{"name": "forecast_category", "value": "Maybe"}]}, "not an option"),
        ({"custom_fields": [{"name": "nope", "value": "x"}]}, "does not exist"),
        ({"progress_id": "salesprogress:unknown"}, "progress_id"),
        ({"expected_closing_date": "31-12-2024"}, "YYYY-MM-DD"),
        ({"colour": "red"}, "not writable"),
        ([1, 2], "JSON object"),
    ],
)
def test_put_validation_answers_422_and_changes_nothing(api: Api, body: Any, message: str) -> None:
    sale_id = api.sandbox.deal_ids()[5]
    before = api.get(f"/sales/sales/{sale_id}").json()["data"]
    response = api.put(f"/sales/sales/{sale_id}", body)
    assert response.status_code == 422
    payload = response.json()
    assert payload["data"] is None
    assert payload["errors"][0]["type"] == "Validation"
    assert message in payload["errors"][0]["message"]
    assert api.get(f"/sales/sales/{sale_id}").json()["data"] == before


def test_put_unknown_sale_answers_404_and_invalid_json_400(api: Api) -> None:
    response = api.put(f"/sales/sales/{api.sandbox.missing_id()}", {"chance_to_score": 10})
    assert response.status_code == 404
    assert "not found" in response.json()["errors"][0]["message"]
    raw = httpx.put(f"{api.base}/sales/sales/{api.sandbox.deal_ids()[0]}", content=b"{oops", headers=api.headers)
    assert raw.status_code == 400


def test_control_surface_edit_touch_delete(api: Api) -> None:
    sale_id = api.sandbox.deal_ids()[1]
    api.sandbox.edit_by_hand(sale_id, category="Best case", probability="42")
    assert api.sandbox.remote_values(sale_id) == ("Best case", "42")
    api.sandbox.delete(sale_id)
    assert sale_id not in api.sandbox.deal_ids()
    assert api.get(f"/sales/sales/{sale_id}").status_code == 404
    other = api.sandbox.deal_ids()[0]
    api.sandbox.touch(other)
    latest = api.get("/sales/sales", sort="-updated_at", limit=1).json()["data"][0]
    assert latest["id"] == other


def test_seed_is_deterministic_and_covers_the_cases() -> None:
    a, b = SimplicateSandbox(deals=80, seed=9), SimplicateSandbox(deals=80, seed=9)
    assert a.state.list_sales() == b.state.list_sales()
    sales = a.state.list_sales()
    assert {s["status"]["label"] for s in sales} == {
        "OpportunityStatus_open",
        "OpportunityStatus_scored",
        "OpportunityStatus_lost",
    }
    assert any(s["expected_closing_date"] is None for s in sales)
    assert any(s["chance_to_score"] != int(s["progress"]["chance_to_score"]) for s in sales)
    assert any(s["updated_at"].startswith("2024-10-27 02:") for s in sales)
    assert any(s["reason"] for s in sales if s["status"]["label"] == "OpportunityStatus_lost")


def test_rate_limit_answers_429_in_simplicate_shape() -> None:
    sandbox = SimplicateSandbox(deals=5, requests_per_minute=3)
    with serve(sandbox.app()) as server:
        api = Api(sandbox, server)
        statuses = [api.get("/sales/salesstatus").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        response = api.get("/sales/salesstatus")
        assert response.status_code == 429
        assert response.json()["errors"][0]["code"] == 429
        assert float(response.headers["retry-after"]) > 0


def test_injected_faults() -> None:
    sandbox = SimplicateSandbox(deals=5)
    sandbox.faults.script = ["503", "429"]
    with serve(sandbox.app()) as server:
        api = Api(sandbox, server)
        first = api.get("/sales/sales")
        assert first.status_code == 503
        assert first.json()["errors"][0]["type"] == "ServiceUnavailable"
        second = api.get("/sales/sales")
        assert second.status_code == 429
        assert "retry-after" not in second.headers
        assert api.get("/sales/sales").status_code == 200
