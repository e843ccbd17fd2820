"""What the simulator emits: time-stamped protobuf records, fraud labels, and record ids."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from ecap.v1 import common_pb2
from services.simulator.clock import from_us

Record = (
    common_pb2.Transaction | common_pb2.BehaviorEvent | common_pb2.Product | common_pb2.Customer
)


class Scenario(StrEnum):
    """Why a transaction happened: honest shopping or one of the fraud scenarios."""

    LEGIT = "legit"
    CARD_TESTING = "card_testing"
    ACCOUNT_TAKEOVER = "account_takeover"
    COMPROMISED_MERCHANT = "compromised_merchant"
    IMPOSSIBLE_TRAVEL = "impossible_travel"
    HIGH_AMOUNT = "high_amount"


FRAUD_SCENARIOS: tuple[Scenario, ...] = tuple(s for s in Scenario if s is not Scenario.LEGIT)


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for one transaction, kept outside the event stream."""

    transaction_id: str
    label: int  # 1 = fraud
    scenario: Scenario
    occurred_at_us: int

    @property
    def occurred_at(self) -> datetime:
        """When the transaction happened (UTC)."""
        return from_us(self.occurred_at_us)


class Timed(NamedTuple):
    """A record with its time and generation sequence (the sort key), and its label if any."""

    at_us: int
    seq: int
    record: Record
    label: Label | None


_new_timed = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path


class Sink:
    """Collects the records of one simulated day before they are put in time order."""

    def __init__(self) -> None:
        self.items: list[Timed] = []
        self._seq = itertools.count()

    def emit(self, at_us: int, record: Record, label: Label | None = None) -> None:
        """Add a record happening at `at_us`."""
        self.items.append(_new_timed(Timed, (at_us, next(self._seq), record, label)))


class Ids:
    """Mints record ids that are unique per run: same run settings, same ids.

    The run tag keeps two different runs against one stack from colliding in deduplication,
    while replaying one run reproduces its ids (and is deduplicated, as it should be).
    """

    def __init__(self, run_key: str) -> None:
        self.tag = hashlib.blake2b(run_key.encode(), digest_size=3).hexdigest()
        self._events = 0
        self._sessions = 0
        self._transactions = 0

    def event(self) -> str:
        """A new behaviour-event id, e.g. `e-3fa01c-00000042`."""
        self._events += 1
        return f"e-{self.tag}-{self._events:08d}"

    def session(self) -> str:
        """A new session id, e.g. `s-3fa01c-00000042`."""
        self._sessions += 1
        return f"s-{self.tag}-{self._sessions:08d}"

    def transaction(self) -> str:
        """A new transaction id, e.g. `t-3fa01c-00000042`."""
        self._transactions += 1
        return f"t-{self.tag}-{self._transactions:08d}"
