"""The report as one self-contained HTML file: a small app, nothing fetched.

The page embeds every deal the command's filters let through (see `crmsync.report.html_data`) and one script,
`html_app.js`, which computes the figures in the browser from them: filters for period, connection, pipeline,
team and owner; an amount/count switch; drill-down from any figure to its deals with a link into the CRM; the
trend of the weighted forecast over past runs; team subtotals; charts with top-N and "other"; the data-quality
list grouped and paged. The figures it computes are those of `crmsync.report.build` for the same filters (the
tests compare them in headless Chromium). Funnel, results and moves are rendered here, for the command's filters.

The Content-Security-Policy forbids every fetch and allows only that script, by its hash; CRM text reaches
the page only HTML-escaped or inside the JSON block, and the script writes it with `textContent`.
"""

from __future__ import annotations

from html import escape

from crmsync.report import fmt, html_data, html_static
from crmsync.report.model import Report


def _e(value: object) -> str:
    return escape(str(value))


def csp(script: str) -> str:
    return f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {html_data.csp_hash(script)}"


def _filters(r: Report) -> str:
    f = r.filters
    named = [("connection", f.connections), ("pipeline", f.pipelines), ("owner", f.owners), ("team", f.teams)]
    return "; ".join(f"{name} {', '.join(sorted(values))}" for name, values in named if values)


VIEWS = (
    ("forecast", "Forecast"),
    ("owners", "Owners and teams"),
    ("quality", "Data quality"),
    ("deals", "Deals"),
    ("static", "Funnel and results"),
)


def _header(r: Report) -> list[str]:
    runs = []
    for run in r.runs:
        badge = ' <span class="badge dry">dry run</span>' if run.mode == "dry-run" else ""
        runs.append(f"{_e(fmt.run_text(run))}{badge}")
    meta = (
        f'<p class="meta">Amounts in {_e(r.base_currency)}. Today {r.today.isoformat()}; generated '
        f"{_e(r.generated_at.strftime('%Y-%m-%d %H:%M %Z'))}. As of {', '.join(runs) or 'no runs'}."
        + (f" Command filters: {_e(_filters(r))}." if not r.filters.empty else "")
        + "</p>"
    )
    return [
        f'<header><h1>Forecast report <span id="period-title">— {_e(fmt.period_text(r.period))}</span></h1>',
        meta,
        *(f'<div class="warn">{_e(note)}</div>' for note in r.warnings),
        "</header>",
    ]


def _controls() -> list[str]:
    selects = "".join(
        f'<label>{label} <select id="f-{key}" data-filter="{key}"></select></label>'
        for key, label in (
            ("period", "Period"),
            ("connection", "Connection"),
            ("pipeline", "Pipeline"),
            ("team", "Team"),
            ("owner", "Owner"),
        )
    )
    switch = (
        '<span class="switch" role="radiogroup" aria-label="Measure">'
        '<label><input type="radio" name="measure" value="amount" checked> Amount</label>'
        '<label><input type="radio" name="measure" value="count"> Count</label></span>'
    )
    tabs = "".join(f'<button type="button" data-view="{key}">{label}</button>' for key, label in VIEWS)
    return [
        f'<form id="filters" class="filters">{selects}{switch}'
        '<button type="button" id="f-reset">Reset filters</button></form>',
        f'<nav id="tabs" class="tabs">{tabs}</nav>',
        '<noscript><p class="warn">This page computes its figures with its own script; allow it to see '
        "them. Funnel and results below need no script.</p></noscript>",
    ]


def to_html(report: Report) -> str:
    """The whole report as a standalone HTML page (write it with `encoding="utf-8"`)."""
    r = report
    n = html_static.Local(r.locale)
    script = html_data.script()
    panels = [
        f'<section id="view-{key}" class="view" data-panel="{key}" aria-label="{label}"></section>'
        for key, label in VIEWS
        if key != "static"
    ]
    static = [
        '<section id="view-static" class="view" data-panel="static" aria-label="Funnel and results">',
        f'<p class="meta">Funnel, results and moves follow the command\'s filters and period '
        f"({_e(fmt.period_text(r.period))}), not this page's.</p>",
        *html_static.funnels(r, n),
        *html_static.results(r, n),
        *html_static.moves(r),
        *html_static.unconverted(r, n),
        "</section>",
    ]
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{_e(r.locale)}"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{csp(script)}">',
        '<link rel="icon" href="data:,">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>crmsync forecast — {_e(r.period.label)}</title><style>{html_data.style()}</style></head><body>",
        *_header(r),
        *_controls(),
        "<main>",
        *panels,
        *static,
        "</main>",
        f'<script type="application/json" id="report-data">{html_data.embed_json(html_data.payload(r))}</script>',
        f"<script>{script}</script>",
        "</body></html>",
    ]
    return "\n".join(parts)
