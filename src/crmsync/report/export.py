"""JSON and CSV exports of the report, for other tools.

JSON: one object; amounts are strings with two decimals in the base currency ("10000.00"), ratios strings with
four decimals ("0.6667"), days strings with one decimal, so that no figure goes through a binary float.

CSV: one long ("tidy") table for every section, columns `section, key, label, owner, metric, value`, so that a
spreadsheet pivot or `grep` gets any figure. Text that a spreadsheet would take for a formula is prefixed
with a quote.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from crmsync.report.fmt import plain
from crmsync.report.model import (
    FunnelTotals,
    OwnerRef,
    Report,
    Result,
    StageFigure,
    Tally,
)


def _ratio(value: Decimal | None) -> str | None:
    return plain(value, 4)


def _days(value: Decimal | None) -> str | None:
    return plain(value, 1)


def _owner(owner: OwnerRef | None) -> dict[str, Any] | None:
    if owner is None:
        return None
    return {
        "name": owner.name,
        "email": owner.email,
        "team": owner.team,
        "configured": owner.configured,
        "display": owner.display,
    }


def _tally(value: Tally) -> dict[str, Any]:
    return {"count": value.count, "amount": plain(value.amount)}


def _result(value: Result) -> dict[str, Any]:
    return {"won": _tally(value.won), "open": _tally(value.open), "lost": _tally(value.lost)}


def _stage(stage: StageFigure) -> dict[str, Any]:
    return {
        "stage_id": stage.stage_id,
        "label": stage.label,
        "order": stage.order,
        "open_deals": stage.open_deals,
        "average_size": plain(stage.average_size),
        "reached": stage.reached,
        "win_rate": _ratio(stage.win_rate),
        "average_days_to_won": _days(stage.average_days_to_won),
        "conversion_to_next": _ratio(stage.conversion),
    }


def _totals(totals: FunnelTotals) -> dict[str, Any]:
    return {
        "open_deals": totals.open_deals,
        "average_size": plain(totals.average_size),
        "won": totals.won,
        "lost": totals.lost,
        "win_rate": _ratio(totals.win_rate),
        "average_days_to_won": _days(totals.average_days_to_won),
    }


def to_dict(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data (see the module docstring for how numbers are written)."""
    r = report
    return {
        "generated_at": r.generated_at.isoformat(),
        "today": r.today.isoformat(),
        "base_currency": r.base_currency,
        "period": {
            "label": r.period.label,
            "start": r.period.start.isoformat() if r.period.start else None,
            "end": r.period.end.isoformat() if r.period.end else None,
        },
        "filters": {
            "connections": sorted(r.filters.connections),
            "pipelines": sorted(r.filters.pipelines),
            "owners": sorted(r.filters.owners),
            "teams": sorted(r.filters.teams),
        },
        "runs": [
            {
                "connection": run.connection,
                "run_id": run.run_id,
                "status": run.status,
                "mode": run.mode,
                "finished_at": run.finished_at.isoformat() if run.finished_at else None,
            }
            for run in r.runs
        ],
        "warnings": list(r.warnings),
        "categories": [
            {
                "category": c.category.value,
                "label": c.label,
                "count": c.count,
                "amount": plain(c.amount),
                "weighted": plain(c.weighted),
            }
            for c in r.categories
        ],
        "months": [
            {"month": m.month, "count": m.count, "amount": plain(m.amount), "weighted": plain(m.weighted)}
            for m in r.months
        ],
        "owners": [
            {
                "owner": _owner(o.owner),
                "deals": o.deals,
                "won": plain(o.won),
                "commit": plain(o.commit),
                "commit_and_closed": plain(o.commit_and_closed),
                "best_case": plain(o.best_case),
                "pipeline": plain(o.pipeline),
                "target": plain(o.target),
                "won_attainment": _ratio(o.won_attainment),
                "commit_attainment": _ratio(o.commit_attainment),
            }
            for o in r.owners
        ],
        "teams": [
            {
                "team": t.team,
                "owners": t.owners,
                "deals": t.deals,
                "won": plain(t.won),
                "commit": plain(t.commit),
                "best_case": plain(t.best_case),
                "pipeline": plain(t.pipeline),
                "target": plain(t.target),
            }
            for t in r.teams
        ],
        "trend": [
            {"day": p.day.isoformat(), "weighted": {c.value: plain(v) for c, v in p.weighted.items()}} for p in r.trend
        ],
        "funnel": {
            "pipelines": [
                {
                    "connection": f.connection,
                    "pipeline_id": f.pipeline_id,
                    "pipeline": f.pipeline_label,
                    "basis": f.basis,
                    "stages": [_stage(s) for s in f.stages],
                    "won": f.won_reached,
                    "unplaced_lost": f.unplaced_lost,
                    "totals": _totals(f.totals),
                }
                for f in r.funnels
            ],
            "totals": _totals(r.funnel_totals),
        },
        "results": {
            "this_year": r.results.this_year,
            "years": [{"year": y.year, **_result(y.result)} for y in r.results.years],
            "sections": {
                name: [
                    {
                        "key": row.key,
                        "this_year": _result(row.this_year),
                        "earlier_years": _result(row.earlier),
                        "later_years": _result(row.later),
                        "no_date": _tally(row.no_date),
                    }
                    for row in rows
                ]
                for name, rows in r.results.sections.items()
            },
        },
        "flags": [
            {
                "owner": _owner(f.owner),
                "connection": f.connection,
                "source_id": f.source_id,
                "deal": f.deal,
                "stage": f.stage,
                "flags": list(f.flags),
                "amount": plain(f.amount),
                "currency": f.currency,
                "close_date": f.close_date.isoformat() if f.close_date else None,
            }
            for f in r.flags
        ],
        "moves": [
            {
                "connection": m.connection,
                "source_id": m.source_id,
                "deal": m.deal,
                "owner": _owner(m.owner),
                "run_id": m.run_id,
                "at": m.at.isoformat(),
                "old_category": m.old_category.value,
                "new_category": m.new_category.value,
                "old_label": r.label(m.old_category),
                "new_label": r.label(m.new_category),
                "old_probability": _ratio(m.old_probability),
                "new_probability": _ratio(m.new_probability),
                "rule_ids": list(m.rule_ids),
            }
            for m in r.moves
        ],
        "unconverted": [
            {
                "connection": u.connection,
                "source_id": u.source_id,
                "deal": u.deal,
                "amount": plain(u.amount),
                "currency": u.currency,
            }
            for u in r.unconverted
        ],
    }


def to_json(report: Report, indent: int | None = 2) -> str:
    return json.dumps(to_dict(report), indent=indent, ensure_ascii=False)


# -- CSV ----------------------------------------------------------------------------------------------------

Row = tuple[str, str, str, str, str, Any]
CSV_COLUMNS = ("section", "key", "label", "owner", "metric", "value")


def _safe(value: Any) -> str:
    """Text a spreadsheet would evaluate (=, +, -, @ …) gets a leading quote; numbers are left alone."""
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r":
        try:
            Decimal(text)
        except ArithmeticError:
            return "'" + text
    return text


def _metrics(section: str, key: str, label: str, owner: str, values: dict[str, Any]) -> Iterator[Row]:
    for metric, value in values.items():
        yield section, key, label, owner, metric, value


def csv_rows(report: Report) -> Iterator[Row]:
    """The long rows of the CSV export, before escaping."""
    data = to_dict(report)
    for c in data["categories"]:
        yield from _metrics(
            "category", c["category"], c["label"], "", {k: c[k] for k in ("count", "amount", "weighted")}
        )
    for m in data["months"]:
        key = m["month"] or "no_date"
        yield from _metrics(
            "month", key, m["month"] or "no date", "", {k: m[k] for k in ("count", "amount", "weighted")}
        )
    for o in data["owners"]:
        who = o["owner"]
        values = {k: v for k, v in o.items() if k != "owner"}
        yield from _metrics("owner", who["email"] or who["name"], who["display"], who["display"], values)
    for f in data["funnel"]["pipelines"]:
        base = f"{f['connection']}/{f['pipeline_id']}"
        yield "funnel", base, f["pipeline"], "", "basis", f["basis"]
        for s in f["stages"]:
            values = {k: v for k, v in s.items() if k not in ("stage_id", "label", "order")}
            yield from _metrics("funnel_stage", f"{base}/{s['stage_id']}", s["label"], "", values)
        yield from _metrics("funnel", base, f["pipeline"], "", f["totals"])
    yield from _metrics("funnel", "all", "all pipelines", "", data["funnel"]["totals"])
    for y in data["results"]["years"]:
        key = str(y["year"]) if y["year"] is not None else "no_date"
        for status in ("won", "open", "lost"):
            yield from _metrics("results_year", key, key, "", {f"{status}_{k}": v for k, v in y[status].items()})
    for name, rows in data["results"]["sections"].items():
        for row in rows:
            for slot in ("this_year", "earlier_years", "later_years"):
                for status in ("won", "open", "lost"):
                    values = {f"{slot}_{status}_{k}": v for k, v in row[slot][status].items()}
                    yield from _metrics(f"results_by_{name.replace(' ', '_')}", row["key"], row["key"], "", values)
            values = {f"no_date_{k}": v for k, v in row["no_date"].items()}
            yield from _metrics(f"results_by_{name.replace(' ', '_')}", row["key"], row["key"], "", values)
    for f in data["flags"]:
        for flag in f["flags"]:
            yield "flag", f"{f['connection']}/{f['source_id']}", f["deal"], f["owner"]["display"], "flag", flag
    for m in data["moves"]:
        owner = m["owner"]["display"] if m["owner"] else ""
        key = f"{m['connection']}/{m['source_id']}"
        values = {k: m[k] for k in ("old_category", "new_category", "old_probability", "new_probability")}
        values["rule_ids"] = " ".join(m["rule_ids"])
        yield from _metrics("move", key, m["deal"], owner, values)
    for u in data["unconverted"]:
        yield "unconverted", f"{u['connection']}/{u['source_id']}", u["deal"], "", u["currency"], u["amount"]
    for note in data["warnings"]:
        yield "warning", "", "", "", "warning", note


def to_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow([_safe(cell) for cell in row])
    return out.getvalue()
