"""The cursor and hold-back policy as pure functions, table by table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmsync.sync.cursor import (
    FUTURE_TOLERANCE,
    Checkpoint,
    advance,
    checkpoint,
    hold_back,
    next_cursor,
    trusted,
    vouched_for,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def at(minutes: int) -> datetime:
    """NOW shifted by `minutes`."""
    return NOW + timedelta(minutes=minutes)


FAR = datetime(2999, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("stamps", "expected"),
    [
        ([], Checkpoint()),
        ([None, None], Checkpoint()),
        ([at(-30), at(-10), None], Checkpoint(at(-10))),
        ([at(-10), at(4)], Checkpoint(at(4))),  # within the tolerance: believed
        ([at(-10), at(5)], Checkpoint(at(5))),  # exactly at the tolerance: believed
        ([at(-10), at(6)], Checkpoint(at(-10), (at(6),))),  # beyond: left out and reported
        ([FAR, at(-1)], Checkpoint(at(-1), (FAR,))),
        ([FAR], Checkpoint(None, (FAR,))),
    ],
)
def test_checkpoint_leaves_out_future_stamps(stamps: list[datetime | None], expected: Checkpoint) -> None:
    assert checkpoint(stamps, NOW) == expected


def test_checkpoint_tolerance_is_five_minutes_by_default_and_adjustable() -> None:
    assert timedelta(minutes=5) == FUTURE_TOLERANCE
    assert checkpoint([at(30)], NOW, timedelta(hours=1)) == Checkpoint(at(30))
    assert checkpoint([at(1)], NOW, timedelta(0)) == Checkpoint(None, (at(1),))


@pytest.mark.parametrize(
    ("previous", "seen", "signpost", "expected"),
    [
        (None, None, NOW, None),  # first run that saw nothing
        (None, at(-60), NOW, at(-60)),
        (at(-120), at(-60), NOW, at(-60)),  # moves forward to the latest checkpoint
        (at(-60), at(-120), NOW, at(-60)),  # a re-read overlap never moves it back
        (at(-60), None, NOW, at(-60)),  # nothing changed: stays
        (at(-60), at(10), NOW, NOW),  # a deal edited during the listing: bound by the signpost
        (None, at(10), NOW, NOW),
    ],
)
def test_advance(
    previous: datetime | None, seen: datetime | None, signpost: datetime, expected: datetime | None
) -> None:
    assert advance(previous, seen, signpost) == expected


@pytest.mark.parametrize(
    ("previous", "seen", "vouched", "expected"),
    [
        (at(-600), at(-500), at(-20), at(-20)),  # a quiet CRM: the CRM's clock moves the cursor past old edits
        (at(-600), None, at(-20), at(-20)),  # nothing listed at all
        (None, None, at(-20), at(-20)),
        (at(-600), at(-5), at(-20), at(-5)),  # an edit newer than the vouched time still wins
        (at(-10), at(-60), at(-20), at(-10)),  # and the cursor never goes back
        (at(-600), at(-500), None, at(-500)),  # no server time: by the stamps alone, as before
    ],
)
def test_advance_to_what_the_crms_clock_vouches_for(
    previous: datetime | None, seen: datetime | None, vouched: datetime | None, expected: datetime | None
) -> None:
    assert advance(previous, seen, NOW, vouched) == expected


@pytest.mark.parametrize(
    ("server_time", "expected"),
    [
        (None, None),  # the CRM sent no Date header
        (at(-1), at(-11)),  # the CRM's time before the listing, less the overlap
        (at(4), at(-6)),  # its clock a little ahead of ours: believed
        (at(-6), None),  # more than the tolerance behind ours: trusted for nothing
        (at(6), None),  # or ahead
    ],
)
def test_a_listing_vouches_for_the_crms_clock_less_the_overlap(
    server_time: datetime | None, expected: datetime | None
) -> None:
    assert vouched_for(server_time, NOW, timedelta(minutes=10), FUTURE_TOLERANCE) == expected


def test_a_failed_write_holds_back_a_vouched_cursor_too() -> None:
    assert next_cursor(at(-600), at(-500), NOW, [at(-550)], vouched=at(-20)) == at(-550)


@pytest.mark.parametrize(
    ("cursor", "previous", "failed", "expected"),
    [
        (at(-10), at(-60), [], at(-10)),  # no failures: as advanced
        (at(-10), at(-60), [at(-30)], at(-30)),  # held back to the failed deal
        (at(-10), at(-60), [at(-30), at(-45)], at(-45)),  # to the earliest failed deal
        (at(-10), at(-60), [at(-5)], at(-10)),  # a failed deal after the cursor holds nothing back
        (at(-10), at(-60), [at(-30), None], at(-60)),  # a deal without a stamp: the cursor stays
        (at(-10), None, [None], None),
        (None, None, [at(-30)], at(-30)),
        (at(-10), at(-60), [at(-90)], at(-90)),  # a re-evaluated old deal may move it back
    ],
)
def test_hold_back(
    cursor: datetime | None, previous: datetime | None, failed: list[datetime | None], expected: datetime | None
) -> None:
    assert hold_back(cursor, previous, failed) == expected


@pytest.mark.parametrize(
    ("previous", "seen", "failed", "expected"),
    [
        (at(-60), at(-20), [], at(-20)),
        (at(-60), at(30), [], NOW),
        (at(-60), at(30), [at(-40)], at(-40)),
        (at(-60), at(-20), [None], at(-60)),
    ],
)
def test_next_cursor_advances_then_holds_back(
    previous: datetime | None, seen: datetime | None, failed: list[datetime | None], expected: datetime | None
) -> None:
    assert next_cursor(previous, seen, NOW, failed) == expected


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [(None, None), (at(-60), at(-60)), (at(5), at(5)), (at(6), None), (FAR, None)],
)
def test_a_cursor_in_the_future_is_not_trusted(cursor: datetime | None, expected: datetime | None) -> None:
    assert trusted(cursor, NOW) == expected
