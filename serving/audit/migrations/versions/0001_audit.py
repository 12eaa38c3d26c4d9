"""Audit records (append-only hash chain) and idempotency keys.

Revision ID: 0001_audit
Revises:
Create Date: 2025-11-26

The tables are append-only at the database level too: triggers refuse UPDATE and DELETE of
``audit_records`` (and TRUNCATE on PostgreSQL), and UPDATE of ``idempotency_keys`` (old keys
may be deleted to expire them). Someone with DDL rights can still drop the triggers; the hash
chain is what detects that (see serving/audit/hashing.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_audit"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFUSED = "audit_records is append-only"

_SQLITE_TRIGGERS = (
    f"""CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
    BEGIN SELECT RAISE(ABORT, '{_REFUSED}: UPDATE refused'); END""",
    f"""CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
    BEGIN SELECT RAISE(ABORT, '{_REFUSED}: DELETE refused'); END""",
    """CREATE TRIGGER idempotency_keys_no_update BEFORE UPDATE ON idempotency_keys
    BEGIN SELECT RAISE(ABORT, 'idempotency_keys cannot be changed: UPDATE refused'); END""",
)

_POSTGRES_TRIGGERS = (
    """CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END
    $$""",
    """CREATE TRIGGER audit_records_append_only BEFORE UPDATE OR DELETE ON audit_records
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER audit_records_no_truncate BEFORE TRUNCATE ON audit_records
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()""",
    """CREATE TRIGGER idempotency_keys_no_update BEFORE UPDATE ON idempotency_keys
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()""",
)


def upgrade() -> None:
    """Create both tables, their indexes and the append-only triggers."""
    op.create_table(
        "audit_records",
        # Gapless: assigned by the store under the chain lock (a database sequence leaves gaps
        # on rollback, and a gap is how a deleted record shows).
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("record_id", sa.String(36), nullable=False),
        sa.Column("case_id", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("record_id", name="uq_audit_records_record_id"),
        sa.UniqueConstraint("record_hash", name="uq_audit_records_record_hash"),
        # one successor per record: a fork of the chain cannot be stored
        sa.UniqueConstraint("prev_hash", name="uq_audit_records_prev_hash"),
    )
    op.create_index("ix_audit_records_case_id", "audit_records", ["case_id"])
    op.create_index("ix_audit_records_created_at", "audit_records", ["created_at"])
    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("request_hash", sa.String(128), nullable=False),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column(
            "record_id",
            sa.String(36),
            sa.ForeignKey("audit_records.record_id", name="fk_idempotency_keys_record_id"),
            nullable=True,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    dialect = op.get_context().dialect.name
    if dialect == "sqlite":
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
    elif dialect == "postgresql":
        for statement in _POSTGRES_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    """Refused: a migration never drops the audit trail (archive it, then drop by hand)."""
    raise NotImplementedError("the audit store cannot be downgraded: it would drop audit records")
