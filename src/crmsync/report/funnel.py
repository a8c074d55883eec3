"""The sales funnel as Pipedrive measures it, per pipeline and overall.

Measures: open deals, average deal size, win rate and average age until won (sales velocity), per stage and
for the whole pipeline, with conversion from each open stage to the next (the last one converts to won).

How far a deal got in the funnel:
- from its stage history when the store has any open stage for it: the highest open stage it ever entered;
- otherwise from its current stage when that stage is open (an open deal, or a lost deal in a CRM that keeps
  the stage a deal was lost in, as Pipedrive does): it is taken to have passed every earlier stage.
A won deal reached every stage. A lost deal with neither (it sits in a closed-lost stage and crmsync never saw it
open) is "unplaced": it surely entered the pipeline, so it counts at the first stage, but where it left is
unknown. Counting it as lost at the first stage only would make every later stage look like a 100 % win rate, so
a later stage's win rate is left unknown (None) while a funnel has unplaced lost deals; `unplaced_lost` says how
many. Each funnel says in `basis` which source it used.

Days to won per stage need the day a deal entered the stage: from stage history; for the first open stage,
without history, the day the deal was created (a deal starts in its pipeline's first stage).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from crmsync.report.figures import Entry
from crmsync.report.model import ZERO, Funnel, FunnelTotals, HistoryRow, StageFigure

HISTORY = "stage history"
ORDER = "current stage order"

PipelineKey = tuple[str, str]  # (connection, pipeline id)


@dataclass(frozen=True)
class StageInfo:
    stage_id: str
    label: str
    order: int
    closed: bool


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, ZERO) / len(values) if values else None


def _ratio(part: int, whole: int) -> Decimal | None:
    return Decimal(part) / Decimal(whole) if whole else None


def stage_catalogue(entries: Iterable[Entry], history: Iterable[HistoryRow]) -> dict[PipelineKey, dict[str, StageInfo]]:
    """Known stages per pipeline, from deals' current stages (label, closed?) and from history (order)."""
    stages: dict[PipelineKey, dict[str, StageInfo]] = defaultdict(dict)
    for entry in entries:
        row = entry.row
        stages[(row.connection, row.pipeline_id)][row.stage_id] = StageInfo(
            row.stage_id, row.stage_label, row.stage_order, row.stage_closed
        )
    for item in history:
        known = stages[(item.connection, item.pipeline_id)]
        if item.stage_id not in known:
            known[item.stage_id] = StageInfo(item.stage_id, item.stage_id, item.stage_order, False)
    return stages


def _days(start: date, end: date | None) -> Decimal | None:
    return Decimal((end - start).days) if end is not None else None


def build_funnels(
    entries: Sequence[Entry], history: Sequence[HistoryRow], catalogue_entries: Iterable[Entry], tz: ZoneInfo
) -> tuple[list[Funnel], FunnelTotals]:
    """Funnels of the pipelines that have deals among `entries`, and the totals over all of them.

    Args:
        entries: the deals that count (filters and period applied).
        history: stage history rows (any deals; only those of `entries` are used).
        catalogue_entries: deals to learn stage labels and order from (typically every deal).
        tz: the configured time zone, for the day a deal entered a stage.
    """
    catalogue = stage_catalogue(catalogue_entries, history)
    by_deal: dict[tuple[str, str], list[HistoryRow]] = defaultdict(list)
    for item in history:
        by_deal[(item.connection, item.source_id)].append(item)
    groups: dict[PipelineKey, list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[(entry.row.connection, entry.row.pipeline_id)].append(entry)
    funnels = [
        _funnel(key, groups[key], catalogue.get(key, {}), by_deal, tz)
        for key in sorted(groups, key=lambda k: (k[0], groups[k][0].row.pipeline_label))
    ]
    return funnels, totals(entries)


def _funnel(
    key: PipelineKey,
    deals: list[Entry],
    stages: dict[str, StageInfo],
    by_deal: dict[tuple[str, str], list[HistoryRow]],
    tz: ZoneInfo,
) -> Funnel:
    open_stages = sorted((s for s in stages.values() if not s.closed), key=lambda s: (s.order, s.label))
    first_order = open_stages[0].order if open_stages else 0
    furthest: dict[str, float] = {}
    unplaced: set[str] = set()
    entered: dict[str, dict[str, date]] = {}
    with_history = 0
    for entry in deals:
        row = entry.row
        rows = [h for h in by_deal.get((row.connection, row.source_id), []) if h.pipeline_id == row.pipeline_id]
        orders = []
        first_seen: dict[str, date] = {}
        if rows:
            with_history += 1
            for h in sorted(rows, key=lambda h: h.entered_at):
                first_seen.setdefault(h.stage_id, h.entered_at.astimezone(tz).date())
                info = stages.get(h.stage_id)
                if info is None or not info.closed:
                    orders.append(h.stage_order)
        if open_stages and entry.created is not None:
            first_seen.setdefault(open_stages[0].stage_id, entry.created)
        entered[row.source_id] = first_seen
        if not row.stage_closed:
            orders.append(row.stage_order)
        if entry.is_won:
            furthest[row.source_id] = float("inf")
        elif orders:
            furthest[row.source_id] = max(orders)
        else:
            furthest[row.source_id] = first_order
            if entry.is_lost:
                unplaced.add(row.source_id)

    def reached(order: int) -> list[Entry]:
        return [e for e in deals if furthest[e.row.source_id] >= order]

    figures = []
    for index, stage in enumerate(open_stages):
        here = reached(stage.order)
        won = [e for e in here if e.is_won]
        lost = [e for e in here if e.is_lost]
        win_rate = None if index > 0 and unplaced else _ratio(len(won), len(won) + len(lost))
        nxt = len(reached(open_stages[index + 1].order)) if index + 1 < len(open_stages) else None
        in_stage = [e for e in deals if e.is_open and e.row.stage_id == stage.stage_id]
        ages = [
            age
            for e in won
            if stage.stage_id in entered.get(e.row.source_id, {})
            and (age := _days(entered[e.row.source_id][stage.stage_id], e.day)) is not None
        ]
        figures.append(
            StageFigure(
                stage_id=stage.stage_id,
                label=stage.label,
                order=stage.order,
                open_deals=len(in_stage),
                average_size=_mean([e.amount for e in in_stage if e.amount is not None]),
                reached=len(here),
                win_rate=win_rate,
                average_days_to_won=_mean(ages),
                conversion=_ratio(nxt if nxt is not None else len(won), len(here)),
            )
        )
    if with_history == len(deals):
        basis = HISTORY
    elif with_history == 0:
        basis = ORDER
    else:
        basis = f"{HISTORY} for {with_history} of {len(deals)} deals, {ORDER} for the rest"
    return Funnel(
        connection=key[0],
        pipeline_id=key[1],
        pipeline_label=deals[0].row.pipeline_label,
        basis=basis,
        stages=figures,
        totals=totals(deals),
        won_reached=sum(1 for e in deals if e.is_won),
        unplaced_lost=len(unplaced),
    )


def totals(deals: Sequence[Entry]) -> FunnelTotals:
    """Whole-funnel measures: open deals, average open deal size, win rate, average days from created to won."""
    open_deals = [e for e in deals if e.is_open]
    won = [e for e in deals if e.is_won]
    lost = sum(1 for e in deals if e.is_lost)
    ages = [Decimal((e.day - e.created).days) for e in won if e.created is not None and e.day is not None]
    return FunnelTotals(
        open_deals=len(open_deals),
        average_size=_mean([e.amount for e in open_deals if e.amount is not None]),
        won=len(won),
        lost=lost,
        win_rate=_ratio(len(won), len(won) + lost),
        average_days_to_won=_mean(ages),
    )


def unplaced_note(funnel: Funnel) -> str:
    """A sentence for the reader when some lost deals could not be placed in the funnel, else ''."""
    n = funnel.unplaced_lost
    if not n:
        return ""
    deals = "deal" if n == 1 else "deals"
    return (
        f" {n} lost {deals} never seen in an open stage count at the first stage only;"
        " win rates of later stages are unknown until stage history covers them."
    )
