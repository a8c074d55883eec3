"""A simulation as terminal tables, JSON and one self-contained HTML page (see `crmsync.simulate`)."""

from __future__ import annotations

import json
from decimal import Decimal
from html import escape
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from crmsync.model import ForecastCategory
from crmsync.report import fmt
from crmsync.simulate import DIMENSIONS, Move, Simulation, Split

Labels = dict[ForecastCategory, str]
CATEGORIES = list(ForecastCategory)


def _money(value: Decimal) -> str:
    return fmt.money(value)


def _delta(before: Decimal, after: Decimal) -> str:
    diff = after - before
    return ("+" if diff > 0 else "") + fmt.money(diff) if diff else "0"


def _pair(category: ForecastCategory, probability: Decimal, labels: Labels) -> str:
    return f"{labels.get(category, category.value)} {fmt.pct(probability)}"


def _rows(split: Split, labels: Labels) -> list[list[str]]:
    rows = []
    for c in CATEGORIES:
        before, after = split.before.get(c, Decimal(0)), split.after.get(c, Decimal(0))
        if before or after or split.deals_before.get(c) or split.deals_after.get(c):
            rows.append(
                [
                    labels.get(c, c.value),
                    str(split.deals_before.get(c, 0)),
                    str(split.deals_after.get(c, 0)),
                    _money(before),
                    _money(after),
                    _delta(before, after),
                ]
            )
    total_b, total_a = split.total("before"), split.total("after")
    rows.append(["Total", "", "", _money(total_b), _money(total_a), _delta(total_b, total_a)])
    return rows


HEADERS = ["Category", "Deals before", "Deals after", "Weighted before", "Weighted after", "Change"]


def _move_row(move: Move, labels: Labels) -> list[str]:
    return [
        move.connection,
        move.name,
        move.owner,
        _pair(*move.before, labels),
        _pair(*move.after, labels),
        _delta(move.weighted_before, move.weighted_after),
        ", ".join(move.after_rules),
    ]


MOVE_HEADERS = ["Connection", "Deal", "Owner", "Before", "After", "Weighted change", "Rules after"]


def render_terminal(sim: Simulation, console: Console, labels: Labels, limit: int = 30) -> None:
    console.print(
        f"Simulation of {sim.mapping} over {', '.join(sim.connections)}: {sim.deals} stored deals, "
        f"{len(sim.moves)} would change (nothing fetched, nothing written)",
        highlight=False,
        markup=False,
    )
    table = Table(title="Weighted forecast per category, before → after")
    for h in HEADERS:
        table.add_column(h, justify="left" if h == "Category" else "right")
    for row in _rows(sim.overall, labels):
        table.add_row(*row)
    console.print(table)
    for dimension in DIMENSIONS:
        splits = sim.by.get(dimension, {})
        table = Table(title=f"Weighted forecast per {dimension}, before → after")
        for h in (dimension.capitalize(), "Weighted before", "Weighted after", "Change", "Deals that change"):
            table.add_column(h, justify="left" if h == dimension.capitalize() else "right")
        changed: dict[str, int] = {}
        for move in sim.moves:
            key = move.connection if dimension == "connection" else getattr(move, dimension)
            changed[key] = changed.get(key, 0) + 1
        for key in sorted(splits):
            split = splits[key]
            b, a = split.total("before"), split.total("after")
            table.add_row(Text(key), _money(b), _money(a), _delta(b, a), str(changed.get(key, 0)))
        console.print(table)
    table = Table(title=f"Deals that change (largest weighted change first; {min(limit, len(sim.moves))} shown)")
    for h in MOVE_HEADERS:
        table.add_column(h)
    for move in sim.moves[:limit]:
        table.add_row(*(Text(v) for v in _move_row(move, labels)))
    console.print(table)
    if len(sim.moves) > limit:
        console.print(f"… and {len(sim.moves) - limit} more; --format json lists every one", highlight=False)


def _split_data(split: Split) -> dict[str, Any]:
    return {
        c.value: {
            "deals_before": split.deals_before.get(c, 0),
            "deals_after": split.deals_after.get(c, 0),
            "weighted_before": fmt.plain(split.before.get(c, Decimal(0))),
            "weighted_after": fmt.plain(split.after.get(c, Decimal(0))),
        }
        for c in CATEGORIES
    } | {
        "total": {
            "weighted_before": fmt.plain(split.total("before")),
            "weighted_after": fmt.plain(split.total("after")),
        }
    }


def to_data(sim: Simulation) -> dict[str, Any]:
    """The simulation as JSON-ready data; money as decimal strings in the base currency, probabilities 0..1."""
    return {
        "mapping": str(sim.mapping),
        "connections": sim.connections,
        "today": sim.today.isoformat(),
        "deals": sim.deals,
        "changed": len(sim.moves),
        "overall": _split_data(sim.overall),
        "by": {dim: {key: _split_data(s) for key, s in sorted(sim.by.get(dim, {}).items())} for dim in DIMENSIONS},
        "moves": [
            {
                "connection": m.connection,
                "source_id": m.source_id,
                "name": m.name,
                "owner": m.owner,
                "team": m.team,
                "quarter": m.quarter,
                "amount": fmt.plain(m.amount) if m.amount is not None else None,
                "before": {"category": m.before[0].value, "probability": str(m.before[1])},
                "after": {"category": m.after[0].value, "probability": str(m.after[1])},
                "rules_before": list(m.before_rules),
                "rules_after": list(m.after_rules),
            }
            for m in sim.moves
        ],
    }


def to_json(sim: Simulation) -> str:
    return json.dumps(to_data(sim), indent=2, ensure_ascii=False)


def _html_table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def to_html(sim: Simulation, labels: Labels) -> str:
    """One self-contained page: no script, no fetch (the CSP forbids both); every CRM string escaped."""
    parts = [
        '<!doctype html><html><head><meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">",
        "<title>crmsync simulation</title><style>body{font:14px system-ui,sans-serif;margin:24px}"
        "table{border-collapse:collapse;margin:8px 0 20px}td,th{padding:3px 10px;border-bottom:1px solid #eee}"
        "th{background:#f6f6f6;text-align:left}</style></head><body>",
        f"<h1>Simulation of {escape(str(sim.mapping))}</h1>",
        f"<p>{escape(', '.join(sim.connections))}: {sim.deals} stored deals, {len(sim.moves)} would change; "
        f"evaluated as of {sim.today.isoformat()}. Nothing fetched, nothing written.</p>",
        "<h2>Weighted forecast per category</h2>",
        _html_table(HEADERS, _rows(sim.overall, labels)),
    ]
    for dimension in DIMENSIONS:
        rows = []
        for key, split in sorted(sim.by.get(dimension, {}).items()):
            b, a = split.total("before"), split.total("after")
            rows.append([key, _money(b), _money(a), _delta(b, a)])
        parts += [f"<h2>Per {escape(dimension)}</h2>", _html_table([dimension, "Before", "After", "Change"], rows)]
    parts += ["<h2>Deals that change</h2>", _html_table(MOVE_HEADERS, [_move_row(m, labels) for m in sim.moves])]
    parts.append("</body></html>")
    return "".join(parts)
