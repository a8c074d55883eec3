"""Tables of the state store (SQLAlchemy Core, portable across SQLite and PostgreSQL).

Changing a table means adding an Alembic revision under `migrations/versions/`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    false,
    true,
)

metadata = MetaData()

AMOUNT = Numeric(18, 2)
RATIO = Numeric(9, 6)


def _ts(name: str, nullable: bool = True) -> Column[object]:
    return Column(name, DateTime(timezone=True), nullable=nullable)


runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", String(100), nullable=False),
    Column("kind", String(20), nullable=False),  # sync | rollback
    Column("status", String(20), nullable=False),  # running | ok | partial | failed
    Column("mode", String(20), nullable=False),  # apply | dry-run
    Column("full", Boolean, nullable=False, default=False),
    _ts("started_at", False),
    _ts("finished_at"),
    Column("fetched", Integer, nullable=False, default=0),
    Column("stored", Integer, nullable=False, default=0),
    Column("quarantined", Integer, nullable=False, default=0),
    Column("deleted", Integer, nullable=False, default=0),
    Column("planned", Integer, nullable=False, default=0),
    Column("written", Integer, nullable=False, default=0),
    Column("skipped", Integer, nullable=False, default=0),
    Column("failed", Integer, nullable=False, default=0),
    Column("requests", Integer, nullable=False, default=0),
    Column("reevaluated", Integer, nullable=False, default=0, server_default="0"),
    Column("evaluated_on", Date),  # the rules' "today"; a new day re-evaluates deals that did not change
    Column("mapping_digest", String(32)),
    _ts("cursor_before"),
    _ts("cursor_after"),
    Column("rollback_of", Integer, ForeignKey("runs.id")),
    Column("error", Text),
    Column("trigger", String(60)),  # manual | schedule <slot> | webhook | enqueue
    Column("throttled", Integer, nullable=False, default=0, server_default="0"),  # the CRM's 429 answers
    Column("deferred", Integer, nullable=False, default=0, server_default="0"),  # deals left for the next run
    Index("ix_runs_connection", "connection", "id"),
)


def _deal_columns() -> list[Column[Any]]:
    """The columns a stored deal and a dry run's deal share (fresh objects: a Column belongs to one table)."""
    return [
        Column("name", Text, nullable=False),
        Column("pipeline_id", String(200), nullable=False),
        Column("pipeline_label", Text, nullable=False),
        Column("stage_id", String(200), nullable=False),
        Column("stage_label", Text, nullable=False),
        Column("stage_order", Integer, nullable=False),
        Column("status", String(20), nullable=False),
        Column("amount", AMOUNT),
        Column("currency", String(3)),
        Column("close_date", Date),
        Column("owner_id", String(200)),
        Column("owner_name", Text),
        Column("owner_email", Text),
        Column("group_name", Text),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("closed_at"),
    ]


# A deal is stored once, in columns (no JSON copy next to them). Whether it was won or lost is `status` alone;
# `stage_closed` is a property of its stage (the funnel's closed stages).
deals = Table(
    "deals",
    metadata,
    Column("connection", String(100), primary_key=True),
    Column("source_id", String(200), primary_key=True),
    *_deal_columns(),
    Column("remote_category", String(100)),
    Column("remote_probability", RATIO),
    Column("stage_probability", RATIO),  # the CRM's own probability of the stage
    Column("stage_closed", Boolean, nullable=False, server_default=false()),  # won or lost: `status` says
    Column("writable", Boolean, nullable=False, server_default=true()),
    Column("probability_writable", Boolean, nullable=False, server_default=true()),
    Column("lost_reason", Text),
    Column("lost_to", Text),
    Column("extra", JSON),  # the Deal's free-form `extra` mapping; every other field has its own column
    Column("last_run_id", Integer, ForeignKey("runs.id"), nullable=False),
    _ts("synced_at", False),
    # the modification time the CRM answered crmsync's own write with; cleared when a listing brings a newer version
    _ts("written_stamp"),
    Column("fingerprint", String(32)),  # of the listed version's fields but its stamp and remote values
)

forecasts = Table(
    "forecasts",
    metadata,
    Column("connection", String(100), primary_key=True),
    Column("source_id", String(200), primary_key=True),
    Column("category", String(20), nullable=False),
    Column("probability", RATIO, nullable=False),
    Column("weighted_amount", AMOUNT),
    Column("month", String(7)),
    Column("rule_ids", JSON, nullable=False),
    Column("flags", JSON, nullable=False),
    Column("mapped", Boolean, nullable=False),
    Column("mapping_digest", String(32), nullable=False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    _ts("computed_at", False),
)

# What the latest dry run of a connection read and evaluated, since a dry run keeps no snapshot (the next real
# run must see the deals as the last real run left them). The report shows these rows, marked as a dry run,
# while no applying run is newer than them.
dry_run_deals = Table(
    "dry_run_deals",
    metadata,
    Column("connection", String(100), primary_key=True),
    Column("source_id", String(200), primary_key=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    *_deal_columns(),
    Column("stage_closed", Boolean, nullable=False),
    Column("category", String(20), nullable=False),
    Column("probability", RATIO, nullable=False),
    Column("rule_ids", JSON, nullable=False),
    Column("flags", JSON, nullable=False),
    _ts("at", False),
)

forecast_changes = Table(
    "forecast_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("connection", String(100), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("old_category", String(20)),
    Column("new_category", String(20), nullable=False),
    Column("old_probability", RATIO),
    Column("new_probability", RATIO, nullable=False),
    Column("rule_ids", JSON, nullable=False),
    _ts("at", False),
    Index("ix_forecast_changes_run", "run_id"),
)

stage_history = Table(
    "stage_history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("connection", String(100), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("pipeline_id", String(200), nullable=False),
    Column("stage_id", String(200), nullable=False),
    Column("stage_order", Integer, nullable=False),
    _ts("entered_at", False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Index("ix_stage_history_deal", "connection", "source_id"),
)

ledger = Table(
    "ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("connection", String(100), nullable=False),
    Column("source_id", String(200), nullable=False),
    Column("field", String(20), nullable=False),  # category | probability
    Column("old_value", String(100)),
    Column("new_value", String(100)),
    Column("outcome", String(20), nullable=False),  # pending | written | skipped | failed | planned
    Column("reason", Text),
    _ts("at", False),
    Index("ix_ledger_run", "run_id"),
    Index("ix_ledger_deal", "connection", "source_id", "field", "id"),
)

cursors = Table(
    "cursors",
    metadata,
    Column("connection", String(100), primary_key=True),
    _ts("value", False),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    _ts("updated_at", False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("runs.id"), nullable=False),
    Column("connection", String(100), nullable=False),
    Column("source_id", String(200)),
    Column("reason", Text, nullable=False),
    Column("payload", JSON, nullable=False),
    _ts("at", False),
)

locks = Table(
    "locks",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("holder", String(200), nullable=False),
    _ts("acquired_at", False),
    _ts("heartbeat_at", False),
)
