"""deals stored once: every field in its own column, the JSON copy dropped

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 09:05:00

Until 0002 a deal row held columns and a JSON copy of the whole deal (`data`), which drifted apart after
crmsync's own writes (the columns were updated, the copy was not). The fields only the copy held get columns,
filled from the copy; then the copy is dropped. The stage's won flag is not kept: `status` carries won/lost.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_deals = sa.table(
    "deals",
    sa.column("connection", sa.String),
    sa.column("source_id", sa.String),
    sa.column("data", sa.JSON),
    sa.column("stage_probability", sa.Numeric(9, 6)),
    sa.column("stage_closed", sa.Boolean),
    sa.column("writable", sa.Boolean),
    sa.column("probability_writable", sa.Boolean),
    sa.column("lost_reason", sa.Text),
    sa.column("lost_to", sa.Text),
    sa.column("extra", sa.JSON),
)


def _ratio(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value)) if value is not None else None
    except InvalidOperation:
        return None
    return number if number is not None and 0 <= number <= 1 else None


def upgrade() -> None:
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_probability", sa.Numeric(precision=9, scale=6), nullable=True))
        batch_op.add_column(sa.Column("stage_closed", sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column("writable", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("probability_writable", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.add_column(sa.Column("lost_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("lost_to", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("extra", sa.JSON(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.select(_deals.c.connection, _deals.c.source_id, _deals.c.data)).all()
    for row in rows:
        data = row.data if isinstance(row.data, dict) else json.loads(row.data or "{}")
        stage = data.get("stage") or {}
        bind.execute(
            _deals.update()
            .where(_deals.c.connection == row.connection, _deals.c.source_id == row.source_id)
            .values(
                stage_probability=_ratio(stage.get("probability")),
                stage_closed=bool(stage.get("closed", False)),
                writable=bool(data.get("writable", True)),
                probability_writable=bool(data.get("probability_writable", True)),
                lost_reason=data.get("lost_reason"),
                lost_to=data.get("lost_to"),
                extra=data.get("extra") or {},
            )
        )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.drop_column("data")


def downgrade() -> None:
    """Rebuilds the JSON copy from the columns (the form 0002 read), then drops the columns 0003 added."""
    with op.batch_alter_table("deals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.JSON(), nullable=True))
    bind = op.get_bind()
    table = sa.table("deals", *(sa.column(name) for name in _DOWN_COLUMNS), sa.column("data", sa.JSON))
    for row in bind.execute(sa.select(*(table.c[name] for name in _DOWN_COLUMNS))).mappings():
        data = {
            "connection": row["connection"],
            "source_id": row["source_id"],
            "name": row["name"],
            "pipeline": {"id": row["pipeline_id"], "label": row["pipeline_label"]},
            "stage": {
                "id": row["stage_id"],
                "label": row["stage_label"],
                "pipeline_id": row["pipeline_id"],
                "order": row["stage_order"],
                "probability": None if row["stage_probability"] is None else str(row["stage_probability"]),
                "closed": bool(row["stage_closed"]),
                "won": bool(row["stage_closed"]) and row["status"] == "won",
            },
            "status": row["status"],
            "amount": _text(row["amount"]),
            "currency": row["currency"],
            "close_date": _text(row["close_date"]),
            "owner": {"id": row["owner_id"], "name": row["owner_name"], "email": row["owner_email"]}
            if row["owner_id"]
            else None,
            "group": row["group_name"],
            "created_at": _text(row["created_at"]),
            "updated_at": _text(row["updated_at"]),
            "closed_at": _text(row["closed_at"]),
            "remote_category": row["remote_category"],
            "remote_probability": _text(row["remote_probability"]),
            "writable": bool(row["writable"]),
            "probability_writable": bool(row["probability_writable"]),
            "lost_reason": row["lost_reason"],
            "lost_to": row["lost_to"],
            "extra": row["extra"] or {},
        }
        bind.execute(
            table.update()
            .where(table.c.connection == row["connection"], table.c.source_id == row["source_id"])
            .values(data=data)
        )
    with op.batch_alter_table("deals", schema=None) as batch_op:
        for name in _ADDED:
            batch_op.drop_column(name)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=UTC)  # SQLite hands stored UTC times back naive
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


_ADDED = ("extra", "lost_to", "lost_reason", "probability_writable", "writable", "stage_closed", "stage_probability")
_DOWN_COLUMNS = (
    "connection",
    "source_id",
    "name",
    "pipeline_id",
    "pipeline_label",
    "stage_id",
    "stage_label",
    "stage_order",
    "status",
    "stage_probability",
    "stage_closed",
    "amount",
    "currency",
    "close_date",
    "owner_id",
    "owner_name",
    "owner_email",
    "group_name",
    "created_at",
    "updated_at",
    "closed_at",
    "remote_category",
    "remote_probability",
    "writable",
    "probability_writable",
    "lost_reason",
    "lost_to",
    "extra",
)
