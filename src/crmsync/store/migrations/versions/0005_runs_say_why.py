"""runs say what started them and how often the CRM throttled them; Procrastinate's tables on PostgreSQL

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 03:20:00

`trigger` is what started a run: `manual`, `schedule <slot>`, `webhook` or `enqueue`. `throttled` counts the
CRM's 429 answers during the run, for /metrics; `deferred` the deals left for the next run because writing them
would have spent more than the connection's share of the CRM's daily request budget. On PostgreSQL the workers'
queue (Procrastinate) lives in the same database, so its schema is applied here, once, and never by hand.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("trigger", sa.String(length=60), nullable=True))
        batch.add_column(sa.Column("throttled", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("deferred", sa.Integer(), nullable=False, server_default="0"))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        exists = bind.execute(sa.text("SELECT to_regclass('procrastinate_jobs') IS NOT NULL")).scalar()
        if not exists:
            from procrastinate.schema import SchemaManager

            # psycopg's own connection: the schema is many statements with '%' in PL/pgSQL, run as one script
            bind.connection.driver_connection.execute(SchemaManager.get_schema())  # type: ignore[union-attr]


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("deferred")
        batch.drop_column("throttled")
        batch.drop_column("trigger")
