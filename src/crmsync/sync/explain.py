"""Reading again, with their history, the deals whose remote value a person may have set.

Listings come without property history (it costs HubSpot a page of 50 records instead of 100). A deal the plan
would change although crmsync did not write its value is read again by id, with the history that says whether a
person set it; only those deals are read, and a deal the read does not bring keeps its listed version.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import ValidationError

from crmsync.connector import Connector, Reference
from crmsync.errors import CrmsyncError
from crmsync.model import Deal, Forecast
from crmsync.rules_compiled import compiled
from crmsync.store.ledger import Marks
from crmsync.sync import storable
from crmsync.sync.plan import DealPlan, marked_ids, marks_for, plan_deal, unexplained

Evaluated = dict[str, tuple[Forecast, DealPlan]]


async def explain(
    connector: Connector, deals: list[Deal], reference: Reference, marks: dict[str, dict[str, Marks]], today: date
) -> tuple[list[Deal], Evaluated]:
    """The deals, those the plan would change without crmsync having written their value read again by id.

    Returns the deals, and the forecasts of those kept as listed with their plans for a deal with no stored
    stage (evaluated and planned once, not again by the engine).
    """
    mapping = connector.mapping
    wanted: list[str] = []
    evaluated: Evaluated = {}
    marked = marked_ids(marks)
    evaluate = compiled(mapping).evaluate  # the rules of `crmsync.rules.evaluate`, looked up once a chunk
    for deal in deals:
        forecast = evaluate(deal, today)
        known = marks_for(marks, deal.source_id) if deal.source_id in marked else {}
        plan = plan_deal(deal, forecast, mapping, known, None)
        evaluated[deal.source_id] = (forecast, plan)
        if unexplained(deal, plan, known):
            wanted.append(deal.source_id)
    if not wanted:
        return deals, evaluated
    raws = await connector.read(wanted)
    explained: dict[str, Deal] = {}
    for raw in raws or []:
        if (found := map_quietly(connector, raw, reference)) is not None:
            explained[found.source_id] = found
            evaluated.pop(found.source_id, None)  # read again, maybe changed since: evaluated afresh
    return [explained.get(deal.source_id, deal) for deal in deals], evaluated


def map_quietly(connector: Connector, raw: dict[str, Any], reference: Reference) -> Deal | None:
    """A record read again, mapped; one that no longer maps keeps its listed version (no second quarantine)."""
    try:
        deal = reference.owner(connector.to_deal(raw, reference))
    except (CrmsyncError, ValidationError, ValueError, TypeError, KeyError):
        return None
    return None if storable.problem(deal) is not None else storable.without_nul(deal)
