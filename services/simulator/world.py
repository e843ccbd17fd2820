"""The simulated shop's world: customers, merchants and the product catalogue.

The world is built once from the seed and then mutated by the generator as simulated time
passes (sign-ups, trips, new devices, price changes, launches, stock). Hidden traits that the
platform must infer (segment, churn hazard, churn time) live on the profiles here and never in
the records the shop emits.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeVar

from faker import Faker

from ecap.v1 import common_pb2
from services.simulator import reference as ref
from services.simulator.clock import DAY, set_timestamp
from services.simulator.config import SimulatorSettings
from services.simulator.reference import City, Leaf

TOPS: tuple[str, ...] = tuple(dict.fromkeys(leaf.path[0] for leaf in ref.LEAVES))
GIFT_CARDS = "Gift Cards"
_BROWSED_TOPS: tuple[str, ...] = tuple(top for top in TOPS if top != GIFT_CARDS)
_LEAF_BY_NAME: dict[str, Leaf] = {leaf.path[-1]: leaf for leaf in ref.LEAVES}


class Segment(StrEnum):
    """A customer's latent behaviour segment."""

    NEW = "new"
    OCCASIONAL = "occasional"
    REGULAR = "regular"
    LOYAL = "loyal"
    POWER = "power"


@dataclass(frozen=True, slots=True)
class SegmentProfile:
    """How a segment behaves: its share, visit rate, purchase propensity and churn hazard."""

    share: float
    sessions_per_day: float
    buy_propensity: float  # probability that a session is a buying session
    median_hazard: float  # per day


SEGMENTS: dict[Segment, SegmentProfile] = {
    Segment.NEW: SegmentProfile(0.08, 0.15, 0.14, 0.040),
    Segment.OCCASIONAL: SegmentProfile(0.37, 0.04, 0.12, 0.030),
    Segment.REGULAR: SegmentProfile(0.30, 0.12, 0.20, 0.012),
    Segment.LOYAL: SegmentProfile(0.18, 0.22, 0.26, 0.006),
    Segment.POWER: SegmentProfile(0.07, 0.50, 0.30, 0.003),
}
# Bought-in customers leave sooner than those who came on their own.
_CHANNEL_HAZARD: dict[int, float] = {
    common_pb2.CHANNEL_DIRECT: 0.8,
    common_pb2.CHANNEL_ORGANIC_SEARCH: 0.9,
    common_pb2.CHANNEL_PAID_SEARCH: 1.0,
    common_pb2.CHANNEL_SOCIAL: 1.15,
    common_pb2.CHANNEL_EMAIL: 0.9,
    common_pb2.CHANNEL_AFFILIATE: 1.35,
    common_pb2.CHANNEL_DISPLAY: 1.25,
    common_pb2.CHANNEL_REFERRAL: 0.85,
}
_NAMES_PER_LOCALE = 400
NEW_FOR_US = 30 * DAY  # how long a customer counts as new
HAZARD_SPREAD = 1.0  # log-normal sigma of individual churn hazards around the segment median
_PAYMENT_METHODS: tuple[int, ...] = (
    common_pb2.PAYMENT_METHOD_CARD,
    common_pb2.PAYMENT_METHOD_WALLET,
    common_pb2.PAYMENT_METHOD_BUY_NOW_PAY_LATER,
    common_pb2.PAYMENT_METHOD_BANK_TRANSFER,
    common_pb2.PAYMENT_METHOD_GIFT_CARD,
)
_PAYMENT_WEIGHTS: tuple[float, ...] = (0.62, 0.20, 0.08, 0.05, 0.05)
_DEVICE_KINDS = tuple(ref.DEVICE_TYPE_SHARES)
_DEVICE_CUMULATIVE = list(itertools.accumulate(ref.DEVICE_TYPE_SHARES.values()))
_DEVICE_CUMULATIVE[-1] = 1.0
T = TypeVar("T")


def pick(rng: random.Random, items: Sequence[T]) -> T:
    """A uniformly chosen item; `rng.choice` without its overhead, for the hot paths."""
    return items[int(rng.random() * len(items))]


def _buy_propensity(profile: SegmentProfile, hazard: float) -> float:
    # Customers on their way out buy less when they do visit.
    return min(0.9, profile.buy_propensity * math.exp(-4 * hazard))


def ip_in(rng: random.Random, octets: tuple[int, ...]) -> str:
    """A random IPv4 address whose first octet is one of `octets`."""
    host = rng.getrandbits(24)
    return f"{pick(rng, octets)}.{host >> 16}.{(host >> 8) & 255}.{1 + (host & 255) % 254}"


def location_proto(city: City, latitude: float, longitude: float) -> common_pb2.Location:
    """A `Location` message for a point in `city`."""
    return common_pb2.Location(
        country=city.country,
        region=city.region,
        city=city.city,
        point=common_pb2.GeoPoint(latitude=latitude, longitude=longitude),
    )


def jitter(rng: random.Random, city: City, km: float) -> tuple[float, float]:
    """A point about `km` kilometres around the centre of `city`, rounded to ~10 m."""
    lat = city.latitude + rng.gauss(0, km / 111)
    lon = city.longitude + rng.gauss(0, km / (111 * max(math.cos(math.radians(lat)), 0.1)))
    return round(max(-90.0, min(90.0, lat)), 4), round(max(-180.0, min(180.0, lon)), 4)


@dataclass(slots=True)
class DeviceProfile:
    """A device a person uses, with the IP it is usually seen from."""

    proto: common_pb2.Device
    ip: str

    @property
    def device_id(self) -> str:
        """The device fingerprint."""
        return self.proto.device_id


def new_device(rng: random.Random, ip_octets: tuple[int, ...], kind: int | None = None):
    """A fresh device of `kind` (default: drawn from the market shares) on an IP in the range."""
    if kind is None:
        kind = _DEVICE_KINDS[bisect.bisect(_DEVICE_CUMULATIVE, rng.random())]
    systems, agents = ref.DEVICE_KINDS[kind]
    proto = common_pb2.Device(
        device_id=f"d-{rng.getrandbits(48):012x}",
        type=kind,
        os=pick(rng, systems),
        user_agent=pick(rng, agents),
    )
    return DeviceProfile(proto, ip_in(rng, ip_octets))


@dataclass(slots=True)
class Trip:
    """A stretch of days a customer shops from somewhere else."""

    until_us: int
    location: common_pb2.Location
    ip: str


@dataclass(slots=True)
class CustomerProfile:
    """A customer: the public profile plus the hidden traits that drive behaviour."""

    index: int
    customer_id: str
    full_name: str
    email: str
    country: ref.Country
    home: City
    home_location: common_pb2.Location
    signed_up_us: int
    segment: Segment
    acquisition_channel: int
    devices: list[DeviceProfile]
    cards: list[str]
    wallet: str
    payment_method: int
    churn_hazard: float
    churn_at_us: int
    sessions_per_day: float
    buy_propensity: float
    preferences: list[float]  # cumulative weights over TOPS
    trip: Trip | None = None
    fraudster: bool = False

    def to_proto(self, updated_at_us: int) -> common_pb2.Customer:
        """The profile as the shop publishes it."""
        message = common_pb2.Customer(
            customer_id=self.customer_id,
            email=self.email,
            full_name=self.full_name,
            acquisition_channel=self.acquisition_channel,
        )
        message.home.CopyFrom(self.home_location)
        set_timestamp(message.signed_up_at, self.signed_up_us)
        set_timestamp(message.updated_at, updated_at_us)
        return message

    def card_for_payment(self, rng: random.Random) -> tuple[int, str]:
        """The payment method and card (or wallet token) fingerprint of the next payment."""
        method = self.payment_method
        if method == common_pb2.PAYMENT_METHOD_CARD:
            card = self.cards[0] if len(self.cards) == 1 or rng.random() < 0.85 else self.cards[1]
            return method, card
        if method == common_pb2.PAYMENT_METHOD_WALLET:
            return method, self.wallet
        return method, ""


@dataclass(frozen=True, slots=True)
class Merchant:
    """A marketplace seller; plays the part of the payment terminal."""

    merchant_id: str
    name: str
    country: str
    tops: tuple[str, ...]


@dataclass(slots=True)
class CatalogProduct:
    """A product's current state."""

    index: int
    product_id: str
    name: str
    leaf: Leaf
    brand: str
    price_minor: int
    cost_minor: int
    stock: int
    merchant_id: str
    popularity: float
    active: bool = True
    complements: tuple[int, ...] = ()
    url: str = ""

    def __post_init__(self) -> None:
        self.url = f"{ref.SHOP_URL}/p/{self.product_id}"

    def to_proto(self, currency: str, updated_at_us: int) -> common_pb2.Product:
        """The product as the catalogue publishes it."""
        message = common_pb2.Product(
            product_id=self.product_id,
            name=self.name,
            category_path=self.leaf.path,
            brand=self.brand,
            price=common_pb2.Money(amount_minor=self.price_minor, currency=currency),
            unit_cost=common_pb2.Money(amount_minor=self.cost_minor, currency=currency),
            stock=self.stock,
            active=self.active,
        )
        set_timestamp(message.updated_at, updated_at_us)
        return message


def shop_price(rng: random.Random, euros: float) -> int:
    """A shop-like price in cents near `euros`: 19.99, 24.49, 4.95."""
    whole = max(1, round(euros))
    cents = rng.choices((99, 49, 95, 0), (0.6, 0.2, 0.1, 0.1))[0]
    return whole * 100 - 100 + cents if cents else whole * 100


@dataclass(slots=True)
class _Pool:
    indices: list[int] = field(default_factory=list)
    cumulative: list[float] = field(default_factory=list)

    def pick(self, rng: random.Random) -> int:
        return self.indices[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


class Catalog:
    """The products, with popularity-weighted sampling by top-level category and by leaf."""

    def __init__(self, products: list[CatalogProduct]) -> None:
        self.products = products
        self._by_top: dict[str, _Pool] = {}
        self._by_leaf: dict[str, _Pool] = {}
        self._dirty = True

    def add(self, product: CatalogProduct) -> None:
        """Launch a product."""
        self.products.append(product)
        self._dirty = True

    def changed(self) -> None:
        """Note that availability or popularity changed, so samplers are rebuilt."""
        self._dirty = True

    def _rebuild(self) -> None:
        by_top: dict[str, _Pool] = {}
        by_leaf: dict[str, _Pool] = {}
        for product in self.products:
            if not product.active:
                continue
            for key, pools in ((product.leaf.path[0], by_top), (product.leaf.path[-1], by_leaf)):
                pool = pools.setdefault(key, _Pool())
                total = pool.cumulative[-1] if pool.cumulative else 0.0
                pool.indices.append(product.index)
                pool.cumulative.append(total + product.popularity)
        self._by_top, self._by_leaf, self._dirty = by_top, by_leaf, False

    def pick_in_top(self, rng: random.Random, top: str) -> CatalogProduct:
        """A popular active product of a top-level category."""
        if self._dirty:
            self._rebuild()
        # A category can run empty after delistings; shoppers then look elsewhere.
        pool = self._by_top.get(top) or next(iter(self._by_top.values()))
        return self.products[pool.pick(rng)]

    def pick_in_leaf(self, rng: random.Random, leaf: str) -> CatalogProduct | None:
        """A popular active product of a leaf category, if it has any."""
        if self._dirty:
            self._rebuild()
        pool = self._by_leaf.get(leaf)
        return self.products[pool.pick(rng)] if pool else None

    def active(self) -> list[CatalogProduct]:
        """The products on sale."""
        return [p for p in self.products if p.active]


@functools.cache
def _faker() -> Faker:
    # Building a multi-locale Faker takes seconds; every world shares one and seeds per use.
    return Faker([country.locale for country in ref.HOME_COUNTRIES])


@functools.cache
def slug(text: str, separator: str = "-") -> str:
    """`text` as lower-case ASCII for URLs and e-mail addresses: "Home & Küche" → "home-kuche"."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", separator, ascii_text.lower()).strip(separator) or "user"


class World:
    """Customers, merchants and catalogue of one simulation, plus the rules that grow them."""

    def __init__(self, settings: SimulatorSettings, start_us: int) -> None:
        self.settings = settings
        self.seed = settings.seed
        self.rng = random.Random(f"{settings.seed}:world")
        self._emails: set[str] = set()
        self._name_pools: dict[str, tuple[list[str], list[str]]] = {}
        self._country_weights = tuple(c.share for c in ref.HOME_COUNTRIES)
        self.merchants = self._build_merchants(settings.merchants)
        self.catalog = Catalog([])
        for index in range(settings.products):
            self.catalog.add(self.new_product(index))
        self._link_complements(self.catalog.products, self.catalog.products)
        self.customers: list[CustomerProfile] = []
        for _ in range(settings.customers):
            self.customers.append(self._existing_customer(start_us))

    # -- merchants -------------------------------------------------------------------------

    def _build_merchants(self, count: int) -> list[Merchant]:
        rng = self.rng
        merchants = []
        for i in range(count):
            country = rng.choices(ref.HOME_COUNTRIES, self._country_weights)[0]
            fake = _faker()[country.locale]
            fake.seed_instance(f"{self.seed}:m:{i}")
            # Every category gets a seller before any seller gets a second category.
            first = TOPS[i % len(TOPS)]
            tops = (first,) if i < len(TOPS) or rng.random() < 0.6 else (first, rng.choice(TOPS))
            merchants.append(
                Merchant(f"m-{i + 1:04d}", fake.company(), country.code, tuple(dict.fromkeys(tops)))
            )
        self._sellers: dict[str, tuple[list[Merchant], list[float]]] = {}
        for top in TOPS:
            sellers = [m for m in merchants if top in m.tops] or merchants
            # A few big sellers and a long tail, as on every marketplace.
            weights = list(
                itertools.accumulate(1 / (rank + 1) ** 0.9 for rank in range(len(sellers)))
            )
            self._sellers[top] = (sellers, weights)
        return merchants

    def seller_for(self, top: str) -> Merchant:
        """A merchant selling in `top`, big sellers more often."""
        sellers, cumulative = self._sellers[top]
        return sellers[bisect.bisect(cumulative, self.rng.random() * cumulative[-1])]

    # -- catalogue -------------------------------------------------------------------------

    def new_product(self, index: int) -> CatalogProduct:
        """A new product; the first ones cover every leaf category once."""
        rng = self.rng
        leaf = ref.LEAVES[index] if index < len(ref.LEAVES) else rng.choice(ref.LEAVES)
        top = leaf.path[0]
        brand = rng.choice(ref.brands_of(top))
        if top == GIFT_CARDS:
            euros = rng.choice(ref.GIFT_CARD_DENOMINATIONS_EUR)
            price = euros * 100
            name = f"{brand} {leaf.noun} {euros}"
        else:
            low, high = leaf.price_eur
            price = shop_price(rng, math.exp(rng.uniform(math.log(low), math.log(high))))
            name = f"{brand} {leaf.noun} {rng.choice(ref.MODEL_WORDS)}"
            if rng.random() < 0.6:
                name += (
                    f" {rng.randrange(2, 30) * 10 if rng.random() < 0.5 else rng.randrange(2, 9)}"
                )
        margin = rng.uniform(*leaf.margin)
        return CatalogProduct(
            index=index,
            product_id=f"p-{index + 1:05d}",
            name=name,
            leaf=leaf,
            brand=brand,
            price_minor=price,
            cost_minor=max(1, round(price * (1 - margin))),
            stock=rng.randrange(20, 400),
            merchant_id=self.seller_for(top).merchant_id,
            popularity=math.exp(rng.gauss(0, 1.0)),
        )

    def _link_complements(
        self, anchors: list[CatalogProduct], products: list[CatalogProduct]
    ) -> None:
        rng = self.rng
        by_leaf: dict[str, list[CatalogProduct]] = {}
        for product in products:
            if product.active:
                by_leaf.setdefault(product.leaf.path[-1], []).append(product)
        for product in anchors:
            partners = []
            for leaf in ref.COMPLEMENTS.get(product.leaf.path[-1], ()):
                candidates = by_leaf.get(leaf, [])
                # Bundles are put together by one seller, so baskets stay with one merchant.
                same_seller = [c for c in candidates if c.merchant_id == product.merchant_id]
                pool = same_seller or candidates
                if pool:
                    partners.append(max(pool, key=lambda c: c.popularity * rng.random()).index)
            product.complements = tuple(partners)

    def launch_product(self) -> CatalogProduct:
        """Add a new product to the catalogue, linked to existing complements."""
        product = self.new_product(len(self.catalog.products))
        self.catalog.add(product)
        self._link_complements([product], self.catalog.products)
        return product

    # -- customers -------------------------------------------------------------------------

    def _existing_customer(self, start_us: int) -> CustomerProfile:
        rng = self.rng
        segments = tuple(SEGMENTS)
        segment = rng.choices(segments, tuple(p.share for p in SEGMENTS.values()))[0]
        if segment is Segment.NEW:
            signed_up = start_us - rng.randrange(1, NEW_FOR_US)
        else:
            signed_up = start_us - rng.randrange(30 * DAY, 3 * 365 * DAY)
        return self._customer(segment, signed_up, start_us)

    def sign_up(self, at_us: int, *, channel: int | None = None) -> CustomerProfile:
        """A customer who signs up at `at_us`."""
        customer = self._customer(Segment.NEW, at_us, at_us, channel=channel)
        self.customers.append(customer)
        return customer

    def graduate(self, customer: CustomerProfile, at_us: int) -> None:
        """After its first month, a new customer settles into a lasting segment."""
        if at_us - customer.signed_up_us < NEW_FOR_US:
            return
        rng = self.rng
        segments = [s for s in SEGMENTS if s is not Segment.NEW]
        segment = rng.choices(segments, [SEGMENTS[s].share for s in segments])[0]
        profile = SEGMENTS[segment]
        customer.segment = segment
        # Surviving so far says nothing about the rest: exponential lifetimes are memoryless.
        customer.churn_hazard = self._hazard(profile, customer.acquisition_channel)
        customer.churn_at_us = at_us + round(rng.expovariate(customer.churn_hazard) * DAY)
        customer.sessions_per_day = profile.sessions_per_day * math.exp(rng.gauss(0, 0.4))
        customer.buy_propensity = _buy_propensity(profile, customer.churn_hazard)

    def _hazard(self, profile: SegmentProfile, channel: int) -> float:
        spread = math.exp(self.rng.gauss(0, HAZARD_SPREAD))
        return profile.median_hazard * _CHANNEL_HAZARD[channel] * spread

    def fraudster_account(self, at_us: int) -> CustomerProfile:
        """A throw-away account opened by a fraudster from a hosting provider."""
        customer = self._customer(Segment.NEW, at_us, at_us, channel=common_pb2.CHANNEL_DIRECT)
        rng = self.rng
        local = f"{slug(customer.full_name, '')[:8]}{rng.randrange(1000, 9999)}"
        customer.email = f"{local}@{rng.choice(ref.DISPOSABLE_EMAIL_DOMAINS)}"
        customer.devices = [new_device(rng, ref.DATACENTER_OCTETS, common_pb2.DEVICE_TYPE_DESKTOP)]
        customer.sessions_per_day = 0.0
        customer.churn_at_us = at_us + DAY
        customer.fraudster = True
        self.customers.append(customer)
        return customer

    def _customer(
        self, segment: Segment, signed_up_us: int, churn_from_us: int, *, channel: int | None = None
    ) -> CustomerProfile:
        rng = self.rng
        index = len(self.customers)
        country = rng.choices(ref.HOME_COUNTRIES, self._country_weights)[0]
        home = rng.choice(country.cities)
        lat, lon = jitter(rng, home, 6)
        firsts, lasts = self._names(country.locale)
        first, last = pick(rng, firsts), pick(rng, lasts)
        profile = SEGMENTS[segment]
        if channel is None:
            channel = rng.choices(ref.CHANNELS, ref.ACQUISITION_CHANNEL_WEIGHTS)[0]
        hazard = self._hazard(profile, channel)
        devices = [new_device(rng, country.ip_octets)]
        if rng.random() < 0.45:
            devices.append(new_device(rng, country.ip_octets))
        preferences = [1.0] * len(TOPS)
        for top in rng.sample(range(len(TOPS)), 3):
            preferences[top] = rng.uniform(3, 8)
        preferences[TOPS.index(GIFT_CARDS)] = 0.15
        return CustomerProfile(
            index=index,
            customer_id=f"c-{index + 1:06d}",
            full_name=f"{first} {last}",
            email=self._email(rng, first, last),
            country=country,
            home=home,
            home_location=location_proto(home, lat, lon),
            signed_up_us=signed_up_us,
            segment=segment,
            acquisition_channel=channel,
            devices=devices,
            cards=[f"fp-{rng.getrandbits(96):024x}" for _ in range(1 + (rng.random() < 0.3))],
            wallet=f"wt-{rng.getrandbits(96):024x}",
            payment_method=rng.choices(_PAYMENT_METHODS, _PAYMENT_WEIGHTS)[0],
            churn_hazard=hazard,
            churn_at_us=churn_from_us + round(rng.expovariate(hazard) * DAY),
            sessions_per_day=profile.sessions_per_day * math.exp(rng.gauss(0, 0.4)),
            buy_propensity=_buy_propensity(profile, hazard),
            preferences=list(itertools.accumulate(preferences)),
        )

    def _email(self, rng: random.Random, first: str, last: str) -> str:
        local = f"{slug(first, '')}.{slug(last, '')}"
        if rng.random() < 0.6:
            local += str(rng.randrange(1, 99))
        email = f"{local}@{rng.choice(ref.FREE_EMAIL_DOMAINS)}"
        while email in self._emails:
            email = f"{local}{rng.randrange(100, 9999)}@{rng.choice(ref.FREE_EMAIL_DOMAINS)}"
        self._emails.add(email)
        return email

    def _names(self, locale: str) -> tuple[list[str], list[str]]:
        """First and last names of a locale, drawn from Faker once per world."""
        names = self._name_pools.get(locale)
        if names is None:
            # Faker's weighted name lists are slow to draw from one by one; a pool per locale
            # keeps sign-ups cheap while names stay Faker's and depend only on the seed.
            fake = _faker()[locale]
            fake.seed_instance(f"{self.seed}:names:{locale}")
            names = (
                [fake.first_name() for _ in range(_NAMES_PER_LOCALE)],
                [fake.last_name() for _ in range(_NAMES_PER_LOCALE)],
            )
            self._name_pools[locale] = names
        return names

    def preferred_top(self, rng: random.Random, customer: CustomerProfile | None) -> str:
        """A top-level category this customer (or an anonymous visitor) browses."""
        if customer is None:
            return _BROWSED_TOPS[rng.randrange(len(_BROWSED_TOPS))]
        cumulative = customer.preferences
        return TOPS[bisect.bisect(cumulative, rng.random() * cumulative[-1])]


def leaf_named(name: str) -> Leaf:
    """The leaf category called `name`."""
    return _LEAF_BY_NAME[name]
