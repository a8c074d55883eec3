"""Amsterdam wall-clock ↔ UTC across the daylight-saving changes, in both directions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync_simplicate.localtime import format_local, parse_local, since_filter


@pytest.mark.parametrize(
    ("wall", "utc"),
    [
        ("2024-01-15 12:00:00", datetime(2024, 1, 15, 11, 0, tzinfo=UTC)),  # CET, +1
        ("2024-07-01 12:00:00", datetime(2024, 7, 1, 10, 0, tzinfo=UTC)),  # CEST, +2
        ("2024-03-31 01:59:59", datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC)),  # just before the jump
        ("2024-03-31 03:00:00", datetime(2024, 3, 31, 1, 0, tzinfo=UTC)),  # just after the jump
        # nonexistent 02:30 on the spring change: read with the offset before it (= 03:30 CEST)
        ("2024-03-31 02:30:00", datetime(2024, 3, 31, 1, 30, tzinfo=UTC)),
        # ambiguous 02:30 on the autumn change: the first (summer-time) occurrence
        ("2024-10-27 02:30:00", datetime(2024, 10, 27, 0, 30, tzinfo=UTC)),
        ("2024-10-27 03:00:00", datetime(2024, 10, 27, 2, 0, tzinfo=UTC)),
        ("2024-10-27 01:59:59", datetime(2024, 10, 26, 23, 59, 59, tzinfo=UTC)),
        ("2024-06-30", datetime(2024, 6, 29, 22, 0, tzinfo=UTC)),
    ],
)
def test_parse_local(wall: str, utc: datetime) -> None:
    assert parse_local(wall) == utc


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="does not match"):
        parse_local("03/05/2024 14:01")


@pytest.mark.parametrize(
    ("instant", "wall"),
    [
        (datetime(2024, 3, 31, 0, 59, 59, tzinfo=UTC), "2024-03-31 01:59:59"),
        (datetime(2024, 3, 31, 1, 0, 0, tzinfo=UTC), "2024-03-31 03:00:00"),  # the hour 02:xx is skipped
        (datetime(2024, 10, 27, 0, 30, tzinfo=UTC), "2024-10-27 02:30:00"),  # first pass
        (datetime(2024, 10, 27, 1, 30, tzinfo=UTC), "2024-10-27 02:30:00"),  # second pass, same wall time
    ],
)
def test_format_local(instant: datetime, wall: str) -> None:
    assert format_local(instant) == wall


def test_since_filter_plain_times_and_truncation() -> None:
    assert since_filter(datetime(2024, 5, 1, 12, 0, 7, 900000, tzinfo=UTC)) == "2024-05-01 14:00:07"
    assert since_filter(datetime(2024, 12, 1, 12, 0, tzinfo=UTC)) == "2024-12-01 13:00:00"
    # the spring gap: just after it
    assert since_filter(datetime(2024, 3, 31, 1, 0, tzinfo=UTC)) == "2024-03-31 03:00:00"


def test_since_in_first_pass_of_repeated_hour_moves_back_an_hour() -> None:
    # 00:30 UTC = 02:30 CEST; a sale changed at 01:10 UTC (later) is stamped 02:10 CET and must still match.
    since = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)
    value = since_filter(since)
    assert value == "2024-10-27 01:30:00"
    later = format_local(datetime(2024, 10, 27, 1, 10, tzinfo=UTC))
    assert later >= value


def test_since_in_second_pass_keeps_its_wall_time() -> None:
    since = datetime(2024, 10, 27, 1, 30, tzinfo=UTC)  # 02:30 CET, second pass
    assert since_filter(since) == "2024-10-27 02:30:00"


def test_since_filter_never_misses_an_instant_around_the_changes() -> None:
    for start in (datetime(2024, 10, 26, 23, 0, tzinfo=UTC), datetime(2024, 3, 30, 23, 0, tzinfo=UTC)):
        for minutes in range(0, 240, 5):
            since = start + timedelta(minutes=minutes)
            value = since_filter(since)
            for later_minutes in range(0, 180, 5):
                assert format_local(since + timedelta(minutes=later_minutes)) >= value


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="time zone"):
        since_filter(datetime(2024, 5, 1))
