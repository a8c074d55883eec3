"""Per-deal writes for CRMs without a batch endpoint: one request per deal, concurrently, one outcome each.

The rules every connector used to carry itself: refused credentials (`AuthError`) stop the batch, since nothing
else could be written either; a request that got no answer (`TransportError`) is `unknown` — the CRM may have
applied it, so the next run compares the deal with that value instead of taking it for a person's edit; any
other connector error is that deal's failure with the CRM's reason, and never hides the deals already written.
The client's semaphore and limiter keep the pace.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from crmsync import bare
from crmsync.connector import DealUpdate, WriteOutcome
from crmsync.errors import ApiError, AuthError, ConnectorError, TransportError
from crmsync.mapping import Mapping


def json_number(value: Decimal) -> int | float:
    """A decimal as a JSON number: an integer where it is one (APIs that validate types want 75, not 75.0)."""
    return int(value) if value == value.to_integral_value() else float(value)


def writeback_values(
    update: DealUpdate, mapping: Mapping, probability: Callable[[Decimal], Any] = str
) -> dict[str, Any]:
    """The mapping's write-back fields with this update's values: '' clears (the category, or the probability
    when asked to); a field the update leaves alone is absent."""
    wb = mapping.writeback
    values: dict[str, Any] = {}
    if update.category is not None and wb.category_field:
        values[wb.category_field] = update.category
    if wb.probability_field:
        if update.probability is not None:
            values[wb.probability_field] = probability(update.probability)
        elif update.clear_probability:
            values[wb.probability_field] = ""
    return values


# Outcomes of plain values are built without validating them (a written outcome per deal of a batch cost as much
# as the rest of its settling); `bare.works` turns that off should pydantic change its slots.
_WRITTEN_SET = {"source_id", "status", "modified_at"}
_SKIPPED_SET = {"source_id", "status", "reason"}
_bare_written = bare.builder(WriteOutcome, _WRITTEN_SET)
_bare_skipped = bare.builder(WriteOutcome, _SKIPPED_SET)


def _works(fields: set[str]) -> bool:
    values: dict[str, Any] = {"source_id": "1", "status": "written", "reason": "r", "modified_at": None}
    checked = WriteOutcome(**{name: values[name] for name in fields})
    return bare.works(WriteOutcome, values) and bare.build(WriteOutcome, checked.__dict__.copy(), fields) == checked


_FAST = _works(_WRITTEN_SET) and _works(_SKIPPED_SET)


def written(update: DealUpdate, modified_at: datetime | None = None) -> WriteOutcome:
    """A written outcome; `modified_at` is the modification time the CRM's answer gives the deal, when it does."""
    source_id = update.source_id
    if _FAST and type(source_id) is str and (modified_at is None or type(modified_at) is datetime):
        return _bare_written({"source_id": source_id, "status": "written", "reason": None, "modified_at": modified_at})
    return WriteOutcome(source_id=source_id, status="written", modified_at=modified_at)


def skipped(update: DealUpdate, reason: str) -> WriteOutcome:
    source_id = update.source_id
    if _FAST and type(source_id) is str and type(reason) is str:
        return _bare_skipped({"source_id": source_id, "status": "skipped", "reason": reason, "modified_at": None})
    return WriteOutcome(source_id=source_id, status="skipped", reason=reason)


def failed(update: DealUpdate, reason: str | BaseException) -> WriteOutcome:
    """A failed outcome; an ApiError gives its status and the CRM's own message."""
    if isinstance(reason, ApiError) and reason.status is not None:
        reason = f"{reason.status}: {reason.detail or reason}"
    return WriteOutcome(source_id=update.source_id, status="failed", reason=str(reason))


async def write_each(
    updates: Sequence[DealUpdate], write_one: Callable[[DealUpdate], Awaitable[WriteOutcome]]
) -> list[WriteOutcome]:
    """`write_one` for every update at once; one outcome per update, in order.

    Every request runs to its end before this returns or raises, so nothing already sent goes unrecorded.

    Raises:
        AuthError: the CRM refused the credentials (the first such refusal).
    """
    results = await asyncio.gather(*(write_one(update) for update in updates), return_exceptions=True)
    outcomes: list[WriteOutcome] = []
    for update, result in zip(updates, results, strict=True):
        if isinstance(result, AuthError):
            raise result
        if isinstance(result, TransportError):  # sent, never answered: the next run reads the deal back
            outcomes.append(WriteOutcome(source_id=update.source_id, status="unknown", reason=str(result)))
        elif isinstance(result, ConnectorError):
            outcomes.append(failed(update, result))
        elif isinstance(result, BaseException):
            raise result
        else:
            outcomes.append(result)
    return outcomes
