"""Protobuf <-> domain translation of the case service, and the schema the migrations build."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from google.protobuf import field_mask_pb2
from sqlmodel import SQLModel

from ecap.v1 import cases_pb2, common_pb2
from services.cases import convert
from services.cases.db import Database, current_revision, head_revision, migrate
from services.cases.models import CaseRow
from services.cases.records import CaseRecord
from services.cases.workflow import UPDATABLE_FIELDS
from services.mesh.errors import InvalidArgument


def test_page_tokens_resume_where_they_stopped_and_refuse_other_filters():
    request = cases_pb2.ListCasesRequest(queue="general", page_size=10)
    token = convert.page_token(request, 10)
    request.page_token = token
    assert convert.page_position(request) == 10
    request.page_size = 20  # the size may change between pages
    assert convert.page_position(request) == 10
    moved = cases_pb2.ListCasesRequest(queue="high-value", page_token=token)
    with pytest.raises(InvalidArgument) as caught:
        convert.page_position(moved)
    assert caught.value.violations[0].field == "page_token"
    with pytest.raises(InvalidArgument, match="not a token"):
        convert.page_position(cases_pb2.ListCasesRequest(page_token="%%%"))


def test_update_mask_names_only_updatable_fields():
    request = cases_pb2.UpdateCaseRequest(
        case=cases_pb2.Case(case_id="c", title="t", queue="q"),
        update_mask=field_mask_pb2.FieldMask(paths=["title", "queue"]),
    )
    assert convert.update_values(request, UPDATABLE_FIELDS) == {"title": "t", "queue": "q"}
    for paths in (["status"], ["title", "etag"], []):
        request.update_mask.paths[:] = paths
        with pytest.raises(InvalidArgument) as caught:
            convert.update_values(request, UPDATABLE_FIELDS)
        assert caught.value.violations[0].field == "update_mask"
    request.update_mask.paths[:] = ["priority"]
    with pytest.raises(InvalidArgument, match="priority"):
        convert.update_values(request, UPDATABLE_FIELDS)


def _alert(**overrides) -> common_pb2.FraudAlert:
    alert = common_pb2.FraudAlert(
        alert_id="a-1",
        decision=common_pb2.Decision(
            transaction_id="t-1",
            customer_id="c-1",
            risk_score=0.83,
            reasons=[common_pb2.DecisionReason(code="VELOCITY_1H"), common_pb2.DecisionReason()],
        ),
        transaction=common_pb2.Transaction(
            transaction_id="t-1",
            customer_id="c-1",
            amount=common_pb2.Money(amount_minor=12_345, currency="EUR"),
            card_fingerprint="fp",
            ip_address="10.0.0.1",
        ),
    )
    alert.raised_at.FromDatetime(datetime(2026, 11, 25, tzinfo=UTC))
    for path, value in overrides.items():
        message, field = path.split(".")
        setattr(getattr(alert, message), field, value)
    return alert


def test_alert_facts_keep_what_the_desk_needs():
    facts = convert.alert_facts(_alert())
    assert (facts.transaction_id, facts.customer_id, facts.amount_minor, facts.currency) == (
        "t-1",
        "c-1",
        12_345,
        "EUR",
    )
    assert (facts.risk_score, facts.reasons, facts.ip_address) == (
        0.83,
        ("VELOCITY_1H",),
        "10.0.0.1",
    )
    assert facts.occurred_at == datetime(2026, 11, 25, tzinfo=UTC)
    assert convert.alert_facts(_alert(**{"decision.risk_score": 7.0})).risk_score == 1.0


def test_an_alert_without_its_ids_is_refused_naming_the_field():
    with pytest.raises(ValueError, match="transaction_id"):
        convert.alert_facts(
            _alert(**{"transaction.transaction_id": "", "decision.transaction_id": ""})
        )
    with pytest.raises(ValueError, match="customer id"):
        convert.alert_facts(_alert(**{"transaction.customer_id": "", "decision.customer_id": ""}))


def _record() -> CaseRecord:
    now = datetime(2026, 11, 25, 12, tzinfo=UTC)
    case = SimpleNamespace(
        case_id="case-1",
        queue="general",
        status="IN_REVIEW",
        priority=3,
        priority_score=150.0,
        risk_score=0.5,
        amount_minor=30_000,
        currency="EUR",
        customer_id="c-1",
        customer_email="jane@example.com",
        card_fingerprint="abcdef123456",
        ip_address="1.2.3.4",
        title="t",
        description="d",
        assignee="ivy",
        outcome=None,
        resolution_note="",
        reasons=["R"],
        created_at=now,
        updated_at=now,
        due_at=now,
        resolved_at=None,
        version=4,
    )
    return CaseRecord(case, ["t-1"])


def test_case_messages_mask_pii_for_viewers_only():
    plain = convert.to_case(_record(), sees_pii=True)
    masked = convert.to_case(_record(), sees_pii=False)
    assert (plain.customer_email, plain.card_fingerprint, plain.ip_address) == (
        "jane@example.com",
        "abcdef123456",
        "1.2.3.4",
    )
    assert (masked.customer_email, masked.card_fingerprint, masked.ip_address) == (
        "j***@example.com",
        "****3456",
        "1.2.x.x",
    )
    assert plain.status == cases_pb2.CASE_STATUS_IN_REVIEW and plain.etag == 'W/"4"'
    assert plain.amount.amount_minor == 30_000 and list(plain.transaction_ids) == ["t-1"]


def test_the_migrations_build_exactly_the_models_schema(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'cases.db'}")
    assert current_revision(database) is None
    assert migrate(database) == (None, head_revision())
    assert migrate(database) == (head_revision(), head_revision())  # idempotent
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        drift = compare_metadata(context, SQLModel.metadata)
        tables = set(sa.inspect(connection).get_table_names())
        indexes = {i["name"]: i for i in sa.inspect(connection).get_indexes("cases")}
    database.dispose()
    # Alembic cannot compare expression indexes (the claim indexes' DESC columns): checked apart.
    claim_indexes = {"ix_cases_claim", "ix_cases_claimable"}
    assert [d for d in drift if getattr(d[1], "name", None) not in claim_indexes] == []
    in_claim_order = ["priority", "priority_score", "created_at", "case_id"]
    assert indexes["ix_cases_claim"]["column_names"] == ["status", "queue", *in_claim_order]
    assert indexes["ix_cases_claimable"]["column_names"] == in_claim_order
    assert {CaseRow.__tablename__, "case_audit", "case_outbox"} <= tables
