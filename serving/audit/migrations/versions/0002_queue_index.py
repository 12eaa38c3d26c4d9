"""Review-queue index: a projection of the audit records, caught up incrementally.

Revision ID: 0002_queue_index
Revises: 0001_audit
Create Date: 2026-11-26

`queue_entries` holds one row per (case, queue) of each case's latest triage, with whether a
later decision, approval or fraud label closed it; `projections` remembers the last audit
record applied. Both can be dropped and rebuilt from the audit records at any time: they are
derived data, never the record.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_queue_index"
down_revision: str | None = "0001_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the projection tables and the indexes queue reads filter and sort by."""
    op.create_table(
        "projections",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("last_record", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "queue_entries",
        sa.Column("case_id", sa.String(200), primary_key=True),
        sa.Column("queue", sa.String(32), primary_key=True),
        sa.Column("audit_id", sa.String(36), nullable=False),
        sa.Column("triaged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warehouse", sa.String(64), nullable=False),
        sa.Column("credit_value", sa.Float(), nullable=False),
        sa.Column("is_open", sa.Boolean(), nullable=False),
        sa.Column("item", sa.Text(), nullable=False),
    )
    op.create_index("ix_queue_entries_open", "queue_entries", ["queue", "is_open", "triaged_at"])


def downgrade() -> None:
    """Drop the projection (it is rebuilt from the audit records on the next upgrade)."""
    op.drop_index("ix_queue_entries_open", table_name="queue_entries")
    op.drop_table("queue_entries")
    op.drop_table("projections")
