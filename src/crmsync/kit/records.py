"""RecordReader: reads one raw record field by field, so every bad value becomes a RecordError naming the record
and the field instead of a traceback.

    reader = RecordReader(raw)                      # raw["id"] is the source id
    amount = reader.decimal("properties.amount")    # dotted paths walk nested objects
    closes = reader.date("properties.closedate")

Times and dates are parsed by functions the connector passes in (each CRM writes its own formats); the defaults
read ISO 8601 (a value without an offset is UTC) and epoch milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from crmsync.errors import RecordError
from crmsync.model import Stage

# Amounts and probabilities beyond this are no one's data: a 1e30 or a 5,001-digit number is refused here,
# with the field named, instead of failing the store or the arithmetic later.
LARGEST = Decimal(10) ** 15
MAX_NUMBER_TEXT = 64


_INSTANTS: dict[str, datetime] = {}  # recent texts read: the deals of a page share close dates (midnights)
_INSTANTS_KEPT = 4096


def zulu_instant(text: str) -> datetime | None:
    """A text in the common form with one trailing Z ('2026-02-09T11:37:06.826Z'), as the aware UTC datetime
    `iso_instant` reads from it; None for any other text, which `iso_instant` reads the long way. Python 3.11's
    `fromisoformat` reads the trailing Z itself, but also takes a Z (or z) between date and time, which the long
    way refuses: one Z, last."""
    if not (text.endswith("Z") and text.count("Z") == 1 and "z" not in text):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def iso_instant(text: str) -> datetime:
    """ISO 8601 (a trailing Z, or no offset at all, is UTC) or epoch milliseconds, as an aware UTC datetime."""
    found = _INSTANTS.get(text)
    if found is not None:
        return found
    parsed = zulu_instant(text)  # the common case
    if parsed is None:
        if text.isdigit():
            parsed = datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is not UTC:
        parsed = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)
    if len(_INSTANTS) >= _INSTANTS_KEPT:
        _INSTANTS.clear()
    _INSTANTS[text] = parsed
    return parsed


def iso_date(text: str) -> date:
    """The calendar date of `YYYY-MM-DD` or of an ISO date-time (its first ten characters), no conversion."""
    return date.fromisoformat(text.strip()[:10])


def lookup(raw: Any, path: str) -> Any:
    """The value at a dotted path in nested objects; None when any step is missing or not an object."""
    if "." not in path:  # most fields are top-level: no split
        return raw.get(path) if isinstance(raw, dict) else None
    value = raw
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


class RecordReader:
    """Typed reads of one raw record; every failure is a RecordError with the record's id and the field.

    Args:
        raw: The record as the CRM sent it; anything but a JSON object is refused.
        id_field: Where the source id is (a dotted path), when `source_id` is not given.
        source_id: The id, when the connector composes it (e.g. from two key fields).
        parse_instant: Text → aware datetime; raises ValueError for text it cannot read.
        parse_date: Text → date; raises ValueError.
        kind: What the record is, as errors name it ('record'; 'stage' for an entry of a stage list).
    """

    def __init__(
        self,
        raw: Any,
        *,
        id_field: str = "id",
        source_id: str | None = None,
        parse_instant: Callable[[str], datetime] = iso_instant,
        parse_date: Callable[[str], date] = iso_date,
        kind: str = "record",
    ) -> None:
        self.kind = kind
        if not isinstance(raw, dict):
            raise RecordError(f"the {kind} is a JSON {type(raw).__name__}, not an object", field=None, kind=kind)
        self.raw: dict[str, Any] = raw
        self._parse_instant = parse_instant
        self._parse_date = parse_date
        if source_id is None:
            value = lookup(raw, id_field)
            if isinstance(value, bool) or not isinstance(value, str | int) or str(value).strip() == "":
                raise RecordError(f"missing or unusable id {value!r}", field=id_field, kind=kind)
            source_id = str(value).strip()
        self.id = source_id

    def fail(self, message: str, field: str) -> RecordError:
        """A RecordError about `field` of this record."""
        return RecordError(message, source_id=self.id, field=field, kind=self.kind)

    def path(self, field: str) -> Any:
        """The raw value at a dotted path, or None."""
        return lookup(self.raw, field)

    def text(self, field: str) -> str | None:
        """A text value, stripped; numbers become their text; empty is None; an object or list is an error."""
        value = lookup(self.raw, field) if "." in field else self.raw.get(field)  # `raw` is a dict (checked)
        if type(value) is str:  # the common case first
            return value.strip() or None
        if value is None:
            return None
        if isinstance(value, bool | dict | list):
            raise self.fail(f"expected text, got {_shown(value)}", field)
        text = str(value).strip()
        return text or None

    def decimal(self, field: str) -> Decimal | None:
        """A finite number below 10**15 in size, from a JSON number or a numeric string; empty is None."""
        value = lookup(self.raw, field) if "." in field else self.raw.get(field)
        if type(value) is str:  # the common case first
            if not value:
                return None
            text = value.strip()
        elif value is None:
            return None
        elif isinstance(value, bool) or not isinstance(value, int | float | str):
            raise self.fail(f"expected a number, got {_shown(value)}", field)
        else:
            text = str(value).strip()
        if len(text) > MAX_NUMBER_TEXT:
            raise self.fail(f"a number of {len(text)} characters is not an amount", field)
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise self.fail(f"{_shown(value)} is not a number", field) from None
        if not number.is_finite():
            raise self.fail(f"{_shown(value)} is not a finite number", field)
        if abs(number) >= LARGEST:
            raise self.fail(f"{_shown(value)} is out of range (at most 10^15 in size)", field)
        return number

    def instant(self, field: str) -> datetime | None:
        """A moment in time as an aware UTC datetime; empty is None."""
        value = lookup(self.raw, field) if "." in field else self.raw.get(field)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise self.fail(f"expected a timestamp, got {_shown(value)}", field)
        try:
            return self._parse_instant(value.strip()).astimezone(UTC)
        except (ValueError, OverflowError, OSError):  # OverflowError/OSError: epoch values out of range
            raise self.fail(f"{_shown(value)} is not a timestamp", field) from None

    def date(self, field: str) -> date | None:
        """A calendar date; empty (and MySQL's 0000-00-00) is None."""
        value = lookup(self.raw, field)
        if value is None or value in ("", "0000-00-00"):
            return None
        if not isinstance(value, str):
            raise self.fail(f"expected a date, got {_shown(value)}", field)
        try:
            return self._parse_date(value)
        except ValueError:
            raise self.fail(f"{_shown(value)} is not a date", field) from None


def read_stage(
    raw: Any,
    pipeline_id: str,
    *,
    label: str = "label",
    order: str | None = None,
    percent: str | None = None,
    fraction: str | None = None,
    closed: str | None = None,
) -> Stage:
    """One stage of a CRM's list of stages, its values found by dotted path: the probability in `percent` (0..100)
    or as a `fraction` (0..1); `closed` holds true (or "true"). A closed stage at 100 % is won.

    Raises:
        RecordError: no id, or a probability or order that is not a number in range, naming the stage and field.
    """
    stage = RecordReader(raw, kind="stage")
    share = stage.decimal(fraction) if fraction else None
    if percent and (value := stage.decimal(percent)) is not None:
        share = value / 100
    if share is not None and not 0 <= share <= 1:
        raise stage.fail(f"a probability of {share:%} is outside 0..100 %", percent or fraction or "")
    is_closed = closed is not None and str(stage.path(closed)).lower() == "true"
    position = int(stage.decimal(order) or 0) if order else 0
    return Stage(
        id=stage.id,
        label=stage.text(label) or stage.id,
        pipeline_id=pipeline_id,
        order=position,
        probability=share,
        closed=is_closed,
        won=is_closed and share == 1,
    )


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
