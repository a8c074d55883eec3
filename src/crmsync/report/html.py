"""The report as one self-contained HTML file: inline CSS and SVG charts, no script, nothing fetched.

A Content-Security-Policy forbids every network fetch and every script, and every CRM string is escaped with
`html.escape`, so a deal named `<script>…` is shown as text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

from crmsync.report import charts, fmt
from crmsync.report.funnel import unplaced_note
from crmsync.report.model import ZERO, Report, Result, Tally

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

STYLE = """
body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 24px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
h3 { font-size: 15px; margin: 16px 0 6px; }
table { border-collapse: collapse; margin: 8px 0 16px; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; }
th { text-align: left; background: #f6f6f6; } td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
tr.total td { font-weight: 600; border-top: 2px solid #ccc; }
.meta { color: #666; } .warn { background: #fff4e5; border-left: 4px solid #fd8d3c; padding: 6px 10px; margin: 4px 0; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 8px 0; }
svg text { font: 12px system-ui, sans-serif; fill: #222; } svg text.small { font-size: 11px; fill: #444; }
svg text.num { font-variant-numeric: tabular-nums; } svg text.inbar { fill: #fff; font-weight: 600; }
.basis { color: #666; font-style: italic; }
"""


def _e(value: object) -> str:
    return escape(str(value))


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1, total: bool = False) -> str:
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


def _tally(value: Tally) -> str:
    return _e(fmt.tally(value))


def _result(value: Result) -> list[str]:
    return [_tally(value.won), _tally(value.open), _tally(value.lost)]


def to_html(report: Report) -> str:
    """The whole report as a standalone HTML page (write it with `encoding="utf-8"`)."""
    r = report
    cur = r.base_currency
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<link rel="icon" href="data:,">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>crmsync forecast — {_e(r.period.label)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Forecast report — {_e(fmt.period_text(r.period))}</h1>",
        f'<p class="meta">Amounts in {_e(cur)}. Today {r.today.isoformat()}; generated '
        f"{_e(r.generated_at.strftime('%Y-%m-%d %H:%M %Z'))}. As of "
        + (_e(", ".join(fmt.run_text(x) for x in r.runs)) or "no runs")
        + "."
        + (f" Filters: {_e(_filters(r))}." if not r.filters.empty else "")
        + "</p>",
    ]
    parts += [f'<div class="warn">{_e(note)}</div>' for note in r.warnings]

    parts.append("<h2>Forecast by category</h2>")
    parts.append(charts.category_bars(r.categories, cur))
    rows = [[_e(c.label), str(c.count), fmt.money(c.amount), fmt.money(c.weighted)] for c in r.categories]
    rows.append(
        [
            "Total",
            str(sum(c.count for c in r.categories)),
            fmt.money(sum((c.amount for c in r.categories), ZERO)),
            fmt.money(sum((c.weighted for c in r.categories), ZERO)),
        ]
    )
    parts.append(_table(["Category", "Deals", f"Amount ({cur})", f"Weighted ({cur})"], rows, total=True))

    parts.append("<h2>Weighted forecast per month of expected close</h2>")
    parts.append(charts.month_columns(r.months, cur))
    parts.append(
        _table(
            ["Month", "Deals", "Amount", "Weighted"],
            ([_e(fmt.month(m.month)), str(m.count), fmt.money(m.amount), fmt.money(m.weighted)] for m in r.months),
        )
    )

    parts.append("<h2>Per owner against target</h2>")
    parts.append(charts.owner_attainment(r.owners, cur))
    parts.append(
        _table(
            ["Owner", "Deals", "Won", "Target", "Won %", "Commit + won", "Commit %", "Best case", "Pipeline"],
            (
                [
                    _e(o.owner.display),
                    str(o.deals),
                    fmt.money(o.won),
                    _e(fmt.money(o.target)),
                    _e(fmt.pct(o.won_attainment)),
                    fmt.money(o.commit_and_closed),
                    _e(fmt.pct(o.commit_attainment)),
                    fmt.money(o.best_case),
                    fmt.money(o.pipeline),
                ]
                for o in r.owners
            ),
        )
    )

    parts += _funnels(r)
    parts += _results(r)
    parts += _flags(r)
    parts += _moves(r)
    if r.unconverted:
        parts.append(f"<h2>Amounts without a rate to {_e(cur)}</h2>")
        parts.append(
            _table(
                ["Deal", "Connection", "Amount"],
                ([_e(u.deal), _e(u.connection), f"{fmt.money(u.amount)} {_e(u.currency)}"] for u in r.unconverted),
                numeric_from=2,
            )
        )
    parts.append("</body></html>")
    return "\n".join(parts)


def _filters(r: Report) -> str:
    f = r.filters
    named = [("connection", f.connections), ("pipeline", f.pipelines), ("owner", f.owners), ("team", f.teams)]
    return "; ".join(f"{name} {', '.join(sorted(values))}" for name, values in named if values)


def _funnels(r: Report) -> list[str]:
    out = ["<h2>Funnel</h2>"]
    t = r.funnel_totals
    out.append(
        f"<p>All pipelines: {t.open_deals} open deals, average size {fmt.money(t.average_size)}, win rate "
        f"{_e(fmt.pct(t.win_rate))} ({t.won} won, {t.lost} lost), average {_e(fmt.days(t.average_days_to_won))} "
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
                _e(fmt.money(s.average_size)),
                str(s.reached),
                _e(fmt.pct(s.win_rate)),
                _e(fmt.days(s.average_days_to_won)),
                _e(fmt.pct(s.conversion)),
            ]
            for s in f.stages
        ]
        tt = f.totals
        rows.append(
            [
                "Whole pipeline",
                str(tt.open_deals),
                _e(fmt.money(tt.average_size)),
                f"won {tt.won} / lost {tt.lost}",
                _e(fmt.pct(tt.win_rate)),
                _e(fmt.days(tt.average_days_to_won)),
                "",
            ]
        )
        headers = ["Stage", "Open deals", "Avg size", "Reached", "Win rate", "Days to won", "Conversion →"]
        out.append(_table(headers, rows, total=True))
    return out


def _results(r: Report) -> list[str]:
    res = r.results
    out = [f"<h2>Results: {res.this_year} against earlier years</h2>", "<p>Amount (count).</p>"]
    rows = []
    for y in res.years:
        label = fmt.NO_DATE if y.year is None else str(y.year)
        rows.append([_e(label), *_result(y.result)])
    out.append(_table(["Year", "Won", "Open", "Lost"], rows))
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
        out.append(
            _table(
                headers,
                (
                    [
                        _e(row.key),
                        *_result(row.this_year),
                        _tally(row.earlier.won),
                        _tally(row.earlier.lost),
                        _tally(row.later.open),
                        _tally(row.no_date),
                    ]
                    for row in section
                ),
            )
        )
    return out


def _flags(r: Report) -> list[str]:
    out = ["<h2>Data-quality flags per owner</h2>"]
    if not r.flags:
        return [*out, "<p>No data-quality flags.</p>"]
    rows = []
    for f in r.flags:
        amount = f"{fmt.money(f.amount)} {f.currency or ''}".strip() if f.amount is not None else fmt.DASH
        close = f.close_date.isoformat() if f.close_date else fmt.DASH
        rows.append(
            [_e(f.owner.display), _e(f.deal), _e(f.connection), _e(f.stage), _e(", ".join(f.flags)), _e(amount), close]
        )
    out.append(_table(["Owner", "Deal", "Connection", "Stage", "Flags", "Amount", "Close date"], rows, numeric_from=5))
    return out


def _moves(r: Report) -> list[str]:
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
    out.append(_table(["Deal", "Connection", "Owner", "From", "To", "Rules", "Run"], rows, numeric_from=7))
    return out
