"""Cases, their transactions, notes, evidence, the append-only audit trail and the outbox.

Revision ID: 0001_cases
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_cases"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "cases",
        sa.Column("case_id", sa.String(64), primary_key=True),
        sa.Column("queue", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("priority_score", sa.Float(), nullable=False),
        sa.Column("risk_score", sa.Float(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("customer_email", sa.String(320), nullable=False),
        sa.Column("card_fingerprint", sa.String(128), nullable=False),
        sa.Column("ip_address", sa.String(64), nullable=False),
        sa.Column("title", sa.String(256), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("assignee", sa.String(128), nullable=True),
        sa.Column("outcome", sa.String(32), nullable=True),
        sa.Column("resolution_note", sa.Text(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("source_alert_id", sa.String(128), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True, unique=True),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("updated_at", Time, nullable=False),
        sa.Column("due_at", Time, nullable=False),
        sa.Column("resolved_at", Time, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index(
        "ix_cases_claim",
        "cases",
        [
            "status",
            "queue",
            sa.text("priority DESC"),
            sa.text("priority_score DESC"),
            "created_at",
            "case_id",
        ],
    )
    # Claim-next over several queues: the claimable cases alone, in priority order, so the
    # scan stops at the first one of the caller's queues that no one else has locked.
    claimable = sa.text("status = 'OPEN' AND assignee IS NULL")
    op.create_index(
        "ix_cases_claimable",
        "cases",
        [
            sa.text("priority DESC"),
            sa.text("priority_score DESC"),
            "created_at",
            "case_id",
        ],
        postgresql_where=claimable,
        sqlite_where=claimable,
    )
    op.create_index("ix_cases_customer_status", "cases", ["customer_id", "status"])
    op.create_index("ix_cases_assignee_status", "cases", ["assignee", "status"])
    op.create_index("ix_cases_status_due", "cases", ["status", "due_at"])

    op.create_table(
        "case_transactions",
        sa.Column("transaction_id", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("alert_id", sa.String(128), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("risk_score", sa.Float(), nullable=False),
        sa.Column("attached_at", Time, nullable=False),
    )
    op.create_index("ix_case_transactions_case_id", "case_transactions", ["case_id"])

    op.create_table(
        "case_notes",
        sa.Column("note_id", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("author", sa.String(128), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", Time, nullable=False),
    )
    op.create_index("ix_case_notes_case_id", "case_notes", ["case_id"])

    op.create_table(
        "case_evidence",
        sa.Column("evidence_id", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("added_by", sa.String(128), nullable=False),
        sa.Column("added_at", Time, nullable=False),
    )
    op.create_index("ix_case_evidence_case_id", "case_evidence", ["case_id"])

    op.create_table(
        "case_audit",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("case_id", sa.String(64), sa.ForeignKey("cases.case_id"), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("occurred_at", Time, nullable=False),
        sa.Column("before", sa.JSON(), nullable=False),
        sa.Column("after", sa.JSON(), nullable=False),
    )
    op.create_index("ix_case_audit_case_id", "case_audit", ["case_id"])

    op.create_table(
        "case_outbox",
        sa.Column("seq", BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.String(64), nullable=False, unique=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("key", sa.LargeBinary(), nullable=False),
        sa.Column("value", sa.LargeBinary(), nullable=False),
        sa.Column("ce_type", sa.String(255), nullable=False),
        sa.Column("created_at", Time, nullable=False),
        sa.Column("published_at", Time, nullable=True),
    )
    op.create_index(
        "ix_case_outbox_pending",
        "case_outbox",
        ["seq"],
        sqlite_where=sa.text("published_at IS NULL"),
        postgresql_where=sa.text("published_at IS NULL"),
    )
    _forbid_audit_changes()


def _forbid_audit_changes() -> None:
    """The audit trail is append-only in the database itself, whatever code runs against it."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION case_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
              RAISE EXCEPTION 'case_audit is append-only: % is not allowed', TG_OP;
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER case_audit_append_only BEFORE UPDATE OR DELETE ON case_audit "
            "FOR EACH ROW EXECUTE FUNCTION case_audit_append_only()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER case_audit_no_{operation.lower()} BEFORE {operation} ON case_audit "
            f"BEGIN SELECT RAISE(ABORT, 'case_audit is append-only: {operation} is not allowed'); "
            "END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER case_audit_append_only ON case_audit")
        op.execute("DROP FUNCTION case_audit_append_only()")
    for table in (
        "case_outbox",
        "case_audit",
        "case_evidence",
        "case_notes",
        "case_transactions",
        "cases",
    ):
        op.drop_table(table)
