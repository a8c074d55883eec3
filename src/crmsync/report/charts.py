"""Inline SVG charts for the HTML report, built by hand: no script, no font or file fetched.

Every text that reaches the SVG goes through `html.escape`; numbers are formatted by `crmsync.report.fmt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from crmsync.report import fmt
from crmsync.report.model import Funnel

WIDTH = 760
COLORS = {
    "pipeline": "#9ecae1",
    "best_case": "#6baed6",
    "commit": "#3182bd",
    "closed": "#31a354",
    "omitted": "#bdbdbd",
}
AMOUNT = "#c6dbef"
WEIGHTED = "#2171b5"
WON = "#31a354"
COMMIT = "#a1d99b"
NO_DATE = "#fd8d3c"


def _svg(height: int, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" class="chart">'
        f"<title>{escape(title)}</title>{''.join(body)}</svg>"
    )


def _scale(values: Sequence[Decimal], span: float) -> float:
    top = max((float(v) for v in values), default=0.0)
    return span / top if top > 0 else 0.0


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _rect(x: float, y: float, w: float, h: float, color: str, tip: str) -> str:
    return (
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{h:.1f}" fill="{color}">'
        f"<title>{escape(tip)}</title></rect>"
    )


def _legend(y: float, items: Sequence[tuple[str, str]]) -> list[str]:
    out, x = [], 10.0
    for color, label in items:
        out.append(f'<rect x="{x:.1f}" y="{y - 10:.1f}" width="12" height="12" fill="{color}"/>')
        out.append(_text(x + 18, y, label))
        x += 30 + 7.5 * len(label)
    return out


def funnel_chart(funnel: Funnel) -> str:
    """Centred bars per open stage (deals that reached it), ending in won, with the conversion between."""
    row_h, top, label_w = 34, 10, 220
    steps = [(s.label, s.reached, s.conversion) for s in funnel.stages]
    steps.append(("Won", funnel.won_reached, None))
    span = WIDTH - label_w - 40
    most = max((reached for _, reached, _ in steps), default=0)
    body: list[str] = []
    centre = label_w + span / 2
    for i, (label, reached, conversion) in enumerate(steps):
        y = top + i * row_h
        w = span * reached / most if most else 0
        color = WON if i == len(steps) - 1 else WEIGHTED
        body.append(_text(label_w - 8, y + 18, label, "end"))
        body.append(_rect(centre - w / 2, y + 4, w, 22, color, f"{label}: {reached} deals reached"))
        body.append(_text(centre, y + 19, str(reached), "middle", "inbar"))
        if conversion is not None:
            body.append(_text(WIDTH - 6, y + 19 + row_h / 2, f"→ {fmt.pct(conversion)}", "end", "small"))
    title = f"Funnel {funnel.connection} / {funnel.pipeline_label}"
    return _svg(top + row_h * len(steps) + 6, body, title)
