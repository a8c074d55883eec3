"""The parts of the HTML page that follow only the command's own filters: funnel, results, category moves and
amounts without a rate. Rendered here as plain tables (and the funnel's SVG), numbers in the report's locale;
every CRM string goes through `html.escape`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from html import escape

from crmsync.report import charts, fmt
from crmsync.report.funnel import unplaced_note
from crmsync.report.locale import number, separators
from crmsync.report.model import Report, Result, Tally


def _e(value: object) -> str:
    return escape(str(value))


class Local:
    """Numbers and percentages in one locale."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self.decimal = separators(locale)[1]

    def money(self, value: Decimal | None) -> str:
        return fmt.DASH if value is None else number(value, self.locale)

    def pct(self, value: Decimal | None) -> str:
        return fmt.pct(value).replace(".", self.decimal)

    def days(self, value: Decimal | None) -> str:
        return fmt.days(value).replace(".", self.decimal)

    def tally(self, value: Tally) -> str:
        return f"{self.money(value.amount)} ({value.count})"

    def result(self, value: Result) -> list[str]:
        return [_e(self.tally(value.won)), _e(self.tally(value.open)), _e(self.tally(value.lost))]


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1, total: bool = False) -> str:
    """A table; cells must already be escaped. Columns from `numeric_from` on are right-aligned."""
    head = "".join(
        f'<th class="n">{_e(h)}</th>' if i >= numeric_from else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    lines = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    rows = list(rows)
    for index, row in enumerate(rows):
        klass = ' class="total"' if total and index == len(rows) - 1 else ""
        cells = "".join(f'<td class="n">{c}</td>' if i >= numeric_from else f"<td>{c}</td>" for i, c in enumerate(row))
        lines.append(f"<tr{klass}>{cells}</tr>")
    lines.append("</tbody></table>")
    return "".join(lines)


def funnels(r: Report, n: Local) -> list[str]:
    out = ["<h2>Funnel</h2>"]
    t = r.funnel_totals
    out.append(
        f"<p>All pipelines: {t.open_deals} open deals, average size {_e(n.money(t.average_size))}, win rate "
        f"{_e(n.pct(t.win_rate))} ({t.won} won, {t.lost} lost), average {_e(n.days(t.average_days_to_won))} "
        "from created to won.</p>"
    )
    for f in r.funnels:
        out.append(f"<h3>{_e(f.connection)} / {_e(f.pipeline_label)}</h3>")
        out.append(f'<p class="basis">Conversion from {_e(f.basis)}.{_e(unplaced_note(f))}</p>')
        out.append(charts.funnel_chart(f))
        rows = [
            [
                _e(s.label),
                str(s.open_deals),
                _e(n.money(s.average_size)),
                str(s.reached),
                _e(n.pct(s.win_rate)),
                _e(n.days(s.average_days_to_won)),
                _e(n.pct(s.conversion)),
            ]
            for s in f.stages
        ]
        tt = f.totals
        rows.append(
            [
                "Whole pipeline",
                str(tt.open_deals),
                _e(n.money(tt.average_size)),
                f"won {tt.won} / lost {tt.lost}",
                _e(n.pct(tt.win_rate)),
                _e(n.days(tt.average_days_to_won)),
                "",
            ]
        )
        headers = ["Stage", "Open deals", "Avg size", "Reached", "Win rate", "Days to won", "Conversion →"]
        out.append(table(headers, rows, total=True))
    return out


def results(r: Report, n: Local) -> list[str]:
    res = r.results
    out = [f"<h2>Results: {res.this_year} against earlier years</h2>", "<p>Amount (count).</p>"]
    rows = []
    for y in res.years:
        label = fmt.NO_DATE if y.year is None else str(y.year)
        rows.append([_e(label), *n.result(y.result)])
    out.append(table(["Year", "Won", "Open", "Lost"], rows))
    for name, section in res.sections.items():
        out.append(f"<h3>Per {_e(name)}</h3>")
        headers = [
            name.capitalize(),
            f"Won {res.this_year}",
            f"Open {res.this_year}",
            f"Lost {res.this_year}",
            "Won earlier",
            "Lost earlier",
            "Open later",
            "No date",
        ]
        body = (
            [
                _e(row.key),
                *n.result(row.this_year),
                _e(n.tally(row.earlier.won)),
                _e(n.tally(row.earlier.lost)),
                _e(n.tally(row.later.open)),
                _e(n.tally(row.no_date)),
            ]
            for row in section
        )
        out.append(table(headers, body))
    return out


def moves(r: Report) -> list[str]:
    out = ["<h2>Moved category since the previous run</h2>"]
    if not r.moves:
        return [*out, "<p>No deal moved category in the latest run.</p>"]
    rows = [
        [
            _e(m.deal),
            _e(m.connection),
            _e(m.owner.display if m.owner else ""),
            _e(f"{r.label(m.old_category)} {fmt.pct(m.old_probability)}"),
            _e(f"{r.label(m.new_category)} {fmt.pct(m.new_probability)}"),
            _e(", ".join(m.rule_ids)),
            _e(f"run {m.run_id}"),
        ]
        for m in r.moves
    ]
    out.append(table(["Deal", "Connection", "Owner", "From", "To", "Rules", "Run"], rows, numeric_from=7))
    return out


def unconverted(r: Report, n: Local) -> list[str]:
    if not r.unconverted:
        return []
    rows = ([_e(u.deal), _e(u.connection), f"{_e(n.money(u.amount))} {_e(u.currency)}"] for u in r.unconverted)
    heading = f"<h2>Amounts without a rate to {_e(r.base_currency)}</h2>"
    return [heading, table(["Deal", "Connection", "Amount"], rows, numeric_from=2)]
