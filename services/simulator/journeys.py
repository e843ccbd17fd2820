"""Sessions: the marketing touch that opens one, its walk through the funnel, its purchases.

A session is a Markov walk over behaviour-event types. Buying sessions lean towards the cart
and checkout; browsing sessions mostly look and leave, sometimes after filling a cart. Carts of
several sellers are split into one transaction per seller, as marketplaces do.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import date
from itertools import accumulate

from ecap.v1 import common_pb2
from services.simulator import reference as ref
from services.simulator.clock import DAY, SECOND, campaign_season, set_timestamp
from services.simulator.records import Ids, Label, Scenario, Sink
from services.simulator.world import TOPS, CatalogProduct, CustomerProfile, World, pick, slug

E = common_pb2
PAGE_VIEW = E.BEHAVIOR_EVENT_TYPE_PAGE_VIEW
PRODUCT_VIEW = E.BEHAVIOR_EVENT_TYPE_PRODUCT_VIEW
SEARCH = E.BEHAVIOR_EVENT_TYPE_SEARCH
ADD_TO_CART = E.BEHAVIOR_EVENT_TYPE_ADD_TO_CART
REMOVE_FROM_CART = E.BEHAVIOR_EVENT_TYPE_REMOVE_FROM_CART
BEGIN_CHECKOUT = E.BEHAVIOR_EVENT_TYPE_BEGIN_CHECKOUT
PURCHASE = E.BEHAVIOR_EVENT_TYPE_PURCHASE
MARKETING_TOUCH = E.BEHAVIOR_EVENT_TYPE_MARKETING_TOUCH
EXIT = 0  # leaving the site; not an event
_BehaviorEvent = common_pb2.BehaviorEvent

Transitions = dict[int, tuple[tuple[int, ...], list[float]]]


def _table(rows: dict[int, dict[int, float]]) -> Transitions:
    tables = {}
    for state, nxt in rows.items():
        total = sum(nxt.values())
        cumulative = [c / total for c in accumulate(nxt.values())]
        cumulative[-1] = 1.0  # rounding must never let random() fall past the last state
        tables[state] = (tuple(nxt), cumulative)
    return tables


BROWSING: Transitions = _table({
    PAGE_VIEW: {PAGE_VIEW: 0.25, SEARCH: 0.20, PRODUCT_VIEW: 0.35, EXIT: 0.20},
    SEARCH: {PRODUCT_VIEW: 0.65, SEARCH: 0.10, PAGE_VIEW: 0.05, EXIT: 0.20},
    PRODUCT_VIEW: {
        PRODUCT_VIEW: 0.35, SEARCH: 0.08, PAGE_VIEW: 0.07, ADD_TO_CART: 0.10, EXIT: 0.40,
    },
    ADD_TO_CART: {PRODUCT_VIEW: 0.35, REMOVE_FROM_CART: 0.15, BEGIN_CHECKOUT: 0.12, EXIT: 0.38},
    REMOVE_FROM_CART: {PRODUCT_VIEW: 0.40, EXIT: 0.60},
    BEGIN_CHECKOUT: {EXIT: 1.0},
})  # fmt: skip
BUYING: Transitions = _table({
    PAGE_VIEW: {PAGE_VIEW: 0.10, SEARCH: 0.30, PRODUCT_VIEW: 0.60},
    SEARCH: {PRODUCT_VIEW: 0.85, SEARCH: 0.15},
    PRODUCT_VIEW: {
        PRODUCT_VIEW: 0.35, SEARCH: 0.10, PAGE_VIEW: 0.05, ADD_TO_CART: 0.45, EXIT: 0.05,
    },
    ADD_TO_CART: {PRODUCT_VIEW: 0.30, BEGIN_CHECKOUT: 0.55, REMOVE_FROM_CART: 0.05, EXIT: 0.10},
    REMOVE_FROM_CART: {PRODUCT_VIEW: 0.50, BEGIN_CHECKOUT: 0.40, EXIT: 0.10},
    BEGIN_CHECKOUT: {PURCHASE: 0.85, EXIT: 0.15},
})  # fmt: skip
# Mean seconds spent on a step before the next one.
DWELL_S: dict[int, float] = {
    PAGE_VIEW: 20, SEARCH: 12, PRODUCT_VIEW: 35, ADD_TO_CART: 15, REMOVE_FROM_CART: 10,
    BEGIN_CHECKOUT: 50, MARKETING_TOUCH: 10,
}  # fmt: skip
_DWELL_RATE = {state: 1 / seconds for state, seconds in DWELL_S.items()}
MAX_STEPS = 40
_QUANTITIES = ((1, 2, 3), (0.90, 0.98, 1.0))  # cumulative
_CONSUMABLE_QUANTITIES = ((1, 2, 3, 4), (0.50, 0.75, 0.90, 1.0))
_LEAVES_BY_TOP = {top: tuple(leaf for leaf in ref.LEAVES if leaf.path[0] == top) for top in TOPS}
_CATEGORY_PATHS = {
    top: tuple(f"/c/{slug(top)}/{slug(leaf.path[1])}" for leaf in leaves)
    for top, leaves in _LEAVES_BY_TOP.items()
}
_SEASONAL_CHANNELS = frozenset((E.CHANNEL_PAID_SEARCH, E.CHANNEL_SOCIAL, E.CHANNEL_EMAIL,
                                E.CHANNEL_DISPLAY))  # fmt: skip
_CHURN_NOTICE_US = 21 * DAY


@dataclass(slots=True)
class Visit:
    """One session's fixed context: who, on which device, from where, through which channel."""

    session_id: str
    customer: CustomerProfile | None
    device: common_pb2.Device
    ip: str
    location: common_pb2.Location
    channel: int
    template: common_pb2.BehaviorEvent  # the fields every event of the session shares


class Journeys:
    """Builds sessions and purchases into a `Sink`."""

    def __init__(
        self, world: World, ids: Ids, sink: Sink, rng: random.Random, currency: str
    ) -> None:
        self.world = world
        self.ids = ids
        self.sink = sink
        self.rng = rng
        self.currency = currency
        self._emit = sink.emit
        self._event_id = ids.event
        self._expovariate = rng.expovariate

    def visit(
        self,
        customer: CustomerProfile | None,
        device: common_pb2.Device,
        ip: str,
        location: common_pb2.Location,
        channel: int,
    ) -> Visit:
        """Open a session."""
        session_id = self.ids.session()
        template = common_pb2.BehaviorEvent(
            session_id=session_id,
            customer_id=customer.customer_id if customer else "",
            ip_address=ip,
        )
        template.device.CopyFrom(device)
        template.location.CopyFrom(location)
        return Visit(session_id, customer, device, ip, location, channel, template)

    # -- events ----------------------------------------------------------------------------

    def _event(self, visit: Visit, kind: int, at_us: int) -> common_pb2.BehaviorEvent:
        """Emit a new event of the session; the caller fills in the kind-specific fields."""
        # The hot path: copying a prepared template is several times faster than building the
        # nested device and location messages for every event.
        event = _BehaviorEvent()
        event.CopyFrom(visit.template)
        event.event_id = self._event_id()
        event.type = kind
        stamp = event.occurred_at
        stamp.seconds, micros = divmod(at_us, SECOND)
        stamp.nanos = micros * 1000
        self._emit(at_us, event)
        return event

    def page(self, visit: Visit, at_us: int, path: str) -> None:
        """A page view of `path`."""
        event = self._event(visit, PAGE_VIEW, at_us)
        event.page_url = ref.SHOP_URL + path

    def product_view(self, visit: Visit, at_us: int, product: CatalogProduct) -> None:
        """A product detail page view."""
        event = self._event(visit, PRODUCT_VIEW, at_us)
        event.page_url = product.url
        event.product_id = product.product_id

    def _cart(self, visit: Visit, kind: int, at_us: int, product_id: str, quantity: int) -> None:
        event = self._event(visit, kind, at_us)
        event.page_url = f"{ref.SHOP_URL}/cart"
        event.product_id = product_id
        event.quantity = quantity

    def begin_checkout(self, visit: Visit, at_us: int) -> None:
        """The shopper starts checking out."""
        event = self._event(visit, BEGIN_CHECKOUT, at_us)
        event.page_url = f"{ref.SHOP_URL}/checkout"

    def touch(self, visit: Visit, at_us: int, day: date, top: str) -> None:
        """The marketing touchpoint (ad click, e-mail link, ...) that brought the visitor."""
        rng = self.rng
        channel = visit.channel
        utm = ref.UTM[channel]
        season = campaign_season(day)
        customer = visit.customer
        if season and channel in _SEASONAL_CHANNELS and rng.random() < 0.6:
            campaign = season
        elif (
            channel == E.CHANNEL_EMAIL
            and customer is not None
            and customer.churn_at_us - at_us < _CHURN_NOTICE_US
            and rng.random() < 0.5
        ):
            campaign = "win-back"  # CRM notices who is drifting away, as real CRM does
        else:
            campaign = pick(rng, utm.campaigns)
            if campaign == "generic":
                campaign = f"generic-{slug(top)}"
        event = self._event(visit, MARKETING_TOUCH, at_us)
        source = pick(rng, utm.sources)
        touch = event.touch
        touch.channel = channel
        touch.utm_source = source
        touch.utm_medium = utm.medium
        query = f"utm_source={source}&utm_medium={utm.medium}"
        if campaign:
            touch.campaign = campaign.replace("-", " ").title()
            touch.utm_campaign = campaign
            query += f"&utm_campaign={campaign}"
        event.page_url = f"{ref.SHOP_URL}/?{query}"

    def _dwell(self, state: int, scale: float = 1.0) -> int:
        seconds = min(self._expovariate(_DWELL_RATE[state] / scale), 600.0)
        return SECOND + int(seconds * SECOND)

    def quantity(self, product: CatalogProduct) -> int:
        """How many units of `product` a shopper puts in the cart."""
        values, cumulative = _CONSUMABLE_QUANTITIES if product.leaf.consumable else _QUANTITIES
        return values[bisect(cumulative, self.rng.random())]

    # -- sessions --------------------------------------------------------------------------

    def session(
        self, visit: Visit, start_us: int, *, buying: bool, day: date
    ) -> list[common_pb2.Transaction]:
        """An organic session from its touch (at `start_us`) to exit or purchase.

        Returns the session's transactions. Nothing of the session happens before `start_us`.
        """
        rng = self.rng
        world = self.world
        catalog = world.catalog
        customer = visit.customer
        top = world.preferred_top(rng, customer)
        t = start_us
        if visit.channel != E.CHANNEL_DIRECT:
            self.touch(visit, t, day, top)
            t += SECOND + int(rng.random() * 30 * SECOND)  # from the click to the landing page
        self.page(visit, t, "/" if visit.channel == E.CHANNEL_DIRECT else f"/c/{slug(top)}")
        table = BUYING if buying and customer is not None else BROWSING
        state = PAGE_VIEW
        cart: dict[int, int] = {}
        product: CatalogProduct | None = None
        leaf = None
        for _ in range(MAX_STEPS):
            choices, cumulative = table[state]
            nxt = choices[bisect(cumulative, rng.random())]
            if nxt in (REMOVE_FROM_CART, BEGIN_CHECKOUT) and not cart:
                nxt = EXIT
            if nxt == EXIT:
                break
            t += self._dwell(state)
            if nxt == PAGE_VIEW:
                top = world.preferred_top(rng, customer)
                self.page(visit, t, pick(rng, _CATEGORY_PATHS[top]))
                leaf = None
            elif nxt == SEARCH:
                leaf = pick(rng, _LEAVES_BY_TOP[top])
                query = leaf.noun.lower()
                if rng.random() < 0.3:
                    query = f"{rng.choice(ref.brands_of(top))} {query}".lower()
                event = self._event(visit, SEARCH, t)
                event.search_query = query
                event.page_url = f"{ref.SHOP_URL}/search?q={query.replace(' ', '+')}"
            elif nxt == PRODUCT_VIEW:
                found = catalog.pick_in_leaf(rng, leaf.path[-1]) if leaf else None
                product = found or catalog.pick_in_top(rng, world.preferred_top(rng, customer))
                self.product_view(visit, t, product)
            elif nxt == ADD_TO_CART:
                assert product is not None  # ADD_TO_CART only follows PRODUCT_VIEW
                quantity = self.quantity(product)
                cart[product.index] = cart.get(product.index, 0) + quantity
                self._cart(visit, ADD_TO_CART, t, product.product_id, quantity)
                t = self._complement(visit, t, product, cart, 0.55 if buying else 0.2)
            elif nxt == REMOVE_FROM_CART:
                index = rng.choice(list(cart))
                quantity = cart.pop(index)
                self._cart(visit, REMOVE_FROM_CART, t, catalog.products[index].product_id, quantity)
            elif nxt == BEGIN_CHECKOUT:
                self.begin_checkout(visit, t)
            elif nxt == PURCHASE:
                assert customer is not None
                payment = customer.card_for_payment(rng)
                lines = [(catalog.products[i], q) for i, q in cart.items()]
                return self.purchase(visit, t, lines, Scenario.LEGIT, payment)[0]
            state = nxt
        return []

    def _complement(
        self, visit: Visit, t: int, product: CatalogProduct, cart: dict[int, int], chance: float
    ) -> int:
        """Maybe view and add a product bought with `product`; returns the new time."""
        if not product.complements or self.rng.random() >= chance:
            return t
        partner = self.world.catalog.products[pick(self.rng, product.complements)]
        if not partner.active or partner.index in cart:
            return t
        t += self._dwell(ADD_TO_CART)
        self.product_view(visit, t, partner)
        t += self._dwell(PRODUCT_VIEW, 0.5)
        quantity = self.quantity(partner)
        cart[partner.index] = quantity
        self._cart(visit, ADD_TO_CART, t, partner.product_id, quantity)
        return t

    def scripted_purchase(
        self,
        visit: Visit,
        at_us: int,
        lines: list[tuple[CatalogProduct, int]],
        scenario: Scenario,
        payment: tuple[int, str],
        *,
        browse: bool = True,
        pace: float = 1.0,
    ) -> tuple[list[common_pb2.Transaction], int]:
        """A direct path to checkout for given lines (fraud, scripts); returns txns and end time.

        `pace` scales the dwell times: bots are fast (0.05), a person in a hurry about 0.5.
        """
        t = at_us
        for product, quantity in lines:
            if browse:
                self.product_view(visit, t, product)
                t += self._dwell(PRODUCT_VIEW, pace)
            self._cart(visit, ADD_TO_CART, t, product.product_id, quantity)
            t += self._dwell(ADD_TO_CART, pace)
        self.begin_checkout(visit, t)
        t += self._dwell(BEGIN_CHECKOUT, pace)
        return self.purchase(visit, t, lines, scenario, payment)

    def purchase(
        self,
        visit: Visit,
        at_us: int,
        lines: list[tuple[CatalogProduct, int]],
        scenario: Scenario,
        payment: tuple[int, str],
    ) -> tuple[list[common_pb2.Transaction], int]:
        """Pay for `lines`, one transaction per seller; returns the transactions and end time."""
        assert visit.customer is not None, "transactions need a customer"
        by_merchant: dict[str, list[tuple[CatalogProduct, int]]] = {}
        for product, quantity in lines:
            by_merchant.setdefault(product.merchant_id, []).append((product, quantity))
        transactions = []
        t = at_us
        fraud = int(scenario is not Scenario.LEGIT)
        for merchant_id, merchant_lines in by_merchant.items():
            transaction = self._transaction(visit, t, merchant_id, merchant_lines, payment)
            self.sink.emit(t, transaction, Label(transaction.transaction_id, fraud, scenario, t))
            # The confirmation shares the payment's instant, so no cut in time separates them.
            event = self._event(visit, PURCHASE, t)
            event.page_url = f"{ref.SHOP_URL}/checkout/confirmation"
            event.transaction_id = transaction.transaction_id
            t += SECOND + int(self.rng.random() * 2 * SECOND)
            transactions.append(transaction)
        return transactions, t

    def _transaction(
        self,
        visit: Visit,
        at_us: int,
        merchant_id: str,
        lines: list[tuple[CatalogProduct, int]],
        payment: tuple[int, str],
    ) -> common_pb2.Transaction:
        currency = self.currency
        transaction = common_pb2.Transaction(
            transaction_id=self.ids.transaction(),
            customer_id=visit.customer.customer_id,
            merchant_id=merchant_id,
            session_id=visit.session_id,
            payment_method=payment[0],
            card_fingerprint=payment[1],
            ip_address=visit.ip,
            channel=visit.channel,
        )
        transaction.device.CopyFrom(visit.device)
        transaction.location.CopyFrom(visit.location)
        set_timestamp(transaction.occurred_at, at_us)
        total = 0
        for product, quantity in lines:
            item = transaction.items.add(product_id=product.product_id, quantity=quantity)
            item.unit_price.amount_minor = product.price_minor
            item.unit_price.currency = currency
            total += quantity * product.price_minor
            product.stock = max(0, product.stock - quantity)
        transaction.amount.amount_minor = total
        transaction.amount.currency = currency
        return transaction
