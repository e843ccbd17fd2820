"""Translation between the protobuf messages of CaseService and the store's plain values."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from ecap.v1 import cases_pb2, common_pb2
from services.cases.masking import mask_tree, mask_value
from services.cases.models import AuditRow, EvidenceRow, NoteRow
from services.cases.records import (
    AlertFacts,
    CaseFilter,
    CaseRecord,
    QueueStatsRecord,
    etag_of,
)
from services.cases.workflow import Outcome
from services.mesh.errors import FieldViolation, InvalidArgument
from services.mesh.timestamps import time_of, timestamp

ORDER_NAMES = {
    cases_pb2.CASE_ORDER_UNSPECIFIED: "priority",
    cases_pb2.CASE_ORDER_PRIORITY: "priority",
    cases_pb2.CASE_ORDER_CREATE_TIME: "create_time",
    cases_pb2.CASE_ORDER_CREATE_TIME_DESC: "create_time_desc",
    cases_pb2.CASE_ORDER_DUE_TIME: "due_time",
}
EVIDENCE_KINDS = ("transaction", "device", "document", "external_check")


def status_name(value: int) -> str:
    """`CASE_STATUS_OPEN` -> `OPEN`."""
    return cases_pb2.CaseStatus.Name(value).removeprefix("CASE_STATUS_")


def status_value(name: str) -> int:
    """`OPEN` -> `CASE_STATUS_OPEN`."""
    return cases_pb2.CaseStatus.Value(f"CASE_STATUS_{name}")


def outcome_of(value: int) -> Outcome:
    """The domain outcome of a CaseOutcome."""
    return Outcome(common_pb2.CaseOutcome.Name(value).removeprefix("CASE_OUTCOME_"))


def to_case(record: CaseRecord, *, sees_pii: bool, details: bool = True) -> cases_pb2.Case:
    """The Case message of a record; PII masked unless `sees_pii`."""
    case = record.case

    def pii(field: str) -> str:
        value = getattr(case, field)
        return value if sees_pii else mask_value(field, value)

    message = cases_pb2.Case(
        case_id=case.case_id,
        queue=case.queue,
        status=status_value(case.status),
        priority=case.priority,
        priority_score=case.priority_score,
        risk_score=case.risk_score,
        amount=common_pb2.Money(amount_minor=case.amount_minor, currency=case.currency),
        customer_id=case.customer_id,
        customer_email=pii("customer_email"),
        card_fingerprint=pii("card_fingerprint"),
        ip_address=pii("ip_address"),
        transaction_ids=record.transaction_ids,
        title=case.title,
        description=case.description,
        assignee=case.assignee or "",
        resolution_note=case.resolution_note,
        reasons=case.reasons,
        create_time=timestamp(case.created_at),
        update_time=timestamp(case.updated_at),
        due_time=timestamp(case.due_at),
        resolve_time=timestamp(case.resolved_at),
        sla_breached=_breached(case.due_at, case.resolved_at),
        etag=etag_of(case),
    )
    if case.outcome:
        message.outcome = common_pb2.CaseOutcome.Value(f"CASE_OUTCOME_{case.outcome}")
    if details:
        message.notes.extend(to_note(n) for n in record.notes)
        message.evidence.extend(to_evidence(e, sees_pii=sees_pii) for e in record.evidence)
    return message


def _breached(due: datetime, resolved: datetime | None) -> bool:
    return (resolved or datetime.now(UTC)) > due


def to_note(note: NoteRow) -> cases_pb2.Note:
    """The Note message of a row."""
    return cases_pb2.Note(
        note_id=note.note_id,
        author=note.author,
        text=note.text,
        create_time=timestamp(note.created_at),
    )


def to_evidence(row: EvidenceRow, *, sees_pii: bool) -> cases_pb2.Evidence:
    """The Evidence message of a row; the device's IP masked unless `sees_pii`."""
    payload = row.payload if sees_pii else mask_tree(row.payload)
    message = cases_pb2.Evidence(
        evidence_id=row.evidence_id,
        description=row.description,
        added_by=row.added_by,
        add_time=timestamp(row.added_at),
    )
    json_format.ParseDict(payload, getattr(message, row.kind))
    return message


def evidence_payload(evidence: cases_pb2.Evidence) -> tuple[str, dict]:
    """The kind (oneof field name) and fields of an Evidence message."""
    kind = evidence.WhichOneof("kind")
    payload = json_format.MessageToDict(getattr(evidence, kind), preserving_proto_field_name=True)
    return kind, payload


def to_audit_event(row: AuditRow, *, sees_pii: bool) -> cases_pb2.CaseAuditEvent:
    """The CaseAuditEvent message of an audit row; PII masked unless `sees_pii`."""
    before, after = row.before, row.after
    if not sees_pii:
        before, after = mask_tree(before), mask_tree(after)
    message = cases_pb2.CaseAuditEvent(
        event_id=row.event_id,
        case_id=row.case_id,
        action=common_pb2.CaseAction.Value(f"CASE_ACTION_{row.action}"),
        actor=row.actor,
        occur_time=timestamp(row.occurred_at),
        sequence=row.seq or 0,
    )
    message.before.CopyFrom(_struct(before))
    message.after.CopyFrom(_struct(after))
    return message


def _struct(values: dict) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(values)
    return struct


def case_fields(case: cases_pb2.Case) -> dict:
    """The store's create fields of a Case message."""
    fields = {
        "customer_id": case.customer_id,
        "queue": case.queue,
        "risk_score": case.risk_score,
        "customer_email": case.customer_email,
        "card_fingerprint": case.card_fingerprint,
        "ip_address": case.ip_address,
        "title": case.title,
        "description": case.description,
        "transaction_ids": list(case.transaction_ids),
    }
    if case.HasField("amount"):
        fields["amount_minor"] = case.amount.amount_minor
        fields["currency"] = case.amount.currency
    if case.priority:
        fields["priority"] = case.priority
    return fields


def update_values(request: cases_pb2.UpdateCaseRequest, updatable: frozenset[str]) -> dict:
    """The fields named by `update_mask` with their new values, or InvalidArgument."""
    paths = list(request.update_mask.paths)
    unknown = [p for p in paths if p not in updatable]
    if unknown or not paths:
        raise InvalidArgument(
            f"update_mask may name only {', '.join(sorted(updatable))}; got "
            f"{', '.join(unknown) or 'nothing'}",
            [
                FieldViolation("update_mask", "update_mask.paths", f"{p} cannot be updated")
                for p in unknown or ["(empty)"]
            ],
            reason="REQUEST_INVALID",
        )
    values = {p: getattr(request.case, p) for p in paths}
    if "priority" in values and not values["priority"]:
        raise InvalidArgument(
            "case.priority must be set when update_mask names it",
            [FieldViolation("case.priority", "enum.not_in", "CASE_PRIORITY_UNSPECIFIED")],
            reason="REQUEST_INVALID",
        )
    if "queue" in values and not values["queue"]:
        raise InvalidArgument(
            "case.queue must not be empty when update_mask names it",
            [FieldViolation("case.queue", "string.min_len", "a queue name")],
            reason="REQUEST_INVALID",
        )
    return values


def case_filter(request: cases_pb2.ListCasesRequest) -> CaseFilter:
    """The store's filter of a ListCasesRequest."""
    return CaseFilter(
        statuses=tuple(status_name(s) for s in request.statuses),
        priorities=tuple(request.priorities),
        assignee=request.assignee,
        queue=request.queue,
        customer_id=request.customer_id,
        created_from=time_of(request, "create_time_from"),
        created_to=time_of(request, "create_time_to"),
        due_from=time_of(request, "due_time_from"),
        due_to=time_of(request, "due_time_to"),
    )


def _fingerprint(request: Message, ignore: tuple[str, ...]) -> str:
    copy = type(request)()
    copy.CopyFrom(request)
    for field in ignore:
        copy.ClearField(field)
    return hashlib.sha256(copy.SerializeToString(deterministic=True)).hexdigest()[:16]


def page_token(request: Message, position: int) -> str:
    """An opaque token for the page after `position`, bound to the request's filters."""
    state = {"p": position, "f": _fingerprint(request, ("page_size", "page_token"))}
    return base64.urlsafe_b64encode(json.dumps(state).encode()).decode()


def page_position(request: Message) -> int:
    """Where the page of `request.page_token` starts (0 for the first page)."""
    if not request.page_token:
        return 0
    try:
        state = json.loads(base64.urlsafe_b64decode(request.page_token.encode()))
        position = int(state["p"])
        fingerprint = state["f"]
    except (ValueError, KeyError, TypeError) as exc:
        raise _bad_token("is not a token this service issued") from exc
    if fingerprint != _fingerprint(request, ("page_size", "page_token")):
        raise _bad_token("was issued for other filters: keep them unchanged while paging")
    return position


def _bad_token(why: str) -> InvalidArgument:
    return InvalidArgument(
        f"page_token {why}",
        [FieldViolation("page_token", "page_token.valid", why)],
        reason="PAGE_TOKEN_INVALID",
    )


def to_queue_stats(stats: QueueStatsRecord) -> cases_pb2.QueueStats:
    """The QueueStats message of the store's figures."""
    message = cases_pb2.QueueStats(
        compute_time=timestamp(stats.computed_at),
        sla_breached=sum(b.sla_breached for b in stats.backlog),
        sla_at_risk=sum(b.sla_at_risk for b in stats.backlog),
        resolved_late=stats.resolved_late,
    )
    message.window.FromTimedelta(timedelta(seconds=stats.window_s))
    for b in stats.backlog:
        entry = message.backlog.add(
            priority=b.priority,
            open=b.open,
            in_progress=b.in_progress,
            sla_breached=b.sla_breached,
            sla_at_risk=b.sla_at_risk,
        )
        if b.oldest_created_at is not None:
            entry.oldest_age.FromTimedelta(stats.computed_at - b.oldest_created_at)
    for w in stats.workload:
        message.workload.add(
            assignee=w.assignee, in_review=w.in_review, escalated=w.escalated, resolved=w.resolved
        )
    total = sum(stats.outcomes.values())
    for name, count in sorted(stats.outcomes.items()):
        message.resolution_rates.add(
            outcome=common_pb2.CaseOutcome.Value(f"CASE_OUTCOME_{name}"),
            count=count,
            rate=count / total,
        )
    return message


def alert_facts(alert: common_pb2.FraudAlert) -> AlertFacts:
    """What the case desk keeps of a FraudAlert, or ValueError naming the missing field."""
    decision, txn = alert.decision, alert.transaction
    transaction_id = txn.transaction_id or decision.transaction_id
    customer_id = txn.customer_id or decision.customer_id
    if not transaction_id:
        raise ValueError("FraudAlert has no transaction id (transaction.transaction_id)")
    if not customer_id:
        raise ValueError(f"FraudAlert for {transaction_id} has no customer id")
    amount = txn.amount if txn.HasField("amount") else decision.amount
    if alert.HasField("raised_at"):
        occurred = alert.raised_at.ToDatetime(tzinfo=UTC)
    else:
        occurred = datetime.now(UTC)
    return AlertFacts(
        alert_id=alert.alert_id,
        transaction_id=transaction_id,
        customer_id=customer_id,
        risk_score=min(max(decision.risk_score, 0.0), 1.0),
        amount_minor=max(amount.amount_minor, 0),
        currency=amount.currency or "EUR",
        occurred_at=occurred,
        card_fingerprint=txn.card_fingerprint,
        ip_address=txn.ip_address,
        reasons=tuple(r.code for r in decision.reasons if r.code),
    )
