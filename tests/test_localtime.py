"""Wall clock ↔ UTC across both daylight-saving changes, and the `since` filter value that never misses a change."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from crmsync.localtime import WallClock, local_to_utc, since_as_local, utc_to_local

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")  # a 30-minute daylight-saving jump
TOKYO = ZoneInfo("Asia/Tokyo")  # no daylight saving at all


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


# -- local_to_utc -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "wall", "expected"),
    [
        (AMS, datetime(2024, 1, 15, 12, 0), utc(2024, 1, 15, 11, 0)),  # winter, +1
        (AMS, datetime(2024, 7, 1, 12, 0), utc(2024, 7, 1, 10, 0)),  # summer, +2
        # spring, 31 March 2024: 02:00 → 03:00
        (AMS, datetime(2024, 3, 31, 1, 59, 59), utc(2024, 3, 31, 0, 59, 59)),
        (AMS, datetime(2024, 3, 31, 2, 0), utc(2024, 3, 31, 1, 0)),  # nonexistent: = 03:00 summer time
        (AMS, datetime(2024, 3, 31, 2, 30), utc(2024, 3, 31, 1, 30)),  # nonexistent: shifted forward (03:30)
        (AMS, datetime(2024, 3, 31, 3, 0), utc(2024, 3, 31, 1, 0)),
        # autumn, 27 October 2024: 03:00 → 02:00; the repeated hour is its first (summer-time) occurrence
        (AMS, datetime(2024, 10, 27, 1, 59, 59), utc(2024, 10, 26, 23, 59, 59)),
        (AMS, datetime(2024, 10, 27, 2, 0), utc(2024, 10, 27, 0, 0)),
        (AMS, datetime(2024, 10, 27, 2, 30), utc(2024, 10, 27, 0, 30)),
        (AMS, datetime(2024, 10, 27, 2, 59, 59), utc(2024, 10, 27, 0, 59, 59)),
        (AMS, datetime(2024, 10, 27, 3, 0), utc(2024, 10, 27, 2, 0)),
        # 2025: 30 March and 26 October
        (AMS, datetime(2025, 3, 30, 2, 15), utc(2025, 3, 30, 1, 15)),
        (AMS, datetime(2025, 10, 26, 2, 15), utc(2025, 10, 26, 0, 15)),
        # New York: 9 March 2025 02:00 → 03:00, 2 November 2025 02:00 → 01:00
        (NYC, datetime(2025, 3, 9, 2, 30), utc(2025, 3, 9, 7, 30)),  # nonexistent: 03:30 EDT
        (NYC, datetime(2025, 11, 2, 1, 30), utc(2025, 11, 2, 5, 30)),  # ambiguous: 01:30 EDT
        (LORD_HOWE, datetime(2025, 4, 6, 1, 45), utc(2025, 4, 5, 14, 45)),  # ambiguous: 01:45 +11:00
        (TOKYO, datetime(2025, 6, 1, 9, 0), utc(2025, 6, 1, 0, 0)),
    ],
)
def test_local_to_utc(zone: ZoneInfo, wall: datetime, expected: datetime) -> None:
    result = local_to_utc(wall, zone)
    assert result == expected
    assert result.utcoffset() == timedelta(0)


def test_local_to_utc_ignores_a_fold_set_on_the_input() -> None:
    # A wall time a caller built with fold=1 is still read as the first occurrence: one rule, wherever it came from.
    assert local_to_utc(datetime(2024, 10, 27, 2, 30, fold=1), AMS) == utc(2024, 10, 27, 0, 30)


# -- utc_to_local -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "instant", "wall"),
    [
        (AMS, utc(2024, 3, 31, 0, 59, 59), datetime(2024, 3, 31, 1, 59, 59)),
        (AMS, utc(2024, 3, 31, 1, 0), datetime(2024, 3, 31, 3, 0)),  # 02:xx is skipped
        (AMS, utc(2024, 10, 27, 0, 30), datetime(2024, 10, 27, 2, 30)),  # first pass
        (AMS, utc(2024, 10, 27, 1, 30), datetime(2024, 10, 27, 2, 30)),  # second pass: the same wall time
        (
            AMS,
            datetime(2024, 7, 1, 12, 0, 0, 250, tzinfo=timezone(timedelta(hours=-4))),
            datetime(2024, 7, 1, 18, 0, 0, 250),
        ),
        (NYC, utc(2025, 11, 2, 5, 30), datetime(2025, 11, 2, 1, 30)),  # first pass
        (NYC, utc(2025, 11, 2, 6, 30), datetime(2025, 11, 2, 1, 30)),  # second pass
    ],
)
def test_utc_to_local(zone: ZoneInfo, instant: datetime, wall: datetime) -> None:
    result = utc_to_local(instant, zone)
    assert result == wall
    assert result.tzinfo is None
    assert result.fold == 0


def test_round_trip_is_exact_except_in_the_second_pass_of_the_repeated_hour() -> None:
    start = utc(2024, 10, 26, 22, 0)
    for minutes in range(0, 300, 7):
        instant = start + timedelta(minutes=minutes)
        back = local_to_utc(utc_to_local(instant, AMS), AMS)
        second_pass = utc(2024, 10, 27, 1, 0) <= instant < utc(2024, 10, 27, 2, 0)
        # the second pass comes back as the first: an hour early, never late
        assert back == (instant - timedelta(hours=1) if second_pass else instant)


# -- since_as_local -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "since", "value"),
    [
        (AMS, utc(2024, 5, 1, 12, 0, 7, 900000), datetime(2024, 5, 1, 14, 0, 7)),  # floored to the second
        (AMS, utc(2024, 12, 1, 12, 0), datetime(2024, 12, 1, 13, 0)),
        # spring: nothing to fix on either side of the gap
        (AMS, utc(2024, 3, 31, 0, 59, 59), datetime(2024, 3, 31, 1, 59, 59)),
        (AMS, utc(2024, 3, 31, 1, 0), datetime(2024, 3, 31, 3, 0)),
        (AMS, utc(2025, 3, 30, 1, 30), datetime(2025, 3, 30, 3, 30)),
        # autumn, first pass of the repeated hour: back by the jump, so the second pass (02:00-02:59) still matches
        (AMS, utc(2024, 10, 27, 0, 0), datetime(2024, 10, 27, 1, 0)),
        (AMS, utc(2024, 10, 27, 0, 30), datetime(2024, 10, 27, 1, 30)),
        (AMS, utc(2025, 10, 26, 0, 30), datetime(2025, 10, 26, 1, 30)),
        (AMS, utc(2024, 10, 27, 0, 59, 59, 999999), datetime(2024, 10, 27, 1, 59, 59)),
        # autumn, second pass: its wall time already lies at or before every later stamp
        (AMS, utc(2024, 10, 27, 1, 0), datetime(2024, 10, 27, 2, 0)),
        (AMS, utc(2024, 10, 27, 1, 30), datetime(2024, 10, 27, 2, 30)),
        (AMS, utc(2025, 10, 26, 1, 30), datetime(2025, 10, 26, 2, 30)),
        # just before and after the repeated hour
        (AMS, utc(2024, 10, 26, 23, 59, 59), datetime(2024, 10, 27, 1, 59, 59)),
        (AMS, utc(2024, 10, 27, 2, 0), datetime(2024, 10, 27, 3, 0)),
        (NYC, utc(2025, 11, 2, 5, 30), datetime(2025, 11, 2, 0, 30)),  # first pass
        (NYC, utc(2025, 11, 2, 6, 30), datetime(2025, 11, 2, 1, 30)),  # second pass
        (LORD_HOWE, utc(2025, 4, 5, 14, 45), datetime(2025, 4, 6, 1, 15)),  # back by the 30-minute jump
        (TOKYO, utc(2025, 6, 1, 0, 0, 1), datetime(2025, 6, 1, 9, 0, 1)),
    ],
)
def test_since_as_local(zone: ZoneInfo, since: datetime, value: datetime) -> None:
    result = since_as_local(since, zone)
    assert result == value
    assert result.tzinfo is None
    assert result.microsecond == 0


@pytest.mark.parametrize(
    ("zone", "around"),
    [
        (AMS, utc(2024, 3, 30, 23, 0)),
        (AMS, utc(2024, 10, 26, 23, 0)),
        (AMS, utc(2025, 3, 29, 23, 0)),
        (AMS, utc(2025, 10, 25, 23, 0)),
        (NYC, utc(2025, 3, 9, 5, 0)),
        (NYC, utc(2025, 11, 2, 4, 0)),
        (LORD_HOWE, utc(2025, 4, 5, 13, 0)),
        (LORD_HOWE, utc(2025, 10, 4, 14, 0)),
    ],
)
def test_since_never_misses_a_later_stamp_around_a_change(zone: ZoneInfo, around: datetime) -> None:
    for minutes in range(0, 240, 5):
        since = around + timedelta(minutes=minutes, seconds=17, microseconds=1)
        value = since_as_local(since, zone)
        # every later instant is stamped with a wall time the `>=` filter still returns ...
        for later in range(0, 180, 5):
            assert utc_to_local(since + timedelta(minutes=later), zone) >= value
        # ... and the filter reaches back at most one jump (an hour here, half an hour on Lord Howe)
        assert utc_to_local(since, zone) - value <= timedelta(hours=1, seconds=1)


def test_since_moves_back_only_in_the_first_pass() -> None:
    moved = [
        minutes
        for minutes in range(0, 240)
        if since_as_local(utc(2024, 10, 26, 23, 0) + timedelta(minutes=minutes), AMS)
        != utc_to_local(utc(2024, 10, 26, 23, 0) + timedelta(minutes=minutes), AMS)
    ]
    assert moved == list(range(60, 120))  # 00:00-00:59 UTC, i.e. 02:00-02:59 summer time


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: local_to_utc(datetime(2024, 5, 1, tzinfo=UTC), AMS), "must not carry a time zone"),
        (lambda: utc_to_local(datetime(2024, 5, 1), AMS), "must carry a time zone"),
        (lambda: since_as_local(datetime(2024, 5, 1), AMS), "must carry a time zone"),
    ],
)
def test_the_wrong_kind_of_datetime_is_refused(call: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()  # type: ignore[operator]


# -- WallClock: a CRM's stamp format over these rules ----------------------------------------------------------

SPACED = WallClock(AMS, separator=" ")
ZULU = WallClock(AMS, suffix="Z")


@pytest.mark.parametrize(
    ("clock", "text", "utc"),
    [
        (SPACED, "2024-01-15 12:00:00", datetime(2024, 1, 15, 11, 0, tzinfo=UTC)),
        (ZULU, "2024-01-15T12:00:00Z", datetime(2024, 1, 15, 11, 0, tzinfo=UTC)),  # the Z is not UTC
        (ZULU, "2024-01-15T12:00:00z", datetime(2024, 1, 15, 11, 0, tzinfo=UTC)),
        (SPACED, "2024-01-15T12:00:00+00:00", datetime(2024, 1, 15, 12, 0, tzinfo=UTC)),  # an offset is believed
        (SPACED, "2024-06-30", datetime(2024, 6, 29, 22, 0, tzinfo=UTC)),  # a bare date is local midnight
    ],
)
def test_wall_clock_parses_its_format(clock: WallClock, text: str, utc: datetime) -> None:
    assert clock.parse(text) == utc


def test_a_suffix_that_means_something_else_is_not_stripped() -> None:
    with pytest.raises(ValueError, match="isoformat"):
        SPACED.parse("2024-01-15 12:00:00Q")


def test_wall_clock_writes_what_it_reads() -> None:
    moment = datetime(2024, 10, 27, 0, 30, 5, 999, tzinfo=UTC)  # first pass of the repeated hour
    assert ZULU.format(moment) == "2024-10-27T02:30:05Z"
    assert SPACED.format(moment) == "2024-10-27 02:30:05"
    assert ZULU.parse(ZULU.format(moment)) == moment.replace(microsecond=0)
    assert SPACED.since(moment) == "2024-10-27 01:30:05"  # moved back by the jump: the second pass is not missed
    assert WallClock.date(" 2024-06-30T23:30:00Z") == date(2024, 6, 30)
    assert SPACED.now().tzinfo is None and SPACED.now().microsecond == 0
