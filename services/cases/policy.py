"""Case policy: priority from risk x amount, SLA due times, queue routing.

The priority formula::

    priority_score = risk_score x amount_minor / 100          (risk in [0, 1], amount in
                                                                major units, e.g. EUR)
    CRITICAL  if priority_score >= 500   (e.g. risk 0.9 on EUR 600)
    HIGH      if priority_score >= 100   (e.g. risk 0.5 on EUR 200)
    MEDIUM    if priority_score >= 20    (e.g. risk 0.4 on EUR 50)
    LOW       otherwise

It is the expected loss of letting the transaction stand, so queues are worked in order of
money at risk. A case covering several transactions uses its highest risk and the sum of
its amounts. The SLA of a priority (1 h, 4 h, 1 day, 3 days) sets the due time from the
moment the case opened; a case is at risk in the last quarter of its SLA and breached once
unresolved past its due time. Thresholds, SLAs and the at-risk share are
`ECAP_CASES_PRIORITY_*`, `ECAP_CASES_SLA_*` settings.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import IntEnum

from services.cases.config import CasesSettings


class Priority(IntEnum):
    """Priority buckets, ordered: a higher value is worked first (same numbers as the proto)."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


def priority_score(risk_score: float, amount_minor: int) -> float:
    """Expected loss in major units: risk x amount."""
    return risk_score * amount_minor / 100


def priority_of(score: float, settings: CasesSettings) -> Priority:
    """The bucket of a priority score."""
    if score >= settings.priority_critical_from:
        return Priority.CRITICAL
    if score >= settings.priority_high_from:
        return Priority.HIGH
    if score >= settings.priority_medium_from:
        return Priority.MEDIUM
    return Priority.LOW


def sla_of(priority: Priority, settings: CasesSettings) -> timedelta:
    """How long a case of `priority` may stay unresolved."""
    seconds = {
        Priority.CRITICAL: settings.sla_critical_s,
        Priority.HIGH: settings.sla_high_s,
        Priority.MEDIUM: settings.sla_medium_s,
        Priority.LOW: settings.sla_low_s,
    }[priority]
    return timedelta(seconds=seconds)


def due_at(opened_at: datetime, priority: Priority, settings: CasesSettings) -> datetime:
    """When the SLA of a case opened at `opened_at` with `priority` runs out."""
    return opened_at + sla_of(priority, settings)


def at_risk_from(due: datetime, priority: Priority, settings: CasesSettings) -> datetime:
    """From when an unresolved case due at `due` counts as at risk."""
    return due - sla_of(priority, settings) * settings.sla_at_risk_fraction


def queue_for(amount_minor: int, settings: CasesSettings) -> str:
    """The queue an alert's case goes to: high-value from a threshold amount, else default."""
    if amount_minor >= settings.high_value_from_minor:
        return settings.high_value_queue
    return settings.default_queue
