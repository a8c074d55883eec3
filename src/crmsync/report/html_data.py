"""The data the HTML page's script works on, embedded in the page as JSON, and the script itself.

The deals go in compactly (one array per deal, connections/pipelines/owners/categories by index) inside
`<script type="application/json">`, which the browser never executes. `embed_json` escapes `<`, `>`, `&` and
the two JavaScript line separators, so no CRM text (a deal named `</script><script>…`) can end the block.
The script is `html_app.js`, a package data file; the page's Content-Security-Policy allows only it, by hash.
"""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import date
from decimal import Decimal
from importlib.resources import files
from typing import Any

from crmsync.report.model import CATEGORY_ORDER, DealLine, OwnerRef, Report

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def embed_json(value: Any) -> str:
    """JSON that is safe inside a `<script type="application/json">` element."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    return "".join(_ESCAPES.get(char, char) for char in text)


def script() -> str:
    """The page's script (`html_app.js`)."""
    return files("crmsync.report").joinpath("html_app.js").read_text(encoding="utf-8")


def style() -> str:
    return files("crmsync.report").joinpath("html_app.css").read_text(encoding="utf-8")


def csp_hash(source: str) -> str:
    """The CSP source expression that allows exactly this inline script."""
    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def _num(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def _day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _owner(ref: OwnerRef) -> dict[str, Any]:
    return {"key": ref.key, "name": ref.display, "email": ref.email, "team": ref.team, "configured": ref.configured}


def payload(report: Report) -> dict[str, Any]:
    """Everything the script needs, JSON-ready."""
    r = report
    connections = sorted({d.connection for d in r.deals} | {run.connection for run in r.runs})
    dry = {run.connection for run in r.runs if run.mode == "dry-run"} | {d.connection for d in r.deals if d.dry_run}
    pipelines = sorted({d.pipeline for d in r.deals}, key=str.casefold)
    owners: dict[str, OwnerRef] = {o.owner.key: o.owner for o in r.owners if o.owner.configured}
    for line in r.deals:
        owners.setdefault(line.owner.key, line.owner)
    owner_at = {key: i for i, key in enumerate(owners)}
    conn_at = {name: i for i, name in enumerate(connections)}
    pipe_at = {name: i for i, name in enumerate(pipelines)}
    cat_at = {category.value: i for i, category in enumerate(CATEGORY_ORDER)}

    def deal(d: DealLine) -> list[Any]:
        return [
            conn_at[d.connection],
            d.source_id,
            d.name,
            pipe_at[d.pipeline],
            d.stage,
            d.status,
            cat_at[d.category.value],
            float(d.probability),
            _num(d.amount),
            None if d.original_amount is None else str(d.original_amount),
            d.currency,
            _day(d.day),
            owner_at[d.owner.key],
            list(d.flags),
            d.url,
            1 if d.dry_run else 0,
            [[day.isoformat(), cat_at.get(category, cat_at["omitted"]), float(p)] for day, category, p in d.history],
        ]

    return {
        "locale": r.locale,
        "currency": r.base_currency,
        "today": r.today.isoformat(),
        "categories": [c.value for c in CATEGORY_ORDER],
        "labels": {c.value: r.label(c) for c in CATEGORY_ORDER},
        "connections": [{"name": name, "dryRun": name in dry} for name in connections],
        "pipelines": pipelines,
        "owners": [_owner(ref) for ref in owners.values()],
        "periods": [
            {
                "key": c.key,
                "label": c.period.label,
                "start": _day(c.period.start),
                "end": _day(c.period.end),
                "targets": {key: float(amount) for key, amount in c.targets.items()},
            }
            for c in r.choices
        ],
        "period": r.period_key,
        "trendDays": [p.day.isoformat() for p in r.trend],
        "deals": [deal(d) for d in r.deals],
    }
