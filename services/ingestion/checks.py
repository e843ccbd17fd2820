"""The semantic rules a record must meet beyond its protovalidate annotations."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pycountry
from google.protobuf.message import Message

from ecap.v1 import common_pb2
from services.mesh.errors import FieldViolation
from services.mesh.screening import screen_for
from services.mesh.validation import violations_of

_ISO_4217 = frozenset(currency.alpha_3 for currency in pycountry.currencies)


@dataclass(frozen=True)
class Limits:
    """What "too far in the future" and "too old" mean, and which codes are not money."""

    max_future_skew: timedelta
    max_age: timedelta
    non_money_currencies: frozenset[str]


def _currency(path: str, money: common_pb2.Money, limits: Limits) -> Iterable[FieldViolation]:
    code = money.currency
    if code and (code not in _ISO_4217 or code in limits.non_money_currencies):
        yield FieldViolation(
            path, "currency.iso4217", f"{code!r} is not an ISO-4217 currency a shop can take"
        )


def _event_time(path: str, stamp, now: datetime, limits: Limits) -> Iterable[FieldViolation]:
    seconds = stamp.seconds
    if not seconds and not stamp.nanos:
        return  # absent: protovalidate's `required` reports it
    # Whole-second comparisons: Timestamp.ToDatetime costs more than every other check.
    now_s = now.timestamp()
    if seconds > now_s + limits.max_future_skew.total_seconds():
        when = stamp.ToDatetime(tzinfo=UTC)
        yield FieldViolation(
            path,
            "timestamp.not_future",
            f"{when.isoformat()} is more than {limits.max_future_skew} in the future",
        )
    elif seconds < now_s - limits.max_age.total_seconds():
        when = stamp.ToDatetime(tzinfo=UTC)
        yield FieldViolation(
            path,
            "timestamp.horizon",
            f"{when.isoformat()} is older than the {limits.max_age.days}-day horizon",
        )


def _transaction(txn: common_pb2.Transaction, now, limits) -> Iterable[FieldViolation]:
    currency = txn.amount.currency
    if txn.HasField("amount"):
        yield from _currency("amount.currency", txn.amount, limits)
        if txn.amount.amount_minor <= 0:
            yield FieldViolation(
                "amount.amount_minor", "amount.positive", "a payment's amount must be positive"
            )
    # One pass over the items: this runs for every record, on the ingestion hot path.
    total = 0
    for i, item in enumerate(txn.items):
        price = item.unit_price
        total += item.quantity * price.amount_minor
        if price.currency != currency:
            yield FieldViolation(
                f"items[{i}].unit_price.currency",
                "items.same_currency",
                f"line item in {price.currency!r}, payment in {currency!r}",
            )
    if txn.items and total != txn.amount.amount_minor:
        yield FieldViolation(
            "amount.amount_minor",
            "amount.sum_of_items",
            f"amount {txn.amount.amount_minor} differs from the line items' sum {total}",
        )
    yield from _event_time("occurred_at", txn.occurred_at, now, limits)


def _event(event: common_pb2.BehaviorEvent, now, limits) -> Iterable[FieldViolation]:
    yield from _event_time("occurred_at", event.occurred_at, now, limits)


def _product(product: common_pb2.Product, now, limits) -> Iterable[FieldViolation]:
    yield from _currency("price.currency", product.price, limits)
    if product.HasField("unit_cost"):
        yield from _currency("unit_cost.currency", product.unit_cost, limits)


def _customer(customer: common_pb2.Customer, now, limits) -> Iterable[FieldViolation]:
    signed_up = customer.signed_up_at
    if (signed_up.seconds or signed_up.nanos) and signed_up.ToDatetime(
        tzinfo=UTC
    ) > now + limits.max_future_skew:
        yield FieldViolation("signed_up_at", "timestamp.not_future", "sign-up is in the future")


_SEMANTIC = {
    common_pb2.Transaction.DESCRIPTOR.full_name: _transaction,
    common_pb2.BehaviorEvent.DESCRIPTOR.full_name: _event,
    common_pb2.Product.DESCRIPTOR.full_name: _product,
    common_pb2.Customer.DESCRIPTOR.full_name: _customer,
}


def record_violations(record: Message, now: datetime, limits: Limits) -> list[FieldViolation]:
    """Every rule `record` breaks: its protovalidate annotations, then the semantic rules."""
    found = violations_of(record)
    semantic = _SEMANTIC.get(record.DESCRIPTOR.full_name)
    if semantic is not None:
        found.extend(semantic(record, now, limits))
    return found


def _events_in_window(
    events: Sequence[common_pb2.BehaviorEvent], now: datetime, limits: Limits
) -> Iterator[tuple[int, list[FieldViolation]]]:
    # `_event` for a whole batch: one comparison per event, the rule only for the few outside.
    now_s = now.timestamp()
    latest = now_s + limits.max_future_skew.total_seconds()
    earliest = now_s - limits.max_age.total_seconds()
    for index, event in enumerate(events):
        seconds = event.occurred_at.seconds
        if seconds > latest or seconds < earliest:
            found = list(_event(event, now, limits))
            if found:
                yield index, found


def _one_by_one(semantic: Callable[..., Iterable[FieldViolation]]):
    def check(records: Sequence[Message], now: datetime, limits: Limits):
        for index, record in enumerate(records):
            found = list(semantic(record, now, limits))
            if found:
                yield index, found

    return check


_SEMANTIC_BATCH = {
    name: _events_in_window if semantic is _event else _one_by_one(semantic)
    for name, semantic in _SEMANTIC.items()
}


def batch_violations(
    request: Message, field: str, now: datetime, limits: Limits
) -> dict[int, list[FieldViolation]]:
    """`record_violations` of each record of the repeated `field` of `request`, by index.

    Valid records are absent. The compiled screen clears the records that are plainly
    valid; protovalidate judges the rest, one by one, so violations are always its own.
    """
    records = getattr(request, field)
    if not records:
        return {}
    descriptor = records[0].DESCRIPTOR
    screen = screen_for(descriptor)
    found: dict[int, list[FieldViolation]] = {}
    for index, record in enumerate(records):
        if screen is None or not screen(record):
            violations = violations_of(record)
            if violations:
                found[index] = violations
    semantic = _SEMANTIC_BATCH.get(descriptor.full_name)
    if semantic is not None:
        for index, violations in semantic(records, now, limits):
            found.setdefault(index, []).extend(violations)
    return found
