"""The simulator's public generation API: a world evolving day by day, emitted in time order.

`Simulation.stream()` yields `Timed` items (time, sequence, protobuf record, label) sorted by
time; `records()` and `split()` strip them down to messages and labels; `batches()` groups
messages per kind for the ingestion streams. Generation is pure: no clock, no sleeping, no
global random state, so the same settings give byte-identical records.
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta

import numpy as np

from ecap.v1 import common_pb2
from services.simulator import reference as ref
from services.simulator.clock import (
    DAY,
    HOUR,
    SECOND,
    day_intensity,
    from_us,
    holiday_factor,
    midnight,
    sample_local_offsets,
    to_us,
)
from services.simulator.config import SimulatorSettings
from services.simulator.fraud import FraudEngine, poisson
from services.simulator.journeys import Journeys, Visit
from services.simulator.records import Ids, Label, Record, Sink, Timed
from services.simulator.world import (
    CustomerProfile,
    DeviceProfile,
    Segment,
    Trip,
    World,
    ip_in,
    jitter,
    location_proto,
    new_device,
    shop_price,
)

_TRIP_START_PER_DAY = 0.002
_NEW_DEVICE_PER_DAY = 0.0015
_PRICE_CHANGE_PER_DAY = 0.01
_DELIST_PER_DAY = 0.0005
_LAUNCH_PER_DAY = 0.002
_RESTOCK_BELOW = 10
_SIGNUP_BUYING = 0.35
_FADE_DAYS = 30  # how long before churning a customer's activity starts to drop
_FADE_FLOOR = 0.15  # the share of their usual activity left just before they leave
_MOBILE = frozenset((common_pb2.DEVICE_TYPE_MOBILE, common_pb2.DEVICE_TYPE_APP))
# Settings that do not change what is generated, so they do not change record ids either.
_DELIVERY_SETTINGS = {"target", "token", "batch_size", "stream_records", "stream_timeout_s"}


def default_start(days: int, now: datetime | None = None) -> datetime:
    """Midnight UTC `days` days before today: a backfill that ends where live traffic begins."""
    return midnight(now or datetime.now(UTC)) - timedelta(days=days)


def _channel_tables() -> dict[tuple[bool, int], list[float]]:
    tables = {}
    for buying in (False, True):
        base = ref.CLOSING_CHANNEL_WEIGHTS if buying else ref.DISCOVERY_CHANNEL_WEIGHTS
        for acquired in ref.CHANNELS:
            # People come back the way they first came, a little more often than others do.
            weights = [
                w * (1.5 if c == acquired else 1.0) for c, w in zip(ref.CHANNELS, base, strict=True)
            ]
            tables[buying, acquired] = list(itertools.accumulate(weights))
    return tables


class Simulation:
    """One simulated shop from `start`, for `days` days or, with `endless`, for ever."""

    def __init__(
        self,
        settings: SimulatorSettings,
        *,
        start: datetime | None = None,
        days: int | None = None,
        endless: bool = False,
    ) -> None:
        self.settings = settings
        self.days = None if endless else (days if days is not None else settings.days)
        if start is None:
            start = settings.start or default_start(self.days or 0)
        self.start_us = to_us(start)
        seed = settings.seed
        run_key = json.dumps(
            [settings.model_dump(mode="json", exclude=_DELIVERY_SETTINGS | {"start", "days"}),
             self.start_us],
            sort_keys=True,
        )  # fmt: skip
        self.ids = Ids(run_key)
        self.world = World(settings, self.start_us)
        self.sink = Sink()
        self.rng = random.Random(f"{seed}:traffic")
        self.np_rng = np.random.default_rng([seed, 1])
        self.journeys = Journeys(self.world, self.ids, self.sink, self.rng, settings.currency)
        self.fraud = FraudEngine(
            self.world,
            self.journeys,
            self.sink,
            random.Random(f"{seed}:fraud"),
            settings.fraud,
            self.start_us,
        )
        self._channels = _channel_tables()
        self._released_us = self.start_us
        self._streamed = False

    def stream(self) -> Iterator[Timed]:
        """The simulation's records from `start` until `start + days`, in time order, labelled.

        Ties in time keep creation order. The world evolves as the stream is consumed, so a
        simulation streams once; build a new `Simulation` with the same settings to replay it.
        """
        if self._streamed:
            raise RuntimeError("a Simulation streams once; create another to replay it")
        self._streamed = True
        start = self.start_us
        currency = self.settings.currency
        for customer in self.world.customers:
            self.sink.emit(start, customer.to_proto(start))
        for product in self.world.catalog.products:
            self.sink.emit(start, product.to_proto(currency, start))
        day_indices = itertools.count() if self.days is None else range(self.days)
        for index in day_indices:
            day_start = start + index * DAY
            self._simulate_day(index, day_start, day_start + DAY)
            # Records after the last day stay behind: a backfill covers exactly its days, and
            # what its last sessions would do later is cut off, like any extract at a point in time.
            yield from self._release(day_start + DAY)

    def records(self) -> Iterator[Record]:
        """The protobuf records of `stream()`, without labels."""
        return (item.record for item in self.stream())

    def _release(self, until_us: int) -> Iterator[Timed]:
        """Hand out the pending records before `until_us`, in order; keep the later ones."""
        items = self.sink.items
        items.sort()  # (at_us, seq) is unique, so records themselves are never compared
        cut = bisect.bisect_left(items, (until_us,))
        if cut and items[0].at_us < self._released_us:
            raise RuntimeError(
                f"simulator bug: a record at {from_us(items[0].at_us)} was generated after "
                f"records up to {from_us(self._released_us)} were released"
            )
        ready, self.sink.items = items[:cut], items[cut:]
        if ready:
            self._released_us = ready[-1].at_us
        return iter(ready)

    # -- one day ---------------------------------------------------------------------------

    def _simulate_day(self, index: int, day_start: int, day_end: int) -> None:
        day = from_us(day_start).date()
        intensity = day_intensity(day)
        if index > 0:
            self._catalog_job(day_start)
        self._life_events(day_start)
        todays, sessions = self._customer_sessions(day_start, day, intensity)
        todays += self._signups(day_start, day, intensity)
        share = self.settings.anonymous_share
        self._anonymous_sessions(
            day_start, day, poisson_np(self.np_rng, sessions * share / (1 - share))
        )
        self.fraud.observe(todays)
        self.fraud.run_day(day_start, day_end, todays)

    def _times(self, day_start: int, utc_offsets_h: np.ndarray) -> np.ndarray:
        """Session start times in the day, following local hour-of-day patterns."""
        local = sample_local_offsets(self.np_rng, len(utc_offsets_h))
        since_midnight = day_start - to_us(midnight(from_us(day_start)))
        return (local - utc_offsets_h * HOUR - since_midnight) % DAY + day_start

    def _customer_sessions(
        self, day_start: int, day: date, intensity: float
    ) -> tuple[list[tuple[common_pb2.Transaction, CustomerProfile]], int]:
        customers = self.world.customers
        n = len(customers)
        signed_up = np.fromiter((c.signed_up_us for c in customers), np.int64, n)
        churn_at = np.fromiter((c.churn_at_us for c in customers), np.int64, n)
        rate = np.fromiter(
            (0.0 if c.fraudster else c.sessions_per_day for c in customers), np.float64, n
        )
        offsets = np.fromiter((c.home.utc_offset_h for c in customers), np.int64, n)
        # Customers about to churn fade out first, so churn shows in behaviour before it happens.
        to_churn_days = (churn_at - (day_start + DAY // 2)) / DAY
        fading = _FADE_FLOOR + (1 - _FADE_FLOOR) * to_churn_days / _FADE_DAYS
        activity = np.where(to_churn_days <= 0, 0.0, np.clip(fading, _FADE_FLOOR, 1.0))
        expected = rate * activity * intensity * (signed_up < day_start)
        who = np.repeat(np.arange(n), self.np_rng.poisson(expected))
        starts = self._times(day_start, offsets[who])
        buying_boost = min(1.5, holiday_factor(day) ** 0.5)
        rng = self.rng
        todays = []
        for index, start in zip(who.tolist(), starts.tolist(), strict=True):
            customer = customers[index]
            buying = rng.random() < customer.buy_propensity * buying_boost
            visit = self._visit(customer, start, buying)
            for transaction in self.journeys.session(visit, start, buying=buying, day=day):
                todays.append((transaction, customer))
        return todays, len(who)

    def _visit(self, customer: CustomerProfile, at_us: int, buying: bool) -> Visit:
        rng = self.rng
        cumulative = self._channels[buying, customer.acquisition_channel]
        channel = ref.CHANNELS[bisect.bisect(cumulative, rng.random() * cumulative[-1])]
        trip = customer.trip
        if trip is not None and trip.until_us > at_us:
            mobile = [d for d in customer.devices if d.proto.type in _MOBILE]
            device = (mobile or customer.devices)[0].proto
            return self.journeys.visit(customer, device, trip.ip, trip.location, channel)
        devices = customer.devices
        profile = devices[0] if len(devices) == 1 or rng.random() < 0.7 else rng.choice(devices)
        return self.journeys.visit(
            customer, profile.proto, profile.ip, customer.home_location, channel
        )

    def _signups(
        self, day_start: int, day: date, intensity: float
    ) -> list[tuple[common_pb2.Transaction, CustomerProfile]]:
        world = self.world
        # A steady inflow sized on the initial base keeps long live runs from emptying out.
        expected = self.settings.signup_rate * self.settings.customers * intensity
        count = poisson_np(self.np_rng, expected)
        todays = []
        for at in self._times(day_start, np.ones(count, np.int64)).tolist():
            customer = world.sign_up(at)
            self.sink.emit(at, customer.to_proto(at))
            buying = self.rng.random() < _SIGNUP_BUYING
            device = customer.devices[0]
            visit = self.journeys.visit(
                customer,
                device.proto,
                device.ip,
                customer.home_location,
                customer.acquisition_channel,
            )
            session = self.journeys.session(visit, at + SECOND, buying=buying, day=day)
            todays.extend((transaction, customer) for transaction in session)
        return todays

    def _anonymous_sessions(self, day_start: int, day: date, count: int) -> None:
        rng = self.rng
        countries = ref.HOME_COUNTRIES
        weights = [c.share for c in countries]
        visitors = [rng.choices(countries, weights)[0] for _ in range(count)]
        offsets = np.fromiter((v.cities[0].utc_offset_h for v in visitors), np.int64, count)
        discovery = list(itertools.accumulate(ref.DISCOVERY_CHANNEL_WEIGHTS))
        for country, start in zip(visitors, self._times(day_start, offsets).tolist(), strict=True):
            city = rng.choice(country.cities)
            device = new_device(rng, country.ip_octets)
            channel = ref.CHANNELS[bisect.bisect(discovery, rng.random() * discovery[-1])]
            location = location_proto(city, *jitter(rng, city, 6))
            visit = self.journeys.visit(None, device.proto, device.ip, location, channel)
            self.journeys.session(visit, start, buying=False, day=day)

    def _life_events(self, day_start: int) -> None:
        """Trips away from home and new phones: the honest reasons a profile looks different."""
        rng = self.rng
        customers = self.world.customers
        draws = self.np_rng.random((2, len(customers)))
        for index in np.nonzero(draws[0] < _TRIP_START_PER_DAY)[0].tolist():
            customer = customers[index]
            far = rng.random() < 0.2
            country = rng.choice(ref.FAR_COUNTRIES if far else ref.HOME_COUNTRIES)
            city = rng.choice(country.cities)
            if city == customer.home:
                continue
            customer.trip = Trip(
                until_us=day_start + rng.randint(2, 10) * DAY,
                location=location_proto(city, *jitter(rng, city, 5)),
                ip=ip_in(rng, country.ip_octets),
            )
        for index in np.nonzero(draws[1] < _NEW_DEVICE_PER_DAY)[0].tolist():
            customer = customers[index]
            if not customer.fraudster:
                device: DeviceProfile = new_device(rng, customer.country.ip_octets)
                customer.devices.insert(0, device)
        for customer in customers:
            if customer.trip is not None and customer.trip.until_us <= day_start:
                customer.trip = None
            if customer.segment is Segment.NEW and not customer.fraudster:
                self.world.graduate(customer, day_start)

    def _catalog_job(self, day_start: int) -> None:
        """The nightly catalogue run: restocks, price changes, delistings and launches."""
        world = self.world
        rng = world.rng
        catalog = world.catalog
        changed = []
        for product in catalog.products:
            if not product.active:
                continue
            if product.stock < _RESTOCK_BELOW:
                product.stock += rng.randrange(50, 300)
                changed.append(product)
            elif product.leaf.path[0] != "Gift Cards" and rng.random() < _PRICE_CHANGE_PER_DAY:
                factor = rng.uniform(0.75, 0.97) if rng.random() < 0.6 else rng.uniform(1.03, 1.15)
                product.price_minor = shop_price(rng, product.price_minor * factor / 100)
                changed.append(product)
            elif rng.random() < _DELIST_PER_DAY:
                product.active = False
                catalog.changed()
                changed.append(product)
        for _ in range(poisson(rng, len(catalog.products) * _LAUNCH_PER_DAY)):
            changed.append(world.launch_product())
        currency = self.settings.currency
        for product in changed:
            self.sink.emit(day_start, product.to_proto(currency, day_start))


def poisson_np(rng: np.random.Generator, mean: float) -> int:
    """One Poisson draw as a Python int."""
    return int(rng.poisson(mean))


def generate(
    settings: SimulatorSettings, *, start: datetime | None = None, days: int | None = None
) -> Iterator[Timed]:
    """A backfill's records with labels, in time order; `Simulation(...).stream()` in short."""
    return Simulation(settings, start=start, days=days).stream()


def split(items: Iterable[Timed]) -> tuple[list[Record], list[Label]]:
    """The records and the labels of `items`, each in time order."""
    records: list[Record] = []
    labels: list[Label] = []
    for item in items:
        records.append(item.record)
        if item.label is not None:
            labels.append(item.label)
    return records, labels


REFERENCE_KINDS: tuple[type, ...] = (common_pb2.Product, common_pb2.Customer)


def batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    """Group records into single-kind batches of at most `size`, keeping each kind in order.

    Pending products and customers are flushed before any transaction or event batch, so
    reference data reaches the ingestion no later than the records that mention it.
    """
    pending: dict[type, list[Record]] = {}
    for record in records:
        kind = type(record)
        batch = pending.setdefault(kind, [])
        batch.append(record)
        if len(batch) < size:
            continue
        if kind not in REFERENCE_KINDS:
            for reference_kind in REFERENCE_KINDS:
                if pending.get(reference_kind):
                    yield pending.pop(reference_kind)
        yield pending.pop(kind)
    for kind in (*REFERENCE_KINDS, common_pb2.Transaction, common_pb2.BehaviorEvent):
        if pending.get(kind):
            yield pending.pop(kind)
