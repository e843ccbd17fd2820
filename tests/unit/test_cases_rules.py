"""Case policy, state machine, row-level rights and PII masking: plain rules, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.cases import policy
from services.cases.config import CasesSettings
from services.cases.masking import mask_card, mask_email, mask_ip, mask_tree
from services.cases.workflow import (
    ALLOWED_FROM,
    Action,
    Actor,
    Status,
    check_transition,
    check_update_fields,
    check_worker,
    next_status,
)
from services.mesh.errors import FailedPrecondition, PermissionDenied

SETTINGS = CasesSettings(database_url="sqlite:///unused.db")


@pytest.mark.parametrize(
    ("risk", "amount_minor", "score", "priority"),
    [
        (0.9, 60_000, 540.0, policy.Priority.CRITICAL),  # risk 0.9 on EUR 600
        (0.5, 20_000, 100.0, policy.Priority.HIGH),  # exactly at the HIGH threshold
        (0.5, 19_998, 99.99, policy.Priority.MEDIUM),
        (0.4, 5_000, 20.0, policy.Priority.MEDIUM),
        (0.99, 1_000, 9.9, policy.Priority.LOW),  # very risky but small
        (0.01, 10_000_000, 1_000.0, policy.Priority.CRITICAL),  # unlikely but huge
        (0.0, 0, 0.0, policy.Priority.LOW),
    ],
)
def test_priority_is_risk_times_amount_in_buckets(risk, amount_minor, score, priority):
    assert policy.priority_score(risk, amount_minor) == pytest.approx(score)
    assert policy.priority_of(policy.priority_score(risk, amount_minor), SETTINGS) is priority


def test_sla_due_times_and_at_risk_follow_the_priority():
    opened = datetime(2026, 11, 25, 12, tzinfo=UTC)
    expected = {
        policy.Priority.CRITICAL: timedelta(hours=1),
        policy.Priority.HIGH: timedelta(hours=4),
        policy.Priority.MEDIUM: timedelta(days=1),
        policy.Priority.LOW: timedelta(days=3),
    }
    for priority, sla in expected.items():
        due = policy.due_at(opened, priority, SETTINGS)
        assert due - opened == sla
        assert due - policy.at_risk_from(due, priority, SETTINGS) == sla / 4
    faster = CasesSettings(database_url="sqlite:///unused.db", sla_critical_s=600)
    assert policy.due_at(opened, policy.Priority.CRITICAL, faster) - opened == timedelta(minutes=10)


def test_alerts_are_routed_to_the_high_value_queue_from_the_threshold():
    assert policy.queue_for(99_999, SETTINGS) == "general"
    assert policy.queue_for(100_000, SETTINGS) == "high-value"


def test_settings_name_the_rule_a_bad_value_breaks():
    with pytest.raises(ValueError, match="database_url must be sqlite"):
        CasesSettings(database_url="mysql://db/cases")
    assert CasesSettings(database_url="postgresql://u@h/db").database_url == (
        "postgresql+psycopg://u@h/db"
    )
    with pytest.raises(ValueError, match="sla_at_risk_fraction"):
        CasesSettings(database_url="sqlite:///x.db", sla_at_risk_fraction=1.5)


def test_database_url_comes_from_ecap_database_url(monkeypatch):
    monkeypatch.setenv("ECAP_DATABASE_URL", "postgres://ecap@db:5432/cases")
    assert CasesSettings().database_url == "postgresql+psycopg://ecap@db:5432/cases"


# The whole state machine, as a table: (state, action) -> next state, or None if illegal.
MOVES = {
    (Status.OPEN, Action.CLAIMED): Status.IN_REVIEW,
    (Status.OPEN, Action.ASSIGNED): Status.IN_REVIEW,
    (Status.IN_REVIEW, Action.ASSIGNED): Status.IN_REVIEW,
    (Status.ESCALATED, Action.ASSIGNED): Status.ESCALATED,
    (Status.IN_REVIEW, Action.ESCALATED): Status.ESCALATED,
    (Status.IN_REVIEW, Action.RESOLVED): Status.RESOLVED,
    (Status.ESCALATED, Action.RESOLVED): Status.RESOLVED,
    (Status.RESOLVED, Action.REOPENED): Status.OPEN,
}
for _status in (Status.OPEN, Status.IN_REVIEW, Status.ESCALATED):
    for _action in (Action.UPDATED, Action.NOTE_ADDED, Action.EVIDENCE_ADDED):
        MOVES[(_status, _action)] = _status
    MOVES[(_status, Action.ALERT_ATTACHED)] = _status


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("action", list(ALLOWED_FROM))
def test_state_machine(status, action):
    expected = MOVES.get((status, action))
    if expected is None:
        with pytest.raises(FailedPrecondition) as caught:
            check_transition("case-1", status, action)
        assert f"it is {status.value}" in caught.value.message
        assert caught.value.reason == "ILLEGAL_TRANSITION"
        assert caught.value.metadata["current_state"] == status.value
    else:
        check_transition("case-1", status, action)
        assert next_status(status, action) is expected


def test_only_the_assignee_or_a_lead_works_a_case():
    check_worker("c", "ivy", Actor("ivy"))
    check_worker("c", "ivy", Actor("lena", lead=True))
    check_worker("c", None, Actor("lena", lead=True))
    for assignee in ("walt", None):
        with pytest.raises(PermissionDenied) as caught:
            check_worker("c", assignee, Actor("ivy"))
        assert caught.value.reason == "NOT_ASSIGNEE"


def test_investigators_change_only_title_and_description():
    check_update_fields("c", ["title", "description"], Actor("ivy"))
    check_update_fields("c", ["queue", "priority"], Actor("lena", lead=True))
    with pytest.raises(PermissionDenied, match="priority, queue") as caught:
        check_update_fields("c", ["title", "queue", "priority"], Actor("ivy"))
    assert caught.value.reason == "FIELD_NEEDS_LEAD"


def test_pii_masks():
    assert mask_email("jane.doe@example.com") == "j***@example.com"
    assert mask_email("no-at-sign") == "***"
    assert mask_card("9c1e5be2f3a04d7e") == "****4d7e"
    assert mask_ip("203.0.113.57") == "203.0.x.x"
    assert mask_ip("2001:db8:85a3::8a2e:370:7334") == "2001:db8:x:x:x:x:x:x"
    assert [mask_email(""), mask_card(""), mask_ip("")] == ["", "", ""]
    tree = {
        "customer_email": "a@b.c",
        "title": "keep",
        "evidence": {"ip_address": "10.1.2.3", "device_id": "d"},
        "list": [{"card_fingerprint": "abcdef12"}],
    }
    assert mask_tree(tree) == {
        "customer_email": "a***@b.c",
        "title": "keep",
        "evidence": {"ip_address": "10.1.x.x", "device_id": "d"},
        "list": [{"card_fingerprint": "****ef12"}],
    }
