"""dry runs keep what they evaluated, for the report

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 20:10:00

A dry run keeps no snapshot, so a connection with `writeback = "dry-run"` had no deals in the report. Its
deals and forecasts as the dry run saw them go to `dry_run_deals`, which the report shows marked as a dry run.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dry_run_deals",
        sa.Column("connection", sa.String(length=100), nullable=False),
        sa.Column("source_id", sa.String(length=200), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("pipeline_id", sa.String(length=200), nullable=False),
        sa.Column("pipeline_label", sa.Text(), nullable=False),
        sa.Column("stage_id", sa.String(length=200), nullable=False),
        sa.Column("stage_label", sa.Text(), nullable=False),
        sa.Column("stage_order", sa.Integer(), nullable=False),
        sa.Column("stage_closed", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("amount", sa.Numeric(precision=18, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=True),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.String(length=200), nullable=True),
        sa.Column("owner_name", sa.Text(), nullable=True),
        sa.Column("owner_email", sa.Text(), nullable=True),
        sa.Column("group_name", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("category", sa.String(length=20), nullable=False),
        sa.Column("probability", sa.Numeric(precision=9, scale=6), nullable=False),
        sa.Column("rule_ids", sa.JSON(), nullable=False),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"]),
        sa.PrimaryKeyConstraint("connection", "source_id"),
    )


def downgrade() -> None:
    op.drop_table("dry_run_deals")
