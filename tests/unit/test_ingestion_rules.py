"""Ingestion's semantic rules and its deduplication window, as pure logic."""

from datetime import UTC, datetime, timedelta

import pytest

from ecap.v1 import common_pb2, ingestion_pb2
from services.ingestion.checks import Limits, batch_violations, record_violations
from services.ingestion.dedup import RecentIds

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = Limits(timedelta(minutes=5), timedelta(days=30), frozenset({"XXX", "XAU"}))


def _transaction(**changes) -> common_pb2.Transaction:
    txn = common_pb2.Transaction(
        transaction_id="t-1",
        customer_id="c-1",
        merchant_id="m-1",
        amount=common_pb2.Money(amount_minor=2500, currency="EUR"),
        items=[
            common_pb2.LineItem(
                product_id="p-1",
                quantity=2,
                unit_price=common_pb2.Money(amount_minor=1000, currency="EUR"),
            ),
            common_pb2.LineItem(
                product_id="p-2",
                quantity=1,
                unit_price=common_pb2.Money(amount_minor=500, currency="EUR"),
            ),
        ],
    )
    txn.occurred_at.FromDatetime(NOW - timedelta(minutes=1))
    for path, value in changes.items():
        target = txn
        *parents, leaf = path.split("__")
        for parent in parents:
            target = getattr(target, parent)
        setattr(target, leaf, value)
    return txn


def _rules(record) -> list[tuple[str, str]]:
    return [(v.field, v.rule) for v in record_violations(record, NOW, LIMITS)]


def test_a_consistent_transaction_passes():
    assert _rules(_transaction()) == []


def test_amount_must_equal_the_sum_of_line_items():
    assert _rules(_transaction(amount__amount_minor=2499)) == [
        ("amount.amount_minor", "amount.sum_of_items")
    ]


@pytest.mark.parametrize("code", ["ABC", "XXX", "XAU"])
def test_currency_must_be_iso_4217_money(code):
    txn = _transaction()
    txn.amount.currency = code
    for item in txn.items:
        item.unit_price.currency = code
    rules = _rules(txn)
    assert ("amount.currency", "currency.iso4217") in rules


def test_line_items_in_another_currency_are_rejected():
    txn = _transaction()
    txn.items[1].unit_price.currency = "USD"
    assert ("items[1].unit_price.currency", "items.same_currency") in _rules(txn)


def test_negative_amount_is_rejected():
    txn = _transaction()
    del txn.items[:]
    txn.amount.amount_minor = -100
    assert _rules(txn) == [("amount.amount_minor", "amount.positive")]


@pytest.mark.parametrize(
    ("offset", "rule"),
    [
        (timedelta(minutes=6), "timestamp.not_future"),
        (-timedelta(days=31), "timestamp.horizon"),
    ],
)
def test_event_time_window(offset, rule):
    txn = _transaction()
    txn.occurred_at.FromDatetime(NOW + offset)
    assert _rules(txn) == [("occurred_at", rule)]


def test_protovalidate_rules_come_first():
    txn = _transaction(customer_id="")
    assert _rules(txn)[0] == ("customer_id", "string.min_len")


def test_a_batch_is_judged_record_by_record():
    """One validation call for the batch, the same verdicts as one call per record."""
    missing = _transaction(customer_id="")
    future = _transaction()
    future.occurred_at.FromDatetime(NOW + timedelta(hours=1))
    both = _transaction(customer_id="", amount__amount_minor=2499)
    records = [_transaction(), missing, future, both, _transaction()]
    event = common_pb2.BehaviorEvent(event_id="e 1")  # bad id, no session, no time, no type
    request = ingestion_pb2.IngestBatchRequest(transactions=records, events=[event, event])
    expected = {i: record_violations(r, NOW, LIMITS) for i, r in enumerate(records)}
    assert batch_violations(request, "transactions", NOW, LIMITS) == {
        i: found for i, found in expected.items() if found
    }
    assert batch_violations(request, "events", NOW, LIMITS) == {
        i: record_violations(event, NOW, LIMITS) for i in (0, 1)
    }


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_claimed_ids_are_duplicates_until_released():
    recent = RecentIds(window_s=60, max_ids=10)
    assert recent.claim("a")
    assert not recent.claim("a")  # in flight
    recent.release(["a"])
    assert recent.claim("a")  # producing failed, so a resend is welcome


def test_confirmed_ids_are_remembered_for_the_window():
    clock = FakeClock()
    recent = RecentIds(window_s=60, max_ids=10, clock=clock)
    assert recent.claim("a")
    recent.confirm(["a"])
    clock.now = 59
    assert not recent.claim("a")
    clock.now = 61
    assert recent.claim("a")


def test_memory_is_bounded_by_max_ids():
    recent = RecentIds(window_s=3600, max_ids=3)
    for record_id in "abcde":
        assert recent.claim(record_id)
        recent.confirm([record_id])
    assert len(recent) == 3
    assert recent.claim("a")  # forgotten: the oldest went first
    assert not recent.claim("e")


def test_claiming_a_batch_skips_invalid_records_and_repeats():
    recent = RecentIds(window_s=60, max_ids=10)
    assert recent.claim("a")
    recent.confirm(["a"])
    assert recent.claim_each(["a", "b", "c", "b", "d"], skip={2}) == [
        False,  # confirmed before
        True,
        False,  # skipped: never claimed
        False,  # the batch's own repeat
        True,
    ]
    assert recent.claim("c")
    recent.release(["b"])
    assert recent.claim_each(["b", "d"]) == [True, False]


def test_an_id_confirmed_again_outlives_its_first_generation():
    clock = FakeClock()
    recent = RecentIds(window_s=60, max_ids=10, clock=clock)
    assert recent.claim_each(["a", "b"]) == [True, True]
    recent.confirm(["a", "b"])
    clock.now = 61  # their window passed: a resend of "a" is new again
    assert recent.claim("a")
    recent.confirm(["a"])
    clock.now = 100  # the first generation is forgotten, "a" of the second is not
    assert recent.claim("c")
    recent.confirm(["c"])
    assert len(recent) == 2
    assert recent.claim_each(["a", "b", "c"]) == [False, True, False]
