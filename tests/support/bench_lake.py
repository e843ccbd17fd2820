"""A big silver lake for the analytics benchmark, generated fast and deterministically.

This is **bench input shaped like the simulator's output, not analytics output**: silver
`transactions`, `transaction_items`, `decisions`, `events`, `customers` and `products` as the
lake stream would have written them from a long run of `ecap simulate`, with the same
reference data (services/simulator/reference.py: countries, regions and cities, the
category tree with prices and margins, channels, devices; services/simulator/clock.py: the
hour-of-day, weekday, seasonal and holiday rhythm; the customer segments of
services/simulator/world.py with their visit and buying rates). The Faker simulator makes
about 25,000 records a second with some twenty behaviour events per purchase, far too slow
for millions of transactions on two cores; this generator draws the same shapes with numpy
in vectorised steps and writes the tables with delta-rs (no Spark), partitioned as the
catalogue declares (`spark/tables.py`). No figure of the gold layer is made here: the
analytics jobs compute those from these tables.

    lake = ensure_bench_lake(BenchLakeShape())   # built once into .cache/bench/, then reused

What is simplified against the simulator, on purpose:

- every customer has one profile version (valid from sign-up), every product one version;
- a customer buys at a rate set by their segment times a log-normal spread, between sign-up
  and a churn time drawn from the segment's hazard; days follow `clock.day_intensity`, times
  of day `clock.HOUR_WEIGHTS` (in UTC);
- behaviour events exist only for the last `event_days` (the events table is much smaller
  than twenty per purchase): the session of each purchase (an optional marketing touch, page
  and product views, cart, checkout, purchase) and non-buying sessions that drop off on the
  way, some anonymous, plus earlier marketing touches of the buyers;
- every transaction has one scoring decision, mostly APPROVE; no fraud scenarios and no
  labels.

The lake is cached under `.cache/bench/<name>` with a marker file holding the generator
version and the shape; a changed generator (bump `GENERATOR_VERSION`) or shape rebuilds it.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from deltalake import write_deltalake

from ecap.v1 import common_pb2
from services.simulator import reference as ref
from services.simulator.clock import HOUR_WEIGHTS, day_intensity
from services.simulator.world import SEGMENTS
from spark.config import SparkSettings
from spark.tables import TABLES, TableSpec, parse_type

REPO = Path(__file__).resolve().parents[2]
CACHE = REPO / ".cache" / "bench"
GENERATOR_VERSION = 1
MARKER = "bench-lake.json"
US_PER_DAY = 86_400_000_000


@dataclass(frozen=True)
class BenchLakeShape:
    """How big the generated lake is and what period it covers."""

    transactions: int = 5_000_000
    customers: int = 250_000
    products: int = 800
    merchants: int = 60
    days: int = 730
    # The newest day is the one before `end` (a fixed date: the same lake on every run).
    end: date = date(2026, 11, 24)
    event_days: int = 30
    # Non-buying sessions per purchase session in the event period.
    browse_sessions_per_purchase: float = 2.0
    seed: int = 20261124
    currency: str = "EUR"

    @property
    def start(self) -> date:
        return self.end - timedelta(days=self.days)

    def marker(self) -> dict:
        shape = {k: (v.isoformat() if isinstance(v, date) else v) for k, v in asdict(self).items()}
        return {"generator_version": GENERATOR_VERSION, "shape": shape}


def lake_dir(shape: BenchLakeShape) -> Path:
    """Where the lake of `shape` is cached."""
    millions = shape.transactions / 1_000_000
    return CACHE / f"analytics-lake-{millions:g}m"


def ensure_bench_lake(shape: BenchLakeShape, report: Callable[[str], None] = print) -> Path:
    """The root of a lake holding `shape`'s silver tables: the cached one when its marker
    matches, else generated anew (minutes)."""
    root = lake_dir(shape)
    marker = root / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == shape.marker():
        report(f"bench lake: reusing {root}")
        return root
    if root.exists():
        report(f"bench lake: {root} is from another generator or shape; rebuilding it")
        shutil.rmtree(root)
    root.mkdir(parents=True)
    clock = time.perf_counter()
    write_rows_with_spark(shape, root, report)
    marker.write_text(json.dumps(shape.marker(), indent=2))
    report(f"bench lake: built {root} in {time.perf_counter() - clock:.0f} s")
    return root


def silver_ready_lake(root: Path) -> SparkSettings:
    """Lake settings pointing at `root`."""
    return SparkSettings(lake_uri=str(root))


# -- arrow helpers ----------------------------------------------------------------------------

_ARROW_SCALARS = {
    "string": pa.string(),
    "binary": pa.binary(),
    "boolean": pa.bool_(),
    "int": pa.int32(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


def _arrow_type(tree) -> pa.DataType:
    if isinstance(tree, str):
        return _ARROW_SCALARS[tree]
    if tree[0] == "array":
        return pa.list_(_arrow_type(tree[1]))
    return pa.map_(_arrow_type(tree[1]), _arrow_type(tree[2]))


def arrow_schema(spec: TableSpec) -> pa.Schema:
    """`spec`'s declared columns as an Arrow schema (every column nullable)."""
    return pa.schema([(name, _arrow_type(parse_type(t))) for name, t in spec.columns.items()])


def _table(spec: TableSpec, columns: dict[str, pa.Array | np.ndarray]) -> pa.Table:
    """A table with every declared column of `spec`: the given ones, nulls for the rest."""
    schema = arrow_schema(spec)
    length = len(next(iter(columns.values())))
    unknown = set(columns) - set(schema.names)
    if unknown:
        raise ValueError(f"table {spec.name}: no declared column(s) {sorted(unknown)}")
    arrays = []
    for field in schema:
        value = columns.get(field.name)
        if value is None:
            arrays.append(pa.nulls(length, field.type))
        elif isinstance(value, pa.ChunkedArray | pa.Array):
            arrays.append(value.cast(field.type))
        else:
            arrays.append(pa.array(value, type=field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _write(root: Path, name: str, table: pa.Table, report: Callable[[str], None]) -> None:
    spec = TABLES[name]
    clock = time.perf_counter()
    write_deltalake(
        str(root / spec.relative_path),
        table,
        partition_by=list(spec.partition_by) or None,
        mode="overwrite",
    )
    report(
        f"bench lake: wrote {spec.layer}.{name}: {table.num_rows:,} rows in "
        f"{time.perf_counter() - clock:.0f} s"
    )


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Strings like `prefix` + zero-padded `numbers`, e.g. c-000123."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width, "0")
    return pc.binary_join_element_wise(prefix, digits, "")


def _pick(values: list | tuple, index: np.ndarray) -> pa.Array:
    """values[index] as an Arrow string array (a take: fast for millions of rows)."""
    return pa.array(values, pa.string()).take(pa.array(index, pa.int64()))


def _enum_names(numbers, prefix: str) -> list[str]:
    """Enum values as silver stores them: names without their prefix."""
    return [
        common_pb2.DESCRIPTOR.enum_types_by_name[prefix].values_by_number[n].name for n in numbers
    ]


def _strip(names: list[str], prefix: str) -> list[str]:
    return [name.removeprefix(prefix) for name in names]


def _timestamps(micros: np.ndarray) -> pa.Array:
    return pa.array(micros.astype("datetime64[us]"), pa.timestamp("us")).cast(
        pa.timestamp("us", tz="UTC")
    )


def _dates(micros: np.ndarray) -> pa.Array:
    return pa.array((micros // US_PER_DAY).astype("int32"), pa.int32()).cast(pa.date32())


def _weighted(rng: np.random.Generator, weights, n: int) -> np.ndarray:
    cdf = np.cumsum(np.asarray(weights, dtype=float))
    return np.minimum(np.searchsorted(cdf / cdf[-1], rng.random(n), side="right"), len(cdf) - 1)


def _epoch_micros(day: date) -> int:
    return (day - date(1970, 1, 1)).days * US_PER_DAY


# -- the world ------------------------------------------------------------------------------


@dataclass
class _Places:
    country: list[str]
    region: list[str]
    city: list[str]
    latitude: np.ndarray
    longitude: np.ndarray
    octets: list[tuple[int, ...]]
    share: np.ndarray


def _places() -> _Places:
    rows = [(c, city) for c in ref.HOME_COUNTRIES for city in c.cities]
    return _Places(
        country=[city.country for _, city in rows],
        region=[city.region for _, city in rows],
        city=[city.city for _, city in rows],
        latitude=np.array([city.latitude for _, city in rows]),
        longitude=np.array([city.longitude for _, city in rows]),
        octets=[c.ip_octets for c, _ in rows],
        share=np.array([c.share / len(c.cities) for c, _ in rows]),
    )


def _ips(rng: np.random.Generator, first_octets: np.ndarray) -> pa.Array:
    parts = [pa.array(first_octets, pa.int64())] + [
        pa.array(rng.integers(lo, 255, len(first_octets)), pa.int64()) for lo in (0, 0, 1)
    ]
    return pc.binary_join_element_wise(*[pc.cast(p, pa.string()) for p in parts], ".")


def write_rows_with_spark(shape: BenchLakeShape, root: Path, report: Callable[[str], None]) -> None:
    """Generate and write every silver table of `shape` under `root`."""
    rng = np.random.default_rng(shape.seed)
    places = _places()
    start_us, end_us = _epoch_micros(shape.start), _epoch_micros(shape.end)

    # Products: leaves of the category tree, log-uniform prices, Zipf-like popularity.
    n_products = shape.products
    leaf = rng.integers(0, len(ref.LEAVES), n_products)
    low = np.array([ref.LEAVES[i].price_eur[0] for i in leaf])
    high = np.array([ref.LEAVES[i].price_eur[1] for i in leaf])
    price = np.exp(rng.uniform(np.log(low), np.log(high))).round() * 100 - 1
    margin = rng.uniform(
        [ref.LEAVES[i].margin[0] for i in leaf], [ref.LEAVES[i].margin[1] for i in leaf]
    )
    price_minor = price.astype(np.int64)
    unit_cost = (price_minor * (1 - margin)).astype(np.int64)
    popularity = 1 / np.arange(1, n_products + 1) ** 0.8
    popularity = popularity[rng.permutation(n_products)]
    top = [ref.LEAVES[i].path[0] for i in leaf]
    leaf_names = [ref.LEAVES[i].path[2] for i in leaf]
    paths = pa.array([list(ref.LEAVES[i].path) for i in leaf], pa.list_(pa.string()))
    consumable = np.array([ref.LEAVES[i].consumable for i in leaf])
    by_leaf: dict[str, np.ndarray] = {}
    for index, name in enumerate(leaf_names):
        by_leaf.setdefault(name, []).append(index)  # type: ignore[union-attr]
    by_leaf = {k: np.array(v) for k, v in by_leaf.items()}
    product_ids = _ids("p-", np.arange(1, n_products + 1), 5)
    catalogue_from = start_us - 30 * US_PER_DAY
    words = ref.MODEL_WORDS
    names = [
        f"{ref.brands_of(top[i])[i % len(ref.brands_of(top[i]))]} {ref.LEAVES[leaf[i]].noun} "
        f"{words[i % len(words)]} {100 + i % 900}"
        for i in range(n_products)
    ]
    products = _table(
        TABLES["products"],
        {
            "product_id": product_ids,
            "valid_from": _timestamps(np.full(n_products, catalogue_from)),
            "name": pa.array(names),
            "category_path": paths,
            "category": pa.array(top),
            "brand": pa.array(
                [ref.brands_of(top[i])[i % len(ref.brands_of(top[i]))] for i in range(n_products)]
            ),
            "price_minor": price_minor,
            "currency": pa.array([shape.currency] * n_products),
            "unit_cost_minor": unit_cost,
            "stock": rng.integers(0, 500, n_products).astype(np.int32),
            "active": np.ones(n_products, bool),
            "updated_at": _timestamps(np.full(n_products, catalogue_from)),
            "kafka_topic": pa.array(["product-updates"] * n_products),
        },
    )
    _write(root, "products", products, report)

    # Customers: sign-ups over the period and a year before it, growing; segment, activity
    # and churn time from the simulator's segment profiles.
    n_customers = shape.customers
    segments = list(SEGMENTS.values())
    segment = _weighted(rng, [p.share for p in segments], n_customers)
    first_us = start_us - 365 * US_PER_DAY
    signed_up = first_us + (
        np.sqrt(rng.random(n_customers)) * (end_us - first_us - US_PER_DAY)
    ).astype(np.int64)
    signed_up.sort()
    hazard = np.array([segments[s].median_hazard for s in segment]) * np.exp(
        rng.normal(0, 1.0, n_customers)
    )
    churn_us = signed_up + (rng.exponential(1 / hazard) * US_PER_DAY).astype(np.int64)
    rate = np.array([segments[s].sessions_per_day * segments[s].buy_propensity for s in segment])
    rate *= np.exp(rng.normal(0, 0.5, n_customers))
    active_from = np.maximum(signed_up, start_us)
    active_to = np.minimum(churn_us, end_us)
    active_days = np.clip((active_to - active_from) / US_PER_DAY, 0, None)
    home = _weighted(rng, places.share, n_customers)
    customer_ids = _ids("c-", np.arange(1, n_customers + 1), 7)
    channels = list(ref.CHANNELS)
    channel_names = _strip(_enum_names(channels, "Channel"), "CHANNEL_")
    acquisition = _weighted(rng, ref.ACQUISITION_CHANNEL_WEIGHTS, n_customers)
    home_lat = places.latitude[home] + rng.normal(0, 0.05, n_customers)
    home_lon = places.longitude[home] + rng.normal(0, 0.08, n_customers)
    customers = _table(
        TABLES["customers"],
        {
            "customer_id": customer_ids,
            "valid_from": _timestamps(signed_up),
            "email": pc.binary_join_element_wise(customer_ids, "@bench.example", ""),
            "full_name": pc.binary_join_element_wise("Customer ", customer_ids, ""),
            "country": _pick(places.country, home),
            "region": _pick(places.region, home),
            "city": _pick(places.city, home),
            "latitude": home_lat.round(4),
            "longitude": home_lon.round(4),
            "signed_up_at": _timestamps(signed_up),
            "acquisition_channel": _pick(channel_names, acquisition),
            "updated_at": _timestamps(signed_up),
            "kafka_topic": pa.array(["product-updates"] * n_customers),
        },
    )
    _write(root, "customers", customers, report)

    # Transactions: per customer a share of the total by rate x active days; days by the
    # shop's rhythm within the customer's active span; hours by HOUR_WEIGHTS.
    n = shape.transactions
    weight = rate * active_days
    counts = rng.multinomial(n, weight / weight.sum())
    buyer = np.repeat(np.arange(n_customers), counts)
    days = [shape.start + timedelta(days=d) for d in range(shape.days)]
    intensity = np.array([day_intensity(d) for d in days])
    cumulative = np.concatenate([[0.0], np.cumsum(intensity)])
    lo_day = (active_from[buyer] - start_us) / US_PER_DAY
    hi_day = np.maximum((active_to[buyer] - start_us) / US_PER_DAY, lo_day)
    lo_c = np.interp(lo_day, np.arange(shape.days + 1), cumulative)
    hi_c = np.interp(hi_day, np.arange(shape.days + 1), cumulative)
    u = lo_c + rng.random(n) * (hi_c - lo_c)
    day_index = np.clip(np.searchsorted(cumulative, u, side="right") - 1, 0, shape.days - 1)
    hour = _weighted(rng, HOUR_WEIGHTS, n)
    occurred = (
        start_us
        + day_index.astype(np.int64) * US_PER_DAY
        + hour.astype(np.int64) * 3_600_000_000
        + rng.integers(0, 3_600_000_000, n)
    )
    occurred = np.maximum(occurred, signed_up[buyer] + 60_000_000)
    order = np.argsort(occurred, kind="stable")
    occurred, buyer = occurred[order], buyer[order]
    del order, u, lo_c, hi_c, lo_day, hi_day, day_index, hour

    # Line items: 1..4 lines; a second line is a complement of the first half the time.
    item_count = np.minimum(1 + rng.geometric(0.72, n) - 1, 4).astype(np.int32)
    lines = int(item_count.sum())
    line_tx = np.repeat(np.arange(n), item_count)
    line_no = (np.arange(lines) - np.repeat(np.cumsum(item_count) - item_count, item_count)).astype(
        np.int32
    )
    product = _weighted(rng, popularity, lines)
    firsts = np.repeat(product[line_no == 0], item_count)
    complement_of = np.full(n_products, -1)
    complements = {
        i: np.concatenate(
            [by_leaf[c] for c in ref.COMPLEMENTS.get(leaf_names[i], ()) if c in by_leaf]
        )
        for i in range(n_products)
        if any(c in by_leaf for c in ref.COMPLEMENTS.get(leaf_names[i], ()))
    }
    for index, options in complements.items():
        complement_of[index] = options[index % len(options)]
    take_complement = (line_no > 0) & (complement_of[firsts] >= 0) & (rng.random(lines) < 0.5)
    product = np.where(take_complement, complement_of[firsts], product)
    quantity = np.where(consumable[product], rng.integers(1, 5, lines), 1).astype(np.int32)
    unit_price = price_minor[product]
    line_total = unit_price * quantity
    amount = np.bincount(line_tx, weights=line_total, minlength=n).astype(np.int64)

    transaction_ids = _ids("t-", np.arange(1, n + 1), 9)
    session_ids = _ids("s-", np.arange(1, n + 1), 9)
    # Where: at home mostly, elsewhere in a home country sometimes.
    away = rng.random(n) < 0.05
    place = np.where(away, _weighted(rng, places.share, n), home[buyer])
    lat = np.where(away, places.latitude[place], home_lat[buyer]) + rng.normal(0, 0.02, n)
    lon = np.where(away, places.longitude[place], home_lon[buyer]) + rng.normal(0, 0.03, n)
    closing = _weighted(rng, ref.CLOSING_CHANNEL_WEIGHTS, n)
    device_kinds = list(ref.DEVICE_TYPE_SHARES)
    device_names = _strip(_enum_names(device_kinds, "DeviceType"), "DEVICE_TYPE_")
    customer_device = _weighted(rng, list(ref.DEVICE_TYPE_SHARES.values()), n_customers)
    device = np.where(
        rng.random(n) < 0.8,
        customer_device[buyer],
        _weighted(rng, list(ref.DEVICE_TYPE_SHARES.values()), n),
    )
    payment_names = ["CARD", "WALLET", "BUY_NOW_PAY_LATER", "BANK_TRANSFER", "GIFT_CARD"]
    payment = _weighted(rng, (0.62, 0.20, 0.08, 0.05, 0.05), n)
    merchant_ids = _ids("m-", np.arange(1, shape.merchants + 1), 4)
    merchant = rng.integers(0, shape.merchants, n)
    octet_of_place = np.array([octets[0] for octets in places.octets])
    buyer_ids = customer_ids.take(pa.array(buyer, pa.int64()))
    occurred_at = _timestamps(occurred)
    occurred_date = _dates(occurred)
    transactions = _table(
        TABLES["transactions"],
        {
            "transaction_id": transaction_ids,
            "customer_id": buyer_ids,
            "merchant_id": merchant_ids.take(pa.array(merchant, pa.int64())),
            "session_id": session_ids,
            "amount_minor": amount,
            "currency": _pick([shape.currency], np.zeros(n, np.int64)),
            "item_count": item_count,
            "items_total_minor": amount,
            "payment_method": _pick(payment_names, payment),
            "card_fingerprint": pc.binary_join_element_wise("fp-", buyer_ids, ""),
            "device_id": pc.binary_join_element_wise(
                "d-", buyer_ids, pa.array(device.astype(str)), "-"
            ),
            "device_type": _pick(device_names, device),
            "ip_address": _ips(rng, octet_of_place[place]),
            "country": _pick(places.country, place),
            "region": _pick(places.region, place),
            "city": _pick(places.city, place),
            "latitude": lat.round(4),
            "longitude": lon.round(4),
            "channel": _pick(channel_names, closing),
            "occurred_at": occurred_at,
            "occurred_date": occurred_date,
            "customer_country": _pick(places.country, home[buyer]),
            "customer_city": _pick(places.city, home[buyer]),
            "customer_signed_up_at": _timestamps(signed_up[buyer]),
            "customer_acquisition_channel": _pick(channel_names, acquisition[buyer]),
            "customer_version_from": _timestamps(signed_up[buyer]),
            "kafka_topic": _pick(["transactions"], np.zeros(n, np.int64)),
            "kafka_partition": (buyer % 6).astype(np.int32),
            "kafka_offset": np.arange(n, dtype=np.int64),
            "kafka_timestamp": occurred_at,
        },
    )
    _write(root, "transactions", transactions, report)
    del transactions

    line_index = pa.array(line_tx, pa.int64())
    items = _table(
        TABLES["transaction_items"],
        {
            "transaction_id": transaction_ids.take(line_index),
            "line_no": line_no,
            "customer_id": buyer_ids.take(line_index),
            "product_id": product_ids.take(pa.array(product, pa.int64())),
            "quantity": quantity,
            "unit_price_minor": unit_price,
            "currency": _pick([shape.currency], np.zeros(lines, np.int64)),
            "line_total_minor": line_total,
            "occurred_at": occurred_at.take(line_index),
            "occurred_date": occurred_date.take(line_index),
            "category_path": paths.take(pa.array(product, pa.int64())),
            "category": _pick(top, product),
            "unit_cost_minor": unit_cost[product],
            "product_version_from": _timestamps(np.full(lines, catalogue_from)),
        },
    )
    _write(root, "transaction_items", items, report)
    del items

    # Decisions: one per transaction, 30-80 ms after it; a few flagged.
    outcome = _weighted(rng, (0.965, 0.025, 0.010), n)
    risk = np.where(outcome == 0, rng.beta(1, 30, n), rng.beta(6, 3, n))
    decided = occurred + rng.integers(30_000, 80_000, n)
    decisions = _table(
        TABLES["decisions"],
        {
            "decision_id": _ids("dc-", np.arange(1, n + 1), 9),
            "transaction_id": transaction_ids,
            "customer_id": buyer_ids,
            "merchant_id": merchant_ids.take(pa.array(merchant, pa.int64())),
            "outcome": _pick(["APPROVE", "REVIEW", "DECLINE"], outcome),
            "risk_score": risk.round(4),
            "model_tag": _pick(["fraud:bench"], np.zeros(n, np.int64)),
            "rules_version": _pick(["bench-1"], np.zeros(n, np.int64)),
            "degraded": np.zeros(n, bool),
            "latency_ms": rng.gamma(4, 2.5, n).round(2),
            "amount_minor": amount,
            "currency": _pick([shape.currency], np.zeros(n, np.int64)),
            "decided_at": _timestamps(decided),
            "decided_date": _dates(decided),
            "kafka_topic": _pick(["decisions"], np.zeros(n, np.int64)),
        },
    )
    _write(root, "decisions", decisions, report)
    del decisions

    _write_events(
        shape,
        root,
        report,
        rng,
        occurred=occurred,
        buyer=buyer,
        session_ids=session_ids,
        transaction_ids=transaction_ids,
        customer_ids=customer_ids,
        product_index=product,
        line_tx=line_tx,
        product_ids=product_ids,
        place=place,
        places=places,
        device=device,
        device_names=device_names,
        channel_names=channel_names,
        n_customers=n_customers,
        home=home,
        customer_device=customer_device,
        popularity=popularity,
    )


_JOURNEY = ("PAGE_VIEW", "PRODUCT_VIEW", "ADD_TO_CART", "BEGIN_CHECKOUT", "PURCHASE")
_CAMPAIGNS = {
    "PAID_SEARCH": ("Brand Search", "Generic"),
    "SOCIAL": ("Inspiration", "Ugc"),
    "EMAIL": ("Weekly Newsletter", "Recommendations", "Win Back"),
    "AFFILIATE": ("Partner Deals",),
    "DISPLAY": ("Prospecting", "Retargeting"),
}


def _write_events(shape: BenchLakeShape, root: Path, report, rng: np.random.Generator, **w) -> None:
    """Behaviour events of the last `event_days`: purchase sessions, browsing sessions and
    the buyers' earlier marketing touches."""
    end_us = _epoch_micros(shape.end)
    since = end_us - shape.event_days * US_PER_DAY
    occurred, buyer = w["occurred"], w["buyer"]
    bought = np.flatnonzero(occurred >= since)
    n_buy = len(bought)
    n_browse = int(n_buy * shape.browse_sessions_per_purchase)
    n_sessions = n_buy + n_browse
    touch_names = w["channel_names"]
    # Per session: who, when it ends, how far it gets (index into _JOURNEY), touch or not.
    browse_customer = rng.integers(0, w["n_customers"], n_browse)
    anonymous = np.concatenate([np.zeros(n_buy, bool), rng.random(n_browse) < 0.2])
    customer = np.concatenate([buyer[bought], browse_customer])
    end = np.concatenate([occurred[bought], since + rng.integers(0, end_us - since, n_browse)])
    depth = np.concatenate([np.full(n_buy, 4), _weighted(rng, (0.40, 0.35, 0.15, 0.10), n_browse)])
    touched = rng.random(n_sessions) < 0.55
    touch_channel = np.where(
        np.arange(n_sessions) < n_buy,
        _weighted(rng, ref.CLOSING_CHANNEL_WEIGHTS, n_sessions),
        _weighted(rng, ref.DISCOVERY_CHANNEL_WEIGHTS, n_sessions),
    )
    product_views = rng.integers(1, 4, n_sessions)
    steps = touched.astype(np.int64) + depth + 1 + (product_views - 1) * (depth >= 1)
    # Earlier touches of buyers (multi-touch journeys): 0-2 one-event sessions before.
    earlier = rng.integers(0, 3, n_buy)
    n_events_sessions = int(steps.sum())
    session_of = np.repeat(np.arange(n_sessions), steps)
    position = np.arange(n_events_sessions) - np.repeat(np.cumsum(steps) - steps, steps)
    # Event kind per position: [touch], PAGE_VIEW, PRODUCT_VIEW x k, then the later steps.
    has_touch = touched[session_of]
    step = position - has_touch
    views = product_views[session_of]
    kind = np.where(
        has_touch & (position == 0),
        -1,
        np.where(step <= 0, 0, np.where(step <= views, 1, step - views + 1)),
    )
    kind = np.where(depth[session_of] == 0, np.where(kind == -1, -1, 0), kind)
    # Times: spread over up to 20 minutes before the session's end, in order.
    gap = rng.integers(20_000_000, 120_000_000, n_sessions)[session_of]
    back = (steps[session_of] - 1 - position) * gap
    at = end[session_of] - back

    touch_customer = np.repeat(buyer[bought], earlier)
    touch_at = np.repeat(occurred[bought], earlier) - rng.integers(
        1, 25 * US_PER_DAY, int(earlier.sum())
    )
    touch_at = np.maximum(touch_at, since - 5 * US_PER_DAY)
    touch_extra_channel = _weighted(rng, ref.DISCOVERY_CHANNEL_WEIGHTS, len(touch_customer))
    n_extra = len(touch_customer)

    total = n_events_sessions + n_extra
    event_type_names = ["MARKETING_TOUCH", *_JOURNEY]
    kinds = np.concatenate([kind, np.full(n_extra, -1)]) + 1
    session_index = np.concatenate([session_of, n_sessions + np.arange(n_extra)])
    customers = np.concatenate([customer[session_of], touch_customer])
    is_anonymous = np.concatenate([anonymous[session_of], np.zeros(n_extra, bool)])
    times = np.concatenate([at, touch_at])
    channel = np.concatenate([touch_channel[session_of], touch_extra_channel])
    is_touch = kinds == 0
    purchase = kinds == 5
    session_numbers = np.concatenate(
        [bought + 1, shape.transactions + 1 + np.arange(n_browse + n_extra)]
    )
    session_id = _ids("s-", session_numbers[session_index], 9)
    customer_id = w["customer_ids"].take(pa.array(customers, pa.int64()))
    customer_id = pc.if_else(pa.array(is_anonymous), pa.nulls(total, pa.string()), customer_id)
    product = _weighted(rng, w["popularity"], total)
    with_product = np.isin(kinds, (2, 3))
    touch_channel_names = [touch_names[c] for c in range(len(touch_names))]
    campaign_options = [_CAMPAIGNS.get(name, ("",)) for name in touch_channel_names]
    campaign_pick = np.array([len(campaign_options[c]) for c in range(len(touch_names))])[channel]
    campaign_index = (rng.random(total) * campaign_pick).astype(np.int64)
    flat = [c for options in campaign_options for c in options]
    offsets = np.cumsum([0, *[len(o) for o in campaign_options]])[:-1]
    campaign = pa.array(flat).take(pa.array(offsets[channel] + campaign_index, pa.int64()))
    campaign = pc.if_else(
        pa.array(is_touch),
        pc.if_else(pc.equal(campaign, ""), pa.nulls(total, pa.string()), campaign),
        pa.nulls(total, pa.string()),
    )
    transaction_id = w["transaction_ids"].take(
        pa.array(
            np.where(
                purchase & (session_index < n_buy), bought[np.minimum(session_index, n_buy - 1)], 0
            ),
            pa.int64(),
        )
    )
    transaction_id = pc.if_else(pa.array(purchase), transaction_id, pa.nulls(total, pa.string()))
    home = w["home"][customers]
    device = w["customer_device"][customers]
    places = w["places"]
    order = np.argsort(times, kind="stable")

    def ordered(array):
        if isinstance(array, np.ndarray):
            return array[order]
        return array.take(pa.array(order, pa.int64()))

    touch_channel_column = pc.if_else(
        pa.array(is_touch), _pick(touch_channel_names, channel), pa.nulls(total, pa.string())
    )
    events = _table(
        TABLES["events"],
        {
            "event_id": _ids("e-", np.arange(1, total + 1), 10),
            "event_type": ordered(_pick(event_type_names, kinds)),
            "session_id": ordered(session_id),
            "customer_id": ordered(customer_id),
            "occurred_at": _timestamps(times[order]),
            "device_id": ordered(
                pc.binary_join_element_wise(
                    "d-",
                    w["customer_ids"].take(pa.array(customers, pa.int64())),
                    pa.array(device.astype(str)),
                    "-",
                )
            ),
            "device_type": ordered(_pick(w["device_names"], device)),
            "page_url": ordered(
                pc.if_else(
                    pa.array(kinds == 1),
                    pa.array([ref.SHOP_URL + "/"] * total),
                    pa.nulls(total, pa.string()),
                )
            ),
            "product_id": ordered(
                pc.if_else(
                    pa.array(with_product),
                    w["product_ids"].take(pa.array(product, pa.int64())),
                    pa.nulls(total, pa.string()),
                )
            ),
            "quantity": np.where(with_product, 1, 0).astype(np.int32)[order],
            "transaction_id": ordered(transaction_id),
            "touch_channel": ordered(touch_channel_column),
            "campaign": ordered(campaign),
            "utm_campaign": ordered(campaign),
            "country": ordered(_pick(places.country, home)),
            "region": ordered(_pick(places.region, home)),
            "city": ordered(_pick(places.city, home)),
            "latitude": places.latitude[home][order],
            "longitude": places.longitude[home][order],
            "occurred_date": _dates(times[order]),
            "kafka_topic": _pick(["user-events"], np.zeros(total, np.int64)),
        },
    )
    _write(root, "events", events, report)


def describe(shape: BenchLakeShape) -> str:
    """One line about the lake's shape, for the benchmark's printout."""
    return (
        f"{shape.transactions:,} transactions of {shape.customers:,} customers over "
        f"{shape.days} days to {shape.end.isoformat()}, {shape.products:,} products, events for "
        f"the last {shape.event_days} days (seed {shape.seed})"
    )


def table_rows(root: Path) -> dict[str, int]:
    """Rows per silver table of the lake at `root`, from the Delta log's statistics."""
    from deltalake import DeltaTable

    rows = {}
    for name in (
        "transactions",
        "transaction_items",
        "decisions",
        "events",
        "customers",
        "products",
    ):
        actions = DeltaTable(str(root / TABLES[name].relative_path)).get_add_actions(flatten=True)
        rows[name] = int(pc.sum(pa.table(actions)["num_records"]).as_py() or 0)
    return rows


def write_kpi_minute(root: Path) -> int:
    """Gold `kpi_minute` of the lake at `root`, computed in batch by the lake stream's own
    function over the table's retention window (what the stream keeps after maintenance) and
    MERGEd as the stream does; returns the rows written."""
    from pyspark.sql import functions as F

    from spark.session import get_spark
    from spark.streaming.gold import kpi_minute
    from spark.streaming.sinks import ensure_table, upsert

    lake = silver_ready_lake(root)
    spark = get_spark("ecap-bench-kpi-minute", lake)
    spec = TABLES["kpi_minute"]

    def read(name: str):
        return TABLES[name].read(spark, lake)

    transactions = read("transactions")
    newest = transactions.agg(F.max("occurred_date")).first()[0]
    since = newest - timedelta(days=spec.retention_days - 1)
    print(f"kpi_minute: transactions from {since} to {newest} ({spec.retention_days} days)")
    ensure_table(spark, spec, lake)
    upsert(spark, spec, lake, kpi_minute(transactions.where(F.col("occurred_date") >= since), read))
    rows = spark.read.format("delta").load(spec.uri(lake)).count()
    print(f"kpi_minute: {rows:,} rows")
    spark.stop()
    return rows


def main() -> None:
    """`python -m tests.support.bench_lake build|kpi-minute ...`: the bench lake from a shell."""
    import typer

    app = typer.Typer(no_args_is_help=True, add_completion=False)

    @app.command()
    def build() -> None:
        """Build (or reuse) the default bench lake and print its silver row counts."""
        root = ensure_bench_lake(BenchLakeShape())
        print(table_rows(root))

    @app.command("kpi-minute")
    def kpi_minute_command(root: Path) -> None:
        """Compute gold kpi_minute of the lake at ROOT in batch."""
        write_kpi_minute(root)

    app()


if __name__ == "__main__":
    main()
