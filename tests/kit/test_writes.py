"""write_each: one outcome per deal; refused credentials stop the batch, other errors stay per deal."""

from __future__ import annotations

import asyncio

import pytest

from crmsync.connector import DealUpdate, WriteOutcome
from crmsync.errors import ApiError, AuthError, TransportError
from crmsync.kit import write_each, written


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
