"""Every figure of the report on the hand-built dataset of conftest.py, with the arithmetic written out."""

from __future__ import annotations

from decimal import Decimal

import pytest
from report.report_dataset import ALPHA, TODAY, make_config

from crmsync.config import Config
from crmsync.model import ForecastCategory as C
from crmsync.report import Filters, Report, build_report, resolve_period
from crmsync.report.funnel import HISTORY, ORDER
from crmsync.report.model import Result, Tally
from crmsync.store import Store

D = Decimal


def report(store: Store, config: Config, period: str | None = "this_quarter", **filters: set[str]) -> Report:
    chosen = Filters(**{k: frozenset(v) for k, v in filters.items()})
    return build_report(store, config, period=resolve_period(period, today=TODAY), filters=chosen, today=TODAY)


def cats(r: Report) -> dict[C, tuple[int, Decimal, Decimal]]:
    return {c.category: (c.count, c.amount, c.weighted) for c in r.categories}


def test_categories_for_the_quarter_convert_currencies_and_use_labels(store: Store, config: Config) -> None:
    r = report(store, config)
    assert cats(r) == {
        # H6 4000 USD × 0.9 = 3600, × 0.2 = 720; P2 is in SEK without a rate: counted, no amount
        C.PIPELINE: (2, D(3600), D(720)),
        C.BEST_CASE: (1, D(10000), D(5000)),  # H1 10000 × 0.5
        C.COMMIT: (1, D(6000), D(5400)),  # P1 6000 × 0.9
        # H3 2000 USD × 0.9 = 1800, P3 8000 (closed 1 May in Amsterdam), A2 1500 GBP × 1.2 = 1800
        C.CLOSED: (3, D(11600), D(11600)),
        C.OMITTED: (2, D(3700), D(0)),  # H7 700 open but omitted, H5 3000 lost
    }
    assert [c.label for c in r.categories] == ["Pijplijn", "Beste kans", "Toegezegd", "Gesloten", "Niet meegeteld"]
    # H2 and A1 have no date; H4, P4, P5 fall outside the quarter; X1 is deleted
    assert sum(c.count for c in r.categories) == 9


def test_unconverted_amounts_are_listed_and_warned(store: Store, config: Config) -> None:
    r = report(store, config)
    assert [(u.source_id, u.amount, u.currency) for u in r.unconverted] == [("P2", D(50000), "SEK")]
    assert any("SEK (1)" in note and "without a rate to EUR" in note for note in r.warnings)
    assert any("2 deals without a close date" in note for note in r.warnings)


def test_weighted_forecast_per_month_in_the_quarter(store: Store, config: Config) -> None:
    r = report(store, config)
    assert [(m.month, m.count, m.amount, m.weighted) for m in r.months] == [
        ("2026-04", 3, D(9600), D(9000)),  # P1 6000/5400, H3 1800, A2 1800 (close date, no closed_at)
        ("2026-05", 3, D(18000), D(13000)),  # H1 10000/5000, P2 (no rate), P3 8000 (won 00:30 on 1 May)
        ("2026-06", 2, D(4300), D(720)),  # H6 3600/720, H7 700/0; lost H5 is left out
    ]


def test_no_period_has_the_no_date_bucket_and_earlier_years(store: Store, config: Config) -> None:
    r = report(store, config, None)
    assert cats(r) == {
        C.PIPELINE: (3, D(4600), D(820)),  # + P4 1000 × 0.1
        C.BEST_CASE: (2, D(12500), D(6000)),  # + A1 2500 × 0.4
        C.COMMIT: (2, D(6000), D(5400)),  # + H2 without an amount
        C.CLOSED: (4, D(16600), D(16600)),  # + H4 5000, won in 2025
        C.OMITTED: (3, D(5700), D(0)),  # + P5 2000, lost in 2024
    }
    months = {m.month: (m.count, m.amount, m.weighted) for m in r.months}
    assert r.months[0].month == "2025-11"
    assert r.months[-2].month == "2027-01"
    assert len(r.months) == 15 + 1  # 2025-11 … 2027-01, then "no date"
    assert months["2025-11"] == (1, D(5000), D(5000))
    assert months["2026-02"] == (0, D(0), D(0))
    assert months["2027-01"] == (1, D(1000), D(100))
    assert r.months[-1].month is None
    assert months[None] == (2, D(2500), D(1000))  # H2 (no amount) and A1 2500 × 0.4
    assert not any("without a close date" in note for note in r.warnings)


def test_owners_across_crms_against_targets(store: Store, config: Config) -> None:
    r = report(store, config)
    rows = {o.owner.display: o for o in r.owners}
    assert list(rows) == [
        "Anna Jansen",
        "Bram de Vries",
        "Dana Smit",
        "Carl Vreemd (unassigned to a configured owner)",
    ]
    anna = rows["Anna Jansen"]  # hubspot h-1 and pipedrive p-7: H1, P1, P2, H7
    assert (anna.deals, anna.won, anna.commit, anna.best_case, anna.pipeline) == (4, 0, 6000, 10000, 0)
    assert anna.target == D(10000)  # the 2026-Q2 target; the 2026 target is not inside the quarter
    assert (anna.won_attainment, anna.commit_attainment) == (D(0), D("0.6"))
    bram = rows["Bram de Vries"]  # hubspot h-2 (H3, H6, H5) and afas by email (A2)
    assert (bram.deals, bram.won, bram.commit, bram.pipeline) == (4, D(3600), 0, D(3600))
    assert bram.target == D(5000)  # the quarter target wins over the 2026-05 one inside it
    assert bram.won_attainment == D("0.72")
    assert bram.commit_and_closed == D(3600)
    dana = rows["Dana Smit"]
    assert (dana.deals, dana.won, dana.target, dana.won_attainment) == (0, 0, None, None)
    carl = rows["Carl Vreemd (unassigned to a configured owner)"]
    assert (carl.deals, carl.won, carl.target, carl.owner.configured) == (1, D(8000), None, False)


def test_targets_for_a_month_and_a_year(store: Store, config: Config) -> None:
    may = {o.owner.name: o for o in report(store, config, "this_month").owners}
    assert may["Anna Jansen"].target == D(10000) / 3  # no May target: a third of the Q2 one
    assert may["Bram de Vries"].target == D(2000)  # his 2026-05 target
    assert may["Carl Vreemd"].won == D(8000)  # 22:30 UTC on 30 April is 1 May in Amsterdam
    year = {o.owner.name: o for o in report(store, config, "this_year").owners}
    assert year["Anna Jansen"].target == D(40000)  # the year target, not year + Q2
    assert year["Anna Jansen"].won == 0  # H4 was won in 2025
    assert year["Bram de Vries"].target == D(5000)


def test_funnel_per_stage_from_history_and_from_stage_order(store: Store, config: Config) -> None:
    r = report(store, config)
    funnels = {f.connection: f for f in r.funnels}
    hub = funnels["hubspot"]
    assert hub.basis == HISTORY
    # furthest open stage: H1 s2, H6 s1, H7 s1, H5 s3 (history, then lost), H3 won → every stage
    assert [(s.label, s.reached, s.open_deals) for s in hub.stages] == [
        ("Consultation scheduled", 5, 2),
        ("Verbal interest confirmed", 3, 1),
        ("Ter ondertekening verzonden", 2, 0),
    ]
    s1, s2, s3 = hub.stages
    assert [s.conversion for s in hub.stages] == [D("0.6"), D(2) / D(3), D("0.5")]  # 3/5, 2/3, won 1/2
    assert [s.win_rate for s in hub.stages] == [D("0.5")] * 3  # H3 won, H5 lost
    assert (s1.average_size, s2.average_size, s3.average_size) == (D(2150), D(10000), None)  # (3600+700)/2
    # H3 entered s1 on 1 Feb, s2 on 1 Mar, s3 on 1 Apr and was won on 12 Apr
    assert [s.average_days_to_won for s in hub.stages] == [D(70), D(42), D(11)]
    assert (hub.totals.open_deals, hub.totals.won, hub.totals.lost, hub.totals.win_rate) == (3, 1, 1, D("0.5"))
    assert hub.totals.average_size == D(14300) / 3
    assert hub.totals.average_days_to_won == D(87)  # created 15 Jan, won 12 Apr

    pd = funnels["pipedrive"]
    assert pd.basis == HISTORY
    assert [(s.label, s.reached, s.open_deals, s.average_size) for s in pd.stages] == [
        ("Lead", 3, 1, None),  # P2 is in SEK: no average
        ("Offerte", 2, 1, D(6000)),
    ]
    assert [s.conversion for s in pd.stages] == [D(2) / D(3), D("0.5")]
    assert pd.totals.average_days_to_won == D(56)  # 6 March → 1 May (Amsterdam)

    afas = funnels["afas"]
    assert afas.basis == ORDER  # the store has no stage history for afas
    assert [(s.label, s.reached, s.conversion, s.average_days_to_won) for s in afas.stages] == [
        ("Offerte uitgebracht", 1, D(1), D(19))  # no history: the first stage counts from the day created
    ]
    assert afas.totals.average_days_to_won == D(19)  # created 1 April, close date 20 April

    t = r.funnel_totals
    assert (t.open_deals, t.won, t.lost, t.win_rate) == (5, 3, 1, D("0.75"))
    assert t.average_size == D(20300) / 4  # H1, H6, H7, P1; P2 has no converted amount
    assert t.average_days_to_won == D(54)  # (87 + 56 + 19) / 3


def test_results_this_year_against_earlier_years(store: Store, config: Config) -> None:
    res = report(store, config).results  # the period does not apply to results
    assert res.this_year == 2026
    years = {y.year: y.result for y in res.years}
    assert [y.year for y in res.years] == [2027, 2026, 2025, 2024, None]
    assert years[2026] == Result(Tally(3, D(11600)), Tally(5, D(20300)), Tally(1, D(3000)))
    assert years[2025] == Result(won=Tally(1, D(5000)))  # H4
    assert years[2024] == Result(lost=Tally(1, D(2000)))  # P5
    assert years[2027] == Result(open=Tally(1, D(1000)))  # P4
    assert years[None] == Result(open=Tally(2, D(2500)))  # H2, A1

    by_conn = {row.key: row for row in res.sections["connection"]}
    assert by_conn["hubspot"].this_year == Result(Tally(1, D(1800)), Tally(3, D(14300)), Tally(1, D(3000)))
    assert by_conn["hubspot"].earlier == Result(won=Tally(1, D(5000)))
    assert by_conn["hubspot"].no_date == Tally(1, D(0))
    assert by_conn["pipedrive"].earlier == Result(lost=Tally(1, D(2000)))
    assert by_conn["pipedrive"].later == Result(open=Tally(1, D(1000)))
    assert by_conn["afas"].this_year == Result(won=Tally(1, D(1800)))
    by_owner = {row.key: row for row in res.sections["owner"]}
    assert by_owner["Anna Jansen"].this_year.open == Tally(4, D(16700))  # H1, P1, P2 (no rate), H7
    assert by_owner["Bram de Vries"].this_year.won == Tally(2, D(3600))  # across hubspot and afas
    assert by_owner["Carl Vreemd (unassigned to a configured owner)"].earlier.lost == Tally(1, D(2000))
    groups = {row.key: row for row in res.sections["forecast group"]}
    assert groups["Enterprise"].this_year.open == Tally(2, D(16000))
    assert {row.key for row in res.sections["pipeline"]} == {
        "afas / Verkoopkansen",
        "hubspot / Sales",
        "pipedrive / Nieuw",
    }
    for rows in res.sections.values():  # every cross-section adds up to the years
        total = Tally()
        for row in rows:
            total = total + row.this_year.won + row.earlier.won
        assert total == Tally(4, D(16600))


def test_flags_per_owner_and_deleted_deals_left_out(store: Store, config: Config) -> None:
    r = report(store, config)
    assert [(f.owner.name, f.source_id, f.flags) for f in r.flags] == [
        ("Anna Jansen", "H2", ("missing_amount", "missing_close_date")),
        ("Anna Jansen", "H7", ("stale",)),
        ("Bram de Vries", "A1", ("missing_close_date",)),
    ]
    assert r.flags[0].stage == "Ter ondertekening verzonden"


def test_category_moves_of_the_latest_run(store: Store, config: Config) -> None:
    r = report(store, config)
    assert [(m.source_id, m.old_category, m.new_category, m.rule_ids, m.run_id) for m in r.moves] == [
        ("H1", C.PIPELINE, C.BEST_CASE, ("stage:default/s2",), 4)  # H6 only changed probability
    ]
    assert r.moves[0].deal == ALPHA
    assert r.moves[0].owner is not None
    assert r.moves[0].owner.name == "Anna Jansen"
    assert [(run.connection, run.run_id) for run in r.runs] == [("afas", 3), ("hubspot", 4), ("pipedrive", 2)]


def test_owner_filter_spans_crms(store: Store, config: Config) -> None:
    r = report(store, config, owners={"ANNA@example.com"})
    assert cats(r) == {
        C.PIPELINE: (1, D(0), D(0)),
        C.BEST_CASE: (1, D(10000), D(5000)),
        C.COMMIT: (1, D(6000), D(5400)),
        C.CLOSED: (0, D(0), D(0)),
        C.OMITTED: (1, D(700), D(0)),
    }
    assert [o.owner.name for o in r.owners] == ["Anna Jansen"]
    assert [m.source_id for m in r.moves] == ["H1"]
    assert {f.owner.name for f in r.flags} == {"Anna Jansen"}


def test_team_connection_and_pipeline_filters(store: Store, config: Config) -> None:
    south = report(store, config, teams={"zuid"})
    assert cats(south)[C.CLOSED] == (2, D(3600), D(3600))  # H3, A2
    assert cats(south)[C.PIPELINE] == (1, D(3600), D(720))
    assert [o.owner.name for o in south.owners] == ["Bram de Vries"]
    north = report(store, config, teams={"Noord"})
    assert [o.owner.name for o in north.owners] == ["Anna Jansen", "Dana Smit"]
    pd = report(store, config, connections={"pipedrive"}, pipelines={"nieuw"})
    assert cats(pd)[C.CLOSED] == (1, D(8000), D(8000))
    assert {f.connection for f in pd.funnels} == {"pipedrive"}
    assert [run.connection for run in pd.runs] == ["pipedrive"]
    assert report(store, config, pipelines={"default"}).funnels[0].connection == "hubspot"


def test_default_labels_without_config_labels(store: Store) -> None:
    r = report(store, make_config(labels={}))
    assert [c.label for c in r.categories] == ["Pipeline", "Best case", "Commit", "Closed", "Not forecasted"]


def test_a_rate_for_sek_brings_the_deal_into_the_sums(store: Store) -> None:
    r = report(store, make_config(rates={"USD": "0.9", "GBP": "1.2", "SEK": "0.09"}))
    assert cats(r)[C.PIPELINE] == (2, D(3600) + D(4500), D(720) + D(450))  # 50000 × 0.09 = 4500, × 0.1
    assert r.unconverted == []


@pytest.mark.parametrize("period", ["2026-Q2", "this_quarter"])
def test_calendar_and_named_periods_agree(store: Store, config: Config, period: str) -> None:
    assert cats(report(store, config, period))[C.CLOSED] == (3, D(11600), D(11600))
