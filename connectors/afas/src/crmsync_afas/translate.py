"""Pure mapping from Profit's GetConnector rows to the canonical model.

Stages: each forecast status is a stage carrying its scoring chance as the native probability. Profit closes a
forecast by its *result*, not by its status, so two more stages stand for the results: `result:G` (closed and
scored, won) and `result:N` (closed and not scored, lost). An open forecast is in its status's stage; a closed
one is in its result's stage (its status is kept in `Deal.extra['status']`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crmsync.connector import Reference
from crmsync.errors import RecordError
from crmsync.kit import RecordReader, trusted_deal, trusted_owner
from crmsync.localtime import WallClock
from crmsync.mapping import Mapping
from crmsync.model import Deal, DealStatus, Pipeline, Stage
from crmsync_afas.fields import FieldMap

# Profit writes `2024-05-03T14:01:10Z`, but the Z lies: its stamps are Amsterdam wall-clock time
AMSTERDAM = WallClock(ZoneInfo("Europe/Amsterdam"), suffix="Z")
PIPELINE = Pipeline(id="verkoopkansen", label="Verkoopkansen")
NO_STATUS = "-"
WON = "result:G"
LOST = "result:N"
RESULTS = {"O": DealStatus.OPEN, "G": DealStatus.WON, "N": DealStatus.LOST}


def source_id(relation: object, sequence: object) -> str:
    """The deal id crmsync uses: `<PrId>-<SqNo>`."""
    return f"{relation}-{sequence}"


def split_id(deal_id: str) -> tuple[str, int] | None:
    """`<PrId>-<SqNo>` back into its parts; None when it is not such an id."""
    relation, dash, sequence = deal_id.rpartition("-")
    if not dash or not relation or not sequence.isdigit():
        return None
    return relation, int(sequence)


def stages_from_statuses(rows: list[dict[str, Any]], fields: FieldMap) -> dict[str, Stage]:
    """Stages from the status GetConnector's rows (chance in percent → probability 0..1), plus result stages."""
    stages: dict[str, Stage] = {}
    for row in rows:
        code = row.get(fields.status_id)
        if code in (None, ""):
            continue
        chance = RecordReader(row, source_id=f"status {code}").decimal(fields.status_chance)
        stages[str(code)] = Stage(
            id=str(code),
            label=str(row.get(fields.status_label) or code),
            pipeline_id=PIPELINE.id,
            probability=None if chance is None else min(Decimal(1), max(Decimal(0), chance / 100)),
        )
    ordered = sorted(stages.values(), key=lambda s: (s.probability is None, s.probability or 0, s.id))
    result = {s.id: s.model_copy(update={"order": i}) for i, s in enumerate(ordered)}
    n = len(result)
    result[NO_STATUS] = Stage(id=NO_STATUS, label="Zonder voortgang", pipeline_id=PIPELINE.id, order=n)
    result[WON] = Stage.ending(WON, "Gescoord", PIPELINE.id, n + 1, won=True)
    result[LOST] = Stage.ending(LOST, "Niet gescoord", PIPELINE.id, n + 2, won=False)
    return result


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def to_deal(connection: str, raw: Any, reference: Reference, mapping: Mapping, fields: FieldMap) -> Deal:
    """Map one GetConnector row to the canonical Deal.

    Raises:
        RecordError: not an object, no key, an unknown result or status, or a value that does not parse.
    """
    relation_id, sequence_id = fields.key_fields
    if not isinstance(raw, dict):
        RecordReader(raw)  # raises the RecordError that names what the row is
    relation, sequence = _text(raw.get(relation_id)), _text(raw.get(sequence_id))
    if relation is None or sequence is None:
        raise RecordError(f"row has no key ({relation_id!r} and {sequence_id!r})")
    deal_id = source_id(relation, sequence)
    row = RecordReader(raw, source_id=deal_id, parse_instant=AMSTERDAM.parse, parse_date=AMSTERDAM.date)

    def field(canonical: str) -> str:
        return fields.id(canonical) or f"({canonical} not mapped)"  # an unmapped optional field reads as empty

    result_code = row.text(field("result")) or "O"
    status = RESULTS.get(result_code.upper())
    if status is None:
        raise row.fail(f"unknown result {result_code!r}; expected O, G or N", field("result"))
    status_code = row.text(field("status"))
    status_stage = reference.stages.get(status_code or NO_STATUS)
    if status_stage is None:
        known = ", ".join(sorted(k for k in reference.stages if k not in (WON, LOST, NO_STATUS)))
        raise row.fail(f"unknown forecast status {status_code!r}; statuses: {known}", field("status"))
    stage = {DealStatus.WON: reference.stages.get(WON), DealStatus.LOST: reference.stages.get(LOST)}.get(
        status, status_stage
    )
    assert stage is not None
    updated = row.instant(field("modified"))
    if updated is None:
        raise row.fail("no modification time", field("modified"))
    owner_id = row.text(field("owner"))
    extra = {"sales_relation": relation, "sequence": sequence, "result": result_code}
    if status_code:
        extra["status"] = status_code
    organisation = row.text(field("organisation"))
    if organisation:
        extra["organisation"] = organisation
    linked = fields.chance_linked_to_status and status_stage.probability is not None
    closed = status is not DealStatus.OPEN
    return trusted_deal(
        connection=connection,
        source_id=deal_id,
        name=row.text(field("name")) or f"Verkoopkans {deal_id}",
        pipeline=PIPELINE,
        stage=stage,
        status=status,
        amount=row.decimal(field("amount")),
        currency=row.text(field("currency")) or mapping.default_currency,
        close_date=row.date(field("close_date")),
        owner=trusted_owner(owner_id, row.text(field("owner_name"))) if owner_id else None,
        created_at=row.instant(field("created")),
        updated_at=updated,
        closed_at=row.instant(field("closed_date")) if closed else None,
        remote_category=row.text(field("category")),
        remote_probability=row.decimal(field("probability")),
        # Profit keeps no history of who set a free field or the chance: the engine compares with its ledger.
        category_is_manual=None,
        probability_is_manual=None,
        probability_writable=not linked,
        lost_reason=row.text(field("lost_reason")) if status is DealStatus.LOST else None,
        lost_to=row.text(field("lost_to")) if status is DealStatus.LOST else None,
        group=row.text(field("group")),
        extra=extra,
    )
