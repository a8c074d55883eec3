"""What the HTML page adds, in Python (the source of truth the page's script is tested against): the trend over
past runs, team subtotals, period choices with targets, links into the CRMs, the locale, safe embedding.

Hand-worked on report_dataset.py: runs 1-3 recorded their forecasts on 2026-05-13, run 4 on 2026-05-14.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from report.report_dataset import TODAY, make_config

from crmsync.config import Config, load_config
from crmsync.errors import ConfigError
from crmsync.report import Report, build_report, resolve_period
from crmsync.report.html_data import embed_json
from crmsync.report.links import deal_url, templates
from crmsync.report.locale import number, report_locale
from crmsync.store import Store

D = Decimal


@pytest.fixture(scope="module")
def everything(store: Store) -> Report:
    return build_report(store, make_config(), today=TODAY)


def test_trend_replays_the_recorded_forecasts_at_todays_amounts(everything: Report) -> None:
    """05-13: H1 pipeline 0.2 (10000), H6 pipeline 0.1 (3600 EUR), P4 0.1 (1000); A1 best case 0.4 (2500); P1
    commit 0.9 (6000; H2 has no amount); closed H3 1800 + H4 5000 + P3 8000 + A2 1800. 05-14 (run 4): H1 best
    case 0.5, H6 pipeline 0.2."""
    assert [(p.day.isoformat(), {c.value: v for c, v in p.weighted.items()}) for p in everything.trend] == [
        ("2026-05-13", {"pipeline": D(2460), "best_case": D(1000), "commit": D(5400), "closed": D(16600)}),
        ("2026-05-14", {"pipeline": D(820), "best_case": D(6000), "commit": D(5400), "closed": D(16600)}),
    ]
    latest = {c.category: c.weighted for c in everything.categories}
    assert all(latest[c] == v for c, v in everything.trend[-1].weighted.items()), "the last point is today's"


def test_team_subtotals_add_up_the_owners(store: Store) -> None:
    quarter = build_report(store, make_config(), period=resolve_period("this_quarter", today=TODAY), today=TODAY)
    teams = {t.team: t for t in quarter.teams}
    assert list(teams) == ["Noord", "Zuid", None]
    noord = teams["Noord"]  # Anna (P1 commit 6000, H1 best case 10000, P2 without a rate, H7) and Dana (nothing)
    assert (noord.owners, noord.deals, noord.commit, noord.best_case, noord.won) == (2, 4, D(6000), D(10000), D(0))
    assert noord.target == D(10000), "Anna's Q2 target; Dana has none"
    assert (teams["Zuid"].won, teams["Zuid"].pipeline, teams["Zuid"].target) == (D(3600), D(3600), D(5000))
    assert (teams[None].owners, teams[None].won, teams[None].target) == (1, D(8000), None)  # Carl, unconfigured


def test_period_choices_carry_each_owners_target(everything: Report) -> None:
    choices = {c.key: c for c in everything.choices}
    assert everything.period_key == "all"
    assert list(choices) == [
        "all",
        "this_month",
        "this_quarter",
        "this_year",
        "last_month",
        "last_quarter",
        "last_year",
    ]
    assert choices["all"].targets == {}
    assert choices["this_quarter"].targets == {"anna@example.com": D(10000), "bram@example.com": D(5000)}
    assert choices["this_month"].targets["bram@example.com"] == D(2000)
    assert choices["this_year"].targets["anna@example.com"] == D(40000)


def test_a_period_of_its_own_is_offered_first(store: Store) -> None:
    own = resolve_period(today=TODAY, start=TODAY, end=TODAY)
    report = build_report(store, make_config(), period=own, today=TODAY)
    assert report.period_key == "chosen"
    assert report.choices[0].period == own


def test_deals_carry_their_history_link_and_dry_run_mark(everything: Report) -> None:
    h1 = next(d for d in everything.deals if d.source_id == "H1")
    assert [(day.isoformat(), c, p) for day, c, p in h1.history] == [
        ("2026-05-13", "pipeline", D("0.2")),
        ("2026-05-14", "best_case", D("0.5")),
    ]
    assert h1.url is None, "no connection configured, no link"
    assert not h1.dry_run
    assert {d.source_id for d in everything.deals} == {f"H{i}" for i in range(1, 8)} | {
        f"P{i}" for i in range(1, 6)
    } | {"A1", "A2"}, "every deal but the deleted one, whatever the period"


def _config(**report: object) -> Config:
    connections = {
        "hs": {"connector": "hubspot", "mapping": "m.toml", "settings": {"base_url": "http://127.0.0.1:8101/"}},
        "hs-live": {"connector": "hubspot", "mapping": "m.toml", "settings": {"base_url": "https://api.hubapi.com"}},
        "pd": {"connector": "pipedrive", "mapping": "m.toml", "settings": {"base_url": "https://acme.pipedrive.com"}},
        "pd-box": {
            "connector": "pipedrive",
            "mapping": "m.toml",
            "settings": {"base_url": "http://user:secret@127.0.0.1:8102/?token=abc"},
        },
        "sim": {
            "connector": "simplicate",
            "mapping": "m.toml",
            "settings": {"base_url": "https://x.simplicate.nl/api/v2"},
        },
        "afas": {"connector": "afas", "mapping": "m.toml", "settings": {"base_url": "http://127.0.0.1:8104"}},
    }
    return make_config(connections=connections, report=report)


def test_links_into_the_crm_per_connector_and_configured() -> None:
    found = templates(_config())
    assert found == {
        "hs": "http://127.0.0.1:8101/crm/v3/objects/deals/{id}",
        "pd": "https://acme.pipedrive.com/deal/{id}",
        "pd-box": "http://127.0.0.1:8102/api/v2/deals/{id}",  # no user info, query or token
    }
    portal = "https://app.hubspot.com/contacts/123/record/0-3/{id}"
    assert templates(_config(deal_urls={"hs-live": portal}))["hs-live"] == portal
    assert deal_url(portal, "9 8/7") == "https://app.hubspot.com/contacts/123/record/0-3/9%208%2F7"


def test_locale_from_the_labels_or_configured() -> None:
    assert report_locale(make_config()) == "nl-NL", "Dutch labels"
    assert report_locale(make_config(labels={})) == "en-GB"
    assert report_locale(make_config(report={"locale": "de-DE"})) == "de-DE"
    assert number(D("12345.675"), "nl-NL") == "12.345,68"
    assert number(D("12345.675"), "en-GB") == "12,345.68"


def test_report_settings_are_checked_with_errors_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "crmsync.toml"
    path.write_text('[report]\nlocale = "dutch"\n')
    with pytest.raises(ConfigError, match="locale 'dutch' must look like nl-NL") as bad:
        load_config(path)
    assert "report.locale" in str(bad.value)
    path.write_text('[report.deal_urls]\nhs = "javascript:alert(1)"\n')
    with pytest.raises(ConfigError, match=r"deal_urls\.hs must be an http\(s\) URL with \{id\}"):
        load_config(path)


def test_embedded_json_cannot_end_its_script_element() -> None:
    nasty = "</script><script>alert(1)</script>\u2028<!--"
    text = embed_json({"name": nasty})
    assert "<" not in text and ">" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": nasty}
