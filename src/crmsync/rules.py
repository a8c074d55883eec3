"""The forecast rules: pure functions from a canonical deal and its mapping to a Forecast.

Order of evaluation, each step recording the id of the rule that decided:
1. closed-won → closed at 100 % (`closed-won`); closed-lost or deleted → omitted at 0 % (`closed-lost`);
2. otherwise the mapping's stage table (`stage:<pipeline>/<stage>`), its probability falling back to the
   CRM's own stage probability (`native-probability`); a stage missing from the table is flagged
   `unmapped_stage` and keeps the CRM's probability in the pipeline category;
3. then every conditional rule in order (its own id) that sets or caps category/probability or raises a flag.

The rules are written plainly in `crmsync.rules_reference`; `evaluate` runs them compiled once per mapping
(`crmsync.rules_compiled`), with the same results.
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
