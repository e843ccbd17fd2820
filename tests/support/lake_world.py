"""A simulator world written into the lake's silver tables, without Kafka or the streams.

The simulator's Parquet export (`ecap simulate --out`) holds the records the streams would
decode; this module gives them the silver shape in pandas: enum prefixes dropped, line items
joined with their transaction and with the product version current at the purchase,
transactions with the customer version current then, versions with their validity ranges.
It is a test-data route of its own, so a test can compare the analytics built on it with
figures it computes itself.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from pyspark.sql import SparkSession

from services.simulator.config import SimulatorSettings
from services.simulator.parquet import read_parquet
from services.simulator.run import simulate
from spark.config import SparkSettings
from spark.tables import TABLES
from tests.support.lake_jobs import write_rows_with_spark

_PREFIXES = {
    "channel": "CHANNEL_",
    "touch_channel": "CHANNEL_",
    "acquisition_channel": "CHANNEL_",
    "payment_method": "PAYMENT_METHOD_",
    "device_type": "DEVICE_TYPE_",
    "event_type": "BEHAVIOR_EVENT_TYPE_",
}


def _strip_enums(frame: pd.DataFrame) -> pd.DataFrame:
    for column, prefix in _PREFIXES.items():
        if column in frame:
            frame[column] = frame[column].str.removeprefix(prefix)
    return frame


def _versions(frame: pd.DataFrame, key: str) -> pd.DataFrame:
    """Upserts as validity ranges: valid_from = updated_at, valid_to = the next version's."""
    frame = frame.sort_values([key, "updated_at"]).reset_index(drop=True)
    frame["valid_from"] = frame["updated_at"]
    frame["valid_to"] = frame.groupby(key)["updated_at"].shift(-1)
    return frame


def _as_of(left: pd.DataFrame, right: pd.DataFrame, key: str) -> pd.DataFrame:
    """Each row of `left` with the `right` version of its `key` current at its occurred_at."""
    merged = pd.merge_asof(
        left.sort_values("occurred_at"),
        right.sort_values("valid_from"),
        left_on="occurred_at",
        right_on="valid_from",
        by=key,
        direction="backward",
    )
    return merged


def silver_frames(world: Path) -> dict[str, pd.DataFrame]:
    """The silver tables of the world exported at `world`."""
    read = {name: read_parquet(world / f"{name}.parquet") for name in TABLES_FROM_WORLD}
    products = _versions(_strip_enums(read["products"]), "product_id")
    customers = _versions(_strip_enums(read["customers"]), "customer_id")
    transactions = _strip_enums(read["transactions"])

    items = read["transaction_items"].rename(columns={"line": "line_no"})
    items = items.merge(
        transactions[["transaction_id", "customer_id", "occurred_at"]], on="transaction_id"
    )
    product_at = products[
        ["product_id", "valid_from", "category_path", "category", "unit_cost_minor"]
    ].rename(columns={"valid_from": "product_version_from"})
    items = _as_of(
        items, product_at.assign(valid_from=product_at["product_version_from"]), "product_id"
    ).drop(columns="valid_from")
    items["line_total_minor"] = items["quantity"].astype("int64") * items["unit_price_minor"]
    items["occurred_date"] = items["occurred_at"].dt.date

    customer_at = customers[
        ["customer_id", "valid_from", "country", "city", "signed_up_at", "acquisition_channel"]
    ].rename(
        columns={
            "country": "customer_country",
            "city": "customer_city",
            "signed_up_at": "customer_signed_up_at",
            "acquisition_channel": "customer_acquisition_channel",
        }
    )
    transactions = _as_of(transactions, customer_at, "customer_id").rename(
        columns={"valid_from": "customer_version_from"}
    )
    totals = items.groupby("transaction_id")["line_total_minor"].sum().rename("items_total_minor")
    transactions = transactions.merge(totals, on="transaction_id", how="left")
    transactions["occurred_date"] = transactions["occurred_at"].dt.date

    events = _strip_enums(
        read["events"].rename(columns={"type": "event_type", "touch_campaign": "campaign"})
    )
    events["occurred_date"] = events["occurred_at"].dt.date
    return {
        "transactions": transactions,
        "transaction_items": items,
        "events": events,
        "products": products,
        "customers": customers,
    }


TABLES_FROM_WORLD = ("transactions", "transaction_items", "events", "products", "customers")


def _records(frame: pd.DataFrame, name: str) -> list[dict]:
    columns = [c for c in TABLES[name].column_names if c in frame.columns]
    frame = frame[columns].astype(object).where(frame[columns].notna(), None)
    records = frame.to_dict("records")
    for record in records:
        for column, value in record.items():
            if isinstance(value, pd.Timestamp):
                record[column] = value.to_pydatetime()
            elif hasattr(value, "tolist"):
                record[column] = value.tolist()
    return records


def write_world(
    spark: SparkSession,
    lake: SparkSettings,
    world: Path,
    settings: SimulatorSettings,
    start: datetime,
    days: int,
) -> dict[str, pd.DataFrame]:
    """Simulate `days` from `start` into `world` (Parquet), write it to the silver tables of
    `lake`, and return the silver frames written."""
    simulate(settings, start=start, days=days, out=world)
    frames = silver_frames(world)
    for name, frame in frames.items():
        write_rows_with_spark(spark, lake, name, _records(frame, name))
    return frames
