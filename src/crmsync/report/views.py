"""What the HTML page adds to the report, computed here as the source of truth its script is tested against.

- `lines`: every deal the command's filters let through (any period), with its link into the CRM and its
  forecast history, for the page's own filters and drill-down;
- `trend`: the weighted forecast per category at the end of each of the last days on which a run changed
  forecasts, replaying the recorded changes; amounts are today's (the store keeps no amount history), and a
  deal counts from its first recorded forecast on;
- `teams`: subtotals of the per-owner figures by configured team;
- `choices`: the periods the page offers, with each configured owner's target for each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from crmsync.config import Config
from crmsync.model import ForecastCategory
from crmsync.report.figures import Entry, OwnerIndex, target_for
from crmsync.report.links import deal_url
from crmsync.report.model import (
    CATEGORY_ORDER,
    ZERO,
    DealLine,
    ForecastStep,
    OwnerFigure,
    Period,
    PeriodChoice,
    TeamFigure,
    TrendPoint,
)
from crmsync.report.period import resolve_period

TREND_DAYS = 30
CHOICES = ("all", "this_month", "this_quarter", "this_year", "last_month", "last_quarter", "last_year")
TRENDED = tuple(c for c in CATEGORY_ORDER if c is not ForecastCategory.OMITTED)  # omitted weighs nothing


def histories(steps: Iterable[ForecastStep], tz: ZoneInfo) -> dict[tuple[str, str], list[tuple[date, str, Decimal]]]:
    """Per deal: its forecast at the end of each day a change was recorded, oldest first."""
    out: dict[tuple[str, str], list[tuple[date, str, Decimal]]] = defaultdict(list)
    for step in steps:
        day = step.at.astimezone(tz).date()
        mine = out[step.connection, step.source_id]
        if mine and mine[-1][0] == day:
            mine[-1] = (day, step.category, step.probability)
        else:
            mine.append((day, step.category, step.probability))
    return out


def lines(
    entries: Iterable[Entry],
    steps: Iterable[ForecastStep],
    links: dict[str, str],
    tz: ZoneInfo,
) -> list[DealLine]:
    history = histories(steps, tz)
    return [
        DealLine(
            connection=e.row.connection,
            source_id=e.row.source_id,
            name=e.row.name,
            pipeline_id=e.row.pipeline_id,
            pipeline=e.row.pipeline_label,
            stage=e.row.stage_label,
            status=e.row.status,
            category=e.category,
            probability=e.probability,
            amount=e.amount,
            original_amount=e.row.amount,
            currency=e.row.currency,
            day=e.day,
            owner=e.owner,
            flags=e.row.flags,
            url=deal_url(links.get(e.row.connection), e.row.source_id),
            dry_run=e.row.dry_run,
            history=tuple(history.get((e.row.connection, e.row.source_id), ())),
        )
        for e in entries
    ]


def trend_days(steps: Iterable[ForecastStep], tz: ZoneInfo, keep: int = TREND_DAYS) -> list[date]:
    """The last `keep` days on which a run changed a forecast (of any deal: the same days whatever the filters)."""
    return sorted({step.at.astimezone(tz).date() for step in steps})[-keep:]


def trend(deals: Sequence[DealLine], days: Sequence[date]) -> list[TrendPoint]:
    """The weighted forecast per category of `deals` at the end of each of `days`."""
    points = []
    for day in days:
        weighted: dict[ForecastCategory, Decimal] = dict.fromkeys(TRENDED, ZERO)
        for deal in deals:
            state = None
            for when, category, probability in deal.history:
                if when > day:
                    break
                state = (category, probability)
            if state is None or deal.amount is None:
                continue
            category = ForecastCategory(state[0])
            if category in weighted:
                weighted[category] += deal.amount * state[1]
        points.append(TrendPoint(day, weighted))
    return points


def teams(owners: Sequence[OwnerFigure]) -> list[TeamFigure]:
    """Subtotals per team, in the order teams first appear; owners without a team last, as team None."""
    grouped: dict[str | None, list[OwnerFigure]] = defaultdict(list)
    for figure in owners:
        grouped[figure.owner.team].append(figure)
    order = [team for team in grouped if team is not None] + ([None] if None in grouped else [])
    out = []
    for team in order:
        mine = grouped[team]
        targets = [o.target for o in mine if o.target is not None]
        out.append(
            TeamFigure(
                team=team,
                owners=len(mine),
                won=sum((o.won for o in mine), ZERO),
                commit=sum((o.commit for o in mine), ZERO),
                best_case=sum((o.best_case for o in mine), ZERO),
                pipeline=sum((o.pipeline for o in mine), ZERO),
                target=sum(targets, ZERO) if targets else None,
                deals=sum(o.deals for o in mine),
            )
        )
    return out


def choices(config: Config, today: date, period: Period) -> tuple[list[PeriodChoice], str]:
    """The periods the page offers (the command's own first when it is none of the named ones) and its key."""
    index = OwnerIndex(config.owners)
    periods = [(key, resolve_period(key, today=today)) for key in CHOICES]
    key = next((k for k, p in periods if (p.start, p.end) == (period.start, period.end)), "chosen")
    if key == "chosen":
        periods.insert(0, (key, period))
    out = []
    for name, chosen in periods:
        targets = {}
        for owner in config.owners:
            target = target_for(owner.email, config.targets, chosen)
            if target is not None:
                targets[index.ref(owner).key] = target
        out.append(PeriodChoice(name, chosen, targets))
    return out, key
