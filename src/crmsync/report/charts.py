"""Inline SVG charts for the HTML report, built by hand: no script, no font or file fetched.

Every text that reaches the SVG goes through `html.escape`; numbers are formatted by `crmsync.report.fmt`.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from crmsync.report import fmt
from crmsync.report.model import ZERO, CategoryFigure, Funnel, MonthFigure, OwnerFigure

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


def category_bars(categories: Sequence[CategoryFigure], currency: str) -> str:
    """One row per category: the amount as a light bar, the weighted amount as a dark bar inside it."""
    label_w, row_h, top = 150, 34, 30
    span = WIDTH - label_w - 230
    k = _scale([c.amount for c in categories], span)
    body = _legend(18, [(AMOUNT, f"amount ({currency})"), (WEIGHTED, "weighted")])
    for i, c in enumerate(categories):
        y = top + i * row_h
        body.append(_text(label_w - 8, y + 18, c.label, "end"))
        body.append(_rect(label_w, y + 4, float(c.amount) * k, 22, AMOUNT, f"{c.label}: {fmt.money(c.amount)}"))
        body.append(
            _rect(
                label_w,
                y + 10,
                float(c.weighted) * k,
                10,
                COLORS.get(c.category.value, WEIGHTED),
                f"{c.label} weighted: {fmt.money(c.weighted)}",
            )
        )
        body.append(
            _text(
                label_w + float(c.amount) * k + 6,
                y + 19,
                f"{fmt.money(c.amount)} / {fmt.money(c.weighted)} ({c.count})",
                cls="num",
            )
        )
    return _svg(top + row_h * len(categories) + 6, body, "Forecast by category")


def month_columns(months: Sequence[MonthFigure], currency: str) -> str:
    """Columns per month: amount behind, weighted in front; the "no date" bucket in its own colour."""
    height, base, left = 300, 250, 90
    n = max(len(months), 1)
    slot = (WIDTH - left - 10) / n
    k = _scale([m.amount for m in months] + [m.weighted for m in months], base - 40)
    body = _legend(18, [(AMOUNT, f"amount ({currency})"), (WEIGHTED, "weighted"), (NO_DATE, "no date (weighted)")])
    body.append(f'<line x1="{left}" y1="{base}" x2="{WIDTH - 10}" y2="{base}" stroke="#666"/>')
    top = max((max(m.amount, m.weighted) for m in months), default=ZERO)
    body.append(_text(left - 6, base - float(top) * k + 4, fmt.money(top), "end", "num"))
    for i, m in enumerate(months):
        x = left + i * slot
        w = max(slot * 0.7, 2)
        name = fmt.month(m.month)
        body.append(
            _rect(
                x + slot * 0.15,
                base - float(m.amount) * k,
                w,
                float(m.amount) * k,
                AMOUNT,
                f"{name}: amount {fmt.money(m.amount)} ({m.count} deals)",
            )
        )
        color = NO_DATE if m.month is None else WEIGHTED
        body.append(
            _rect(
                x + slot * 0.3,
                base - float(m.weighted) * k,
                w * 0.55,
                float(m.weighted) * k,
                color,
                f"{name}: weighted {fmt.money(m.weighted)}",
            )
        )
        label = name if m.month is None else (m.month[2:] if n > 8 else m.month)
        body.append(_text(x + slot / 2, base + 16, label, "middle", "small"))
        if n <= 12 and m.weighted:
            body.append(_text(x + slot / 2, base - float(m.weighted) * k - 4, fmt.money(m.weighted), "middle", "small"))
    return _svg(height, body, "Weighted forecast per month of expected close")


def owner_attainment(owners: Sequence[OwnerFigure], currency: str) -> str:
    """Per owner: won and commit + won as bars, the target as a vertical mark."""
    label_w, row_h, top = 230, 40, 30
    span = WIDTH - label_w - 120
    k = _scale([o.commit_and_closed for o in owners] + [o.target or ZERO for o in owners], span)
    body = _legend(18, [(WON, f"won ({currency})"), (COMMIT, "commit + won"), ("#000", "target")])
    for i, o in enumerate(owners):
        y = top + i * row_h
        name = o.owner.name if o.owner.configured else f"{o.owner.name} (unassigned)"
        body.append(_text(label_w - 8, y + 20, name, "end"))
        body.append(
            _rect(
                label_w,
                y + 6,
                float(o.commit_and_closed) * k,
                24,
                COMMIT,
                f"{o.owner.display}: commit + won {fmt.money(o.commit_and_closed)}",
            )
        )
        body.append(_rect(label_w, y + 12, float(o.won) * k, 12, WON, f"{o.owner.display}: won {fmt.money(o.won)}"))
        if o.target:
            x = label_w + float(o.target) * k
            body.append(
                f'<line x1="{x:.1f}" y1="{y + 2}" x2="{x:.1f}" y2="{y + 34}" stroke="#000" stroke-width="2">'
                f"<title>{escape(f'target {fmt.money(o.target)}')}</title></line>"
            )
        end = max(float(o.commit_and_closed), float(o.target or 0)) * k
        note = f"{fmt.pct(o.won_attainment)} / {fmt.pct(o.commit_attainment)}" if o.target else "no target"
        body.append(_text(label_w + end + 6, y + 22, note, cls="num"))
    return _svg(top + row_h * max(len(owners), 1) + 6, body, "Owner attainment against target")


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
