"""deals remember the modification time crmsync's own write gave them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 07:00:00

A CRM that answers a write with the record's new modification time (HubSpot, Pipedrive) lets the next listing tell
a deal whose only change is crmsync's own write (same time) from one someone changed since (a later time): the
first is skipped, so a rerun right after a full sync does not evaluate, plan and store every written deal again. The
fingerprint of the stored version's fields makes sure an edit made between the listing and the write (which the
write's time then covers) is never taken for no change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.add_column(sa.Column("written_stamp", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("fingerprint", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deals") as batch:
        batch.drop_column("fingerprint")
        batch.drop_column("written_stamp")
