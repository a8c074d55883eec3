"""`quick_deal` (HubSpot records as HubSpot sends them, without RecordReader) against `careful_deal`.

Whenever `quick_deal` answers, its Deal must be the one `careful_deal` maps, to the field types and the fields
set; on anything it does not vouch for it answers None, and `careful_deal` reads or names the value. Random
records mix HubSpot's own forms with every odd value a field might hold.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from decimal import Decimal
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from test_hubspot_connector import REFERENCE, deal, make

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.mapping import Mapping
from crmsync.model import Deal, Owner, Pipeline, Stage
from crmsync_hubspot import translate
from crmsync_hubspot.connector import HubSpotConnector, HubSpotSettings
from crmsync_hubspot.sandbox import HubSpotSandbox
from crmsync_hubspot.translate import careful_deal, quick_deal

OWNERS = Reference(
    pipelines={**REFERENCE.pipelines, "other": Pipeline(id="other", label="Other")},
    stages={
        **REFERENCE.stages,
        "closedlost": Stage(id="closedlost", label="Lost", pipeline_id="default", order=6, closed=True),
        "elsewhere": Stage(id="elsewhere", label="Elsewhere", pipeline_id="other", order=1),
    },
    owners={"77": Owner(id="77", name="Anne", email="anne@example.com")},
)
INSTANTS = [
    "2026-03-01T10:00:00.000Z",
    "2026-03-01T10:00:00Z",
    "2026-03-01T10:00Z",
    "2026-03-01Z",
    "2026-03-01",
    "2026-03-01T10:00:00+02:00",
    "2026-03-01T10:00:00.000z",
    "2026-03-01Z10:00:00.000Z",
    "2026-03-01z10:00:00Z",
    "2026-03-01T10:00:00zZ",
    " 2026-03-01T10:00:00.000Z",
    "2026-03-01T10:00:00.000Z ",
    "2026-02-30T10:00:00.000Z",
    "1772359200000",
    "yesterday",
    "ZZ",
    "Z",
    "",
    None,
    1772359200000,
    True,
    ["2026-03-01T10:00:00Z"],
]
NUMBERS = ["82500", "82500.50", " 10 ", "1e3", "-0", "0.505", "NaN", "Infinity", "1" * 16, "9" * 70, "", "ten", None]
NUMBERS += [82500, 1.5, True, {"value": 1}]
TEXTS = ["Acme", " Acme ", "", "   ", None, 12, 1.5, False, ["a"], {"a": 1}, "Acme — expansion"]
CURRENCIES = ["EUR", " eur", "Eur", "usd ", "EURO", "E1R", "€", "", None, 978]
OWNER_IDS = ["77", " 77", "78", "", None, 77]
PIPELINES = ["default", " default", "other", "nowhere", "", None, 1, ["default"]]
STAGES = ["qualifiedtobuy", "closedwon", "closedlost", "elsewhere", "qualifiedtobuy ", "nowhere", None, {"a": 1}]
ARCHIVED = [False, True, "true", "false", None, 0, 1]
IDS = ["7", " 7", "7 ", "", 7, None, True, 7.5]
HISTORY = [
    None,
    {"hs_manual_forecast_category": [{"value": "COMMIT", "timestamp": "2026-03-01T10:00:00Z", "sourceType": "CRM_UI"}]},
    {"hs_forecast_probability": [{"value": "0.5", "timestamp": "2026-03-01T10:00:00Z", "sourceType": "API"}]},
    {"hs_manual_forecast_category": "not a list"},
]


def odd_record(rng: random.Random) -> dict[str, Any]:
    """A HubSpot record; each value HubSpot's own form most of the time, something odd otherwise."""

    def pick(usual: Any, odd: list[Any]) -> Any:
        return usual if rng.random() < 0.92 else rng.choice(odd)

    raw = deal(
        pick("7", IDS),
        modified=pick("2026-03-01T10:00:00.000Z", INSTANTS),
        dealname=pick("Acme", TEXTS),
        amount=pick("82500", NUMBERS),
        closedate=pick(rng.choice(["2026-06-30T00:00:00.000Z", "2026-07-01T00:00:00Z"]), INSTANTS),
        createdate=pick("2026-01-01T00:00:00.000Z", INSTANTS),
        deal_currency_code=pick(rng.choice(["EUR", "USD", None]), CURRENCIES),
        hubspot_owner_id=pick(rng.choice(["77", "78", None]), OWNER_IDS),
        pipeline=pick("default", PIPELINES),
        dealstage=pick(rng.choice(["qualifiedtobuy", "closedwon", "closedlost"]), STAGES),
        hs_manual_forecast_category=pick(rng.choice([None, "COMMIT"]), TEXTS),
        hs_forecast_probability=pick(rng.choice([None, "0.40"]), NUMBERS),
        closed_lost_reason=pick(rng.choice([None, "Price"]), TEXTS),
        hubspot_team_id=pick(rng.choice([None, "12"]), TEXTS),
    )
    raw["archived"] = pick(False, ARCHIVED)
    raw["createdAt"] = pick("2026-01-01T00:00:00.000Z", INSTANTS)
    if (history := pick(None, HISTORY)) is not None:
        raw["propertiesWithHistory"] = history
    for key in rng.sample(sorted(raw["properties"]), k=rng.choice([0, 0, 0, 1, 2])):
        del raw["properties"][key]  # a property the record does not carry
    if rng.random() < 0.02:
        raw["properties"] = rng.choice([None, [], "x"])
    return raw


def careful(raw: dict[str, Any], mapping: Mapping) -> Deal | type[Exception]:
    try:
        return careful_deal("unit", raw, OWNERS, mapping)
    except (RecordError, ValidationError) as exc:
        return type(exc)


def assert_same(got: Deal, want: Deal) -> None:
    assert got == want
    assert got.model_fields_set == want.model_fields_set
    assert list(got.__dict__) == list(want.__dict__)
    assert [type(v) for v in got.__dict__.values()] == [type(v) for v in want.__dict__.values()]
    assert got.model_dump_json() == want.model_dump_json()


def test_quick_deals_are_the_careful_ones_on_odd_records(mapping: Mapping) -> None:
    rng = random.Random(7)
    answered = declined = 0
    for _ in range(4000):
        raw = odd_record(rng)
        before = copy.deepcopy(raw)
        quick = quick_deal("unit", raw, OWNERS, mapping)
        assert raw == before  # the record is left as it was
        want = careful(raw, mapping)
        if quick is None:
            declined += 1
            continue
        answered += 1
        assert isinstance(want, Deal), (raw, want)  # what quick_deal maps, careful_deal maps too
        assert_same(quick, want)
    assert answered > 500 and declined > 500, (answered, declined)
    print(answered, declined)  # both ways were taken, often


def test_the_connector_gives_the_careful_deal_or_its_error(mapping: Mapping) -> None:
    rng = random.Random(3)
    connector = make(mapping)
    for _ in range(1500):
        raw = odd_record(rng)
        want = careful(raw, mapping)
        try:
            got: Deal | type[Exception] = connector.to_deal(raw, OWNERS)
        except (RecordError, ValidationError) as exc:
            got = type(exc)
        if isinstance(want, Deal):
            assert isinstance(got, Deal)
            assert_same(got, want)
        else:
            assert got is want


async def test_hubspots_own_records_take_the_quick_way(mapping: Mapping) -> None:
    box = HubSpotSandbox(deals=300, seed=5)
    transport = httpx.ASGITransport(app=box.app())
    settings = HubSpotSettings(base_url="http://sandbox", token=box.token)
    async with HubSpotConnector.using(transport)("unit", settings, mapping) as connector:
        reference = await connector.reference()
    for record in box.state.records.values():
        raw = box.state.to_json(record, None, None)
        quick = quick_deal("unit", raw, reference, mapping)
        assert quick is not None, raw
        assert_same(quick, careful_deal("unit", raw, reference, mapping))


def test_a_close_date_read_again_is_the_same_moment(mapping: Mapping) -> None:
    first = quick_deal("unit", deal("1", closedate="2026-06-30T00:00:00.000Z"), OWNERS, mapping)
    again = quick_deal("unit", deal("2", closedate="2026-06-30T00:00:00.000Z"), OWNERS, mapping)
    assert first is not None and again is not None
    assert first.close_date == again.close_date and again.close_date is not None
    assert again.close_date.isoformat() == "2026-06-30"
    assert quick_deal("unit", deal("3", closedate="2026-06-30T00:00:00.000Z", amount="1e3"), OWNERS, mapping)
    assert Decimal(1000) == careful_deal("unit", deal("3", amount="1e3"), OWNERS, mapping).amount


def test_each_mapping_reads_its_own_properties_when_mappings_alternate(
    mapping: Mapping, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A worker maps deals of two HubSpot connections in turn: each mapping's property names are resolved once
    and kept, and never used for the other mapping's deals."""
    mine = mapping.writeback.category_field or translate.CATEGORY
    other = mapping.model_copy(
        update={"writeback": mapping.writeback.model_copy(update={"category_field": "team_cat"})}
    )
    raw = deal("1", team_cat="BEST_CASE", **{mine: "COMMIT"})
    resolved: Counter[int] = Counter()
    field = Mapping.field

    def counting(self: Mapping, *args: Any) -> Any:
        resolved[id(self)] += 1
        return field(self, *args)

    monkeypatch.setattr(Mapping, "field", counting)
    translate._resolved.clear()
    for _ in range(3):
        for reader in (quick_deal, careful_deal):
            first, second = reader("unit", raw, OWNERS, mapping), reader("unit", raw, OWNERS, other)
            assert first is not None and second is not None
            assert (first.remote_category, second.remote_category) == ("COMMIT", "BEST_CASE")
    once = len(translate.DEFAULT_FIELDS)  # one look-up per field, for each mapping, for all twelve deals
    assert resolved == {id(mapping): once, id(other): once}
