"""The simulator: deterministic, valid, and shaped like a real shop, with fraud ground truth."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from ecap.v1 import common_pb2 as pb
from services.mesh.validation import violations_of
from services.simulator.cli import app
from services.simulator.clock import DAY, HOUR, MINUTE, timestamp_us, to_us
from services.simulator.config import FraudRates, SimulatorSettings
from services.simulator.corrupt import (
    RULE_KNOWN_CURRENCY,
    RULE_NOT_FUTURE,
    RULE_SUM_OF_ITEMS,
    Corruption,
    invalid_records,
)
from services.simulator.generator import Simulation, batches, split
from services.simulator.pacing import ENDLESS_S, Pacer, paced
from services.simulator.parquet import read_parquet, write_parquet
from services.simulator.records import FRAUD_SCENARIOS, Scenario, Timed
from services.simulator.reference import COMPLEMENTS
from services.simulator.world import World

START = datetime(2025, 11, 3, tzinfo=UTC)  # a Monday; the month holds Black Friday
DAYS = 28
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")
PURCHASE = pb.BEHAVIOR_EVENT_TYPE_PURCHASE
BEGIN_CHECKOUT = pb.BEHAVIOR_EVENT_TYPE_BEGIN_CHECKOUT
TOUCH = pb.BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH


def small_settings(seed: int = 5, **overrides) -> SimulatorSettings:
    return SimulatorSettings(
        **{"customers": 800, "products": 200, "merchants": 20} | overrides, seed=seed
    )


@dataclass
class Backfill:
    items: list[Timed]
    world: World

    @property
    def records(self):
        return [item.record for item in self.items]

    def of(self, kind):
        return [item.record for item in self.items if isinstance(item.record, kind)]

    @property
    def labels(self):
        return [item.label for item in self.items if item.label is not None]


@pytest.fixture(scope="module")
def backfill() -> Backfill:
    simulation = Simulation(small_settings(), start=START, days=DAYS)
    return Backfill(list(simulation.stream()), simulation.world)


def _record_time(record) -> int:
    if isinstance(record, pb.Transaction | pb.BehaviorEvent):
        return timestamp_us(record.occurred_at)
    return timestamp_us(record.updated_at)


def _distance_km(a: pb.Location, b: pb.Location) -> float:
    lat1, lon1, lat2, lon2 = map(
        math.radians, (a.point.latitude, a.point.longitude, b.point.latitude, b.point.longitude)
    )
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


# -- determinism -------------------------------------------------------------------------------


def _first_bytes(seed: int, n: int) -> list[bytes]:
    stream = Simulation(small_settings(seed), start=START, days=DAYS).stream()
    return [
        item.record.SerializeToString(deterministic=True) for item in itertools.islice(stream, n)
    ]


def test_same_seed_gives_byte_identical_records_and_another_seed_does_not():
    first = _first_bytes(11, 5000)
    assert len(first) == 5000
    assert _first_bytes(11, 5000) == first
    other = _first_bytes(12, 5000)
    assert sum(a != b for a, b in zip(first, other, strict=True)) > 4000


def test_labels_are_deterministic_too():
    def labels(seed):
        simulation = Simulation(small_settings(seed), start=START, days=3)
        return split(simulation.stream())[1]

    assert labels(3) == labels(3)


# -- validity ----------------------------------------------------------------------------------


def test_every_record_passes_protovalidate(backfill):
    invalid = [(r, violations_of(r)) for r in backfill.records if violations_of(r)]
    assert invalid == []


def test_record_kinds_all_appear(backfill):
    kinds = Counter(type(r).__name__ for r in backfill.records)
    assert set(kinds) == {"Transaction", "BehaviorEvent", "Product", "Customer"}
    assert kinds["BehaviorEvent"] > kinds["Transaction"] > 0


def test_ids_are_well_formed(backfill):
    ids = []
    for record in backfill.records:
        if isinstance(record, pb.Transaction):
            ids += [
                record.transaction_id,
                record.customer_id,
                record.merchant_id,
                record.session_id,
            ]
        elif isinstance(record, pb.BehaviorEvent):
            ids += [record.event_id, record.session_id]
        elif isinstance(record, pb.Product):
            ids.append(record.product_id)
        else:
            ids.append(record.customer_id)
    assert all(ID_PATTERN.match(i) for i in ids)
    prefixes = {i.split("-")[0] for i in ids}
    assert prefixes == {"t", "c", "m", "s", "e", "p"}


def test_transaction_amount_is_exactly_the_sum_of_its_items(backfill):
    for transaction in backfill.of(pb.Transaction):
        assert transaction.items
        total = sum(i.quantity * i.unit_price.amount_minor for i in transaction.items)
        assert transaction.amount.amount_minor == total
        assert {i.unit_price.currency for i in transaction.items} == {transaction.amount.currency}


def test_records_come_in_time_order_and_carry_that_time(backfill):
    times = [item.at_us for item in backfill.items]
    assert times == sorted(times)
    assert all(_record_time(item.record) == item.at_us for item in backfill.items)
    assert times[0] == to_us(START)
    assert times[-1] < to_us(START) + DAYS * DAY, "a backfill covers exactly its days"


# -- journeys ----------------------------------------------------------------------------------


def _sessions(events):
    sessions = defaultdict(list)
    for event in events:
        sessions[event.session_id].append(event)
    return sessions


def test_session_events_are_ordered_and_purchases_follow_a_checkout(backfill):
    for events in _sessions(backfill.of(pb.BehaviorEvent)).values():
        stamps = [timestamp_us(e.occurred_at) for e in events]
        assert stamps == sorted(stamps)
        checked_out = False
        for event in events:
            checked_out |= event.type == BEGIN_CHECKOUT
            if event.type == PURCHASE:
                assert checked_out, events
        assert all(e.type != TOUCH for e in events[1:]), "a touch only ever opens a session"


def test_every_purchase_event_names_a_transaction_of_its_session(backfill):
    transactions = {t.transaction_id: t for t in backfill.of(pb.Transaction)}
    purchases = [e for e in backfill.of(pb.BehaviorEvent) if e.type == PURCHASE]
    assert len(purchases) == len(transactions)
    for event in purchases:
        transaction = transactions[event.transaction_id]
        assert transaction.session_id == event.session_id
        assert timestamp_us(transaction.occurred_at) <= timestamp_us(event.occurred_at)


def test_the_funnel_narrows_at_every_step(backfill):
    sessions = _sessions(backfill.of(pb.BehaviorEvent))
    reached = Counter(kind for events in sessions.values() for kind in {e.type for e in events})
    funnel = [
        pb.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW,
        pb.BEHAVIOR_EVENT_TYPE_ADD_TO_CART,
        BEGIN_CHECKOUT,
        PURCHASE,
    ]
    steps = [reached[kind] for kind in funnel]
    assert all(a > b for a, b in itertools.pairwise(steps)), steps
    assert 0.02 < reached[PURCHASE] / len(sessions) < 0.3
    assert reached[pb.BEHAVIOR_EVENT_TYPE_REMOVE_FROM_CART] > 0


def test_complementary_products_are_bought_together(backfill):
    world = backfill.world
    baskets = [
        {world.catalog.products[int(i.product_id[2:]) - 1].leaf.path[-1] for i in t.items}
        for t in backfill.of(pb.Transaction)
    ]
    n = len(baskets)
    support = Counter(leaf for basket in baskets for leaf in basket)
    pairs = Counter(frozenset(p) for b in baskets for p in itertools.combinations(sorted(b), 2))
    lift, pair = max(
        (pairs[p] * n / math.prod(support[leaf] for leaf in p), p) for p in pairs if pairs[p] >= 5
    )
    assert lift > 5, pair
    bundles = {frozenset((a, b)) for a, partners in COMPLEMENTS.items() for b in partners}
    assert pairs.most_common(1)[0][0] in bundles


def test_touches_precede_purchases_and_first_and_last_touch_differ(backfill):
    events = backfill.of(pb.BehaviorEvent)
    touches = defaultdict(list)  # customer -> [(time, channel)]
    first, last = Counter(), Counter()
    for event in events:
        if event.type == TOUCH and event.customer_id:
            assert event.touch.channel != pb.CHANNEL_UNSPECIFIED
            touches[event.customer_id].append(
                (timestamp_us(event.occurred_at), event.touch.channel)
            )
        elif event.type == PURCHASE:
            at = timestamp_us(event.occurred_at)
            path = [c for t, c in touches[event.customer_id] if at - 30 * DAY <= t <= at]
            if len(set(path)) >= 2:
                first[path[0]] += 1
                last[path[-1]] += 1
    assert sum(first.values()) > 50, "multi-touch paths must be common enough to attribute"
    awareness = (pb.CHANNEL_SOCIAL, pb.CHANNEL_DISPLAY)
    assert sum(first[c] for c in awareness) > 1.5 * sum(last[c] for c in awareness)


# -- time patterns and behaviour ---------------------------------------------------------------


def test_daytime_is_busier_than_the_night(backfill):
    by_hour = Counter(
        (timestamp_us(e.occurred_at) // HOUR) % 24 for e in backfill.of(pb.BehaviorEvent)
    )
    day = sum(by_hour[h] for h in range(9, 21)) / 12
    night = sum(by_hour[h] for h in range(1, 5)) / 4
    assert day > 4 * night


def test_black_friday_outsells_an_ordinary_friday(backfill):
    per_day = Counter(
        (timestamp_us(t.occurred_at) - to_us(START)) // DAY for t in backfill.of(pb.Transaction)
    )
    black_friday, ordinary_friday = 25, 4  # 28 and 7 November 2025
    assert per_day[black_friday] > 1.5 * per_day[ordinary_friday]


def test_high_churn_hazard_customers_stop_buying_sooner(backfill):
    start = to_us(START)
    half = start + DAYS * DAY // 2
    buyers = defaultdict(set)
    for transaction in backfill.of(pb.Transaction):
        buyers[timestamp_us(transaction.occurred_at) >= half].add(transaction.customer_id)
    early = sorted(
        (c for c in backfill.world.customers if c.customer_id in buyers[False] and not c.fraudster),
        key=lambda c: c.churn_hazard,
    )
    assert len(early) > 80
    middle = len(early) // 2

    def still_buying(customers):
        return sum(c.customer_id in buyers[True] for c in customers) / len(customers)

    assert still_buying(early[middle:]) < 0.75 * still_buying(early[:middle])


def test_catalogue_changes_over_time(backfill):
    products = backfill.of(pb.Product)
    start = to_us(START)
    snapshot = {p.product_id: p for p in products if timestamp_us(p.updated_at) == start}
    later = [p for p in products if timestamp_us(p.updated_at) > start]
    assert len(snapshot) == 200
    assert any(p.product_id not in snapshot for p in later), "new products launch"
    assert any(
        p.product_id in snapshot
        and p.price.amount_minor != snapshot[p.product_id].price.amount_minor
        for p in later
    ), "prices change"


# -- fraud ground truth ------------------------------------------------------------------------


def test_every_transaction_has_one_label_and_every_scenario_appears(backfill):
    transactions = {t.transaction_id: t for t in backfill.of(pb.Transaction)}
    labels = backfill.labels
    assert sorted(label.transaction_id for label in labels) == sorted(transactions)
    assert all(label.label == int(label.scenario is not Scenario.LEGIT) for label in labels)
    assert all(
        label.occurred_at_us == timestamp_us(transactions[label.transaction_id].occurred_at)
        for label in labels
    )
    fraud = Counter(label.scenario for label in labels if label.label)
    assert set(fraud) == set(FRAUD_SCENARIOS)
    # Rates are per day, not per customer: a shop this small has a high share of fraud.
    assert 0 < sum(fraud.values()) / len(labels) < 0.25


def _fraud(backfill, scenario):
    ids = {label.transaction_id for label in backfill.labels if label.scenario is scenario}
    return [t for t in backfill.of(pb.Transaction) if t.transaction_id in ids]


def test_card_testing_is_a_burst_of_small_amounts_on_one_card(backfill):
    by_card = defaultdict(list)
    for transaction in _fraud(backfill, Scenario.CARD_TESTING):
        if transaction.amount.amount_minor <= 1000:
            by_card[transaction.card_fingerprint].append(timestamp_us(transaction.occurred_at))
    burst = max(by_card.values(), key=len)
    assert len(burst) >= 8 and max(burst) - min(burst) < HOUR


def test_account_takeover_comes_from_an_unseen_device_abroad(backfill):
    customers = {c.customer_id: c for c in backfill.world.customers}
    takeovers = _fraud(backfill, Scenario.ACCOUNT_TAKEOVER)
    assert takeovers
    for transaction in takeovers:
        customer = customers[transaction.customer_id]
        assert transaction.device.device_id not in {d.device_id for d in customer.devices}
        assert transaction.location.country != customer.home.country


def test_impossible_travel_follows_a_payment_far_away_within_hours(backfill):
    earlier = defaultdict(list)
    for transaction in backfill.of(pb.Transaction):
        earlier[transaction.card_fingerprint].append(transaction)
    cases = _fraud(backfill, Scenario.IMPOSSIBLE_TRAVEL)
    assert cases
    for fraud in cases:
        at = timestamp_us(fraud.occurred_at)
        before = [
            t
            for t in earlier[fraud.card_fingerprint]
            if at - 2 * HOUR - MINUTE <= timestamp_us(t.occurred_at) < at
        ]
        assert any(_distance_km(t.location, fraud.location) > 3000 for t in before)


def test_a_compromised_merchant_is_hit_on_several_days(backfill):
    days = defaultdict(set)
    for transaction in _fraud(backfill, Scenario.COMPROMISED_MERCHANT):
        days[transaction.merchant_id].add(timestamp_us(transaction.occurred_at) // DAY)
    assert max(len(d) for d in days.values()) >= 2


def test_high_amount_fraud_dwarfs_the_typical_order(backfill):
    legit = sorted(
        t.amount.amount_minor
        for t in backfill.of(pb.Transaction)
        if t.transaction_id
        not in {label.transaction_id for label in backfill.labels if label.label}
    )
    median = legit[len(legit) // 2]
    assert all(t.amount.amount_minor > 10 * median for t in _fraud(backfill, Scenario.HIGH_AMOUNT))


# -- batching, pacing, export ------------------------------------------------------------------


def test_batches_are_single_kind_bounded_and_keep_each_kind_in_order(backfill):
    records = backfill.records[:20_000]
    grouped = list(batches(records, 500))
    assert all(len(b) <= 500 and len({type(r) for r in b}) == 1 for b in grouped)
    for kind in (pb.Transaction, pb.BehaviorEvent, pb.Product, pb.Customer):
        flat = [r for b in grouped if isinstance(b[0], kind) for r in b]
        assert flat == [r for r in records if isinstance(r, kind)]
    first_event_batch = next(i for i, b in enumerate(grouped) if isinstance(b[0], pb.BehaviorEvent))
    assert {type(b[0]) for b in grouped[:first_event_batch]} <= {pb.Customer, pb.Product}


def test_pacer_counts_records_due_and_stops_at_the_total():
    pacer = Pacer(rate=200, duration_s=2.5)
    assert [pacer.allowance(s) for s in (-1, 0, 0.5, 1, 2.5, 60)] == [0, 0, 100, 200, 500, 500]
    with pytest.raises(ValueError, match="rate"):
        Pacer(rate=0, duration_s=1)
    assert not pacer.endless


def test_a_pacer_of_endless_length_runs_until_interrupted():
    pacer = Pacer(rate=200, duration_s=ENDLESS_S)
    assert pacer.endless
    assert pacer.allowance(3600) == 720_000


def test_paced_release_restamps_records_to_the_wall_clock_without_sleeping():
    simulation = Simulation(small_settings(), start=START, endless=True)
    fake = {"now": 0.0}
    wall0 = to_us(datetime(2030, 1, 1, tzinfo=UTC))

    async def sleep(seconds):
        fake["now"] += seconds

    async def collect():
        chunks = paced(
            simulation.stream(),
            Pacer(rate=1000, duration_s=3),
            clock=lambda: fake["now"],
            wall_us=lambda: wall0 + int(fake["now"] * 1e6),
            sleep=sleep,
        )
        return [item async for chunk in chunks for item in chunk]

    released = asyncio.run(collect())
    assert len(released) == 3000
    stamps = [item.at_us for item in released]
    assert stamps == sorted(set(stamps)) and wall0 < stamps[0] and stamps[-1] <= wall0 + 3_100_000
    assert all(_record_time(item.record) == item.at_us for item in released)
    assert all(item.label.occurred_at_us == item.at_us for item in released if item.label)


def test_parquet_round_trip(tmp_path):
    simulation = Simulation(small_settings(customers=200), start=START, days=5)
    records, labels = split(simulation.stream())
    paths = write_parquet(tmp_path, records, labels, simulation.world)
    transactions = [r for r in records if isinstance(r, pb.Transaction)]

    table = read_parquet(paths["transactions"])
    assert list(table["transaction_id"]) == [t.transaction_id for t in transactions]
    assert list(table["amount_minor"]) == [t.amount.amount_minor for t in transactions]
    assert list(table["card_fingerprint"].fillna("")) == [t.card_fingerprint for t in transactions]
    assert str(table["occurred_at"].dt.tz) in {"UTC", "Etc/UTC"}
    first = transactions[0]
    row = table.iloc[0]
    assert (row.country, row.latitude, row.device_id, row.channel) == (
        first.location.country,
        first.location.point.latitude,
        first.device.device_id,
        pb.Channel.Name(first.channel),
    )
    items = read_parquet(paths["transaction_items"])
    sums = (items.quantity * items.unit_price_minor).groupby(items.transaction_id).sum()
    assert sums.loc[table.transaction_id].tolist() == table.amount_minor.tolist()

    events = read_parquet(paths["events"])
    assert len(events) == sum(isinstance(r, pb.BehaviorEvent) for r in records)
    assert events.customer_id.isna().any(), "anonymous visitors have no customer id"
    read_labels = read_parquet(paths["labels"])
    assert list(read_labels.transaction_id) == [label.transaction_id for label in labels]
    assert list(read_labels.scenario) == [label.scenario.value for label in labels]
    truth = read_parquet(paths["customer_truth"])
    assert len(truth) == len(simulation.world.customers)
    products = read_parquet(paths["products"])
    assert list(products.category_path.iloc[0]) == list(
        next(r for r in records if isinstance(r, pb.Product)).category_path
    )


# -- invalid records ---------------------------------------------------------------------------


def test_invalid_records_break_exactly_as_they_say(backfill):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    broken = invalid_records(random.Random(1), 3 * len(Corruption), valid=backfill.records, now=now)
    assert {b.corruption for b in broken} == set(Corruption)
    for case in broken:
        found = {(v.field, v.rule) for v in violations_of(case.record)}
        if case.protovalidate:
            assert (case.field, case.rule) in found, (case.corruption, found)
            continue
        assert found == set(), case.corruption
        record = case.record
        if case.rule == RULE_SUM_OF_ITEMS:
            total = sum(i.quantity * i.unit_price.amount_minor for i in record.items)
            assert record.amount.amount_minor != total
        elif case.rule == RULE_KNOWN_CURRENCY:
            assert record.amount.currency == "XXX"
        else:
            assert case.rule == RULE_NOT_FUTURE
            assert timestamp_us(record.occurred_at) > to_us(now) + 7 * DAY


def test_invalid_records_never_reuse_a_valid_id(backfill):
    valid_ids = {item.record.SerializeToString() for item in backfill.items[:2000]}
    broken = invalid_records(random.Random(2), 50, valid=backfill.records[:2000])
    assert all(b.record.SerializeToString() not in valid_ids for b in broken)
    ids = [b.record_id for b in broken if b.record_id]
    assert len(set(ids)) == len(ids)


# -- settings and command line -----------------------------------------------------------------


def test_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ECAP_SIMULATOR_SEED", "99")
    monkeypatch.setenv("ECAP_SIMULATOR_FRAUD__CARD_TESTING_PER_DAY", "2.5")
    settings = SimulatorSettings()
    assert settings.seed == 99
    assert settings.fraud == FraudRates(card_testing_per_day=2.5)


def test_simulate_command_writes_parquet(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "--seed",
            "4",
            "--customers",
            "60",
            "--days",
            "2",
            "--start",
            "2025-06-02",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "transactions.parquet").is_file()
    assert (tmp_path / "labels.parquet").is_file()


def test_simulate_command_refuses_days_with_duration(tmp_path):
    result = CliRunner().invoke(app, ["--days", "2", "--duration", "5", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert "not both" in result.output
