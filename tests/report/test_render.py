"""The renderers: terminal tables, JSON, CSV and the self-contained HTML page (opened in Chromium if present)."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from report.report_dataset import ALPHA, TODAY, make_config
from rich.console import Console

from crmsync.report import Report, build_report, resolve_period
from crmsync.report.export import _safe, to_csv, to_json
from crmsync.report.html import to_html
from crmsync.report.terminal import render_terminal
from crmsync.store import Store


@pytest.fixture(scope="module")
def quarter(store: Store) -> Report:
    return build_report(store, make_config(), period=resolve_period("this_quarter", today=TODAY), today=TODAY)


@pytest.fixture(scope="module")
def everything(store: Store) -> Report:
    return build_report(store, make_config(), today=TODAY)


def test_json_has_every_section_with_exact_amounts(quarter: Report) -> None:
    data = json.loads(to_json(quarter))
    assert data["base_currency"] == "EUR"
    assert data["period"] == {"label": "2026-Q2", "start": "2026-04-01", "end": "2026-06-30"}
    assert data["categories"][0] == {
        "category": "pipeline",
        "label": "Pijplijn",
        "count": 2,
        "amount": "3600.00",
        "weighted": "720.00",
    }
    assert [m["weighted"] for m in data["months"]] == ["9000.00", "13000.00", "720.00"]
    anna = data["owners"][0]
    assert anna["owner"]["name"] == "Anna Jansen"
    assert (anna["target"], anna["commit_and_closed"], anna["commit_attainment"]) == ("10000.00", "6000.00", "0.6000")
    assert [(t["team"], t["won"], t["target"]) for t in data["teams"]] == [
        ("Noord", "0.00", "10000.00"),
        ("Zuid", "3600.00", "5000.00"),
        (None, "8000.00", None),
    ]
    assert data["trend"][-1] == {
        "day": "2026-05-14",
        "weighted": {"pipeline": "720.00", "best_case": "5000.00", "commit": "5400.00", "closed": "11600.00"},
    }
    hub = next(p for p in data["funnel"]["pipelines"] if p["connection"] == "hubspot")
    assert hub["basis"] == "stage history"
    assert [s["conversion_to_next"] for s in hub["stages"]] == ["0.6000", "0.6667", "0.5000"]
    assert data["funnel"]["totals"]["average_days_to_won"] == "54.0"
    assert data["results"]["years"][1] == {
        "year": 2026,
        "won": {"count": 3, "amount": "11600.00"},
        "open": {"count": 5, "amount": "20300.00"},
        "lost": {"count": 1, "amount": "3000.00"},
    }
    assert set(data["results"]["sections"]) == {"connection", "pipeline", "forecast group", "owner"}
    assert [f["source_id"] for f in data["flags"]] == ["H2", "H7", "A1"]
    assert data["moves"][0]["old_label"] == "Pijplijn"
    assert data["moves"][0]["new_label"] == "Beste kans"
    assert data["moves"][0]["deal"] == ALPHA
    assert data["unconverted"] == [
        {"connection": "pipedrive", "source_id": "P2", "deal": "Theta", "amount": "50000.00", "currency": "SEK"}
    ]


def test_json_no_date_bucket_is_null(everything: Report) -> None:
    months = json.loads(to_json(everything))["months"]
    assert months[-1] == {"month": None, "count": 2, "amount": "2500.00", "weighted": "1000.00"}


def test_csv_is_one_long_table(quarter: Report) -> None:
    rows = list(csv.DictReader(io.StringIO(to_csv(quarter))))
    assert list(rows[0]) == ["section", "key", "label", "owner", "metric", "value"]
    find = {(r["section"], r["key"], r["metric"]): r["value"] for r in rows}
    assert find[("category", "commit", "weighted")] == "5400.00"
    assert find[("month", "2026-05", "weighted")] == "13000.00"
    assert find[("owner", "bram@example.com", "won_attainment")] == "0.7200"
    assert find[("funnel", "afas/fc", "basis")] == "current stage order"
    assert find[("funnel_stage", "hubspot/default/s1", "average_days_to_won")] == "70.0"
    assert find[("results_year", "2025", "won_amount")] == "5000.00"
    assert find[("results_by_connection", "hubspot", "earlier_years_won_amount")] == "5000.00"
    assert find[("move", "hubspot/H1", "rule_ids")] == "stage:default/s2"
    assert find[("unconverted", "pipedrive/P2", "SEK")] == "50000.00"
    flags = [(r["owner"], r["label"], r["value"]) for r in rows if r["section"] == "flag"]
    assert ("Bram de Vries", "Mu", "missing_close_date") in flags


def test_csv_neutralises_formulas() -> None:
    assert _safe("=HYPERLINK(1)") == "'=HYPERLINK(1)"
    assert _safe("-12.50") == "-12.50"
    assert _safe("@SUM") == "'@SUM"


def test_terminal_tables(quarter: Report) -> None:
    console = Console(record=True, width=200, color_system=None)
    render_terminal(quarter, console)
    text = console.export_text()
    for expected in (
        "Forecast by category",
        "Pijplijn",
        "Gesloten",
        "34,900.00",
        "22,720.00",
        "Weighted forecast per month",
        "13,000.00",
        "Carl Vreemd (unassigned to a configured owner)",
        "72.0 %",
        "conversion from stage history",
        "conversion from current stage order",
        "Ter ondertekening verzonden",
        "2026 (this year)",
        "Results per forecast group",
        "missing_amount, missing_close_date",
        "stage:default/s2",
        "50,000.00 SEK",
        "SEK (1)",
        '<script>alert("x")</script>',  # shown literally, not taken for markup
    ):
        assert expected in text, expected
    rows = {cells[0]: cells[1:] for cells in _rows(text)}
    assert rows["Noord"] == ["2", "4", "0.00", "10,000.00", "0.0 %", "6,000.00", "10,000.00", "0.00"]
    assert rows["Zuid"][2:5] == ["3,600.00", "5,000.00", "72.0 %"]
    assert rows["(no team)"][2:4] == ["8,000.00", "—"]
    assert text.index("Per team") < text.index("Trend of the weighted forecast")
    assert rows["2026-05-14"] == ["720.00", "5,000.00", "5,400.00", "11,600.00"]


def _rows(text: str) -> list[list[str]]:
    """The cells of every table row in rich's text rendering."""
    return [[c.strip() for c in line.strip("│ ").split("│")] for line in text.splitlines() if line.startswith("│")]


def test_html_is_self_contained_and_escaped(quarter: Report) -> None:
    page = to_html(quarter)
    assert page.count("<script") == 2, "the JSON data block and the one script"
    assert re.search(r"default-src 'none';[^\"]*script-src 'sha256-[A-Za-z0-9+/=]+'", page)
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}  # a namespace, never fetched
    data = page.split('<script type="application/json" id="report-data">')[1].split("</script>")[0]
    assert "<" not in data and ">" not in data, "CRM text cannot end the data block"
    assert r"Alpha \u003cscript\u003ealert(\"x\")\u003c/script\u003e \u0026 Co" in data
    assert ALPHA in [deal[2] for deal in json.loads(data)["deals"]]
    for text in ("Pijplijn", "Beste kans", "Ter ondertekening verzonden", "Dana Smit"):
        assert text in page
    assert page.count("<svg") == len(quarter.funnels), "the other charts are drawn by the script"


def test_html_no_date_bucket_and_dutch_numbers(everything: Report) -> None:
    page = to_html(everything)
    assert '<html lang="nl-NL">' in page, "Dutch labels: Dutch number format"
    assert "no date" in page  # the results' "no date" row
    assert "2.500,00 (1)" in page  # A1's 2,500.00 in Dutch
