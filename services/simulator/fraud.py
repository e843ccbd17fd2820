"""Fraud scenarios with ground truth: card testing, account takeover, compromised merchants,
impossible travel and plain high-amount anomalies.

Each scenario produces ordinary-looking records (sessions, profile changes, transactions); only
the labels, kept outside the stream, say which transactions were fraud and why.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from ecap.v1 import common_pb2
from services.simulator import reference as ref
from services.simulator.clock import DAY, HOUR, MINUTE, SECOND, timestamp_us
from services.simulator.config import FraudRates
from services.simulator.journeys import Journeys
from services.simulator.records import Scenario, Sink
from services.simulator.world import (
    CatalogProduct,
    CustomerProfile,
    World,
    jitter,
    location_proto,
    new_device,
    slug,
)

CARD = common_pb2.PAYMENT_METHOD_CARD
DIRECT = common_pb2.CHANNEL_DIRECT
SMALL_AMOUNT_MINOR = 1000  # card testers probe with amounts a cardholder will not notice
ESTABLISHED_US = 60 * DAY


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw for the small means used here (Knuth's method)."""
    limit, k, p = math.exp(-mean), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class Schedule:
    """When one scenario strikes: one occurrence per `1 / rate` days, at a random point of it.

    A jittered grid rather than a Poisson process, so that any stretch of `1 / rate` days
    contains the scenario, which keeps short backfills useful for training and tests.
    """

    def __init__(self, rng: random.Random, rate_per_day: float, start_us: int) -> None:
        self._rng = rng
        self._period = DAY / rate_per_day
        self._slot_start = float(start_us)
        self._next = self._draw()

    def _draw(self) -> int:
        return int(self._slot_start + self._rng.random() * self._period)

    def due(self, until_us: int) -> list[int]:
        """Occurrence times before `until_us` not returned before."""
        times = []
        while self._next < until_us:
            times.append(self._next)
            self._slot_start += self._period
            self._next = self._draw()
        return times


@dataclass(slots=True)
class Compromise:
    """A merchant whose customers' cards are being charged by fraudsters."""

    merchant_id: str
    since_us: int
    until_us: int
    per_day: float
    accounts: list[CustomerProfile]
    victims: list[CustomerProfile]


class FraudEngine:
    """Starts scheduled scenarios and carries the multi-day ones forward."""

    def __init__(
        self,
        world: World,
        journeys: Journeys,
        sink: Sink,
        rng: random.Random,
        rates: FraudRates,
        start_us: int,
    ) -> None:
        self.world = world
        self.journeys = journeys
        self.sink = sink
        self.rng = rng
        self._schedules = {
            scenario: Schedule(rng, rate, start_us)
            for scenario, rate in (
                (Scenario.CARD_TESTING, rates.card_testing_per_day),
                (Scenario.ACCOUNT_TAKEOVER, rates.account_takeover_per_day),
                (Scenario.COMPROMISED_MERCHANT, rates.compromised_merchant_per_day),
                (Scenario.IMPOSSIBLE_TRAVEL, rates.impossible_travel_per_day),
                (Scenario.HIGH_AMOUNT, rates.high_amount_per_day),
            )
            if rate > 0
        }
        self._buyers: dict[str, deque[CustomerProfile]] = {}
        self._compromises: list[Compromise] = []

    def observe(self, transactions: list[tuple[common_pb2.Transaction, CustomerProfile]]) -> None:
        """Remember who bought where: compromised merchants leak their own customers' cards."""
        for transaction, customer in transactions:
            if transaction.payment_method == CARD:
                buyers = self._buyers.setdefault(transaction.merchant_id, deque(maxlen=200))
                buyers.append(customer)

    def run_day(
        self,
        day_start_us: int,
        day_end_us: int,
        todays: list[tuple[common_pb2.Transaction, CustomerProfile]],
    ) -> None:
        """Play every scenario due in the day, given the day's honest transactions."""
        for scenario, schedule in self._schedules.items():
            for at in schedule.due(day_end_us):
                if scenario is Scenario.CARD_TESTING:
                    self._card_testing(at)
                elif scenario is Scenario.ACCOUNT_TAKEOVER:
                    self._account_takeover(at)
                elif scenario is Scenario.COMPROMISED_MERCHANT:
                    self._compromise(at)
                elif scenario is Scenario.IMPOSSIBLE_TRAVEL:
                    self._impossible_travel(at, todays)
                else:
                    self._high_amount(at)
        self._compromised_purchases(day_start_us, day_end_us)

    # -- helpers ---------------------------------------------------------------------------

    def _established(self, at_us: int) -> CustomerProfile:
        """A long-standing, still active customer: the kind worth attacking."""
        customers = self.world.customers
        for _ in range(100):
            customer = customers[self.rng.randrange(len(customers))]
            if (
                not customer.fraudster
                and customer.signed_up_us < at_us - ESTABLISHED_US
                and customer.churn_at_us > at_us
            ):
                return customer
        return next(c for c in customers if not c.fraudster)

    def _far_place(self) -> tuple[common_pb2.Location, tuple[int, ...]]:
        country = self.rng.choice(ref.FAR_COUNTRIES)
        city = self.rng.choice(country.cities)
        return location_proto(city, *jitter(self.rng, city, 10)), country.ip_octets

    def _priced(self, *, cheap: bool, merchant_id: str | None = None) -> list[CatalogProduct]:
        """Cheap products (under 10.00) or the top price decile, optionally of one merchant."""
        products = [
            p
            for p in self.world.catalog.products
            if p.active and (merchant_id is None or p.merchant_id == merchant_id)
        ]
        if cheap:
            small = [p for p in products if p.price_minor <= SMALL_AMOUNT_MINOR]
            return small or sorted(products, key=lambda p: p.price_minor)[:5]
        products.sort(key=lambda p: p.price_minor)
        return products[len(products) * 9 // 10 :] or products[-1:]

    def _stored_payment(self, customer: CustomerProfile) -> tuple[int, str]:
        if customer.payment_method == common_pb2.PAYMENT_METHOD_WALLET:
            return customer.payment_method, customer.wallet
        return CARD, customer.cards[0]

    # -- scenarios -------------------------------------------------------------------------

    def _card_testing(self, at: int) -> None:
        """A fresh account probes a stolen card with a burst of tiny purchases, then cashes out."""
        rng, journeys = self.rng, self.journeys
        fraudster = self.world.fraudster_account(at)
        self.sink.emit(at, fraudster.to_proto(at))
        card = self._established(at).cards[0]
        merchant_id = rng.choice(self._priced(cheap=True)).merchant_id
        probes = self._priced(cheap=True, merchant_id=merchant_id)
        device = fraudster.devices[0]
        location, _ = self._far_place()
        visit = journeys.visit(fraudster, device.proto, device.ip, location, DIRECT)
        t = at + rng.randrange(30, 300) * SECOND
        journeys.page(visit, t, "/")
        t += rng.randrange(2, 10) * SECOND
        for _ in range(rng.randint(8, 25)):
            lines = [(rng.choice(probes), 1)]
            _, t = journeys.scripted_purchase(
                visit, t, lines, Scenario.CARD_TESTING, (CARD, card), browse=False, pace=0.05
            )
            t += rng.randrange(5, 60) * SECOND
        if rng.random() < 0.6:  # the card works: spend it before the owner notices
            t += rng.randrange(5, 30) * MINUTE
            visit = journeys.visit(fraudster, device.proto, device.ip, location, DIRECT)
            lines = [(rng.choice(self._priced(cheap=False)), 1)]
            journeys.scripted_purchase(visit, t, lines, Scenario.CARD_TESTING, (CARD, card))

    def _account_takeover(self, at: int) -> None:
        """Stolen credentials: a new device abroad, the e-mail changed, then expensive orders."""
        rng, journeys = self.rng, self.journeys
        victim = self._established(at)
        location, octets = self._far_place()
        device = new_device(rng, octets, common_pb2.DEVICE_TYPE_DESKTOP)
        payment = self._stored_payment(victim)
        visit = journeys.visit(victim, device.proto, device.ip, location, DIRECT)
        t = at
        journeys.page(visit, t, "/account/login")
        t += rng.randrange(20, 90) * SECOND
        hijacked = victim.to_proto(t)
        hijacked.email = f"{slug(victim.full_name, '')[:10]}{rng.randrange(10, 99)}@" + rng.choice(
            ref.DISPOSABLE_EMAIL_DOMAINS
        )
        self.sink.emit(t, hijacked)
        journeys.page(visit, t + SECOND, "/account/settings")
        t += rng.randrange(30, 180) * SECOND
        expensive = self._priced(cheap=False)
        lines = [(p, rng.randint(1, 2)) for p in rng.sample(expensive, min(2, len(expensive)))]
        _, t = journeys.scripted_purchase(
            visit, t, lines[: rng.randint(1, 2)], Scenario.ACCOUNT_TAKEOVER, payment, pace=0.5
        )
        for _ in range(rng.randint(0, 2)):
            t += rng.randrange(1 * HOUR, 6 * HOUR)
            visit = journeys.visit(victim, device.proto, device.ip, location, DIRECT)
            lines = [(rng.choice(expensive), 1)]
            _, t = journeys.scripted_purchase(
                visit, t, lines, Scenario.ACCOUNT_TAKEOVER, payment, pace=0.5
            )
        recovered = t + rng.randrange(6 * HOUR, 20 * HOUR)  # the owner gets the account back
        self.sink.emit(recovered, victim.to_proto(recovered))

    def _compromise(self, at: int) -> None:
        """A merchant leaks its customers' cards; fraudsters charge them there for days."""
        rng = self.rng
        leaking = [(m, list(b)) for m, b in self._buyers.items() if len(b) >= 3]
        if leaking:
            merchant_id, victims = rng.choices(leaking, [len(b) for _, b in leaking])[0]
        else:
            merchant_id = rng.choice(self.world.merchants).merchant_id
            victims = [self._established(at) for _ in range(10)]
        accounts = []
        for i in range(rng.randint(2, 3)):
            account = self.world.fraudster_account(at + i * MINUTE)
            self.sink.emit(at + i * MINUTE, account.to_proto(at + i * MINUTE))
            accounts.append(account)
        days = rng.randint(3, 7)
        self._compromises.append(
            Compromise(merchant_id, at, at + days * DAY, rng.uniform(2, 5), accounts, victims)
        )

    def _compromised_purchases(self, day_start_us: int, day_end_us: int) -> None:
        rng, journeys = self.rng, self.journeys
        for compromise in self._compromises:
            since = max(compromise.since_us + 10 * MINUTE, day_start_us)
            until = min(compromise.until_us, day_end_us)
            if since >= until:
                continue
            goods = self._priced(cheap=False, merchant_id=compromise.merchant_id) or (
                self._priced(cheap=False)
            )
            for _ in range(poisson(rng, compromise.per_day * (until - since) / DAY)):
                account = rng.choice(compromise.accounts)
                victim = rng.choice(compromise.victims)
                device = account.devices[0]
                location, _ = self._far_place()
                visit = journeys.visit(account, device.proto, device.ip, location, DIRECT)
                lines = [(rng.choice(goods), rng.randint(1, 2))]
                journeys.scripted_purchase(
                    visit,
                    rng.randrange(since, until),
                    lines,
                    Scenario.COMPROMISED_MERCHANT,
                    (CARD, victim.cards[0]),
                    pace=0.3,
                )
        self._compromises = [c for c in self._compromises if c.until_us > day_end_us]

    def _impossible_travel(
        self, at: int, todays: list[tuple[common_pb2.Transaction, CustomerProfile]]
    ) -> None:
        """A cloned card used on another continent shortly after the owner paid at home."""
        rng, journeys = self.rng, self.journeys
        candidates = [
            (t, c) for t, c in todays if t.card_fingerprint and c.trip is None and not c.fraudster
        ]
        if candidates:
            paid, victim = rng.choice(candidates)
            base = timestamp_us(paid.occurred_at)
            payment = (paid.payment_method, paid.card_fingerprint)
        else:
            victim = self._established(at)
            device = victim.devices[0]
            payment = self._stored_payment(victim)
            visit = journeys.visit(victim, device.proto, device.ip, victim.home_location, DIRECT)
            lines = [(rng.choice(self.world.catalog.active()), 1)]
            _, base = journeys.scripted_purchase(visit, at, lines, Scenario.LEGIT, payment)
        location, octets = self._far_place()
        device = new_device(rng, octets, common_pb2.DEVICE_TYPE_MOBILE)
        visit = journeys.visit(victim, device.proto, device.ip, location, DIRECT)
        lines = [(rng.choice(self._priced(cheap=False)), 1)]
        t = base + rng.randrange(10 * MINUTE, 2 * HOUR)
        journeys.scripted_purchase(visit, t, lines, Scenario.IMPOSSIBLE_TRAVEL, payment, pace=0.5)

    def _high_amount(self, at: int) -> None:
        """A customer's own device and home, and an order many times their usual size."""
        rng, journeys = self.rng, self.journeys
        victim = self._established(at)
        device = victim.devices[0]
        visit = journeys.visit(victim, device.proto, device.ip, victim.home_location, DIRECT)
        lines = [(rng.choice(self._priced(cheap=False)), rng.randint(2, 5))]
        payment = victim.card_for_payment(rng)
        journeys.scripted_purchase(visit, at, lines, Scenario.HIGH_AMOUNT, payment)
