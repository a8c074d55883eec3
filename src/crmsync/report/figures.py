"""Pure computations of the report on plain rows: conversion, owners, period selection and the main figures.

Which deals count (decided here, shown in the report's notes):
- deleted deals never count;
- open deals count for a period by their expected close date; won and lost deals by the day they closed
  (`closed_at` in the configured time zone, falling back to the expected close date);
- deals without that date count only when no period is given: then open ones land in the "no date" bucket;
- every counted deal is in exactly one category, so the category counts add up to the deals of the period
  (lost deals are in "omitted", where the rules put them).

Amounts: amount × rates[currency] (the base currency at 1; a deal without a currency is taken to be in the base
currency, as CRMs do with their company currency). A deal whose currency has no rate is counted, but its amount
is left out of every sum and average and listed as unconverted. Averages are over deals with a converted amount.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from crmsync.config import Config, Person, Target
from crmsync.model import ForecastCategory
from crmsync.periods import calendar_bounds, month_end
from crmsync.report.model import (
    CATEGORY_ORDER,
    ZERO,
    CategoryFigure,
    CategoryMove,
    ChangeRow,
    DealRow,
    Filters,
    FlagRow,
    MonthFigure,
    OwnerFigure,
    OwnerRef,
    Period,
    Unconverted,
)

NO_OWNER = "no owner"


@dataclass(frozen=True)
class Entry:
    """A deal as the report sees it: converted, attributed to an owner and placed in time."""

    row: DealRow
    owner: OwnerRef
    category: ForecastCategory
    probability: Decimal
    amount: Decimal | None  # in the base currency; None without an amount or without a rate
    unconverted: bool
    day: date | None  # expected close for open deals; the day closed for won and lost ones
    created: date | None = None  # the day the deal was created, in the configured time zone

    @property
    def value(self) -> Decimal:
        return self.amount if self.amount is not None else ZERO

    @property
    def weighted(self) -> Decimal:
        return self.value * self.probability

    @property
    def is_open(self) -> bool:
        return self.row.status == "open"

    @property
    def is_won(self) -> bool:
        return self.row.status == "won"

    @property
    def is_lost(self) -> bool:
        return self.row.status == "lost"


def to_base(amount: Decimal | None, currency: str | None, base: str, rates: dict[str, Decimal]) -> Decimal | None:
    """`amount` in the base currency; None when there is no amount or no rate for its currency."""
    if amount is None:
        return None
    if currency is None or currency == base:
        return amount
    rate = rates.get(currency)
    return None if rate is None else amount * rate


class OwnerIndex:
    """Finds the configured owner of a deal: by owner id per connection, else by email."""

    def __init__(self, owners: Sequence[Person]) -> None:
        self.owners = list(owners)
        self._by_id = {(conn, oid): o for o in owners for conn, oid in o.ids.items()}
        self._by_email = {o.email.lower(): o for o in owners}

    @staticmethod
    def ref(owner: Person) -> OwnerRef:
        return OwnerRef(owner.email.lower(), owner.name, owner.email, owner.team, True)

    def resolve(self, row: DealRow) -> OwnerRef:
        owner = self._by_id.get((row.connection, row.owner_id)) if row.owner_id else None
        if owner is None and row.owner_email:
            owner = self._by_email.get(row.owner_email.lower())
        if owner is not None:
            return self.ref(owner)
        # An unconfigured person: merged across CRMs by email; otherwise one per connection and CRM user id
        # (HubSpot owner 103 and Pipedrive user 103 are different people).
        if row.owner_email:
            key = f"~{row.owner_email.lower()}"
        elif row.owner_id:
            key = f"~{row.connection}:{row.owner_id}"
        else:
            key = f"~{row.connection}:{(row.owner_name or '').lower()}" if row.owner_name else "~"
        name = row.owner_name or row.owner_email or (f"{row.owner_id} ({row.connection})" if row.owner_id else NO_OWNER)
        return OwnerRef(key, name, row.owner_email, None, False)


def closed_day(row: DealRow, tz: ZoneInfo) -> date | None:
    if row.closed_at is not None:
        return row.closed_at.astimezone(tz).date()
    return row.close_date


def prepare(rows: Iterable[DealRow], config: Config, owners: OwnerIndex | None = None) -> list[Entry]:
    """Entries for every deal that is not deleted."""
    tz = ZoneInfo(config.timezone)
    owners = owners or OwnerIndex(config.owners)
    entries = []
    for row in rows:
        if row.status == "deleted":
            continue
        amount = to_base(row.amount, row.currency, config.base_currency, config.rates)
        try:
            category = ForecastCategory(row.category) if row.category else ForecastCategory.OMITTED
        except ValueError:
            category = ForecastCategory.OMITTED
        entries.append(
            Entry(
                row=row,
                owner=owners.resolve(row),
                category=category,
                probability=row.probability if row.probability is not None else ZERO,
                amount=amount,
                unconverted=row.amount is not None and amount is None,
                day=row.close_date if row.status == "open" else closed_day(row, tz),
                created=row.created_at.astimezone(tz).date() if row.created_at else None,
            )
        )
    return entries


def _fold(value: str | None) -> str:
    return (value or "").casefold()


def matches(entry: Entry, filters: Filters) -> bool:
    row, owner = entry.row, entry.owner
    if filters.connections and row.connection not in filters.connections:
        return False
    if filters.pipelines and not {_fold(row.pipeline_id), _fold(row.pipeline_label)} & {
        _fold(p) for p in filters.pipelines
    }:
        return False
    if filters.owners and not {_fold(owner.name), _fold(owner.email)} & {_fold(o) for o in filters.owners}:
        return False
    return not filters.teams or _fold(owner.team) in {_fold(team) for team in filters.teams}


def select(entries: Iterable[Entry], filters: Filters, period: Period | None = None) -> list[Entry]:
    """The entries that pass the filters and, when given, count for the period."""
    return [e for e in entries if matches(e, filters) and (period is None or period.contains(e.day))]


# -- categories and months ------------------------------------------------------------------------------------


def categories(entries: Sequence[Entry], labels: dict[ForecastCategory, str]) -> list[CategoryFigure]:
    """Count, amount and weighted amount per forecast category."""
    figures = []
    for category in CATEGORY_ORDER:
        mine = [e for e in entries if e.category is category]
        figures.append(
            CategoryFigure(
                category=category,
                label=labels[category],
                count=len(mine),
                amount=sum((e.value for e in mine), ZERO),
                weighted=sum((e.weighted for e in mine), ZERO),
            )
        )
    return figures


def _month_range(first: str, last: str) -> list[str]:
    year, month = int(first[:4]), int(first[5:])
    out = []
    while f"{year:04d}-{month:02d}" <= last:
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def months(entries: Sequence[Entry], period: Period) -> list[MonthFigure]:
    """Weighted forecast per month of expected close (won deals: the month they closed); lost deals left out.

    Months without deals in between are shown as zero. Without a period filter the last row is the
    "no date" bucket (month None) of deals without a close date.
    """
    buckets: dict[str | None, list[Entry]] = defaultdict(list)
    for entry in entries:
        if entry.is_lost:
            continue
        buckets[entry.day.strftime("%Y-%m") if entry.day else None].append(entry)
    dated = sorted(key for key in buckets if key is not None)
    first = period.start.strftime("%Y-%m") if period.start else (dated[0] if dated else None)
    last = period.end.strftime("%Y-%m") if period.end else (dated[-1] if dated else None)
    keys: list[str | None] = list(_month_range(first, last)) if first and last else list(dated)
    if not period.bounded:
        keys.append(None)
    return [
        MonthFigure(
            month=key,
            count=len(buckets[key]),
            amount=sum((e.value for e in buckets[key]), ZERO),
            weighted=sum((e.weighted for e in buckets[key]), ZERO),
        )
        for key in keys
    ]


# -- owners and targets ---------------------------------------------------------------------------------------


def _grain(spec: str) -> int:
    """How coarse a target period is: year 3, quarter 2, month 1."""
    return 2 if "Q" in spec else 3 if len(spec) == 4 else 1


def _months_between(start: date, end: date) -> int:
    return (end.year - start.year) * 12 + end.month - start.month + 1


def _prorate(amount: Decimal, start: date, end: date, t_start: date, t_end: date) -> Decimal:
    """The part of a target for [t_start, t_end] that falls in [start, end]: by months when whole, else days."""
    lo, hi = max(start, t_start), min(end, t_end)
    if lo > hi:
        return ZERO
    if lo.day == 1 and hi == month_end(hi):
        return amount * _months_between(lo, hi) / _months_between(t_start, t_end)
    return amount * ((hi - lo).days + 1) / ((t_end - t_start).days + 1)


def target_for(email: str, targets: Sequence[Target], period: Period) -> Decimal | None:
    """An owner's target for the period, from targets per year, quarter or month.

    The coarsest kind of target that lies wholly inside the period is used (so a year target is not added to
    its own quarters); when none does, the finest kind that overlaps the period is prorated (by months, or by
    days for a period that is not whole months). None without a bounded period or without any target.
    """
    if period.start is None or period.end is None:
        return None
    mine = []
    for target in targets:
        bounds = calendar_bounds(target.period)
        if target.owner.lower() == email.lower() and bounds is not None:
            mine.append((_grain(target.period), bounds, target.amount))
    if not mine:
        return None
    inside = [grain for grain, (s, e), _ in mine if s >= period.start and e <= period.end]
    overlapping = [grain for grain, (s, e), _ in mine if s <= period.end and e >= period.start]
    if not overlapping:
        return None
    grain = max(inside) if inside else min(overlapping)
    return sum((_prorate(amount, period.start, period.end, s, e) for g, (s, e), amount in mine if g == grain), ZERO)


def owners(entries: Sequence[Entry], config: Config, period: Period, filters: Filters) -> list[OwnerFigure]:
    """Per person: won, commit, best case and pipeline amounts for the period against the target.

    Every configured owner is listed (in config order, when the owner/team filters let them through), then
    the people no configured owner matches who have deals in the period.
    """
    index = OwnerIndex(config.owners)
    people: dict[str, OwnerRef] = {}
    for owner in config.owners:
        ref = index.ref(owner)
        if _owner_passes(ref, filters):
            people[ref.key] = ref
    by_owner: dict[str, list[Entry]] = defaultdict(list)
    for entry in entries:
        by_owner[entry.owner.key].append(entry)
        people.setdefault(entry.owner.key, entry.owner)
    out = []
    for key, ref in people.items():
        mine = by_owner.get(key, [])

        def total(category: ForecastCategory, mine: list[Entry] = mine) -> Decimal:
            return sum((e.value for e in mine if e.is_open and e.category is category), ZERO)

        out.append(
            OwnerFigure(
                owner=ref,
                won=sum((e.value for e in mine if e.is_won), ZERO),
                commit=total(ForecastCategory.COMMIT),
                best_case=total(ForecastCategory.BEST_CASE),
                pipeline=total(ForecastCategory.PIPELINE),
                target=target_for(ref.email, config.targets, period) if ref.configured and ref.email else None,
                deals=len(mine),
            )
        )
    return out


def _owner_passes(ref: OwnerRef, filters: Filters) -> bool:
    if filters.owners and not {_fold(ref.name), _fold(ref.email)} & {_fold(o) for o in filters.owners}:
        return False
    return not filters.teams or _fold(ref.team) in {_fold(team) for team in filters.teams}


# -- data quality, moves, unconverted --------------------------------------------------------------------------


def flags(entries: Iterable[Entry]) -> list[FlagRow]:
    """Deals with data-quality flags raised by the rules, grouped by owner (sorted by owner, then deal)."""
    rows = [
        FlagRow(
            owner=e.owner,
            connection=e.row.connection,
            source_id=e.row.source_id,
            deal=e.row.name,
            stage=e.row.stage_label,
            flags=e.row.flags,
            amount=e.row.amount,
            currency=e.row.currency,
            close_date=e.row.close_date,
        )
        for e in entries
        if e.row.flags
    ]
    return sorted(rows, key=lambda r: (not r.owner.configured, r.owner.name.casefold(), r.connection, r.deal))


def moves(changes: Iterable[ChangeRow], entries: Iterable[Entry]) -> list[CategoryMove]:
    """Category moves of the latest run, for the deals that pass the filters."""
    known = {(e.row.connection, e.row.source_id): e for e in entries}
    out = []
    for change in changes:
        entry = known.get((change.connection, change.source_id))
        if entry is None or change.old_category is None:
            continue
        try:
            old, new = ForecastCategory(change.old_category), ForecastCategory(change.new_category)
        except ValueError:
            continue
        out.append(
            CategoryMove(
                connection=change.connection,
                source_id=change.source_id,
                deal=entry.row.name,
                owner=entry.owner,
                run_id=change.run_id,
                at=change.at,
                old_category=old,
                new_category=new,
                old_probability=change.old_probability,
                new_probability=change.new_probability,
                rule_ids=change.rule_ids,
            )
        )
    return out


def unconverted(entries: Iterable[Entry]) -> list[Unconverted]:
    return [
        Unconverted(e.row.connection, e.row.source_id, e.row.name, e.row.amount or ZERO, e.row.currency or "")
        for e in entries
        if e.unconverted
    ]
