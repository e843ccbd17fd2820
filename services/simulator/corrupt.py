"""Invalid variants of valid simulated records, for testing the ingestion's verdicts.

Each `InvalidRecord` says what was broken, which field a rejection should name and which rule:
a protovalidate rule id when the proto annotations catch it, otherwise the name of the domain
rule the ingestion must check itself (amount equal to the sum of the items, a real currency, no
timestamps from the future).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from ecap.v1 import common_pb2
from services.simulator.clock import set_timestamp, to_us
from services.simulator.config import SimulatorSettings
from services.simulator.generator import Simulation, default_start
from services.simulator.records import Record

E = common_pb2

# Domain rules protovalidate cannot express; names proposed for `Rejection.rule`.
RULE_SUM_OF_ITEMS = "amount.sum_of_items"
RULE_KNOWN_CURRENCY = "currency.iso4217"
RULE_NOT_FUTURE = "timestamp.not_future"
FUTURE_BY = timedelta(days=30)


class Corruption(StrEnum):
    """One way of breaking a record."""

    MISSING_ID = "missing_id"
    BAD_ID = "bad_id"
    MISSING_TIMESTAMP = "missing_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    NEGATIVE_QUANTITY = "negative_quantity"
    LOWERCASE_CURRENCY = "lowercase_currency"
    UNKNOWN_CURRENCY = "unknown_currency"
    AMOUNT_MISMATCH = "amount_mismatch"
    BAD_IP = "bad_ip"
    UNSPECIFIED_EVENT_TYPE = "unspecified_event_type"
    MISSING_PRICE = "missing_price"
    NEGATIVE_STOCK = "negative_stock"
    BAD_EMAIL = "bad_email"


APPLICABLE: dict[Corruption, tuple[type, ...]] = {
    Corruption.MISSING_ID: (E.Transaction, E.BehaviorEvent, E.Product, E.Customer),
    Corruption.BAD_ID: (E.Transaction, E.BehaviorEvent, E.Product, E.Customer),
    Corruption.MISSING_TIMESTAMP: (E.Transaction, E.BehaviorEvent, E.Customer),
    Corruption.FUTURE_TIMESTAMP: (E.Transaction, E.BehaviorEvent),
    Corruption.NEGATIVE_QUANTITY: (E.Transaction,),
    Corruption.LOWERCASE_CURRENCY: (E.Transaction,),
    Corruption.UNKNOWN_CURRENCY: (E.Transaction,),
    Corruption.AMOUNT_MISMATCH: (E.Transaction,),
    Corruption.BAD_IP: (E.Transaction, E.BehaviorEvent),
    Corruption.UNSPECIFIED_EVENT_TYPE: (E.BehaviorEvent,),
    Corruption.MISSING_PRICE: (E.Product,),
    Corruption.NEGATIVE_STOCK: (E.Product,),
    Corruption.BAD_EMAIL: (E.Customer,),
}

_ID_FIELD = {
    E.Transaction: "transaction_id",
    E.BehaviorEvent: "event_id",
    E.Product: "product_id",
    E.Customer: "customer_id",
}
_TIME_FIELD = {
    E.Transaction: "occurred_at",
    E.BehaviorEvent: "occurred_at",
    E.Customer: "signed_up_at",
}


@dataclass(frozen=True)
class InvalidRecord:
    """A broken record and the verdict the ingestion should reach about it."""

    record: Record
    corruption: Corruption
    field: str  # the field path a rejection should name, e.g. "items[0].quantity"
    rule: str  # protovalidate rule id, or one of the RULE_* domain rules
    protovalidate: bool  # True when the proto annotations alone reject it

    @property
    def record_id(self) -> str:
        """The broken record's id (empty when the corruption removed it)."""
        return getattr(self.record, _ID_FIELD[type(self.record)])


def corrupt(
    record: Record, corruption: Corruption, *, now: datetime, tag: str = "bad"
) -> InvalidRecord:
    """A copy of a valid `record` broken in one way, with a fresh id (unless the id is the bug)."""
    kind = type(record)
    if kind not in APPLICABLE[corruption]:
        raise ValueError(f"{corruption} does not apply to {kind.__name__} records")
    broken = kind()
    broken.CopyFrom(record)
    id_field = _ID_FIELD[kind]
    # A fresh id, so a test never sees a corrupt copy deduplicated against its original.
    setattr(broken, id_field, f"{getattr(record, id_field)}.{tag}")

    def verdict(field: str, rule: str, protovalidate: bool = True) -> InvalidRecord:
        return InvalidRecord(broken, corruption, field, rule, protovalidate)

    match corruption:
        case Corruption.MISSING_ID:
            setattr(broken, id_field, "")
            return verdict(id_field, "string.min_len")
        case Corruption.BAD_ID:
            setattr(broken, id_field, f"-{getattr(record, id_field)} bad!")
            return verdict(id_field, "string.pattern")
        case Corruption.MISSING_TIMESTAMP:
            broken.ClearField(_TIME_FIELD[kind])
            return verdict(_TIME_FIELD[kind], "required")
        case Corruption.FUTURE_TIMESTAMP:
            set_timestamp(broken.occurred_at, to_us(now + FUTURE_BY))
            return verdict("occurred_at", RULE_NOT_FUTURE, protovalidate=False)
        case Corruption.NEGATIVE_QUANTITY:
            item = broken.items[0]
            item.quantity = -1
            broken.amount.amount_minor = _sum_of_items(broken)  # one fault at a time
            return verdict("items[0].quantity", "int32.gt_lte")
        case Corruption.LOWERCASE_CURRENCY:
            _set_currency(broken, "eur")
            return verdict("amount.currency", "string.pattern")
        case Corruption.UNKNOWN_CURRENCY:
            _set_currency(broken, "XXX")  # well-formed, but ISO-4217's "no currency"
            return verdict("amount.currency", RULE_KNOWN_CURRENCY, protovalidate=False)
        case Corruption.AMOUNT_MISMATCH:
            broken.amount.amount_minor = _sum_of_items(broken) + 1
            return verdict("amount.amount_minor", RULE_SUM_OF_ITEMS, protovalidate=False)
        case Corruption.BAD_IP:
            broken.ip_address = "999.12.0.1"
            return verdict("ip_address", "string.ip")
        case Corruption.UNSPECIFIED_EVENT_TYPE:
            broken.type = E.BEHAVIOR_EVENT_TYPE_UNSPECIFIED
            return verdict("type", "enum.not_in")
        case Corruption.MISSING_PRICE:
            broken.ClearField("price")
            return verdict("price", "required")
        case Corruption.NEGATIVE_STOCK:
            broken.stock = -5
            return verdict("stock", "int32.gte")
        case Corruption.BAD_EMAIL:
            broken.email = "not-an-email"
            return verdict("email", "string.email")
    raise AssertionError(f"unhandled corruption {corruption}")


def _sum_of_items(transaction: E.Transaction) -> int:
    return sum(item.quantity * item.unit_price.amount_minor for item in transaction.items)


def _set_currency(transaction: E.Transaction, currency: str) -> None:
    transaction.amount.currency = currency
    for item in transaction.items:
        item.unit_price.currency = currency


@functools.lru_cache(maxsize=4)
def _sample(seed: int, start: datetime) -> tuple[Record, ...]:
    settings = SimulatorSettings(seed=seed, customers=200, products=60, merchants=5)
    return tuple(Simulation(settings, start=start, days=2).records())


def invalid_records(
    rng: random.Random,
    n: int,
    *,
    valid: Sequence[Record] | None = None,
    corruptions: Iterable[Corruption] | None = None,
    now: datetime | None = None,
) -> list[InvalidRecord]:
    """`n` invalid records cycling through `corruptions` (default: all), from `valid` records.

    Without `valid`, a small simulation of the two days before `now`, seeded from `rng`,
    provides them. `now` (default: the current time) anchors the "far in the future" timestamps.
    """
    now = now or datetime.now(UTC)
    if valid is None:
        # Recent records, so that an ingestion's "too old" horizon does not reject them too.
        valid = _sample(rng.getrandbits(32), default_start(2, now))
    pool = list(valid)
    by_kind: dict[type, list[Record]] = {}
    for record in pool:
        by_kind.setdefault(type(record), []).append(record)
    kinds = [c for c in (corruptions or Corruption) if any(k in by_kind for k in APPLICABLE[c])]
    if not kinds:
        raise ValueError("no valid record of a kind any requested corruption applies to")
    broken = []
    for i in range(n):
        corruption = kinds[i % len(kinds)]
        candidates = [k for k in APPLICABLE[corruption] if k in by_kind]
        record = rng.choice(by_kind[rng.choice(candidates)])
        broken.append(corrupt(record, corruption, now=now, tag=f"bad{i}"))
    return broken
