"""Plain data of the unified forecast report: the rows read from the store and the figures computed from them.

Every amount is a `Decimal` in the configured base currency, kept at full precision; renderers round to two
places for display. Ratios (win rate, conversion, attainment) are `Decimal` between 0 and 1, or `None` when
their denominator is zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from crmsync.model import ForecastCategory

ZERO = Decimal(0)

# Categories in the order the report shows them: from least to most certain, then the ones left out.
CATEGORY_ORDER: tuple[ForecastCategory, ...] = (
    ForecastCategory.PIPELINE,
    ForecastCategory.BEST_CASE,
    ForecastCategory.COMMIT,
    ForecastCategory.CLOSED,
    ForecastCategory.OMITTED,
)


# -- what the report is asked for ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """Inclusive date range; `start`/`end` None means open on that side. Both None: no period filter."""

    start: date | None = None
    end: date | None = None
    label: str = "all dates"

    @property
    def bounded(self) -> bool:
        """True when a period filter is given (then deals without a date are left out of the figures)."""
        return self.start is not None or self.end is not None

    def contains(self, day: date | None) -> bool:
        if not self.bounded:
            return True
        if day is None:
            return False
        return (self.start is None or day >= self.start) and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class Filters:
    """Which deals the report covers. An empty set means no filter on that dimension.

    Pipelines match by id or label; owners by a configured owner's email or name (or, for a person who is not
    a configured owner, the name or email the CRM gives); teams by the configured owners' `team`. Matching
    is case-insensitive.
    """

    connections: frozenset[str] = frozenset()
    pipelines: frozenset[str] = frozenset()
    owners: frozenset[str] = frozenset()
    teams: frozenset[str] = frozenset()

    @property
    def empty(self) -> bool:
        return not (self.connections or self.pipelines or self.owners or self.teams)


# -- rows read from the store -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DealRow:
    """One deal joined with its forecast, as stored. Timestamps are timezone-aware (UTC)."""

    connection: str
    source_id: str
    name: str
    pipeline_id: str
    pipeline_label: str
    stage_id: str
    stage_label: str
    stage_order: int
    stage_closed: bool
    stage_won: bool
    status: str
    amount: Decimal | None
    currency: str | None
    close_date: date | None
    owner_id: str | None
    owner_name: str | None
    owner_email: str | None
    group_name: str | None
    created_at: datetime | None
    closed_at: datetime | None
    category: str | None
    probability: Decimal | None
    flags: tuple[str, ...] = ()
    rule_ids: tuple[str, ...] = ()
    dry_run: bool = False  # as a dry run evaluated it: nothing of this forecast was written to the CRM


@dataclass(frozen=True)
class HistoryRow:
    connection: str
    source_id: str
    pipeline_id: str
    stage_id: str
    stage_order: int
    entered_at: datetime


@dataclass(frozen=True)
class ChangeRow:
    run_id: int
    connection: str
    source_id: str
    old_category: str | None
    new_category: str
    old_probability: Decimal | None
    new_probability: Decimal
    rule_ids: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class RunInfo:
    """The latest finished sync run of one connection: the report is as of these runs."""

    connection: str
    run_id: int
    status: str
    mode: str
    finished_at: datetime | None


@dataclass(frozen=True)
class ForecastStep:
    """A deal's forecast after one recorded change (for the trend over past runs)."""

    connection: str
    source_id: str
    category: str
    probability: Decimal
    at: datetime


@dataclass(frozen=True)
class Dataset:
    """Everything the report reads from the store."""

    deals: list[DealRow]
    history: list[HistoryRow]
    changes: list[ChangeRow]
    runs: list[RunInfo]
    steps: list[ForecastStep] = field(default_factory=list)


# -- figures ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerRef:
    """A person across CRMs: a configured owner, or a CRM user no configured owner matches."""

    key: str
    name: str
    email: str | None
    team: str | None
    configured: bool

    @property
    def display(self) -> str:
        return self.name if self.configured else f"{self.name} (unassigned to a configured owner)"


@dataclass(frozen=True)
class CategoryFigure:
    category: ForecastCategory
    label: str
    count: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True)
class MonthFigure:
    """One month of expected close (`YYYY-MM`), or the "no date" bucket when `month` is None."""

    month: str | None
    count: int
    amount: Decimal
    weighted: Decimal


@dataclass(frozen=True)
class OwnerFigure:
    owner: OwnerRef
    won: Decimal
    commit: Decimal
    best_case: Decimal
    pipeline: Decimal
    target: Decimal | None
    deals: int

    @property
    def commit_and_closed(self) -> Decimal:
        return self.won + self.commit

    @property
    def won_attainment(self) -> Decimal | None:
        return self.won / self.target if self.target else None

    @property
    def commit_attainment(self) -> Decimal | None:
        return self.commit_and_closed / self.target if self.target else None


@dataclass(frozen=True)
class StageFigure:
    """Pipedrive's funnel measures for one open stage; `conversion` is to the next stage (or to won)."""

    stage_id: str
    label: str
    order: int
    open_deals: int
    average_size: Decimal | None
    reached: int
    win_rate: Decimal | None
    average_days_to_won: Decimal | None
    conversion: Decimal | None


@dataclass(frozen=True)
class FunnelTotals:
    open_deals: int
    average_size: Decimal | None
    won: int
    lost: int
    win_rate: Decimal | None
    average_days_to_won: Decimal | None


@dataclass(frozen=True)
class Funnel:
    """One pipeline's funnel. `basis` says where stage-to-stage conversion comes from."""

    connection: str
    pipeline_id: str
    pipeline_label: str
    basis: str
    stages: list[StageFigure]
    totals: FunnelTotals
    won_reached: int
    unplaced_lost: int = 0  # lost deals whose last open stage is unknown (see report.funnel)


@dataclass(frozen=True)
class Tally:
    count: int = 0
    amount: Decimal = ZERO

    def __add__(self, other: Tally) -> Tally:
        return Tally(self.count + other.count, self.amount + other.amount)


@dataclass(frozen=True)
class Result:
    """AFAS's results: won (closed and scored), open, lost (closed and not scored)."""

    won: Tally = Tally()
    open: Tally = Tally()
    lost: Tally = Tally()

    def __add__(self, other: Result) -> Result:
        return Result(self.won + other.won, self.open + other.open, self.lost + other.lost)


@dataclass(frozen=True)
class YearResult:
    """Results of one year (won/lost by year closed, open by year of expected close); None: no date."""

    year: int | None
    result: Result


@dataclass(frozen=True)
class SectionRow:
    """One value of a cross-section: this year against earlier years, later years and deals without a date."""

    key: str
    this_year: Result
    earlier: Result
    later: Result
    no_date: Tally


@dataclass(frozen=True)
class Results:
    this_year: int
    years: list[YearResult]
    sections: dict[str, list[SectionRow]]


@dataclass(frozen=True)
class FlagRow:
    owner: OwnerRef
    connection: str
    source_id: str
    deal: str
    stage: str
    flags: tuple[str, ...]
    amount: Decimal | None
    currency: str | None
    close_date: date | None


@dataclass(frozen=True)
class CategoryMove:
    connection: str
    source_id: str
    deal: str
    owner: OwnerRef | None
    run_id: int
    at: datetime
    old_category: ForecastCategory
    new_category: ForecastCategory
    old_probability: Decimal | None
    new_probability: Decimal
    rule_ids: tuple[str, ...]


@dataclass(frozen=True)
class Unconverted:
    connection: str
    source_id: str
    deal: str
    amount: Decimal
    currency: str


@dataclass(frozen=True)
class TeamFigure:
    """The subtotal of a team's owners (team None: owners without a configured team)."""

    team: str | None
    owners: int
    won: Decimal
    commit: Decimal
    best_case: Decimal
    pipeline: Decimal
    target: Decimal | None
    deals: int


@dataclass(frozen=True)
class DealLine:
    """One deal as the HTML page embeds it: every deal the command's filters let through, whatever the period.

    `history` is the deal's forecast at the end of each day a run changed it: (day, category, probability).
    """

    connection: str
    source_id: str
    name: str
    pipeline_id: str
    pipeline: str
    stage: str
    status: str
    category: ForecastCategory
    probability: Decimal
    amount: Decimal | None  # in the base currency; None without an amount or a rate
    original_amount: Decimal | None
    currency: str | None
    day: date | None
    owner: OwnerRef
    flags: tuple[str, ...]
    url: str | None
    dry_run: bool
    history: tuple[tuple[date, str, Decimal], ...] = ()


@dataclass(frozen=True)
class TrendPoint:
    """The weighted forecast per category at the end of one day on which a run changed forecasts."""

    day: date
    weighted: dict[ForecastCategory, Decimal]


@dataclass(frozen=True)
class PeriodChoice:
    """A period the HTML page offers, with each configured owner's target for it (owner key → amount)."""

    key: str
    period: Period
    targets: dict[str, Decimal]


@dataclass(frozen=True)
class Report:
    """The whole report. Renderers (terminal, JSON, CSV, HTML) only format what is here."""

    generated_at: datetime
    today: date
    base_currency: str
    period: Period
    filters: Filters
    labels: dict[ForecastCategory, str]
    runs: list[RunInfo]
    categories: list[CategoryFigure]
    months: list[MonthFigure]
    owners: list[OwnerFigure]
    funnels: list[Funnel]
    funnel_totals: FunnelTotals
    results: Results
    flags: list[FlagRow]
    moves: list[CategoryMove]
    unconverted: list[Unconverted]
    warnings: list[str] = field(default_factory=list)
    teams: list[TeamFigure] = field(default_factory=list)
    deals: list[DealLine] = field(default_factory=list)  # for the HTML page: the command's filters, any period
    trend: list[TrendPoint] = field(default_factory=list)
    choices: list[PeriodChoice] = field(default_factory=list)
    period_key: str = "all"  # which of `choices` is `period`
    locale: str = "en-GB"

    def label(self, category: ForecastCategory | str) -> str:
        return self.labels[ForecastCategory(category)]
