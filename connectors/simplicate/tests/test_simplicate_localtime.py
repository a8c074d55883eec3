"""Simplicate's wall-clock wire format, a core `WallClock`; the DST rules are tested in tests/test_localtime.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmsync_simplicate.translate import AMSTERDAM

parse_local, format_local, since_filter, now_wall = AMSTERDAM.parse, AMSTERDAM.format, AMSTERDAM.since, AMSTERDAM.now


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2024-01-15 12:00:00", datetime(2024, 1, 15, 11, 0, tzinfo=UTC)),  # CET, +1
        (" 2024-07-01 12:00:00 ", datetime(2024, 7, 1, 10, 0, tzinfo=UTC)),  # CEST, +2; spaces ignored
        ("2024-06-30", datetime(2024, 6, 29, 22, 0, tzinfo=UTC)),  # a bare date is midnight
        ("2024-10-27 02:30:00", datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),  # the core's rule: first occurrence
    ],
)
def test_parse_local(wall: str, utc: datetime) -> None:
    assert parse_local(wall) == utc


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="isoformat"):
        parse_local("03/05/2024 14:01")


@pytest.mark.parametrize(
    ("instant", "wall"),
    [
        (datetime(2024, 3, 31, 1, 0, 0, 999, tzinfo=UTC), "2024-03-31 03:00:00"),
        (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), "2024-10-27 02:30:00"),  # second pass, same wall time
    ],
)
def test_format_local(instant: datetime, wall: str) -> None:
    assert format_local(instant) == wall


@pytest.mark.parametrize(
    ("since", "value"),
    [
        (datetime(2024, 5, 1, 12, 0, 7, 900000, tzinfo=UTC), "2024-05-01 14:00:07"),  # to the second
        (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), "2024-10-27 01:30:00"),  # first pass: back by the jump
    ],
)
def test_since_filter_is_the_core_value_in_the_wire_format(since: datetime, value: str) -> None:
    assert since_filter(since) == value


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        since_filter(datetime(2024, 5, 1))


def test_now_wall_is_naive_and_whole_seconds() -> None:
    now = now_wall()
    assert now.tzinfo is None
    assert now.microsecond == 0
