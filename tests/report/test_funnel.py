"""The funnel worked by hand: where lost deals are placed, and days to won without history."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal as D
from zoneinfo import ZoneInfo

from crmsync.model import ForecastCategory
from crmsync.report.figures import Entry
from crmsync.report.funnel import build_funnels, unplaced_note
from crmsync.report.model import DealRow, HistoryRow, OwnerRef

TZ = ZoneInfo("Europe/Amsterdam")

OWNER = OwnerRef("o", "O", None, None, False)
# (id, label, order, closed, won)
STAGES = {
    "s1": ("Lead", 1, False, False),
    "s2": ("Offer", 2, False, False),
    "s3": ("Negotiation", 3, False, False),
    "won": ("Won", 4, True, True),
    "lost": ("Lost", 5, True, False),
}


def entry(source_id: str, stage: str, status: str, created: date, closed: date | None = None) -> Entry:
    label, order, is_closed, is_won = STAGES[stage]
    row = DealRow(
        connection="crm",
        source_id=source_id,
        name=source_id,
        pipeline_id="p",
        pipeline_label="Sales",
        stage_id=stage,
        stage_label=label,
        stage_order=order,
        stage_closed=is_closed,
        stage_won=is_won,
        status=status,
        amount=D(1000),
        currency="EUR",
        close_date=closed,
        owner_id=None,
        owner_name=None,
        owner_email=None,
        group_name=None,
        created_at=datetime(created.year, created.month, created.day, 10, tzinfo=UTC),
        closed_at=None,
        category=ForecastCategory.PIPELINE.value,
        probability=D("0.5"),
    )
    return Entry(row, OWNER, ForecastCategory.PIPELINE, D("0.5"), D(1000), False, closed, created)


def catalogue() -> list[Entry]:
    """Deals elsewhere (outside the period) that teach the report every open stage of the pipeline."""
    return [entry(f"C{stage}", stage, "open", date(2025, 1, 1)) for stage in ("s1", "s2", "s3")]


def seen(source_id: str, stage: str, day: date) -> HistoryRow:
    order = STAGES[stage][1]
    return HistoryRow("crm", source_id, "p", stage, order, datetime(day.year, day.month, day.day, 10, tzinfo=UTC))


def test_lost_deals_in_the_stage_they_were_lost_in_give_each_stage_its_own_win_rate() -> None:
    # Pipedrive keeps a lost deal in the open stage it was lost in; no stage history at all.
    deals = [
        entry("W1", "won", "won", date(2026, 1, 1), date(2026, 1, 31)),  # won: reached every stage
        entry("W2", "won", "won", date(2026, 1, 10), date(2026, 1, 20)),
        entry("L1", "s1", "lost", date(2026, 1, 1), date(2026, 1, 5)),  # lost at s1
        entry("L2", "s2", "lost", date(2026, 1, 1), date(2026, 1, 5)),  # lost at s2
        entry("L3", "s3", "lost", date(2026, 1, 1), date(2026, 1, 5)),  # lost at s3
        entry("O1", "s2", "open", date(2026, 1, 1)),
    ]
    [funnel], _ = build_funnels(deals, [], deals, TZ)
    s1, s2, s3 = funnel.stages
    # reached: s1 all 6; s2 W1 W2 L2 L3 O1 = 5; s3 W1 W2 L3 = 3
    assert [s.reached for s in funnel.stages] == [6, 5, 3]
    # win rate = won / (won + lost) among those that reached it: 2/5, 2/4, 2/3 (not 100 % after the first)
    assert [s.win_rate for s in funnel.stages] == [D(2) / 5, D(2) / 4, D(2) / 3]
    assert funnel.unplaced_lost == 0 and unplaced_note(funnel) == ""
    # days to won without history: the first stage counts from creation (30 and 10 days), later ones unknown
    assert (s1.average_days_to_won, s2.average_days_to_won, s3.average_days_to_won) == (D(20), None, None)


def test_a_lost_deal_never_seen_open_leaves_later_win_rates_unknown_instead_of_100_percent() -> None:
    deals = [
        entry("W1", "won", "won", date(2026, 1, 1), date(2026, 1, 31)),
        entry("L1", "lost", "lost", date(2026, 1, 1), date(2026, 1, 5)),  # in closed-lost, never seen open
        entry("O1", "s3", "open", date(2026, 1, 1)),
    ]
    [funnel], _ = build_funnels(deals, [], deals + catalogue(), TZ)
    assert funnel.unplaced_lost == 1
    assert [s.reached for s in funnel.stages] == [3, 2, 2]  # L1 counts at the first stage only
    assert [s.win_rate for s in funnel.stages] == [D(1) / 2, None, None]  # not 1/1 = 100 %
    assert "1 lost deal never seen in an open stage" in unplaced_note(funnel)


def test_stage_history_places_a_lost_deal_and_dates_each_stage() -> None:
    deals = [
        entry("W1", "won", "won", date(2026, 1, 1), date(2026, 3, 1)),
        entry("L1", "lost", "lost", date(2026, 1, 1), date(2026, 2, 1)),
    ]
    history = [
        seen("W1", "s2", date(2026, 1, 21)),  # history in any order
        seen("W1", "s1", date(2026, 1, 11)),
        seen("W1", "s3", date(2026, 2, 10)),
        seen("L1", "s2", date(2026, 1, 15)),  # crmsync saw L1 open in s2 before it was lost
        seen("L1", "lost", date(2026, 2, 1)),
    ]
    [funnel], _ = build_funnels(deals, history, deals + catalogue(), TZ)
    assert funnel.unplaced_lost == 0
    assert [s.reached for s in funnel.stages] == [2, 2, 1]
    assert [s.win_rate for s in funnel.stages] == [D(1) / 2, D(1) / 2, D(1)]
    # W1 entered s1 on 11 Jan (history wins over creation), s2 on 21 Jan, s3 on 10 Feb; won on 1 March
    assert [s.average_days_to_won for s in funnel.stages] == [D(49), D(39), D(19)]
