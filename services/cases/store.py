"""The case desk's storage and workflow: every change is one transaction with its audit event.

`CaseStore` methods are synchronous (the servicer runs them on a thread pool). Each change
loads the case under a row lock (PostgreSQL) or the single write lock (SQLite), checks who
acts, the etag and the state machine, writes the new state, appends the audit event and,
for resolutions and reopenings, the `case-events` record to the outbox, then commits; after
the commit, listeners (the live feed, the outbox relay) hear of it. A refused change writes
nothing, so the audit trail holds exactly the successful changes.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from services.cases import policy
from services.cases.config import CasesSettings
from services.cases.db import Database
from services.cases.events import PUBLISHED_ACTIONS, case_event, outbox_row
from services.cases.models import (
    AuditRow,
    CaseRow,
    CaseTransactionRow,
    EvidenceRow,
    NoteRow,
    OutboxRow,
    UtcDateTime,
)
from services.cases.records import (
    AlertFacts,
    AlertOutcome,
    CaseFilter,
    CaseRecord,
    Change,
    PriorityBacklog,
    QueueStatsRecord,
    Workload,
    etag_of,
)
from services.cases.workflow import (
    UNRESOLVED,
    Action,
    Actor,
    Outcome,
    Status,
    check_transition,
    check_update_fields,
    check_worker,
    next_status,
)
from services.mesh.errors import (
    Aborted,
    AlreadyExists,
    FieldViolation,
    InvalidArgument,
    NotFound,
)

Listener = Callable[[list[Change]], None]

# Fields whose changes the audit trail records (before and after).
AUDITED_FIELDS = (
    "queue",
    "status",
    "priority",
    "priority_score",
    "risk_score",
    "amount_minor",
    "currency",
    "customer_id",
    "customer_email",
    "card_fingerprint",
    "ip_address",
    "title",
    "description",
    "assignee",
    "outcome",
    "resolution_note",
    "due_at",
    "resolved_at",
)
_CHUNK = 500  # ids per IN (...) list
ORDERS = {
    "priority": (
        CaseRow.priority.desc(),
        CaseRow.priority_score.desc(),
        CaseRow.created_at,
        CaseRow.case_id,
    ),
    "create_time": (CaseRow.created_at, CaseRow.case_id),
    "create_time_desc": (CaseRow.created_at.desc(), CaseRow.case_id.desc()),
    "due_time": (CaseRow.due_at, CaseRow.case_id),
}


_cases = CaseRow.__table__
_by_priority = (
    _cases.c.priority.desc(),
    _cases.c.priority_score.desc(),
    _cases.c.created_at,
    _cases.c.case_id,
)
# Built once: the hot paths should not pay for statement construction on every call.
_best_open_case = (
    sa.select(_cases.c.case_id)
    .where(
        _cases.c.status == Status.OPEN.value,
        _cases.c.assignee.is_(None),
        _cases.c.queue.in_(sa.bindparam("queues", expanding=True)),
    )
    .order_by(*_by_priority)
    .limit(1)
)
_claimed_values = {
    "status": Status.IN_REVIEW.value,
    "assignee": sa.bindparam("me"),
    "updated_at": sa.bindparam("now"),
    "version": _cases.c.version + 1,
}
# SQLite: one conditional UPDATE under the single writer; it changes the case only if it is
# still OPEN and unassigned.
_CLAIM_SQLITE = (
    sa.update(_cases)
    .where(
        _cases.c.case_id == _best_open_case.scalar_subquery(),
        _cases.c.status == Status.OPEN.value,
        _cases.c.assignee.is_(None),
    )
    .values(_claimed_values)
    .returning(*_cases.c)
)


# PostgreSQL: one statement, so one round trip in autocommit and its own transaction. The
# candidate is locked FOR UPDATE SKIP LOCKED (which re-checks the filter on the locked row),
# so concurrent claimers skip each other's rows instead of waiting; the same statement
# updates it, appends the audit event and returns the case with its transaction ids. With
# one queue, `queue = :queue` lets the claim index hand out candidates in priority order;
# with several, the partial index of claimable cases does.
def _claim_postgres(queue_rule: str) -> sa.TextualSelect:
    return (
        sa.text(
            f"""
        WITH candidate AS (
            SELECT case_id FROM cases
            WHERE status = '{Status.OPEN.value}' AND assignee IS NULL
              AND {queue_rule}
            ORDER BY priority DESC, priority_score DESC, created_at, case_id
            LIMIT 1
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE cases
            SET status = '{Status.IN_REVIEW.value}', assignee = :me, updated_at = :now,
                version = cases.version + 1
            FROM candidate WHERE cases.case_id = candidate.case_id
            RETURNING cases.*
        ), audit AS (
            INSERT INTO case_audit (event_id, case_id, action, actor, occurred_at, before, after)
            SELECT :event_id, case_id, '{Action.CLAIMED.value}', :me, :now, :before, :after
            FROM claimed
            RETURNING seq
        )
        SELECT claimed.*, audit.seq AS audit_seq,
            ARRAY(
                SELECT t.transaction_id FROM case_transactions t
                WHERE t.case_id = claimed.case_id
                ORDER BY t.attached_at, t.transaction_id
            ) AS transaction_ids,
            EXISTS (SELECT 1 FROM case_notes n WHERE n.case_id = claimed.case_id)
              OR EXISTS (SELECT 1 FROM case_evidence e WHERE e.case_id = claimed.case_id)
              AS has_details
        FROM claimed, audit
        """
        )
        .bindparams(
            sa.bindparam("now", type_=UtcDateTime),
            sa.bindparam("before", type_=sa.JSON),
            sa.bindparam("after", type_=sa.JSON),
        )
        .columns(
            created_at=UtcDateTime,
            updated_at=UtcDateTime,
            due_at=UtcDateTime,
            resolved_at=UtcDateTime,
        )
    )


_CLAIM_POSTGRES_ONE_QUEUE = _claim_postgres("queue = :queue")
_CLAIM_POSTGRES = _claim_postgres("queue = ANY(:queues)")
_OPEN_CASES = (
    sa.select(_cases)
    .where(
        _cases.c.customer_id.in_(sa.bindparam("customers", expanding=True)),
        _cases.c.status.in_([s.value for s in UNRESOLVED]),
    )
    .order_by(_cases.c.created_at.desc(), _cases.c.case_id.desc())
    .with_for_update()
)
_ABSORBED = (
    "case_id",
    "risk_score",
    "amount_minor",
    "reasons",
    "priority_score",
    "priority",
    "due_at",
    "version",
    "updated_at",
)
_ABSORB = (
    sa.update(_cases)
    .where(_cases.c.case_id == sa.bindparam("b_case_id"))
    .values({k: sa.bindparam("b_" + k) for k in _ABSORBED if k != "case_id"})
)
_INSERT_AUDIT = sa.insert(AuditRow.__table__).returning(AuditRow.__table__.c.seq)
_NOTES = (
    sa.select(NoteRow.__table__)
    .where(NoteRow.__table__.c.case_id == sa.bindparam("case_id"))
    .order_by(NoteRow.__table__.c.created_at, NoteRow.__table__.c.note_id)
)
_EVIDENCE = (
    sa.select(EvidenceRow.__table__)
    .where(EvidenceRow.__table__.c.case_id == sa.bindparam("case_id"))
    .order_by(EvidenceRow.__table__.c.added_at, EvidenceRow.__table__.c.evidence_id)
)


_UNCLAIMED = {"status": Status.OPEN.value, "assignee": None}


def _claimed_by(actor: Actor) -> dict[str, Any]:
    return {"status": Status.IN_REVIEW.value, "assignee": actor.subject}


def _new_event(
    case_id: str, action: Action, actor: Actor, before: dict, after: dict, now: datetime
) -> SimpleNamespace:
    """An audit event (its `seq` comes from the database on insert)."""
    return SimpleNamespace(
        event_id=uuid.uuid4().hex,
        case_id=case_id,
        action=action.value,
        actor=actor.subject,
        occurred_at=now,
        before=before,
        after=after,
    )


def utcnow() -> datetime:
    """Now, aware UTC."""
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A fresh random id, e.g. `case-5f0c3a9e2b1d4e6f`."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def snapshot(case: CaseRow) -> dict[str, Any]:
    """The audited fields of `case` as JSON values."""
    values = {}
    for name in AUDITED_FIELDS:
        value = getattr(case, name)
        values[name] = value.isoformat() if isinstance(value, datetime) else value
    return values


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict, dict]:
    """Only the fields that changed, before and after."""
    changed = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in changed}, {k: after[k] for k in changed}


def check_etag(case: CaseRow, etag: str) -> None:
    """Raise Aborted when a supplied etag is not the case's current one."""
    if etag and etag != etag_of(case):
        raise Aborted(
            f"case {case.case_id} changed since it was read (etag {etag}, now "
            f"{etag_of(case)}): read it again and retry",
            reason="ETAG_MISMATCH",
            metadata={"case_id": case.case_id, "current_etag": etag_of(case)},
        )


def _chunks(items: Sequence, size: int = _CHUNK) -> Iterable[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CaseStore:
    """Cases in a SQL database, changed only through the workflow."""

    def __init__(self, database: Database, settings: CasesSettings) -> None:
        self.db = database
        self.settings = settings
        self.listeners: list[Listener] = []

    # -- reading -----------------------------------------------------------------------

    def get(self, case_id: str) -> CaseRecord:
        """The case with its transactions, notes and evidence, or NotFound."""
        with self.db.read() as session:
            case = session.get(CaseRow, case_id)
            if case is None:
                raise _not_found(case_id)
            return self._details(session, case)

    def list(
        self, where: CaseFilter, order: str, offset: int, limit: int
    ) -> tuple[list[CaseRecord], bool]:
        """A page of cases matching `where`; the flag says whether more follow."""
        query = select(CaseRow)
        if where.statuses:
            query = query.where(CaseRow.status.in_(where.statuses))
        if where.priorities:
            query = query.where(CaseRow.priority.in_(where.priorities))
        for column, value in (
            (CaseRow.assignee, where.assignee),
            (CaseRow.queue, where.queue),
            (CaseRow.customer_id, where.customer_id),
        ):
            if value:
                query = query.where(column == value)
        for column, low, high in (
            (CaseRow.created_at, where.created_from, where.created_to),
            (CaseRow.due_at, where.due_from, where.due_to),
        ):
            if low is not None:
                query = query.where(column >= low)
            if high is not None:
                query = query.where(column < high)
        query = query.order_by(*ORDERS[order]).offset(offset).limit(limit + 1)
        with self.db.read() as session:
            cases = list(session.exec(query).all())
            more = len(cases) > limit
            cases = cases[:limit]
            ids = self._transaction_ids(session, [c.case_id for c in cases])
        return [CaseRecord(c, ids.get(c.case_id, [])) for c in cases], more

    def events(self, case_id: str, after_seq: int, limit: int) -> tuple[list[AuditRow], bool]:
        """A case's audit events after `after_seq`, oldest first; the flag says more follow."""
        with self.db.read() as session:
            if session.get(CaseRow, case_id) is None:
                raise _not_found(case_id)
            rows = session.exec(
                select(AuditRow)
                .where(AuditRow.case_id == case_id, AuditRow.seq > after_seq)
                .order_by(AuditRow.seq)
                .limit(limit + 1)
            ).all()
        return list(rows[:limit]), len(rows) > limit

    # -- changes through the workflow ----------------------------------------------------

    def create(self, fields: dict[str, Any], actor: Actor, request_id: str = "") -> CaseRecord:
        """Open a case by hand; a repeated `request_id` returns the first call's case."""
        customer_id = fields.get("customer_id", "")
        if not customer_id:
            raise InvalidArgument(
                "case.customer_id is required: the customer under investigation",
                [FieldViolation("case.customer_id", "required", "the customer investigated")],
                reason="REQUEST_INVALID",
            )
        if request_id:
            with self.db.read() as session:
                existing = session.exec(
                    select(CaseRow).where(CaseRow.request_id == request_id)
                ).first()
                if existing is not None:
                    return self._details(session, existing)
        now = utcnow()
        amount = int(fields.get("amount_minor", 0))
        risk = float(fields.get("risk_score", 0.0))
        score = policy.priority_score(risk, amount)
        priority = fields.get("priority") or policy.priority_of(score, self.settings)
        case = CaseRow(
            case_id=new_id("case"),
            queue=fields.get("queue") or policy.queue_for(amount, self.settings),
            status=Status.OPEN,
            priority=int(priority),
            priority_score=score,
            risk_score=risk,
            amount_minor=amount,
            currency=fields.get("currency") or "EUR",
            customer_id=customer_id,
            customer_email=fields.get("customer_email", ""),
            card_fingerprint=fields.get("card_fingerprint", ""),
            ip_address=fields.get("ip_address", ""),
            title=fields.get("title", ""),
            description=fields.get("description", ""),
            request_id=request_id or None,
            created_at=now,
            updated_at=now,
            due_at=policy.due_at(now, policy.Priority(int(priority)), self.settings),
        )
        transaction_ids = list(dict.fromkeys(fields.get("transaction_ids", ())))
        try:
            with self.db.write() as session:
                taken = self._covered(session, transaction_ids)
                if taken:
                    raise AlreadyExists(
                        f"transactions {', '.join(sorted(taken))} are already covered by a case",
                        reason="TRANSACTION_HAS_CASE",
                    )
                session.add(case)
                session.flush()
                session.add_all(
                    CaseTransactionRow(
                        transaction_id=t,
                        case_id=case.case_id,
                        amount_minor=0,
                        risk_score=risk,
                        attached_at=now,
                    )
                    for t in transaction_ids
                )
                record = CaseRecord(case, transaction_ids)
                event = self._audit(
                    session, case, Action.CREATED, actor, {}, snapshot(case) | _txns(record), now
                )
        except sa.exc.IntegrityError:
            if request_id:  # a concurrent retry of the same request won the race
                return self.create(fields, actor, request_id)
            raise
        self._notify([Change(event, record)])
        return record

    def update(self, case_id: str, values: dict[str, Any], etag: str, actor: Actor) -> CaseRecord:
        """Change title, description, queue or priority."""

        def apply(case: CaseRow, now: datetime, session: Session) -> None:
            check_worker(case_id, case.assignee, actor)
            check_update_fields(case_id, values, actor)
            check_etag(case, etag)
            check_transition(case_id, Status(case.status), Action.UPDATED)
            for name, value in values.items():
                setattr(case, name, value)
            if "priority" in values:
                case.due_at = policy.due_at(
                    case.created_at, policy.Priority(case.priority), self.settings
                )

        return self._change(case_id, Action.UPDATED, actor, apply)

    def assign(self, case_id: str, assignee: str, etag: str, actor: Actor) -> CaseRecord:
        """Give a case to `assignee` (leads)."""

        def apply(case: CaseRow, now: datetime, session: Session) -> None:
            check_etag(case, etag)
            check_transition(case_id, Status(case.status), Action.ASSIGNED)
            case.status = next_status(Status(case.status), Action.ASSIGNED)
            case.assignee = assignee

        return self._change(case_id, Action.ASSIGNED, actor, apply)

    def escalate(self, case_id: str, reason: str, etag: str, actor: Actor) -> CaseRecord:
        """Hand a case in review up to the leads."""

        def apply(case: CaseRow, now: datetime, session: Session) -> dict:
            check_etag(case, etag)
            check_transition(case_id, Status(case.status), Action.ESCALATED)
            case.status = Status.ESCALATED
            return {"reason": reason}

        return self._change(case_id, Action.ESCALATED, actor, apply)

    def resolve(
        self, case_id: str, outcome: Outcome, note: str, etag: str, actor: Actor
    ) -> CaseRecord:
        """Close a case with an outcome; its CaseEvent goes to the outbox in the same commit."""

        def apply(case: CaseRow, now: datetime, session: Session) -> None:
            check_worker(case_id, case.assignee, actor)
            check_etag(case, etag)
            check_transition(case_id, Status(case.status), Action.RESOLVED)
            case.status = Status.RESOLVED
            case.outcome = outcome.value
            case.resolution_note = note
            case.resolved_at = now

        return self._change(case_id, Action.RESOLVED, actor, apply)

    def reopen(self, case_id: str, reason: str, etag: str, actor: Actor) -> CaseRecord:
        """Put a resolved case back in its queue, unassigned (leads)."""

        def apply(case: CaseRow, now: datetime, session: Session) -> dict:
            check_etag(case, etag)
            check_transition(case_id, Status(case.status), Action.REOPENED)
            case.status = Status.OPEN
            case.assignee = None
            case.outcome = None
            case.resolution_note = ""
            case.resolved_at = None
            return {"reason": reason}

        return self._change(case_id, Action.REOPENED, actor, apply)

    def add_note(self, case_id: str, text: str, actor: Actor) -> CaseRecord:
        """Append a note."""

        def apply(case: CaseRow, now: datetime, session: Session) -> dict:
            check_worker(case_id, case.assignee, actor)
            check_transition(case_id, Status(case.status), Action.NOTE_ADDED)
            note = NoteRow(
                note_id=new_id("note"),
                case_id=case_id,
                author=actor.subject,
                text=text,
                created_at=now,
            )
            session.add(note)
            return {"note": {"note_id": note.note_id, "text": text}}

        return self._change(case_id, Action.NOTE_ADDED, actor, apply)

    def add_evidence(
        self, case_id: str, kind: str, payload: dict[str, Any], description: str, actor: Actor
    ) -> CaseRecord:
        """Attach typed evidence (`kind` is the proto oneof field name)."""

        def apply(case: CaseRow, now: datetime, session: Session) -> dict:
            check_worker(case_id, case.assignee, actor)
            check_transition(case_id, Status(case.status), Action.EVIDENCE_ADDED)
            evidence = EvidenceRow(
                evidence_id=new_id("ev"),
                case_id=case_id,
                kind=kind,
                payload=payload,
                description=description,
                added_by=actor.subject,
                added_at=now,
            )
            session.add(evidence)
            return {
                "evidence": {"evidence_id": evidence.evidence_id, "kind": kind, **payload},
            }

        return self._change(case_id, Action.EVIDENCE_ADDED, actor, apply)

    def claim_next(self, actor: Actor, queues: Sequence[str]) -> CaseRecord | None:
        """Assign `actor` the best OPEN unassigned case of `queues`, or None if there is none.

        On PostgreSQL, one statement in one round trip (see `_CLAIM_POSTGRES`). On SQLite,
        an UPDATE conditional on the case still being OPEN and unassigned, under SQLite's
        single writer, then the audit event, in one transaction.
        """
        if self.db.is_postgres:
            return self._claim_next_postgres(actor, queues)
        now = utcnow()
        with self.db.write() as session:
            case = session.execute(
                _CLAIM_SQLITE, {"queues": list(queues), "me": actor.subject, "now": now}
            ).first()
            if case is None:
                return None
            event = self._audit(
                session, case, Action.CLAIMED, actor, _UNCLAIMED, _claimed_by(actor), now
            )
            record = self._details(session, case)
        self._notify([Change(event, record)])
        return record

    def _claim_next_postgres(self, actor: Actor, queues: Sequence[str]) -> CaseRecord | None:
        # The case id is known, and the event written, once the statement has claimed one.
        event = _new_event("", Action.CLAIMED, actor, _UNCLAIMED, _claimed_by(actor), utcnow())
        queues = list(dict.fromkeys(queues))
        if len(queues) == 1:
            claim, which = _CLAIM_POSTGRES_ONE_QUEUE, {"queue": queues[0]}
        else:
            claim, which = _CLAIM_POSTGRES, {"queues": queues}
        parameters = which | {"me": actor.subject, "now": event.occurred_at} | vars(event)
        with self.db.autocommit() as connection:
            row = connection.execute(claim, parameters).first()
        if row is None:
            return None
        event.case_id, event.seq = row.case_id, row.audit_seq
        if row.has_details:  # a reopened case: its notes and evidence, read after the claim
            with self.db.read() as session:
                record = self._details(session, row)
        else:
            record = CaseRecord(row, list(row.transaction_ids))
        self._notify([Change(event, record)])
        return record

    # -- alerts ------------------------------------------------------------------------

    def open_from_alerts(self, alerts: Sequence[AlertFacts]) -> AlertOutcome:
        """Open or extend cases from alerts, idempotently on the transaction id.

        An alert whose transaction a case already covers is a duplicate. Alerts of a
        customer with an unresolved case attach to it; the others open one case per
        customer. The whole batch is one transaction.
        """
        outcome = AlertOutcome()
        first_of: dict[str, AlertFacts] = {}
        for alert in alerts:
            first_of.setdefault(alert.transaction_id, alert)
        unique = list(first_of.values())
        outcome.duplicates = len(alerts) - len(unique)
        now = utcnow()
        with self.db.write() as session:
            if self.db.is_postgres:
                self._lock_customers(session, {a.customer_id for a in unique})
            covered = self._covered(session, [a.transaction_id for a in unique])
            fresh = [a for a in unique if a.transaction_id not in covered]
            outcome.duplicates += len(unique) - len(fresh)
            if not fresh:
                return outcome
            by_customer: dict[str, list[AlertFacts]] = defaultdict(list)
            for alert in fresh:
                by_customer[alert.customer_id].append(alert)
            open_cases = self._open_cases_of(session, list(by_customer))
            links, audits, new_cases, attached_cases = [], [], [], []
            for customer_id, group in by_customer.items():
                case = open_cases.get(customer_id)
                if case is None:
                    case = self._case_from_alert(group[0], now)
                    new_cases.append(case)
                    before: dict[str, Any] = {}
                    action = Action.CREATED
                    outcome.opened += 1
                    outcome.attached += len(group) - 1
                else:
                    before = snapshot(case)
                    action = Action.ALERT_ATTACHED
                    attached_cases.append(case)
                    outcome.attached += len(group)
                self._absorb(case, group, now, fresh_case=action is Action.CREATED)
                links.extend(
                    {
                        "transaction_id": a.transaction_id,
                        "case_id": case.case_id,
                        "alert_id": a.alert_id,
                        "amount_minor": a.amount_minor,
                        "risk_score": a.risk_score,
                        "attached_at": now,
                    }
                    for a in group
                )
                old, new = diff(before, snapshot(case))
                audits.append(
                    SimpleNamespace(
                        event_id=uuid.uuid4().hex,
                        case_id=case.case_id,
                        action=action.value,
                        actor="system",
                        occurred_at=now,
                        before=old,
                        after=new | {"transaction_ids": [a.transaction_id for a in group]},
                    )
                )
            if new_cases:
                session.execute(sa.insert(CaseRow), [vars(c) for c in new_cases])
            if attached_cases:
                session.execute(
                    _ABSORB, [{"b_" + k: getattr(c, k) for k in _ABSORBED} for c in attached_cases]
                )
            session.execute(sa.insert(CaseTransactionRow), links)
            seqs = session.execute(
                sa.insert(AuditRow).returning(AuditRow.seq, sort_by_parameter_order=True),
                [vars(a) for a in audits],
            ).scalars()
            for audit, seq in zip(audits, seqs, strict=True):
                audit.seq = seq
            ids = self._transaction_ids(session, [c.case_id for c in attached_cases])
            for case in new_cases:
                ids[case.case_id] = [a.transaction_id for a in by_customer[case.customer_id]]
            by_id = {c.case_id: c for c in (*new_cases, *attached_cases)}
            outcome.changes = [
                Change(a, CaseRecord(by_id[a.case_id], ids.get(a.case_id, []))) for a in audits
            ]
        self._notify(outcome.changes)
        return outcome

    def _case_from_alert(self, alert: AlertFacts, now: datetime) -> SimpleNamespace:
        return SimpleNamespace(
            case_id=new_id("case"),
            queue="",
            status=Status.OPEN.value,
            priority=int(policy.Priority.LOW),
            priority_score=0.0,
            risk_score=0.0,
            amount_minor=0,
            currency=alert.currency,
            customer_id=alert.customer_id,
            customer_email="",
            card_fingerprint=alert.card_fingerprint,
            ip_address=alert.ip_address,
            title=f"Fraud alert on transaction {alert.transaction_id}",
            description="",
            assignee=None,
            outcome=None,
            resolution_note="",
            reasons=[],
            source_alert_id=alert.alert_id,
            request_id=None,
            created_at=now,
            updated_at=now,
            due_at=now,
            resolved_at=None,
            version=1,
        )

    def _absorb(
        self, case: SimpleNamespace, alerts: Sequence[AlertFacts], now: datetime, fresh_case: bool
    ) -> None:
        """Fold alerts into a case: highest risk, summed amount, priority never lowered."""
        for alert in alerts:
            case.risk_score = max(case.risk_score, alert.risk_score)
            if alert.currency == case.currency:
                case.amount_minor += alert.amount_minor
            case.reasons = list(dict.fromkeys([*case.reasons, *alert.reasons]))
        case.priority_score = policy.priority_score(case.risk_score, case.amount_minor)
        computed = policy.priority_of(case.priority_score, self.settings)
        priority = computed if fresh_case else max(policy.Priority(case.priority), computed)
        case.priority = int(priority)
        due = policy.due_at(case.created_at, priority, self.settings)
        case.due_at = due if fresh_case else min(case.due_at, due)
        if fresh_case:
            case.queue = policy.queue_for(case.amount_minor, self.settings)
        else:
            case.version += 1
            case.updated_at = now

    # -- stats ---------------------------------------------------------------------------

    def queue_stats(self, queues: Sequence[str], now: datetime | None = None) -> QueueStatsRecord:
        """Backlog by priority, SLA breaches and risks, workload and resolution rates."""
        now = now or utcnow()
        window_start = now - timedelta(seconds=self.settings.stats_window_s)
        in_queues = [CaseRow.queue.in_(list(queues))] if queues else []
        backlog = []
        with self.db.read() as session:
            for priority in sorted(policy.Priority, reverse=True):
                sla = policy.sla_of(priority, self.settings)
                risk_from = now + sla * self.settings.sla_at_risk_fraction
                row = session.execute(
                    sa.select(
                        sa.func.count().filter(CaseRow.status == Status.OPEN),
                        sa.func.count().filter(CaseRow.status != Status.OPEN),
                        sa.func.min(CaseRow.created_at),
                        sa.func.count().filter(CaseRow.due_at < now),
                        sa.func.count().filter(CaseRow.due_at >= now, CaseRow.due_at < risk_from),
                    ).where(
                        CaseRow.status.in_(list(UNRESOLVED)),
                        CaseRow.priority == int(priority),
                        *in_queues,
                    )
                ).one()
                oldest = row[2]
                if isinstance(oldest, str):  # SQLite's MIN over the column returns text
                    oldest = datetime.fromisoformat(oldest).replace(tzinfo=UTC)
                backlog.append(PriorityBacklog(int(priority), row[0], row[1], oldest, *row[3:]))
            desks: dict[str, dict[str, int]] = defaultdict(dict)
            for assignee, status, count in session.execute(
                sa.select(CaseRow.assignee, CaseRow.status, sa.func.count())
                .where(
                    CaseRow.assignee.is_not(None),
                    sa.or_(
                        CaseRow.status.in_([Status.IN_REVIEW, Status.ESCALATED]),
                        sa.and_(
                            CaseRow.status == Status.RESOLVED, CaseRow.resolved_at >= window_start
                        ),
                    ),
                    *in_queues,
                )
                .group_by(CaseRow.assignee, CaseRow.status)
            ):
                desks[assignee][status] = count
            outcomes: dict[str, int] = {}
            late = 0
            for outcome, count, late_count in session.execute(
                sa.select(
                    CaseRow.outcome,
                    sa.func.count(),
                    sa.func.count().filter(CaseRow.resolved_at > CaseRow.due_at),
                )
                .where(CaseRow.status == Status.RESOLVED, CaseRow.resolved_at >= window_start)
                .where(*in_queues)
                .group_by(CaseRow.outcome)
            ):
                outcomes[outcome] = count
                late += late_count
        workload = [
            Workload(
                assignee,
                in_review=d.get(Status.IN_REVIEW, 0),
                escalated=d.get(Status.ESCALATED, 0),
                resolved=d.get(Status.RESOLVED, 0),
            )
            for assignee, d in sorted(desks.items())
        ]
        return QueueStatsRecord(
            now, backlog, workload, outcomes, late, self.settings.stats_window_s
        )

    # -- outbox ------------------------------------------------------------------------

    def relay_outbox(self, send: Callable[[list[OutboxRow]], None], limit: int) -> int:
        """Hand pending outbox records to `send` (which returns once Kafka acked them all),
        then mark them published; returns how many.

        On PostgreSQL the rows stay locked (SKIP LOCKED) from selection to marking, so two
        replicas never relay the same record; SQLite has one process, hence one relay.
        """
        pending = (
            select(OutboxRow)
            .where(OutboxRow.published_at.is_(None))
            .order_by(OutboxRow.seq)
            .limit(limit)
        )
        if self.db.is_postgres:
            with self.db.write() as session:
                rows = list(session.exec(pending.with_for_update(skip_locked=True)).all())
                if rows:
                    send(rows)
                    self._mark_published(session, rows)
            return len(rows)
        with self.db.read() as session:
            rows = list(session.exec(pending).all())
        if rows:
            send(rows)
            with self.db.write() as session:
                self._mark_published(session, rows)
        return len(rows)

    @staticmethod
    def _mark_published(session: Session, rows: list[OutboxRow]) -> None:
        session.execute(
            sa.update(OutboxRow)
            .where(OutboxRow.seq.in_([r.seq for r in rows]))
            .values(published_at=utcnow())
        )

    # -- internals -----------------------------------------------------------------------

    def _change(self, case_id: str, action: Action, actor: Actor, apply) -> CaseRecord:
        """Run one workflow change: lock, apply (which checks), audit, outbox, commit, notify."""
        now = utcnow()
        with self.db.write() as session:
            case = session.exec(
                select(CaseRow).where(CaseRow.case_id == case_id).with_for_update()
            ).first()
            if case is None:
                raise _not_found(case_id)
            before = snapshot(case)
            extra = apply(case, now, session) or {}
            case.version += 1
            case.updated_at = now
            old, new = diff(before, snapshot(case))
            session.flush()  # the ORM's changes go first: the statements below read them
            event = self._audit(session, case, action, actor, old, new | extra, now)
            record = self._details(session, case)
            if action in PUBLISHED_ACTIONS:
                message = case_event(event, case, record.transaction_ids)
                session.add(outbox_row(self.settings.topic_case_events, message))
        self._notify([Change(event, record)])
        return record

    def _audit(
        self,
        session: Session,
        case,
        action: Action,
        actor: Actor,
        before: dict,
        after: dict,
        now: datetime,
    ) -> SimpleNamespace:
        event = _new_event(case.case_id, action, actor, before, after, now)
        event.seq = session.execute(_INSERT_AUDIT, vars(event)).scalar_one()
        return event

    def _details(self, session: Session, case) -> CaseRecord:
        ids = self._transaction_ids(session, [case.case_id]).get(case.case_id, [])
        notes = session.execute(_NOTES, {"case_id": case.case_id}).all()
        evidence = session.execute(_EVIDENCE, {"case_id": case.case_id}).all()
        return CaseRecord(case, ids, list(notes), list(evidence))

    @staticmethod
    def _transaction_ids(session: Session, case_ids: Sequence[str]) -> dict[str, list[str]]:
        found: dict[str, list[str]] = defaultdict(list)
        for chunk in _chunks(list(case_ids)):
            for case_id, transaction_id in session.execute(
                sa.select(CaseTransactionRow.case_id, CaseTransactionRow.transaction_id)
                .where(CaseTransactionRow.case_id.in_(chunk))
                .order_by(CaseTransactionRow.attached_at, CaseTransactionRow.transaction_id)
            ):
                found[case_id].append(transaction_id)
        return found

    @staticmethod
    def _covered(session: Session, transaction_ids: Sequence[str]) -> set[str]:
        covered: set[str] = set()
        for chunk in _chunks(list(transaction_ids)):
            covered.update(
                session.exec(
                    select(CaseTransactionRow.transaction_id).where(
                        CaseTransactionRow.transaction_id.in_(chunk)
                    )
                ).all()
            )
        return covered

    def _open_cases_of(self, session: Session, customers: list[str]) -> dict[str, SimpleNamespace]:
        """The oldest unresolved case of each customer that has one (locked on PostgreSQL)."""
        found: dict[str, SimpleNamespace] = {}
        for chunk in _chunks(customers):
            for row in session.execute(_OPEN_CASES, {"customers": list(chunk)}):
                found[row.customer_id] = SimpleNamespace(**row._mapping)  # the oldest wins
        return found

    @staticmethod
    def _lock_customers(session: Session, customers: set[str]) -> None:
        """Serialise alert batches of the same customers across replicas (PostgreSQL)."""
        if customers:
            session.execute(
                sa.text(
                    "SELECT pg_advisory_xact_lock(k) FROM (SELECT DISTINCT "
                    "hashtextextended(c, 0) AS k FROM unnest(CAST(:c AS text[])) AS c "
                    "ORDER BY 1) AS keys"
                ),
                {"c": sorted(customers)},
            )

    def _notify(self, changes: list[Change]) -> None:
        if not changes:
            return
        for listener in self.listeners:
            listener(changes)


def _not_found(case_id: str) -> NotFound:
    return NotFound(f"case {case_id} does not exist", reason="CASE_NOT_FOUND")


def _txns(record: CaseRecord) -> dict[str, list[str]]:
    return {"transaction_ids": list(record.transaction_ids)}


def _row_values(case: CaseRow) -> dict[str, Any]:
    return {column.name: getattr(case, column.name) for column in CaseRow.__table__.columns}
