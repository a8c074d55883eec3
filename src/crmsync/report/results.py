"""Results as AFAS shows them: won / open / lost for this year against earlier years, in amount and count.

A won or lost deal belongs to the year it closed; an open deal to the year of its expected close date, or to
"no date". The period filter does not apply here (the point is to compare years); the other filters do.
Cross-sections per connection, pipeline, forecast group and owner split each value into this year, earlier
years, later years (open deals expected after this year) and open deals without a date, so that every
cross-section adds up to the table per year.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence

from crmsync.report.figures import Entry
from crmsync.report.model import Result, Results, SectionRow, Tally, YearResult

NO_GROUP = "(no group)"

SECTIONS: dict[str, Callable[[Entry], str]] = {
    "connection": lambda e: e.row.connection,
    "pipeline": lambda e: f"{e.row.connection} / {e.row.pipeline_label}",
    "forecast group": lambda e: e.row.group_name or NO_GROUP,
    "owner": lambda e: e.owner.display,
}


def result_of(entry: Entry) -> Result:
    """The one-deal Result: a count of 1 and its converted amount in the slot of its status."""
    tally = Tally(1, entry.value)
    if entry.is_won:
        return Result(won=tally)
    if entry.is_lost:
        return Result(lost=tally)
    return Result(open=tally)


def year_of(entry: Entry) -> int | None:
    return entry.day.year if entry.day is not None else None


def build_results(entries: Sequence[Entry], this_year: int) -> Results:
    per_year: dict[int | None, Result] = defaultdict(Result)
    for entry in entries:
        per_year[year_of(entry)] += result_of(entry)
    years = [YearResult(year, per_year[year]) for year in sorted((y for y in per_year if y is not None), reverse=True)]
    if this_year not in per_year:
        years.insert(0, YearResult(this_year, Result()))
    if None in per_year:
        years.append(YearResult(None, per_year[None]))
    sections = {name: _section(entries, key, this_year) for name, key in SECTIONS.items()}
    return Results(this_year=this_year, years=years, sections=sections)


def _section(entries: Sequence[Entry], key: Callable[[Entry], str], this_year: int) -> list[SectionRow]:
    slots: dict[str, dict[str, Result]] = defaultdict(lambda: defaultdict(Result))
    for entry in entries:
        year = year_of(entry)
        if year is None:
            slot = "no_date"
        elif year == this_year:
            slot = "this_year"
        else:
            slot = "earlier" if year < this_year else "later"
        slots[key(entry)][slot] += result_of(entry)
    rows = []
    for name in sorted(slots, key=str.casefold):
        parts = slots[name]
        no_date = parts["no_date"]
        rows.append(
            SectionRow(
                key=name,
                this_year=parts["this_year"],
                earlier=parts["earlier"],
                later=parts["later"],
                no_date=no_date.won + no_date.open + no_date.lost,
            )
        )
    return rows
