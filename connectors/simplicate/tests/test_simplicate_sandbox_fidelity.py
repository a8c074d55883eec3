"""The Simplicate sandbox follows Simplicate's documented API v2 where a client would notice (sources: Simplicate's
developer docs, "Filtering" page, and its Swagger for sales; see the sandbox README)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import httpx
import pytest

from crmsync.sandbox import serve
from crmsync_simplicate.sandbox import SimplicateSandbox
from crmsync_simplicate.sandbox.seed import CATEGORY_FIELD


class Api:
    def __init__(self, sandbox: SimplicateSandbox, base: str) -> None:
        self.sandbox = sandbox
        settings = sandbox.settings(base)
        self.base = settings["base_url"]
        self.headers = {"Authentication-Key": settings["api_key"], "Authentication-Secret": settings["api_secret"]}

    def get(self, path: str, params: Any = None) -> httpx.Response:
        return httpx.get(self.base + path, params=params, headers=self.headers)

    def put(self, path: str, body: Any) -> httpx.Response:
        return httpx.put(self.base + path, json=body, headers=self.headers)


@pytest.fixture
def api() -> Iterator[Api]:
    sandbox = SimplicateSandbox(deals=60, seed=3)
    with serve(sandbox.app()) as server:
        yield Api(sandbox, server.base_url)


def ids(answer: httpx.Response) -> set[str]:
    assert answer.status_code == 200, answer.text
    return {sale["id"] for sale in answer.json()["data"]}


def test_q_or_is_ored_with_the_other_filters(api: Api) -> None:
    """Filtering docs: `q[name]=Alice&q[or][email]=*gmail.com` finds name Alice OR email ending gmail.com."""
    sales = api.sandbox.state.list_sales()
    first, second = sales[0], next(s for s in sales if s["subject"] != sales[0]["subject"])
    a = ids(api.get("/sales/sales", {"q[subject]": first["subject"], "limit": 100}))
    b = ids(api.get("/sales/sales", {"q[subject]": second["subject"], "limit": 100}))
    both = ids(api.get("/sales/sales", {"q[subject]": first["subject"], "q[or][subject]": second["subject"]}))
    assert a and b and both == a | b


def test_plain_filters_stay_anded(api: Api) -> None:
    sale = api.sandbox.state.list_sales()[0]
    query = {"q[subject]": sale["subject"], "q[status.label]": sale["status"]["label"], "limit": 100}
    found = api.get("/sales/sales", query).json()["data"]
    assert found and all(s["subject"] == sale["subject"] and s["status"] == sale["status"] for s in found)


def test_custom_field_options_are_customfieldoption_ids_and_value_types_documented(api: Api) -> None:
    fields = api.get("/sales/salescustomfields").json()["data"]
    category = next(f for f in fields if f["name"] == CATEGORY_FIELD)
    assert all(o["id"].startswith("customfieldoption:") for o in category["options"])
    assert {f["value_type"] for f in fields} <= {"string", "number", "date", "boolean"}
    commit = next(o for o in category["options"] if o["value"] == "Commit")
    sale_id = api.sandbox.deal_ids()[0]
    answer = api.put(f"/sales/sales/{sale_id}", {"custom_fields": [{"name": CATEGORY_FIELD, "value": commit["id"]}]})
    assert answer.status_code == 200, answer.text
    assert api.sandbox.remote_values(sale_id)[0] == "Commit"
    wrong = api.put(f"/sales/sales/{sale_id}", {"custom_fields": [{"name": CATEGORY_FIELD, "value": "option:x"}]})
    assert wrong.status_code == 422 and "customfieldoption:" in wrong.json()["errors"][0]["message"]


def test_put_takes_reason_and_organization_id_and_refuses_reason_id(api: Api) -> None:
    """Swagger, PUT /sales/sales/{id}: `reason` and `organization_id` are writable; `reason_id` is not a field."""
    state = api.sandbox.state
    sale_id = api.sandbox.deal_ids()[0]
    reason = state.reference_list("reason")[1]
    organization = state.reference_list("organization")[2]
    answer = api.put(f"/sales/sales/{sale_id}", {"reason": reason["id"], "organization_id": organization["id"]})
    assert answer.status_code == 200, answer.text
    sale = state.get_sale(sale_id)
    assert sale["reason"]["id"] == reason["id"] and sale["organization"]["id"] == organization["id"]
    refused = api.put(f"/sales/sales/{sale_id}", {"reason_id": reason["id"]})
    assert refused.status_code == 422 and "reason_id" in refused.json()["errors"][0]["message"]


def test_sales_dates_are_relative_to_today() -> None:
    today = date(2031, 6, 1)
    sandbox = SimplicateSandbox(deals=40, seed=3, clock=lambda: datetime(2031, 6, 1, 9, 0, 0))
    stamps = [s["updated_at"] for s in sandbox.state.list_sales() if not s["updated_at"].startswith("2024-")]
    assert stamps
    assert all((today - timedelta(days=331)).isoformat() <= s[:10] <= today.isoformat() for s in stamps)
