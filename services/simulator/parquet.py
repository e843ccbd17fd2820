"""Parquet export of a simulation, for training and analysis without the stack.

One file per table: transactions (flattened), their line items, behaviour events, product and
customer versions, fraud labels and, when the world is given, the hidden customer truth (segment,
churn hazard, churn time) and the merchants. Enum columns hold the protobuf value names, as
Spark's `from_protobuf` renders them. DuckDB writes the files (pyarrow is not a dependency).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from ecap.v1 import common_pb2
from services.simulator.records import Label, Record
from services.simulator.world import World

E = common_pb2
_CHANNELS = {v.number: v.name for v in E.Channel.DESCRIPTOR.values}
_DEVICE_TYPES = {v.number: v.name for v in E.DeviceType.DESCRIPTOR.values}
_PAYMENT_METHODS = {v.number: v.name for v in E.PaymentMethod.DESCRIPTOR.values}
_EVENT_TYPES = {v.number: v.name for v in E.BehaviorEventType.DESCRIPTOR.values}

_LIST_COLUMNS = frozenset({"category_path", "categories"})
TABLES = (
    "transactions",
    "transaction_items",
    "events",
    "products",
    "customers",
    "labels",
    "customer_truth",
    "merchants",
)


def _frame(columns: dict[str, object]) -> pd.DataFrame:
    # Python lists hold strings: typing them explicitly keeps empty tables' columns VARCHAR.
    return pd.DataFrame(
        {
            name: pd.array(values, dtype="string")
            if isinstance(values, list) and name not in _LIST_COLUMNS
            else values
            for name, values in columns.items()
        }
    )


def _times(micros: list[int]) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(micros, dtype=np.int64), unit="us", utc=True)


def _us(stamp) -> int:
    return stamp.seconds * 1_000_000 + stamp.nanos // 1000


def _or_none(text: str) -> str | None:
    return text or None


def _location_columns(rows: list[E.Location]) -> dict[str, list]:
    return {
        "country": [_or_none(r.country) for r in rows],
        "region": [_or_none(r.region) for r in rows],
        "city": [_or_none(r.city) for r in rows],
        "latitude": np.asarray(
            [r.point.latitude if r.HasField("point") else np.nan for r in rows], dtype=np.float64
        ),
        "longitude": np.asarray(
            [r.point.longitude if r.HasField("point") else np.nan for r in rows], dtype=np.float64
        ),
    }


def transactions_frame(transactions: list[E.Transaction]) -> pd.DataFrame:
    """One row per transaction, nested messages flattened."""
    rows = transactions
    return _frame(
        {
            "transaction_id": [t.transaction_id for t in rows],
            "customer_id": [t.customer_id for t in rows],
            "merchant_id": [t.merchant_id for t in rows],
            "session_id": [_or_none(t.session_id) for t in rows],
            "amount_minor": np.asarray([t.amount.amount_minor for t in rows], dtype=np.int64),
            "currency": [t.amount.currency for t in rows],
            "item_count": np.asarray([len(t.items) for t in rows], dtype=np.int32),
            "payment_method": [_PAYMENT_METHODS[t.payment_method] for t in rows],
            "card_fingerprint": [_or_none(t.card_fingerprint) for t in rows],
            "device_id": [_or_none(t.device.device_id) for t in rows],
            "device_type": [_DEVICE_TYPES[t.device.type] for t in rows],
            "ip_address": [_or_none(t.ip_address) for t in rows],
            **_location_columns([t.location for t in rows]),
            "channel": [_CHANNELS[t.channel] for t in rows],
            "occurred_at": _times([_us(t.occurred_at) for t in rows]),
        }
    )


def items_frame(transactions: list[E.Transaction]) -> pd.DataFrame:
    """One row per line item, keyed by transaction id and line number."""
    ids, lines, products, quantities, prices, currencies = [], [], [], [], [], []
    for transaction in transactions:
        for line, item in enumerate(transaction.items):
            ids.append(transaction.transaction_id)
            lines.append(line)
            products.append(item.product_id)
            quantities.append(item.quantity)
            prices.append(item.unit_price.amount_minor)
            currencies.append(item.unit_price.currency)
    return _frame(
        {
            "transaction_id": ids,
            "line": np.asarray(lines, dtype=np.int32),
            "product_id": products,
            "quantity": np.asarray(quantities, dtype=np.int32),
            "unit_price_minor": np.asarray(prices, dtype=np.int64),
            "currency": currencies,
        }
    )


def events_frame(events: list[E.BehaviorEvent]) -> pd.DataFrame:
    """One row per behaviour event; the marketing touch flattened into `touch_*` columns."""
    rows = events
    touches = [e.touch for e in rows]
    return _frame(
        {
            "event_id": [e.event_id for e in rows],
            "type": [_EVENT_TYPES[e.type] for e in rows],
            "session_id": [e.session_id for e in rows],
            "customer_id": [_or_none(e.customer_id) for e in rows],
            "occurred_at": _times([_us(e.occurred_at) for e in rows]),
            "device_id": [_or_none(e.device.device_id) for e in rows],
            "device_type": [_DEVICE_TYPES[e.device.type] for e in rows],
            "ip_address": [_or_none(e.ip_address) for e in rows],
            "page_url": [_or_none(e.page_url) for e in rows],
            "product_id": [_or_none(e.product_id) for e in rows],
            "search_query": [_or_none(e.search_query) for e in rows],
            "quantity": np.asarray([e.quantity for e in rows], dtype=np.int32),
            "transaction_id": [_or_none(e.transaction_id) for e in rows],
            "touch_channel": [_CHANNELS[t.channel] if t.channel else None for t in touches],
            "touch_campaign": [_or_none(t.campaign) for t in touches],
            "utm_source": [_or_none(t.utm_source) for t in touches],
            "utm_medium": [_or_none(t.utm_medium) for t in touches],
            "utm_campaign": [_or_none(t.utm_campaign) for t in touches],
            **_location_columns([e.location for e in rows]),
        }
    )


def products_frame(products: list[E.Product]) -> pd.DataFrame:
    """One row per product version (the snapshot, then every change)."""
    rows = products
    return _frame(
        {
            "product_id": [p.product_id for p in rows],
            "name": [p.name for p in rows],
            "category_path": [list(p.category_path) for p in rows],
            "category": [p.category_path[0] for p in rows],
            "brand": [_or_none(p.brand) for p in rows],
            "price_minor": np.asarray([p.price.amount_minor for p in rows], dtype=np.int64),
            "unit_cost_minor": np.asarray([p.unit_cost.amount_minor for p in rows], dtype=np.int64),
            "currency": [p.price.currency for p in rows],
            "stock": np.asarray([p.stock for p in rows], dtype=np.int32),
            "active": np.asarray([p.active for p in rows], dtype=bool),
            "updated_at": _times([_us(p.updated_at) for p in rows]),
        }
    )


def customers_frame(customers: list[E.Customer]) -> pd.DataFrame:
    """One row per customer profile version."""
    rows = customers
    return _frame(
        {
            "customer_id": [c.customer_id for c in rows],
            "email": [c.email for c in rows],
            "full_name": [c.full_name for c in rows],
            **_location_columns([c.home for c in rows]),
            "signed_up_at": _times([_us(c.signed_up_at) for c in rows]),
            "acquisition_channel": [_CHANNELS[c.acquisition_channel] for c in rows],
            "updated_at": _times([_us(c.updated_at) for c in rows]),
        }
    )


def labels_frame(labels: list[Label]) -> pd.DataFrame:
    """Fraud ground truth: one row per transaction."""
    return _frame(
        {
            "transaction_id": [label.transaction_id for label in labels],
            "label": np.asarray([label.label for label in labels], dtype=np.int8),
            "scenario": [label.scenario.value for label in labels],
            "occurred_at": _times([label.occurred_at_us for label in labels]),
        }
    )


def customer_truth_frame(world: World) -> pd.DataFrame:
    """The hidden traits behind each customer's behaviour: what churn models should recover."""
    rows = world.customers
    return _frame(
        {
            "customer_id": [c.customer_id for c in rows],
            "segment": [c.segment.value for c in rows],
            "churn_hazard_per_day": np.asarray([c.churn_hazard for c in rows], dtype=np.float64),
            "churn_at": _times([c.churn_at_us for c in rows]),
            "fraudster": np.asarray([c.fraudster for c in rows], dtype=bool),
        }
    )


def merchants_frame(world: World) -> pd.DataFrame:
    """The marketplace sellers."""
    rows = world.merchants
    return _frame(
        {
            "merchant_id": [m.merchant_id for m in rows],
            "name": [m.name for m in rows],
            "country": [m.country for m in rows],
            "categories": [list(m.tops) for m in rows],
        }
    )


def write_parquet(
    out_dir: Path | str,
    records: Iterable[Record],
    labels: Iterable[Label],
    world: World | None = None,
) -> dict[str, Path]:
    """Write every table to `out_dir/<table>.parquet` (replacing old files); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    by_kind: dict[type, list] = {
        kind: [] for kind in (E.Transaction, E.BehaviorEvent, E.Product, E.Customer)
    }
    for record in records:
        by_kind[type(record)].append(record)
    transactions = by_kind[E.Transaction]
    frames = {
        "transactions": transactions_frame(transactions),
        "transaction_items": items_frame(transactions),
        "events": events_frame(by_kind[E.BehaviorEvent]),
        "products": products_frame(by_kind[E.Product]),
        "customers": customers_frame(by_kind[E.Customer]),
        "labels": labels_frame(list(labels)),
    }
    if world is not None:
        frames["customer_truth"] = customer_truth_frame(world)
        frames["merchants"] = merchants_frame(world)
    paths = {}
    with duckdb.connect() as connection:
        for name, frame in frames.items():
            path = out / f"{name}.parquet"
            connection.from_df(frame).write_parquet(str(path), compression="zstd")
            paths[name] = path
    return paths


def read_parquet(path: Path | str) -> pd.DataFrame:
    """One exported table as a DataFrame."""
    with duckdb.connect() as connection:
        return connection.read_parquet(str(path)).df()
