"""RecordReader: every bad value is a RecordError naming the record and the field."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from crmsync.errors import RecordError
from crmsync.kit import RecordReader, iso_instant, read_stage


def test_reads_nested_values_by_dotted_path() -> None:
    reader = RecordReader({"id": 7, "properties": {"amount": "12.50", "closedate": "2026-03-01T00:00:00Z"}})
    assert reader.id == "7"
    assert reader.decimal("properties.amount") == Decimal("12.50")
    assert reader.date("properties.closedate") == date(2026, 3, 1)
    assert reader.path("properties.missing") is None
    assert reader.decimal("properties.missing") is None


def test_instants_are_aware_utc_from_iso_or_epoch_millis() -> None:
    reader = RecordReader({"id": "a", "iso": "2026-01-02T03:04:05+01:00", "naive": "2026-01-02T03:04:05", "ms": "0"})
    assert reader.instant("iso") == datetime(2026, 1, 2, 2, 4, 5, tzinfo=UTC)
    assert reader.instant("naive") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert reader.instant("ms") == datetime(1970, 1, 1, tzinfo=UTC)


def test_the_connectors_own_formats_are_passed_in() -> None:
    def parse(text: str) -> datetime:
        return datetime.strptime(text, "%d/%m/%Y %H:%M").replace(tzinfo=UTC)

    reader = RecordReader({"id": "a", "at": "02/01/2026 10:00"}, parse_instant=parse)
    assert reader.instant("at") == datetime(2026, 1, 2, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "field", "fragment"),
    [
        ({"id": "d1", "amount": "abc"}, "amount", "not a number"),
        ({"id": "d1", "amount": "1e30"}, "amount", "out of range"),
        ({"id": "d1", "amount": "9" * 5001}, "amount", "5001 characters"),
        ({"id": "d1", "amount": "NaN"}, "amount", "not a finite number"),
        ({"id": "d1", "amount": True}, "amount", "expected a number"),
        ({"id": "d1", "amount": {"value": 1}}, "amount", "expected a number"),
        ({"id": "d1", "at": "yesterday"}, "at", "not a timestamp"),
        ({"id": "d1", "at": "99999999999999999999"}, "at", "not a timestamp"),
        ({"id": "d1", "at": 5}, "at", "expected a timestamp"),
        ({"id": "d1", "on": "2026-13-01"}, "on", "not a date"),
        ({"id": "d1", "name": ["a"]}, "name", "expected text"),
    ],
)
def test_a_bad_value_names_record_and_field(raw: dict[str, object], field: str, fragment: str) -> None:
    reader = RecordReader(raw)
    read = {"amount": reader.decimal, "at": reader.instant, "on": reader.date, "name": reader.text}[field]
    with pytest.raises(RecordError) as info:
        read(field)
    assert info.value.source_id == "d1"
    assert info.value.field == field
    assert fragment in str(info.value)


@pytest.mark.parametrize("raw", ["a string", ["a", "list"], 42, None])
def test_a_record_that_is_not_an_object_is_a_record_error(raw: object) -> None:
    with pytest.raises(RecordError, match="not an object"):
        RecordReader(raw)


@pytest.mark.parametrize("raw", [{}, {"id": ""}, {"id": None}, {"id": True}, {"id": {"x": 1}}])
def test_a_record_without_a_usable_id_is_refused(raw: dict[str, object]) -> None:
    with pytest.raises(RecordError) as info:
        RecordReader(raw)
    assert info.value.field == "id"


def test_a_composed_id_is_taken_as_given() -> None:
    assert RecordReader({"PrId": "R1", "SqNo": 2}, source_id="R1-2").id == "R1-2"


def test_text_is_stripped_and_empty_is_none() -> None:
    reader = RecordReader({"id": 1, "a": "  x ", "b": "   ", "c": 12})
    assert (reader.text("a"), reader.text("b"), reader.text("c")) == ("x", None, "12")


def test_read_stage_reads_a_stage_list_entry_by_declared_paths() -> None:
    hubspot = {"id": "won", "label": "Won", "displayOrder": 5, "metadata": {"probability": "1.0", "isClosed": "true"}}
    stage = read_stage(hubspot, "p1", order="displayOrder", fraction="metadata.probability", closed="metadata.isClosed")
    assert (stage.id, stage.label, stage.pipeline_id, stage.order) == ("won", "Won", "p1", 5)
    assert stage.closed and stage.won and stage.probability == 1
    pipedrive = read_stage(
        {"id": 4, "name": "Demo", "deal_probability": 60}, "1", label="name", percent="deal_probability"
    )
    assert (pipedrive.id, pipedrive.label, pipedrive.probability, pipedrive.closed, pipedrive.won) == (
        "4",
        "Demo",
        Decimal("0.6"),
        False,
        False,
    )
    assert read_stage({"id": "s"}, "p").label == "s"  # no label: its id


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"id": "s1", "chance": 150}, "^stage s1: chance: .*outside 0..100 %"),
        ({"id": "s1", "chance": "lots"}, "^stage s1: chance: 'lots' is not a number"),
        ({"chance": 5}, "^stage without id: id: missing or unusable id"),
    ],
)
def test_read_stage_names_the_stage_and_field_it_cannot_read(raw: dict[str, object], message: str) -> None:
    with pytest.raises(RecordError, match=message):
        read_stage(raw, "p", percent="chance")


def test_iso_instant_reads_what_replacing_z_by_an_offset_reads() -> None:
    """The fast path for a trailing Z (Python 3.11 reads it) accepts and refuses exactly what the old reading did:
    Z and z replaced by +00:00, then `fromisoformat`; compared on mutations of typical stamps."""
    import random

    from crmsync.kit.records import iso_instant

    def replaced(text: str) -> datetime:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, tz=UTC)
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)

    def outcome(read: Any, text: str) -> Any:
        try:
            return read(text)
        except (ValueError, OverflowError, OSError) as exc:
            return type(exc)

    seeds = ["2026-01-01T10:00:00Z", "2026-01-01T10:00:00.123Z", "2026-01-01Z", "20260101T100000Z", "2026-01-01ZZ"]
    seeds += ["2026-01-01T10:00:00+01:00", "2026-01-01 10:00:00z", "2026-W01-1T10:00Z", "1700000000000", "Z", ""]
    rng = random.Random(11)
    texts = list(seeds)
    for _ in range(5000):
        chars = list(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            if chars and rng.random() < 0.5:
                chars[rng.randrange(len(chars))] = rng.choice("0123456789-:TZz.+ W")
            else:
                chars.insert(rng.randint(0, len(chars)), rng.choice("0123456789-:TZz.+ W"))
        texts.append("".join(chars))
    assert [outcome(iso_instant, t) for t in texts] == [outcome(replaced, t) for t in texts]
    assert iso_instant("2026-01-01T10:00:00Z") == datetime(2026, 1, 1, 10, tzinfo=UTC)


def test_iso_instant_remembers_recent_texts_in_bounded_memory() -> None:
    from crmsync.kit import records

    first = iso_instant("2026-01-02T00:00:00.000Z")
    assert iso_instant("2026-01-02T00:00:00.000Z") is first  # read once, shared by the deals that carry it
    for offset in range(records._INSTANTS_KEPT + 10):
        assert iso_instant(str(1_700_000_000_000 + offset)).timestamp() == 1_700_000_000 + offset / 1000
    assert len(records._INSTANTS) <= records._INSTANTS_KEPT
    assert iso_instant("2026-01-02T00:00:00.000Z") == first
    for _ in range(2):  # a refused text is not remembered as anything
        with pytest.raises(ValueError):
            iso_instant("2026-13-02T00:00:00Z")


def _decimal_as_first_written(value: Any) -> Decimal | str | None:
    """RecordReader.decimal's first, plainer reading (before its fast path for text), kept to compare with."""
    from decimal import InvalidOperation

    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return "expected a number"
    text = str(value).strip()
    if len(text) > 64:
        return "characters is not an amount"
    try:
        number = Decimal(text)
    except InvalidOperation:
        return "is not a number"
    if not number.is_finite():
        return "is not a finite number"
    return "out of range" if abs(number) >= Decimal(10) ** 15 else number


@pytest.mark.parametrize(
    "value",
    ["", " ", "  7 ", "1.50", "-0", "abc", "1e20", "1e14", "NaN", "-Infinity", "9" * 65, 5, 2.5, 0, True, False, None,
     [], {}, [1], "\u00a012\u00a0", "１２"],
)  # fmt: skip
def test_decimal_reads_what_its_first_reading_read(value: Any) -> None:
    want = _decimal_as_first_written(value)
    reader = RecordReader({"id": "1", "v": value, "nested": {"v": value}})
    for field in ("v", "nested.v"):
        if isinstance(want, str):
            with pytest.raises(RecordError, match=want):
                reader.decimal(field)
        else:
            got = reader.decimal(field)
            assert got == want and (got is None or str(got) == str(want)), field
