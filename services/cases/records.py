"""Plain values the store hands out: a case with its details, a committed change, alert facts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from services.cases.models import AuditRow, CaseRow, EvidenceRow, NoteRow


@dataclass
class CaseRecord:
    """A case with the transactions it covers and, when loaded, its notes and evidence.

    `case` is anything with the `cases` columns as attributes: an ORM `CaseRow`, a result
    row of a Core statement, or a namespace built in a batch (the hot paths skip the ORM).
    """

    case: CaseRow | Any
    transaction_ids: list[str] = field(default_factory=list)
    notes: list[NoteRow] = field(default_factory=list)
    evidence: list[EvidenceRow] = field(default_factory=list)

    @property
    def etag(self) -> str:
        """The optimistic-concurrency token of this version of the case."""
        return etag_of(self.case)


def etag_of(case: CaseRow) -> str:
    """The etag of a case row: its version, opaque to clients."""
    return f'W/"{case.version}"'


@dataclass(frozen=True)
class Change:
    """One committed change: its audit event and the case after it."""

    event: AuditRow
    record: CaseRecord


@dataclass(frozen=True)
class AlertFacts:
    """What the case desk needs from one fraud alert."""

    alert_id: str
    transaction_id: str
    customer_id: str
    risk_score: float
    amount_minor: int
    currency: str
    occurred_at: datetime
    card_fingerprint: str = ""
    ip_address: str = ""
    reasons: tuple[str, ...] = ()


@dataclass
class AlertOutcome:
    """What a batch of alerts did."""

    opened: int = 0
    attached: int = 0
    duplicates: int = 0
    changes: list[Change] = field(default_factory=list)


@dataclass(frozen=True)
class CaseFilter:
    """ListCases filters; empty ones match everything."""

    statuses: tuple[str, ...] = ()
    priorities: tuple[int, ...] = ()
    assignee: str = ""
    queue: str = ""
    customer_id: str = ""
    created_from: datetime | None = None
    created_to: datetime | None = None
    due_from: datetime | None = None
    due_to: datetime | None = None


@dataclass(frozen=True)
class PriorityBacklog:
    """Unresolved cases of one priority."""

    priority: int
    open: int
    in_progress: int
    oldest_created_at: datetime | None
    sla_breached: int
    sla_at_risk: int


@dataclass(frozen=True)
class Workload:
    """One investigator's desk."""

    assignee: str
    in_review: int = 0
    escalated: int = 0
    resolved: int = 0


@dataclass(frozen=True)
class QueueStatsRecord:
    """GetQueueStats as plain data."""

    computed_at: datetime
    backlog: list[PriorityBacklog]
    workload: list[Workload]
    outcomes: dict[str, int]
    resolved_late: int
    window_s: float
