"""Rule-set simulation: the stored deals evaluated under a candidate mapping, against the current forecast.

Nothing is fetched and nothing is written. Each stored deal of the chosen connections goes through the same
steps a sync would take (`evaluate` → `plan_deal` → `effective_forecast`), so a person's value the mapping's
override policy respects stays as it is in the simulation too. "Before" is the forecast the store holds from
the last run; "after" is what the next sync under the candidate mapping would leave.

Figures are in the base currency; weighted = amount × probability. Deals without a converted amount count
in the moves and the deal counts, not in the money.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

from crmsync.config import Config
from crmsync.errors import ConfigError
from crmsync.mapping import Mapping, load_mapping
from crmsync.model import Deal, ForecastCategory
from crmsync.periods import quarter_label
from crmsync.report import query
from crmsync.report.figures import Entry, prepare
from crmsync.rules import evaluate
from crmsync.store import Store
from crmsync.sync.plan import effective_forecast, plan_deal

ZERO = Decimal(0)
NO_DATE = "no date"
NO_TEAM = "no team"


@dataclass(frozen=True)
class Move:
    """A deal whose category or probability the candidate mapping changes."""

    connection: str
    source_id: str
    name: str
    owner: str
    team: str
    quarter: str
    amount: Decimal | None
    before: tuple[ForecastCategory, Decimal]
    after: tuple[ForecastCategory, Decimal]
    before_rules: tuple[str, ...]
    after_rules: tuple[str, ...]

    @property
    def weighted_before(self) -> Decimal:
        return (self.amount or ZERO) * self.before[1]

    @property
    def weighted_after(self) -> Decimal:
        return (self.amount or ZERO) * self.after[1]


@dataclass
class Split:
    """Weighted forecast per category, before and after, with deal counts."""

    before: dict[ForecastCategory, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    after: dict[ForecastCategory, Decimal] = field(default_factory=lambda: defaultdict(lambda: ZERO))
    deals_before: dict[ForecastCategory, int] = field(default_factory=lambda: defaultdict(int))
    deals_after: dict[ForecastCategory, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, entry: Entry, after: tuple[ForecastCategory, Decimal]) -> None:
        self.before[entry.category] += entry.value * entry.probability
        self.after[after[0]] += entry.value * after[1]
        self.deals_before[entry.category] += 1
        self.deals_after[after[0]] += 1

    def total(self, side: str) -> Decimal:
        return sum((self.before if side == "before" else self.after).values(), ZERO)


@dataclass
class Simulation:
    mapping: Path
    connections: list[str]
    today: date
    deals: int = 0
    overall: Split = field(default_factory=Split)
    by: dict[str, dict[str, Split]] = field(default_factory=dict)  # dimension → key → split
    moves: list[Move] = field(default_factory=list)

    def split(self, dimension: str, key: str) -> Split:
        return self.by.setdefault(dimension, {}).setdefault(key, Split())


DIMENSIONS = ("connection", "team", "owner", "quarter")


def quarter(day: date | None) -> str:
    return quarter_label(day) if day else NO_DATE


def chosen_connections(config: Config, candidate: Mapping, names: Sequence[str]) -> list[str]:
    """The connections to simulate: those named, else every connection whose connector the mapping is for."""
    if names:
        for name in names:
            connector = config.connection(name).connector
            if connector != candidate.connector:
                raise ConfigError(
                    f"the mapping is for connector {candidate.connector!r}, connection {name!r} uses {connector!r}",
                    file=str(candidate.path),
                    key="connector",
                )
        return list(names)
    found = [name for name, c in config.connections.items() if c.connector == candidate.connector]
    if not found:
        raise ConfigError(
            f"no configured connection uses connector {candidate.connector!r}",
            file=str(candidate.path),
            key="connector",
        )
    return found


def simulate(store: Store, config: Config, mapping_path: Path, names: Sequence[str], today: date) -> Simulation:
    """Evaluate the stored deals of the chosen connections under the mapping at `mapping_path`."""
    candidate = load_mapping(mapping_path)
    connections = chosen_connections(config, candidate, names)
    entries = {(e.row.connection, e.row.source_id): e for e in prepare(query.load_deals(store, connections), config)}
    result = Simulation(mapping_path, connections, today)
    for connection in connections:
        for deals in store.stored_deal_chunks(connection, skip_run=-1):
            for deal, after, rules in _evaluate(store, connection, candidate, deals, today):
                entry = entries.get((connection, deal.source_id))
                if entry is not None:
                    _count(result, entry, after, rules)
    result.moves.sort(key=lambda m: (-abs(m.weighted_after - m.weighted_before), m.connection, m.source_id))
    return result


def _evaluate(
    store: Store, connection: str, mapping: Mapping, deals: list[Deal], today: date
) -> Iterable[tuple[Deal, tuple[ForecastCategory, Decimal], tuple[str, ...]]]:
    ids = [deal.source_id for deal in deals]
    previous = store.stored_deals(connection, ids)
    marks = store.marks_of(connection, ids, ("category", "probability"))
    for deal in deals:
        forecast = evaluate(deal, mapping, today)
        known = {name: found[deal.source_id] for name, found in marks.items() if deal.source_id in found}
        before = previous.get(deal.source_id)
        plan = plan_deal(deal, forecast, mapping, known, before.stage_id if before else None)
        effective = effective_forecast(forecast, plan, mapping, deal.amount)
        yield deal, (effective.category, effective.probability), effective.rule_ids


def _count(result: Simulation, entry: Entry, after: tuple[ForecastCategory, Decimal], rules: tuple[str, ...]) -> None:
    result.deals += 1
    keys = {
        "connection": entry.row.connection,
        "team": entry.owner.team or NO_TEAM,
        "owner": entry.owner.name,
        "quarter": quarter(entry.day),
    }
    result.overall.add(entry, after)
    for dimension in DIMENSIONS:
        result.split(dimension, keys[dimension]).add(entry, after)
    if (entry.category, entry.probability) != after:
        result.moves.append(
            Move(
                connection=entry.row.connection,
                source_id=entry.row.source_id,
                name=entry.row.name,
                owner=keys["owner"],
                team=keys["team"],
                quarter=keys["quarter"],
                amount=entry.amount,
                before=(entry.category, entry.probability),
                after=after,
                before_rules=entry.row.rule_ids,
                after_rules=rules,
            )
        )
