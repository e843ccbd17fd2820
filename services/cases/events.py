"""The `case-events` Kafka record of a committed change (the lake's labels come from these)."""

from __future__ import annotations

from datetime import UTC

from ecap.v1 import common_pb2
from services.cases.models import AuditRow, CaseRow, OutboxRow
from services.cases.workflow import Action

# Actions the lake needs: a resolution is a label, a reopening withdraws it.
PUBLISHED_ACTIONS = frozenset({Action.RESOLVED, Action.REOPENED})


def case_event(event: AuditRow, case: CaseRow, transaction_ids: list[str]) -> common_pb2.CaseEvent:
    """The CaseEvent message of `event` on `case`; its event id is the audit event's."""
    message = common_pb2.CaseEvent(
        event_id=event.event_id,
        case_id=case.case_id,
        action=common_pb2.CaseAction.Value(f"CASE_ACTION_{event.action}"),
        actor=event.actor,
        transaction_ids=transaction_ids,
        customer_id=case.customer_id,
    )
    message.occurred_at.FromDatetime(event.occurred_at)
    if event.action == Action.RESOLVED:
        message.outcome = common_pb2.CaseOutcome.Value(f"CASE_OUTCOME_{case.outcome}")
        message.note = case.resolution_note
    else:
        message.note = str(event.after.get("reason", ""))
    return message


def outbox_row(topic: str, message: common_pb2.CaseEvent) -> OutboxRow:
    """The outbox row that will carry `message` to `topic`, keyed by case id."""
    return OutboxRow(
        event_id=message.event_id,
        topic=topic,
        key=message.case_id.encode(),
        value=message.SerializeToString(),
        ce_type=message.DESCRIPTOR.full_name,
        created_at=message.occurred_at.ToDatetime(tzinfo=UTC),
    )
