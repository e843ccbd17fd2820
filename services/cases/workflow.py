"""The case state machine and who may act on a case: plain rules, no storage, no gRPC.

    OPEN --claim/assign--> IN_REVIEW --escalate--> ESCALATED
      ^                        |                       |
      |                        +-------resolve---------+--> RESOLVED
      +-----------------------------reopen (leads)-----------------+

Notes, evidence and updates are allowed on every unresolved case. An illegal move is
`FailedPrecondition` naming the current state; acting on someone else's case without being
a lead is `PermissionDenied`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from services.mesh.errors import FailedPrecondition, PermissionDenied


class Status(StrEnum):
    """Workflow states (the proto's CaseStatus without the prefix)."""

    OPEN = "OPEN"
    IN_REVIEW = "IN_REVIEW"
    ESCALATED = "ESCALATED"
    RESOLVED = "RESOLVED"


class Outcome(StrEnum):
    """How an investigation ended (the proto's CaseOutcome without the prefix)."""

    CONFIRMED_FRAUD = "CONFIRMED_FRAUD"
    FALSE_POSITIVE = "FALSE_POSITIVE"
    INCONCLUSIVE = "INCONCLUSIVE"


class Action(StrEnum):
    """What an audit event records (the proto's CaseAction without the prefix)."""

    CREATED = "CREATED"
    UPDATED = "UPDATED"
    CLAIMED = "CLAIMED"
    ASSIGNED = "ASSIGNED"
    ESCALATED = "ESCALATED"
    NOTE_ADDED = "NOTE_ADDED"
    EVIDENCE_ADDED = "EVIDENCE_ADDED"
    RESOLVED = "RESOLVED"
    REOPENED = "REOPENED"
    ALERT_ATTACHED = "ALERT_ATTACHED"


UNRESOLVED = (Status.OPEN, Status.IN_REVIEW, Status.ESCALATED)

# Action -> the states it may start from.
ALLOWED_FROM: dict[Action, tuple[Status, ...]] = {
    Action.CLAIMED: (Status.OPEN,),
    Action.ASSIGNED: UNRESOLVED,
    Action.ESCALATED: (Status.IN_REVIEW,),
    Action.RESOLVED: (Status.IN_REVIEW, Status.ESCALATED),
    Action.REOPENED: (Status.RESOLVED,),
    Action.UPDATED: UNRESOLVED,
    Action.NOTE_ADDED: UNRESOLVED,
    Action.EVIDENCE_ADDED: UNRESOLVED,
    Action.ALERT_ATTACHED: UNRESOLVED,
}

# Fields of a case anyone working it may change; the others need a lead.
INVESTIGATOR_FIELDS = frozenset({"title", "description"})
UPDATABLE_FIELDS = frozenset({"title", "description", "queue", "priority"})


@dataclass(frozen=True)
class Actor:
    """Who acts, as the domain needs it: subject, lead rights, and whether PII is shown."""

    subject: str
    lead: bool = False
    sees_pii: bool = True


SYSTEM = Actor(subject="system", lead=True)


VERBS = {
    Action.CLAIMED: "claim",
    Action.ASSIGNED: "assign",
    Action.ESCALATED: "escalate",
    Action.RESOLVED: "resolve",
    Action.REOPENED: "reopen",
    Action.UPDATED: "update",
    Action.NOTE_ADDED: "add a note to",
    Action.EVIDENCE_ADDED: "add evidence to",
    Action.ALERT_ATTACHED: "attach an alert to",
}


def check_transition(case_id: str, status: Status, action: Action) -> None:
    """Raise FailedPrecondition, naming the current state, unless `action` may start there."""
    allowed = ALLOWED_FROM[action]
    if status not in allowed:
        need = " or ".join(s.value for s in allowed)
        raise FailedPrecondition(
            f"cannot {VERBS[action]} case {case_id}: it is {status.value}, and that needs {need}",
            reason="ILLEGAL_TRANSITION",
            metadata={"case_id": case_id, "current_state": status.value, "action": action.value},
        )


def next_status(status: Status, action: Action) -> Status:
    """The state after `action` (which `check_transition` allowed)."""
    if action in (Action.CLAIMED, Action.ASSIGNED):
        return Status.ESCALATED if status is Status.ESCALATED else Status.IN_REVIEW
    return {
        Action.ESCALATED: Status.ESCALATED,
        Action.RESOLVED: Status.RESOLVED,
        Action.REOPENED: Status.OPEN,
    }.get(action, status)


def check_worker(case_id: str, assignee: str | None, actor: Actor) -> None:
    """Raise PermissionDenied unless `actor` is the case's assignee or a lead."""
    if actor.lead or (assignee is not None and assignee == actor.subject):
        return
    held_by = f"assigned to {assignee}" if assignee else "unassigned"
    raise PermissionDenied(
        f"case {case_id} is {held_by}: only its assignee or a lead may work on it",
        reason="NOT_ASSIGNEE",
        metadata={"case_id": case_id},
    )


def check_update_fields(case_id: str, fields: Iterable[str], actor: Actor) -> None:
    """Raise PermissionDenied when a non-lead changes a field only leads may change."""
    if actor.lead:
        return
    lead_only = sorted(set(fields) - INVESTIGATOR_FIELDS)
    if lead_only:
        raise PermissionDenied(
            f"changing {', '.join(lead_only)} of case {case_id} needs a lead",
            reason="FIELD_NEEDS_LEAD",
            metadata={"case_id": case_id, "fields": ",".join(lead_only)},
        )
