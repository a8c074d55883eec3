"""Machine-readable output for cron and other tools: the JSON of `sync`, `history`, `ledger` and plans.

Every document is one JSON object: timestamps ISO 8601 in UTC, counts as integers, CRM values as the strings
the ledger holds. The shapes are documented in the README ("Machine-readable output").
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from crmsync.app import ConnectionOutcome
from crmsync.store.vocabulary import Outcome
from crmsync.sync.result import COUNTS


def _default(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value) if isinstance(value, set | frozenset) else list(value)
    raise TypeError(f"not JSON: {type(value).__name__}")


def dumps(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=_default)


def outcome_data(outcome: ConnectionOutcome) -> dict[str, Any]:
    """One connection's sync: its run's counts, or the error that stopped it."""
    r = outcome.result
    if r is None:
        error = outcome.error
        return {
            "connection": outcome.connection,
            "run_id": None,
            "status": "error",
            "error": str(error) if error is not None else None,
            "error_type": type(error).__name__ if error is not None else None,
        }
    return {
        "connection": outcome.connection,
        "run_id": r.run_id,
        "status": str(r.status),
        "mode": r.mode,
        "full": r.full,
        **r.counts(),
        "written_by_category": dict(r.written_by_category),
        "error": r.error,
    }


def run_data(run: Mapping[str, Any]) -> dict[str, Any]:
    """A row of the runs table as `history` shows it."""
    keep = (
        *("id", "connection", "kind", "mode", "status", "full", "started_at", "finished_at"),
        *COUNTS,
        *("rollback_of", "trigger", "error"),
    )
    return {key: run.get(key) for key in keep if key in run}


def ledger_data(rows: Sequence[Mapping[str, Any]], names: Mapping[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "id": row["id"],
            "source_id": row["source_id"],
            "deal": names.get(row["source_id"]),
            "field": row["field"],
            "old_value": row["old_value"],
            "new_value": row["new_value"],
            "outcome": row["outcome"],
            "reason": row["reason"],
        }
        for row in rows
    ]


def plan_summary(
    connection: str, rows: Iterable[Mapping[str, Any]], names: Mapping[str, str], examples: int = 5
) -> dict[str, Any]:
    """A plan by category: per new category value, the deals to write (count and a few names), and the
    number left alone (respected or skipped) with their reasons counted."""
    to_write: dict[str, list[str]] = defaultdict(list)
    probability_only: set[str] = set()
    left: dict[str, int] = defaultdict(int)
    deals: set[str] = set()
    for row in rows:
        if row["outcome"] in (Outcome.PLANNED, Outcome.PENDING, Outcome.WRITTEN):
            deals.add(row["source_id"])
            if row["field"] == "category":
                to_write[row["new_value"] or ""].append(row["source_id"])
            else:
                probability_only.add(row["source_id"])
        else:
            left[f"{row['outcome']}: {row['reason'] or ''}".rstrip(": ")] += 1
    categorised = {sid for ids in to_write.values() for sid in ids}
    return {
        "connection": connection,
        "deals_to_write": len(deals),
        "by_category": {
            value: {"deals": len(ids), "examples": [names.get(sid, sid) for sid in sorted(ids)[:examples]]}
            for value, ids in sorted(to_write.items())
        },
        "probability_only": len(probability_only - categorised),
        "left_alone": dict(sorted(left.items())),
    }
