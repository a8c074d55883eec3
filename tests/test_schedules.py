"""Schedules: 5- and 6-field crons in a time zone, for APScheduler and for Procrastinate's periodic deferrer."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from procrastinate.periodic import PeriodicDeferrer

from crmsync.config import Config
from crmsync.schedules import Schedule, check
from crmsync.service.queue import SYNC_TASK, Queue, slot_trigger


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


def test_a_nightly_cron_follows_the_zone_through_summer_and_winter() -> None:
    nightly = Schedule("0 2 * * *", "Europe/Amsterdam")
    assert nightly.next_after(utc(2026, 7, 1, 12)) == utc(2026, 7, 2, 0)  # 02:00 CEST
    assert nightly.next_after(utc(2026, 12, 1, 12)) == utc(2026, 12, 2, 1)  # 02:00 CET
    assert nightly.previous(utc(2026, 12, 2, 1)) == utc(2026, 12, 1, 1)  # strictly before


def test_a_sixth_field_is_the_second() -> None:
    often = Schedule("* * * * * */10", "UTC")
    assert often.next_after(utc(2026, 12, 4, 12, 0, 5)) == utc(2026, 12, 4, 12, 0, 10)
    trigger = often.trigger()
    fired = trigger.get_next_fire_time(None, utc(2026, 12, 4, 12, 0, 11))
    assert fired == utc(2026, 12, 4, 12, 0, 20)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("every night", "give 5 fields"),
        ("* * * * * * *", "give 5 fields"),
        ("61 * * * *", "invalid cron expression"),
        ("* * * * * 61", "invalid cron expression"),
    ],
)
def test_bad_crons_say_why(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check(expression)


def test_procrastinate_defers_the_slot_of_the_connections_zone_not_utc() -> None:
    config = Config.model_validate(
        {
            "store": {"url": "postgresql+psycopg://u:p@127.0.0.1/none"},  # never connected: nothing is deferred
            "connections": {
                "nl": {
                    "connector": "fake",
                    "mapping": "m.toml",
                    "schedule": "0 2 * * *",
                    "timezone": "Europe/Amsterdam",
                },
                "ny": {
                    "connector": "fake",
                    "mapping": "m.toml",
                    "schedule": "0 2 * * *",
                    "timezone": "America/New_York",
                },
            },
        }
    )
    queue = Queue(config)
    deferrer = PeriodicDeferrer(queue.app.periodic_registry, max_delay=24 * 3600)
    at = utc(2026, 7, 1, 6, 0, 30).timestamp()
    due = {task.periodic_id: stamp for task, stamp in deferrer.get_previous_tasks(at) if task.task.name == SYNC_TASK}
    assert due == {"nl": int(utc(2026, 7, 1, 0).timestamp()), "ny": int(utc(2026, 7, 1, 6).timestamp())}
    assert slot_trigger(due["nl"]) == "schedule 2026-07-01T00:00:00Z"
    # the following slots step in each zone too
    later = {task.periodic_id: stamp for task, stamp in deferrer.get_previous_tasks(utc(2026, 7, 2, 7).timestamp())}
    assert later["nl"] == int(utc(2026, 7, 2, 0).timestamp()) and later["ny"] == int(utc(2026, 7, 2, 6).timestamp())
    # every sync job carries its connection's lock
    periodic = queue.app.periodic_registry.periodic_tasks[(SYNC_TASK, "nl")]
    assert periodic.configure_kwargs["lock"] == "crmsync:nl"


def test_the_queue_refuses_a_sqlite_store() -> None:
    from crmsync.errors import ConfigError

    config = Config.model_validate({"store": {"url": "sqlite:///x.db"}})
    with pytest.raises(ConfigError, match="must be PostgreSQL"):
        Queue(config)
