"""The report as rich tables in the terminal (the default format of `crmsync report`)."""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from crmsync.model import ForecastCategory
from crmsync.report import fmt
from crmsync.report.funnel import unplaced_note
from crmsync.report.model import ZERO, Report, Result, Tally


def _table(title: str, *columns: str, right_from: int = 1) -> Table:
    table = Table(title=title, title_justify="left", title_style="bold")
    for index, column in enumerate(columns):
        table.add_column(column, justify="right" if index >= right_from else "left")
    return table


def _t(value: str) -> Text:
    """CRM text shown literally (no rich markup interpreted)."""
    return Text(value)


def render_terminal(report: Report, console: Console) -> None:
    """Print every section of the report to `console`."""
    r = report
    cur = r.base_currency
    console.print(f"[bold]Forecast report[/bold] — {escape(fmt.period_text(r.period))}, amounts in {cur}")
    runs = ", ".join(fmt.run_text(run) for run in r.runs) or "no runs"
    console.print(f"as of {escape(runs)}; today {r.today.isoformat()}")
    for note in r.warnings:
        console.print(Text(f"⚠ {note}", style="yellow"))

    table = _table("Forecast by category", "Category", "Deals", f"Amount ({cur})", f"Weighted ({cur})")
    for c in r.categories:
        table.add_row(_t(c.label), str(c.count), fmt.money(c.amount), fmt.money(c.weighted))
    table.add_section()
    table.add_row(
        "Total",
        str(sum(c.count for c in r.categories)),
        fmt.money(sum((c.amount for c in r.categories), ZERO)),
        fmt.money(sum((c.weighted for c in r.categories), ZERO)),
    )
    console.print(table)

    table = _table("Weighted forecast per month of expected close", "Month", "Deals", "Amount", "Weighted")
    for m in r.months:
        table.add_row(fmt.month(m.month), str(m.count), fmt.money(m.amount), fmt.money(m.weighted))
    console.print(table)

    table = _table(
        "Per owner", "Owner", "Deals", "Won", "Target", "Won %", "Commit + won", "Commit %", "Best case", "Pipeline"
    )
    for o in r.owners:
        table.add_row(
            _t(o.owner.display),
            str(o.deals),
            fmt.money(o.won),
            fmt.money(o.target),
            fmt.pct(o.won_attainment),
            fmt.money(o.commit_and_closed),
            fmt.pct(o.commit_attainment),
            fmt.money(o.best_case),
            fmt.money(o.pipeline),
        )
    console.print(table)
    _teams(r, console)
    _trend(r, console)

    _funnel(r, console)
    _results(r, console)
    _flags(r, console)
    _moves(r, console)
    if r.unconverted:
        table = _table(
            f"Amounts without a rate to {cur} (left out of the sums)", "Deal", "Connection", "Amount", right_from=2
        )
        for u in r.unconverted:
            table.add_row(_t(u.deal), _t(u.connection), f"{fmt.money(u.amount)} {u.currency}")
        console.print(table)


def _teams(r: Report, console: Console) -> None:
    """Subtotals of the owners per configured team (owners without one together, last)."""
    if not r.teams or all(t.team is None for t in r.teams):
        return
    table = _table(
        "Per team", "Team", "Owners", "Deals", "Won", "Target", "Won %", "Commit + won", "Best case", "Pipeline"
    )
    for t in r.teams:
        table.add_row(
            _t(t.team or "(no team)"),
            str(t.owners),
            str(t.deals),
            fmt.money(t.won),
            fmt.money(t.target),
            fmt.pct(t.won / t.target if t.target else None),
            fmt.money(t.won + t.commit),
            fmt.money(t.best_case),
            fmt.money(t.pipeline),
        )
    console.print(table)


TREND_POINTS = 8


def _trend(r: Report, console: Console) -> None:
    """The weighted forecast per category at the end of the last days runs changed it (newest last)."""
    if len(r.trend) < 2:
        return
    shown = [c for c in ForecastCategory if any(p.weighted.get(c) for p in r.trend)]
    table = _table(
        f"Trend of the weighted forecast (last {TREND_POINTS} days with changes)", "Day", *map(r.label, shown)
    )
    for point in r.trend[-TREND_POINTS:]:
        table.add_row(point.day.isoformat(), *(fmt.money(point.weighted.get(c, ZERO)) for c in shown))
    console.print(table)


def _funnel(r: Report, console: Console) -> None:
    columns = ("Stage", "Open deals", "Avg size", "Reached", "Win rate", "Days to won", "Conversion →")
    for f in r.funnels:
        table = _table(f"Funnel — {f.connection} / {f.pipeline_label} (conversion from {f.basis})", *columns)
        for s in f.stages:
            table.add_row(
                _t(s.label),
                str(s.open_deals),
                fmt.money(s.average_size),
                str(s.reached),
                fmt.pct(s.win_rate),
                fmt.days(s.average_days_to_won),
                fmt.pct(s.conversion),
            )
        t = f.totals
        table.add_section()
        table.add_row(
            "Whole pipeline",
            str(t.open_deals),
            fmt.money(t.average_size),
            f"won {t.won} / lost {t.lost}",
            fmt.pct(t.win_rate),
            fmt.days(t.average_days_to_won),
            "",
        )
        console.print(table)
        if f.unplaced_lost:
            console.print(unplaced_note(f).strip())
    t = r.funnel_totals
    console.print(
        f"All pipelines: {t.open_deals} open deals, average size {fmt.money(t.average_size)}, "
        f"win rate {fmt.pct(t.win_rate)} ({t.won} won, {t.lost} lost), "
        f"average {fmt.days(t.average_days_to_won)} from created to won"
    )


def _cells(result: Result) -> list[str]:
    return [fmt.tally(result.won), fmt.tally(result.open), fmt.tally(result.lost)]


def _results(r: Report, console: Console) -> None:
    res = r.results
    table = _table("Results per year: amount (count)", "Year", "Won", "Open", "Lost")
    for y in res.years:
        label = fmt.NO_DATE if y.year is None else str(y.year) + (" (this year)" if y.year == res.this_year else "")
        table.add_row(label, *_cells(y.result))
    console.print(table)
    for name, rows in res.sections.items():
        table = _table(
            f"Results per {name}: {res.this_year} against earlier years, amount (count)",
            name.capitalize(),
            f"Won {res.this_year}",
            f"Open {res.this_year}",
            f"Lost {res.this_year}",
            "Won earlier",
            "Lost earlier",
            "Open later / no date",
        )
        for row in rows:
            later = row.later.open + row.no_date
            table.add_row(
                _t(row.key),
                *_cells(row.this_year),
                fmt.tally(row.earlier.won),
                fmt.tally(row.earlier.lost),
                fmt.tally(Tally(later.count, later.amount)),
            )
        console.print(table)


def _flags(r: Report, console: Console) -> None:
    if not r.flags:
        console.print("No data-quality flags.")
        return
    table = _table("Data-quality flags per owner", "Owner", "Deal", "Connection", "Stage", "Flags", right_from=9)
    previous = None
    for f in r.flags:
        who = f.owner.display if f.owner.key != previous else ""
        if previous is not None and f.owner.key != previous:
            table.add_section()
        previous = f.owner.key
        table.add_row(_t(who), _t(f.deal), _t(f.connection), _t(f.stage), _t(", ".join(f.flags)))
    console.print(table)


def _moves(r: Report, console: Console) -> None:
    if not r.moves:
        console.print("No deal moved category in the latest run.")
        return
    table = _table("Moved category since the previous run", "Deal", "Owner", "From", "To", "Rules", right_from=9)
    for m in r.moves:
        table.add_row(
            _t(f"{m.deal} ({m.connection})"),
            _t(m.owner.display if m.owner else ""),
            _t(f"{r.label(m.old_category)} {fmt.pct(m.old_probability)}"),
            _t(f"{r.label(m.new_category)} {fmt.pct(m.new_probability)}"),
            _t(", ".join(m.rule_ids)),
        )
    console.print(table)
