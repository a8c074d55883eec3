"""crmsync.periods: the one place that counts months and quarters."""

from __future__ import annotations

from datetime import date

import pytest

from crmsync import periods


@pytest.mark.parametrize(
    ("name", "day", "bounds"),
    [
        ("this_month", date(2026, 2, 14), (date(2026, 2, 1), date(2026, 2, 28))),
        ("next_month", date(2026, 12, 31), (date(2027, 1, 1), date(2027, 1, 31))),
        ("last_month", date(2026, 1, 5), (date(2025, 12, 1), date(2025, 12, 31))),
        ("this_quarter", date(2026, 5, 31), (date(2026, 4, 1), date(2026, 6, 30))),
        ("next_quarter", date(2026, 11, 2), (date(2027, 1, 1), date(2027, 3, 31))),
        ("last_quarter", date(2026, 2, 1), (date(2025, 10, 1), date(2025, 12, 31))),
        ("this_year", date(2024, 2, 29), (date(2024, 1, 1), date(2024, 12, 31))),
        ("last_year", date(2024, 2, 29), (date(2023, 1, 1), date(2023, 12, 31))),
    ],
)
def test_named_periods(name: str, day: date, bounds: tuple[date, date]) -> None:
    assert periods.named_bounds(name, day) == bounds


def test_an_unknown_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown period 'this_week'"):
        periods.named_bounds("this_week", date(2026, 1, 1))


@pytest.mark.parametrize(
    ("spec", "bounds"),
    [
        ("2026", (date(2026, 1, 1), date(2026, 12, 31))),
        ("2026-Q4", (date(2026, 10, 1), date(2026, 12, 31))),
        ("2024-02", (date(2024, 2, 1), date(2024, 2, 29))),
        ("2026-13", None),
        ("Q2", None),
    ],
)
def test_calendar_periods(spec: str, bounds: tuple[date, date] | None) -> None:
    assert periods.calendar_bounds(spec) == bounds


def test_quarter_label_and_today_in_a_zone() -> None:
    assert periods.quarter_label(date(2026, 7, 1)) == "2026-Q3"
    assert abs((periods.today("Pacific/Kiritimati") - periods.today("Pacific/Pago_Pago")).days) in (1, 2)
