"""The forecast rules: pure functions from a canonical deal and its mapping to a Forecast.

The rules are specified (order of evaluation, rule ids, flags) and written plainly in `crmsync.rules_reference`;
`evaluate` runs them compiled once per mapping (`crmsync.rules_compiled`), with the same results.
"""

from __future__ import annotations

from datetime import date

from crmsync.mapping import Mapping
from crmsync.model import Deal, Forecast
from crmsync.rules_compiled import compiled
from crmsync.rules_reference import UNMAPPED_STAGE, find_stage_rule, landing_month, matches, period_bounds

__all__ = ["UNMAPPED_STAGE", "evaluate", "find_stage_rule", "landing_month", "matches", "period_bounds"]


def evaluate(deal: Deal, mapping: Mapping, today: date) -> Forecast:
    """Decide the forecast category and probability of one deal. Pure: same inputs, same result."""
    return compiled(mapping).evaluate(deal, today)
