"""CRM wall-clock times ↔ UTC across daylight-saving changes, shared by every connector that needs it.

Some CRMs stamp records with the account's local wall clock and no offset (or with a `Z` that lies). Two hours
a year need a decision, made here once:

- autumn (clocks back, e.g. 03:00 → 02:00 in Europe/Amsterdam): 02:00-02:59 happens twice. A wall time in it
  is read as the *first* occurrence (the earlier instant), so a checkpoint built from it errs on the early side.
- spring (clocks forward, 02:00 → 03:00): 02:00-02:59 does not exist. A wall time in it is read with the offset
  in force before the change, i.e. shifted forward by the gap (02:30 → 03:30 summer time), as PHP does.

For an incremental filter (`modified >= value`, compared on the CRM's wall clock) the other direction matters:
every instant at or after `since` must have a wall time at or after the value. In the repeated autumn hour that
fails for the second pass, so a `since` in the first pass moves back by the size of the jump (at most an hour
read again, once a year, never a record missed).

A connector declares its CRM's stamps as a `WallClock` (zone, separator, and the suffix a CRM may append); the
conversions are the functions below.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = ["WallClock", "local_to_utc", "since_as_local", "utc_to_local"]


@dataclass(frozen=True)
class WallClock:
    """A CRM's zone-less wall-clock stamps: ISO 8601 with `separator` between date and time (Simplicate's
    `2024-05-03 14:01:10`), and a `suffix` it writes without meaning it (AFAS's `2024-05-03T14:01:10Z` is
    Amsterdam time). A stamp with an explicit offset is taken at its word; a bare date is midnight."""

    zone: ZoneInfo
    separator: str = "T"
    suffix: str = ""

    def parse(self, text: str) -> datetime:
        """A stamp as an aware UTC datetime.

        Raises:
            ValueError: the text is not an ISO date or date-time.
        """
        text = text.strip()
        if self.suffix and text[-1:].upper() == self.suffix.upper():
            text = text[:-1]
        moment = datetime.fromisoformat(text)
        return moment.astimezone(UTC) if moment.tzinfo is not None else local_to_utc(moment, self.zone)

    @staticmethod
    def date(text: str) -> date:
        """The calendar date of a date or date-time stamp, no conversion (`2024-06-30T00:00:00Z` → 2024-06-30)."""
        return date.fromisoformat(text.strip()[:10])

    def format(self, instant: datetime) -> str:
        """An aware instant as the CRM writes it, to the second."""
        return utc_to_local(instant, self.zone).replace(microsecond=0).isoformat(self.separator) + self.suffix

    def since(self, since: datetime) -> str:
        """The value of a `>=` filter that returns every record changed at or after `since` (see `since_as_local`)."""
        return since_as_local(since, self.zone).isoformat(self.separator)

    def now(self) -> datetime:
        """The current wall-clock time, naive, to the second (what the CRM stamps)."""
        return utc_to_local(datetime.now(UTC), self.zone).replace(microsecond=0)


def local_to_utc(naive: datetime, zone: ZoneInfo) -> datetime:
    """A zone-less wall-clock time in `zone` as an aware UTC datetime.

    An ambiguous time (the repeated autumn hour) is its first occurrence; a nonexistent time (the skipped spring
    hour) is shifted forward by the gap.

    Args:
        naive: The wall-clock time, without tzinfo.
        zone: The zone whose wall clock `naive` was read from.

    Returns:
        The same moment as an aware datetime in UTC.

    Raises:
        ValueError: `naive` carries a time zone (it is not a wall-clock value).
    """
    if naive.tzinfo is not None:
        raise ValueError("a wall-clock time must not carry a time zone")
    # fold=0: the first occurrence of a repeated hour; in a skipped hour, the offset before the change.
    return naive.replace(tzinfo=zone, fold=0).astimezone(UTC)


def utc_to_local(instant: datetime, zone: ZoneInfo) -> datetime:
    """The zone-less wall-clock time of an aware instant in `zone`.

    Both passes of the repeated autumn hour give the same wall time (`fold` is reset to 0), as a CRM stamps them.

    Args:
        instant: Any aware datetime (UTC or another offset).
        zone: The zone whose wall clock is wanted.

    Returns:
        A naive datetime, to the microsecond of `instant`.

    Raises:
        ValueError: `instant` carries no time zone.
    """
    if instant.tzinfo is None:
        raise ValueError("an instant must carry a time zone")
    return instant.astimezone(zone).replace(tzinfo=None, fold=0)


def since_as_local(since: datetime, zone: ZoneInfo) -> datetime:
    """The wall-clock value to filter with `>=` so that every record changed at or after `since` is returned.

    The value is `since` on the wall clock of `zone`, floored to the second (the filters' resolution; flooring
    only widens a `>=` filter). A `since` in the first pass of a repeated hour moves back by the size of the jump,
    so records stamped in the second pass (later instants with earlier wall times) are not missed. In spring
    nothing moves: no instant has a wall time in the skipped hour.

    Args:
        since: An aware datetime, usually a UTC checkpoint.
        zone: The zone of the CRM's wall clock.

    Returns:
        A naive wall-clock datetime with microsecond 0.

    Raises:
        ValueError: `since` carries no time zone.
    """
    if since.tzinfo is None:
        raise ValueError("since must carry a time zone")
    local = since.astimezone(zone)
    wall = local.replace(tzinfo=None, microsecond=0, fold=0)
    first = wall.replace(tzinfo=zone, fold=0).utcoffset() or timedelta(0)
    second = wall.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    if first > second and local.fold == 0:  # a repeated hour, and `since` lies in its first pass
        wall -= first - second
    return wall
