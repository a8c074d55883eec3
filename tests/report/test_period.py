"""Report periods: named, calendar and --from/--to, and the target arithmetic on them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from crmsync.config import Target
from crmsync.errors import ConfigError
from crmsync.report import Period, resolve_period
from crmsync.report.figures import target_for, to_base

TODAY = date(2026, 5, 15)


@pytest.mark.parametrize(
    ("spec", "start", "end", "label"),
    [
        ("this_month", date(2026, 5, 1), date(2026, 5, 31), "2026-05"),
        ("last_month", date(2026, 4, 1), date(2026, 4, 30), "2026-04"),
        ("this_quarter", date(2026, 4, 1), date(2026, 6, 30), "2026-Q2"),
        ("last_quarter", date(2026, 1, 1), date(2026, 3, 31), "2026-Q1"),
        ("this_year", date(2026, 1, 1), date(2026, 12, 31), "2026"),
        ("last_year", date(2025, 1, 1), date(2025, 12, 31), "2025"),
        ("2024-Q4", date(2024, 10, 1), date(2024, 12, 31), "2024-Q4"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "2024-02"),
        ("2023", date(2023, 1, 1), date(2023, 12, 31), "2023"),
    ],
)
def test_named_and_calendar_periods(spec: str, start: date, end: date, label: str) -> None:
    assert resolve_period(spec, today=TODAY) == Period(start, end, label)


def test_last_quarter_in_january_is_the_previous_year() -> None:
    assert resolve_period("last_quarter", today=date(2026, 1, 10)) == Period(
        date(2025, 10, 1), date(2025, 12, 31), "2025-Q4"
    )


def test_no_period_and_from_to() -> None:
    assert not resolve_period(None, today=TODAY).bounded
    assert not resolve_period("all", today=TODAY).bounded
    open_end = resolve_period(start=date(2026, 5, 1), today=TODAY)
    assert open_end.bounded
    assert open_end.contains(date(2030, 1, 1))
    assert not open_end.contains(None)
    assert resolve_period(start=date(2026, 5, 2), end=date(2026, 5, 9), today=TODAY).label == "2026-05-02 – 2026-05-09"


@pytest.mark.parametrize(
    ("spec", "start", "end", "message"),
    [
        ("next_decade", None, None, "unknown period 'next_decade'; use one of this_month"),
        ("2026-13", None, None, "unknown period"),
        ("this_year", date(2026, 1, 1), None, "either a period or --from/--to"),
        (None, date(2026, 2, 1), date(2026, 1, 1), "--from 2026-02-01 is after --to 2026-01-01"),
    ],
)
def test_bad_periods(spec: str | None, start: date | None, end: date | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_period(spec, today=TODAY, start=start, end=end)


def _t(period: str, amount: str) -> Target:
    return Target(owner="a@x.nl", period=period, amount=Decimal(amount))


def test_targets_coarsest_inside_else_prorated() -> None:
    targets = [_t("2026", "12000"), _t("2026-Q1", "1000"), _t("2026-Q2", "3000"), _t("2026-04", "700")]
    year = resolve_period("2026", today=TODAY)
    assert target_for("A@X.nl", targets, year) == Decimal(12000)
    assert target_for("a@x.nl", targets, resolve_period("2026-Q2", today=TODAY)) == 3000
    assert target_for("a@x.nl", targets, resolve_period("2026-05", today=TODAY)) == 1000  # Q2 / 3
    half = resolve_period(start=date(2026, 1, 1), end=date(2026, 6, 30), today=TODAY)
    assert target_for("a@x.nl", targets, half) == 4000  # Q1 + Q2
    days = resolve_period(start=date(2026, 4, 1), end=date(2026, 4, 15), today=TODAY)
    assert target_for("a@x.nl", targets, days) == Decimal(700) * 15 / 30  # the April target, by days
    assert target_for("a@x.nl", targets, Period()) is None
    assert target_for("b@x.nl", targets, year) is None
    assert target_for("a@x.nl", targets, resolve_period("2027", today=TODAY)) is None


def test_to_base() -> None:
    rates = {"USD": Decimal("0.9")}
    assert to_base(Decimal(10), "USD", "EUR", rates) == Decimal(9)
    assert to_base(Decimal(10), "EUR", "EUR", rates) == 10
    assert to_base(Decimal(10), None, "EUR", rates) == 10  # no currency: the base currency
    assert to_base(Decimal(10), "SEK", "EUR", rates) is None
    assert to_base(None, "USD", "EUR", rates) is None
