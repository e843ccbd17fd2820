"""The cases database as SQLModel tables; Alembic migrations (./migrations) create them.

Times are naive UTC `datetime`s in the database (the same on SQLite and PostgreSQL); the
store converts at its edges. The audit trail is append-only: the migration installs
triggers that refuse UPDATE and DELETE on `case_audit`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# A 64-bit key that autoincrements on both backends (SQLite needs INTEGER for that).
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class UtcDateTime(sa.TypeDecorator):
    """Aware UTC datetimes in Python; naive UTC on SQLite, timestamptz on PostgreSQL."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the cases store takes aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class CaseRow(SQLModel, table=True):
    """One case."""

    __tablename__ = "cases"
    __table_args__ = (
        # Claim-next from one queue: its best OPEN unassigned case, in the exact claim order.
        sa.Index(
            "ix_cases_claim",
            "status",
            "queue",
            sa.text("priority DESC"),
            sa.text("priority_score DESC"),
            "created_at",
            "case_id",
        ),
        # Claim-next over several queues: only the claimable cases, in claim order.
        sa.Index(
            "ix_cases_claimable",
            sa.text("priority DESC"),
            sa.text("priority_score DESC"),
            "created_at",
            "case_id",
            postgresql_where=sa.text("status = 'OPEN' AND assignee IS NULL"),
            sqlite_where=sa.text("status = 'OPEN' AND assignee IS NULL"),
        ),
        sa.Index("ix_cases_customer_status", "customer_id", "status"),
        sa.Index("ix_cases_assignee_status", "assignee", "status"),
        sa.Index("ix_cases_status_due", "status", "due_at"),
    )

    case_id: str = Field(primary_key=True, max_length=64)
    queue: str = Field(max_length=64)
    status: str = Field(max_length=16)
    priority: int
    priority_score: float
    risk_score: float
    amount_minor: int = Field(sa_type=sa.BigInteger)
    currency: str = Field(max_length=3)
    customer_id: str = Field(max_length=64)
    customer_email: str = Field(default="", max_length=320)
    card_fingerprint: str = Field(default="", max_length=128)
    ip_address: str = Field(default="", max_length=64)
    title: str = Field(default="", max_length=256)
    description: str = Field(default="", sa_type=sa.Text)
    assignee: str | None = Field(default=None, max_length=128)
    outcome: str | None = Field(default=None, max_length=32)
    resolution_note: str = Field(default="", sa_type=sa.Text)
    reasons: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    source_alert_id: str = Field(default="", max_length=128)
    request_id: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = Field(sa_type=UtcDateTime)
    updated_at: datetime = Field(sa_type=UtcDateTime)
    due_at: datetime = Field(sa_type=UtcDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
    version: int = 1


class CaseTransactionRow(SQLModel, table=True):
    """A transaction covered by a case; the primary key makes alerts idempotent."""

    __tablename__ = "case_transactions"

    transaction_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(foreign_key="cases.case_id", index=True, max_length=64)
    alert_id: str = Field(default="", max_length=128)
    amount_minor: int = Field(sa_type=sa.BigInteger)
    risk_score: float
    attached_at: datetime = Field(sa_type=UtcDateTime)


class NoteRow(SQLModel, table=True):
    """A note on a case."""

    __tablename__ = "case_notes"

    note_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(foreign_key="cases.case_id", index=True, max_length=64)
    author: str = Field(max_length=128)
    text: str = Field(sa_type=sa.Text)
    created_at: datetime = Field(sa_type=UtcDateTime)


class EvidenceRow(SQLModel, table=True):
    """Typed evidence on a case: `kind` names the proto oneof field, `payload` its fields."""

    __tablename__ = "case_evidence"

    evidence_id: str = Field(primary_key=True, max_length=64)
    case_id: str = Field(foreign_key="cases.case_id", index=True, max_length=64)
    kind: str = Field(max_length=32)
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    description: str = Field(default="", sa_type=sa.Text)
    added_by: str = Field(max_length=128)
    added_at: datetime = Field(sa_type=UtcDateTime)


class AuditRow(SQLModel, table=True):
    """One append-only audit event: actor, time, action, the changed fields before and after."""

    __tablename__ = "case_audit"

    seq: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: str = Field(unique=True, max_length=64)
    case_id: str = Field(foreign_key="cases.case_id", index=True, max_length=64)
    action: str = Field(max_length=32)
    actor: str = Field(max_length=128)
    occurred_at: datetime = Field(sa_type=UtcDateTime)
    before: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    after: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)


class OutboxRow(SQLModel, table=True):
    """A Kafka record written in the same transaction as its change, relayed after commit."""

    __tablename__ = "case_outbox"
    __table_args__ = (
        sa.Index(
            "ix_case_outbox_pending",
            "seq",
            sqlite_where=sa.text("published_at IS NULL"),
            postgresql_where=sa.text("published_at IS NULL"),
        ),
    )

    seq: int | None = Field(default=None, primary_key=True, sa_type=BigId)
    event_id: str = Field(unique=True, max_length=64)
    topic: str = Field(max_length=255)
    key: bytes = Field(sa_type=sa.LargeBinary)
    value: bytes = Field(sa_type=sa.LargeBinary)
    ce_type: str = Field(max_length=255)
    created_at: datetime = Field(sa_type=UtcDateTime)
    published_at: datetime | None = Field(default=None, sa_type=UtcDateTime)
