"""write_each: one outcome per deal; refused credentials stop the batch, other errors stay per deal."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from crmsync.connector import DealUpdate, WriteOutcome
from crmsync.errors import ApiError, AuthError, TransportError
from crmsync.kit import skipped, write_each, written


def updates(*ids: str) -> list[DealUpdate]:
    return [DealUpdate(source_id=i, category="commit") for i in ids]


async def test_each_deal_gets_its_own_outcome_in_order() -> None:
    async def one(update: DealUpdate) -> WriteOutcome:
        if update.source_id == "2":
            raise ApiError("PATCH /d/2 answered 400: bad option", status=400, detail="bad option", connection="c")
        if update.source_id == "3":
            raise TransportError("PATCH /d/3: timed out", connection="c")
        return written(update)

    outcomes = await write_each(updates("1", "2", "3", "4"), one)
    assert [(o.source_id, o.status) for o in outcomes] == [
        ("1", "written"), ("2", "failed"), ("3", "unknown"), ("4", "written")
    ]  # fmt: skip
    assert outcomes[1].reason == "400: bad option"
    assert "timed out" in (outcomes[2].reason or "")  # sent, never answered: maybe applied


async def test_refused_credentials_stop_the_batch_after_every_request_ended() -> None:
    finished: list[str] = []

    async def one(update: DealUpdate) -> WriteOutcome:
        if update.source_id == "1":
            raise AuthError("401", connection="c")
        await asyncio.sleep(0.01)
        finished.append(update.source_id)
        return written(update)

    with pytest.raises(AuthError):
        await write_each(updates("1", "2", "3"), one)
    assert sorted(finished) == ["2", "3"]


async def test_a_bug_is_not_hidden_as_a_failed_write() -> None:
    async def one(update: DealUpdate) -> WriteOutcome:
        raise KeyError("oops")

    with pytest.raises(KeyError):
        await write_each(updates("1"), one)


def assert_same_outcome(got: WriteOutcome, want: WriteOutcome) -> None:
    assert got == want
    assert got.model_fields_set == want.model_fields_set
    assert got.model_dump_json(exclude_unset=True) == want.model_dump_json(exclude_unset=True)


def test_written_and_skipped_are_the_validated_outcomes() -> None:
    update = DealUpdate(source_id="7", category="commit")
    moment = datetime(2026, 3, 1, 10, tzinfo=UTC)
    for modified_at in (None, moment, datetime(2026, 3, 1, 10)):
        want = WriteOutcome(source_id="7", status="written", modified_at=modified_at)
        assert_same_outcome(written(update, modified_at), want)
    want = WriteOutcome(source_id="7", status="skipped", reason="no such field")
    assert_same_outcome(skipped(update, "no such field"), want)
    with pytest.raises(ValidationError):  # what is not a moment still meets validation
        written(update, "yesterday")  # type: ignore[arg-type]
