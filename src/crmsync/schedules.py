"""A connection's schedule: a cron expression in a time zone, for APScheduler and for Procrastinate alike.

Five fields are the classic crontab (minute hour day month weekday); a sixth field, as in croniter and
Procrastinate, is the second (`* * * * * */10` = every ten seconds). Times are computed in the schedule's own time
zone, so `0 2 * * *` in Europe/Amsterdam is 02:00 there in summer and in winter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from croniter import croniter

FIELDS = ("minute", "hour", "day", "month", "weekday", "second")


def check(expression: str) -> str:
    """`expression` when it is a valid 5- or 6-field cron; a ValueError saying what is wrong otherwise."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"invalid cron expression {expression!r}: give 5 fields ({' '.join(FIELDS[:5])}) or 6 (+ second)"
        )
    try:
        Schedule(expression, "UTC").trigger()
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {expression!r}: {exc}") from None
    if not croniter.is_valid(expression):
        raise ValueError(f"invalid cron expression {expression!r}")
    return expression


@dataclass(frozen=True)
class Schedule:
    expression: str
    timezone: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def trigger(self) -> CronTrigger:
        """The APScheduler trigger of the embedded scheduler."""
        fields = self.expression.split()
        if len(fields) == 5:
            return CronTrigger.from_crontab(self.expression, timezone=self.zone)
        minute, hour, day, month, weekday, second = fields
        return CronTrigger(
            second=second, minute=minute, hour=hour, day=day, month=month, day_of_week=weekday, timezone=self.zone
        )

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after `moment` (aware), in UTC."""
        return self._iterator(moment).get_next(datetime).astimezone(UTC)

    def previous(self, moment: datetime) -> datetime:
        """The last slot strictly before `moment` (aware), in UTC."""
        return self._iterator(moment).get_prev(datetime).astimezone(UTC)

    def _iterator(self, moment: datetime) -> croniter:
        return croniter(self.expression, moment.astimezone(self.zone))


class ZonedCron:
    """The slice of croniter's interface Procrastinate's periodic deferrer uses, computed in a time zone.

    Procrastinate evaluates crons in UTC from epoch floats; this keeps its floats but steps in `schedule`'s zone.
    """

    def __init__(self, schedule: Schedule) -> None:
        self.schedule = schedule
        self._current = datetime.now(UTC)

    def set_current(self, start_time: float | None = None, force: bool = True) -> float:
        if start_time is not None:
            self._current = datetime.fromtimestamp(start_time, UTC)
        return self._current.timestamp()

    def get_next(self, ret_type: type = float, start_time: float | None = None) -> float:
        if start_time is not None:
            self.set_current(start_time)
        self._current = self.schedule.next_after(self._current)
        return self._current.timestamp()

    def get_prev(self, ret_type: type = float, start_time: float | None = None) -> float:
        if start_time is not None:
            self.set_current(start_time)
        self._current = self.schedule.previous(self._current)
        return self._current.timestamp()
