"""The HTML report's views in headless Chromium (the system's, driven by Playwright; no browser is downloaded).

The page's script computes the figures from the embedded deals; here they are compared, under each filter, with
the figures crmsync.report.build computes in Python for the same filter. Every figure carries `data-fig` (its
name) and `data-value` (its raw value); every view is screenshotted and the picture checked.

Chromium is required: without it this module fails and says how to install it (.ci/run installs it).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright
from png import colours, read_png
from report.report_dataset import TODAY, make_config

from crmsync.config import Config
from crmsync.report import Filters, Report, build_report, report_from_dataset, resolve_period, to_html
from crmsync.report.model import Dataset, DealRow
from crmsync.store import Store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PORTAL = "https://app.hubspot.com/contacts/123/record/0-3/{id}"
VIEWS = ("forecast", "owners", "quality", "deals", "static")
BLUE, GREEN = (33, 113, 181), (49, 163, 84)  # the active tab; won / closed bars


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        pytest.fail(
            "chromium is not installed: `apt-get install -y chromium` (.ci/run does); the HTML report test needs it"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def app_config() -> Config:
    return make_config(report={"deal_urls": {"hubspot": PORTAL}})


def build(store: Store, config: Config, period: str | None = "this_quarter", **filters: Any) -> Report:
    chosen = resolve_period(period, today=TODAY) if period else None
    return build_report(
        store,
        config,
        period=chosen,
        filters=Filters(**{k: frozenset(v) for k, v in filters.items()}),
        today=TODAY,
        now=datetime(2026, 5, 15, 7, tzinfo=UTC),
    )


class App:
    """One report page open in Chromium, with every console message and page error it produced."""

    def __init__(self, browser: Browser, report: Report, path: Path) -> None:
        path.write_text(to_html(report), encoding="utf-8")
        self.page: Page = browser.new_page(viewport={"width": 1280, "height": 900})
        self.messages: list[str] = []
        self.page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        self.page.on("pageerror", lambda e: self.messages.append(f"pageerror: {e}"))
        self.page.on("request", lambda r: self.messages.append(f"request: {r.url}") if r.url != path.as_uri() else None)
        self.page.goto(path.as_uri())
        self.page.wait_for_selector("body[data-ready='1']", timeout=15_000)

    def view(self, name: str) -> None:
        self.page.click(f"#tabs button[data-view={name}]")

    def choose(self, what: str, value: str) -> None:
        self.page.select_option(f"#f-{what}", value)

    def figures(self, *views: str) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for name in views:
            self.view(name)
            pairs = self.page.eval_on_selector_all(
                f"[data-panel={name}] td[data-fig]", "els => els.map(e => [e.dataset.fig, e.dataset.value])"
            )
            out.update({fig: float(value) if value else None for fig, value in pairs})
        return out


def expected(report: Report) -> dict[str, float | None]:
    """The Python figures under the names the page gives them."""
    out: dict[str, Decimal | int | None] = {}
    for c in report.categories:
        out |= {f"cat:{c.category.value}:count": c.count, f"cat:{c.category.value}:amount": c.amount}
        out[f"cat:{c.category.value}:weighted"] = c.weighted
    out["cat:total:count"] = sum(c.count for c in report.categories)
    out["cat:total:amount"] = sum(c.amount for c in report.categories)
    out["cat:total:weighted"] = sum(c.weighted for c in report.categories)
    for m in report.months:
        key = m.month or "none"
        out |= {f"month:{key}:count": m.count, f"month:{key}:amount": m.amount, f"month:{key}:weighted": m.weighted}
    for point in report.trend:
        out |= {f"trend:{point.day}:{c.value}": v for c, v in point.weighted.items()}
    rows: list[tuple[str, Any]] = [(f"owner:{o.owner.key}", o) for o in report.owners]
    rows += [(f"team:{t.team or 'none'}", t) for t in report.teams]
    for name, row in rows:
        for field in ("deals", "won", "commit", "best_case", "pipeline", "target"):
            out[f"{name}:{field}"] = getattr(row, field)
        out[f"{name}:won_pct"] = row.won / row.target if row.target else None
        out[f"{name}:commit_pct"] = (row.won + row.commit) / row.target if row.target else None
    return {k: None if v is None else float(v) for k, v in out.items()}


def assert_same(page: dict[str, float | None], python: dict[str, float | None]) -> None:
    assert sorted(page) == sorted(python), "the page shows the same figures"
    wrong = {k: (page[k], python[k]) for k in python if (page[k] is None) != (python[k] is None)}
    wrong |= {
        k: (page[k], v)
        for k, v in python.items()
        if v is not None and page[k] is not None and abs(page[k] - v) > (0.0001 if k.endswith("_pct") else 0.01)
    }
    assert wrong == {}, "page ≠ python (page, python)"


def test_the_page_computes_the_python_figures_and_its_filters_change_them(
    browser: Browser, store: Store, app_config: Config, tmp_path: Path
) -> None:
    app = App(browser, build(store, app_config), tmp_path / "report.html")
    both = ("forecast", "owners")
    assert_same(app.figures(*both), expected(build(store, app_config)))
    assert app.figures("forecast")["cat:total:count"] == 9

    app.choose("connection", "hubspot")
    hubspot = app.figures(*both)
    assert hubspot["cat:total:count"] == 5, "H1, H3, H5, H6, H7 close or closed in Q2"
    assert hubspot["cat:best_case:weighted"] == 5000.0
    assert_same(hubspot, expected(build(store, app_config, connections={"hubspot"})))

    app.choose("period", "all")
    assert_same(app.figures(*both), expected(build(store, app_config, None, connections={"hubspot"})))
    app.choose("connection", "")
    assert_same(app.figures(*both), expected(build(store, app_config, None)))

    app.choose("period", "this_year")
    for what, value, python in (
        ("team", "Noord", {"teams": {"Noord"}}),
        ("owner", "anna@example.com", {"teams": {"Noord"}, "owners": {"anna@example.com"}}),
        ("pipeline", "Nieuw", {"teams": {"Noord"}, "owners": {"anna@example.com"}, "pipelines": {"Nieuw"}}),
    ):
        app.choose(what, value)
        assert_same(app.figures(*both), expected(build(store, app_config, "this_year", **python)))

    app.page.click("#f-reset")
    assert app.figures("forecast")["cat:total:count"] == 9
    assert app.messages == [], "no console message, no error, no request"


def test_drill_down_links_into_the_crm_and_numbers_are_dutch(
    browser: Browser, store: Store, app_config: Config, tmp_path: Path
) -> None:
    app = App(browser, build(store, app_config), tmp_path / "report.html")
    cell = app.page.locator("td[data-fig='cat:best_case:amount']")
    assert cell.inner_text() == "10.000,00", "nl-NL, from the Dutch labels"
    app.page.click("td[data-fig='cat:best_case:count']")

    assert app.page.is_visible("[data-panel=deals]")
    rows = app.page.eval_on_selector_all("[data-panel=deals] tr[data-deal]", "els => els.map(e => e.dataset.deal)")
    assert rows == ["hubspot/H1"], "the one best-case deal of Q2"
    link = app.page.locator("tr[data-deal='hubspot/H1'] a")
    assert link.get_attribute("href") == PORTAL.replace("{id}", "H1")
    assert link.inner_text() == 'Alpha <script>alert("x")</script> & Co', "CRM text shown as text"

    app.view("owners")
    app.page.click("td[data-fig='team:Zuid:won']")
    rows = app.page.eval_on_selector_all("[data-panel=deals] tr[data-deal]", "els => els.map(e => e.dataset.deal)")
    assert sorted(rows) == ["afas/A2", "hubspot/H3"], "Bram's deals won in Q2"
    assert app.page.locator("tr[data-deal='afas/A2'] a").count() == 0, "no link without a template"

    app.page.check("input[name=measure][value=count]")
    app.view("forecast")
    assert app.page.locator("[data-panel=forecast] svg[aria-label='Forecast by category (deals)']").count() == 1
    assert app.messages == []


def test_every_view_is_drawn(browser: Browser, store: Store, app_config: Config, tmp_path: Path) -> None:
    app = App(browser, build(store, app_config, None), tmp_path / "report.html")
    pictures = {}
    for name in VIEWS:
        app.view(name)
        shot = tmp_path / f"{name}.png"
        app.page.screenshot(path=str(shot))
        width, height, rows = read_png(shot.read_bytes())
        assert (width, height) == (1280, 900), name
        counted = colours(rows)
        white = counted[255, 255, 255]
        assert 0.3 < white / (width * height) < 0.97, f"{name}: a page with content, not blank"
        assert counted[BLUE] > 500, f"{name}: its tab is highlighted"
        if name in ("forecast", "owners"):
            assert counted[GREEN] > 1000, f"{name}: the closed/won bars are drawn"
        pictures[name] = hash(b"".join(rows))
    assert len(set(pictures.values())) == len(VIEWS), "each view looks different"
    assert app.messages == []


def many_deals(count: int) -> list[DealRow]:
    """`count` deals over 4 connections, 6 pipelines and 400 people, a tenth flagged, some with long names."""
    out = []
    for i in range(count):
        person = i % 400
        out.append(
            DealRow(
                connection=f"crm-{i % 4}",
                source_id=str(i),
                name=f"Deal {i} for a customer with a rather long name that wraps",
                pipeline_id=f"p{i % 6}",
                pipeline_label=f"Pipeline {i % 6}",
                stage_id="s",
                stage_label="Stage",
                stage_order=1,
                stage_closed=False,
                stage_won=False,
                status="open",
                amount=Decimal(1000 + i % 97),
                currency="EUR",
                close_date=date(2026, 1 + i % 12, 1 + i % 28),
                owner_id=str(person),
                owner_name=f"Firstname{person} Van Der Lastname-Doublebarrelled",
                owner_email=None,
                group_name=None,
                created_at=None,
                closed_at=None,
                category=("pipeline", "best_case", "commit")[i % 3],
                probability=Decimal("0.5"),
                flags=("stale",) if i % 10 == 0 else (),
            )
        )
    return out


def test_readable_at_25k_deals(browser: Browser, tmp_path: Path) -> None:
    dataset = Dataset(deals=many_deals(25_000), history=[], changes=[], runs=[])
    report = report_from_dataset(dataset, make_config(), today=TODAY, now=datetime(2026, 5, 15, 7, tzinfo=UTC))
    app = App(browser, report, tmp_path / "big.html")
    assert (tmp_path / "big.html").stat().st_size < 12_000_000

    app.view("owners")
    chart = app.page.locator("[data-panel=owners] svg")
    labels = chart.locator("text[text-anchor=end]").evaluate_all("els => els.map(e => e.textContent)")
    assert "other (390 owners)" in labels, "top 10 and the rest as other"
    assert max(len(label) for label in labels) <= 24, "labels wrapped, not clipped"
    assert chart.locator("rect.bar").count() == 11 * 4

    app.view("quality")
    assert app.page.locator("[data-fig='flag:stale:count']").get_attribute("data-value") == "2500"
    app.page.click("details[data-group=stale] summary")
    group = app.page.locator("details[data-group=stale]")
    group.locator("tr[data-deal]").nth(49).wait_for()  # filled on the (asynchronous) toggle event
    assert group.locator("tr[data-deal]").count() == 50
    assert group.locator("[data-page]").get_attribute("data-page") == "1/50"
    group.locator("button", has_text="next").click()
    assert group.locator("[data-page]").get_attribute("data-page") == "2/50"
    assert group.locator("tr[data-deal]").count() == 50

    app.view("forecast")
    app.choose("connection", "crm-1")
    assert app.figures("forecast")["cat:total:count"] == 6_250
    python = report_from_dataset(
        dataset,
        make_config(),
        filters=Filters(connections=frozenset({"crm-1"})),
        today=TODAY,
        now=datetime(2026, 5, 15, 7, tzinfo=UTC),
    )
    assert_same(
        app.figures("forecast"),
        {k: v for k, v in expected(python).items() if k.split(":")[0] != "owner" and k.split(":")[0] != "team"},
    )
    assert app.messages == []
