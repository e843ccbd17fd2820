"""Training input: labelled transactions from Parquet or Delta, checked and normalised.

The documented minimum schema is `transaction_id, customer_id, merchant_id, amount, ts,
label` (label 1 = fraud, 0 = legitimate, null = not known). Optional columns enable more
features: `device_id, ip_address, latitude, longitude, country, card_fingerprint, channel,
payment_method, item_count`.

Accepted inputs:
- a Parquet file or folder, or a Delta table (its version is recorded);
- a simulator output folder (`ecap simulate --out`): transactions joined with labels;
- the lake's own column names: `amount_minor` (minor units, divided by 100), `occurred_at`
  for `ts`, `is_fraud` for `label`, enum values with their protobuf prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb
import pandas as pd

from models.features.fraud import CHANNELS, PAYMENT_METHODS

MINIMUM_COLUMNS = ("transaction_id", "customer_id", "merchant_id", "amount", "ts", "label")
OPTIONAL_COLUMNS = (
    "device_id",
    "ip_address",
    "latitude",
    "longitude",
    "country",
    "card_fingerprint",
    "channel",
    "payment_method",
    "item_count",
    "session_id",
)
_ENUM_PREFIXES = {"channel": "CHANNEL_", "payment_method": "PAYMENT_METHOD_"}
_KNOWN_VALUES = {"channel": set(CHANNELS), "payment_method": set(PAYMENT_METHODS)}


class InputError(ValueError):
    """The training input does not meet the documented schema."""


@dataclass(frozen=True)
class TableSource:
    """Where a table came from: path, format and (for Delta) version."""

    path: str
    format: str
    delta_version: int | None = None

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "delta_version": self.delta_version}


def read_table(path: Path | str) -> tuple[pd.DataFrame, TableSource]:
    """A Parquet file/folder or a Delta table as a DataFrame, with its provenance."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {path}: no such file or folder")
    if (path / "_delta_log").is_dir():
        from deltalake import DeltaTable

        table = DeltaTable(str(path))
        frame = table.to_pandas()
        return frame, TableSource(str(path.resolve()), "delta", table.version())
    pattern = str(path / "**" / "*.parquet") if path.is_dir() else str(path)
    try:
        frame = duckdb.sql(
            f"SELECT * FROM read_parquet('{pattern}', hive_partitioning = true)"
        ).df()
    except duckdb.Error as error:
        raise InputError(f"input {path}: not readable as Parquet ({error})") from error
    return frame, TableSource(str(path.resolve()), "parquet")


def is_simulator_output(path: Path) -> bool:
    return path.is_dir() and (path / "transactions.parquet").is_file()


def load_labelled_transactions(
    path: Path | str, labels: Path | str | None = None
) -> tuple[pd.DataFrame, TableSource]:
    """The labelled transactions at `path` (joined with `labels` when given, or with the
    simulator's labels file), normalised to the documented schema and sorted by time."""
    path = Path(path)
    if labels is None and is_simulator_output(path) and (path / "labels.parquet").is_file():
        labels = path / "labels.parquet"
    if is_simulator_output(path):
        path = path / "transactions.parquet"
    frame, source = read_table(path)
    if labels is not None:
        label_frame, _ = read_table(labels)
        label_frame = rename_lake_columns(label_frame)
        if "label" not in label_frame or "transaction_id" not in label_frame:
            raise InputError(f"labels {labels}: needs columns transaction_id and label")
        frame = frame.drop(columns=[c for c in ("label", "is_fraud") if c in frame])
        frame = frame.merge(
            label_frame[["transaction_id", "label"]], on="transaction_id", how="left"
        )
    return normalise_transactions(frame, where=str(path)), source


def rename_lake_columns(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    if "amount" not in frame and "amount_minor" in frame:
        frame["amount"] = frame["amount_minor"].astype("float64") / 100.0
    if "ts" not in frame and "occurred_at" in frame:
        frame["ts"] = frame["occurred_at"]
    if "label" not in frame and "is_fraud" in frame:
        frame["label"] = frame["is_fraud"].astype("Float64")
    return frame


def normalise_transactions(frame: pd.DataFrame, *, where: str = "input") -> pd.DataFrame:
    """Check the minimum schema and return the known columns, typed, sorted by time."""
    frame = rename_lake_columns(frame)
    missing = [column for column in MINIMUM_COLUMNS if column not in frame]
    if missing:
        raise InputError(
            f"{where}: missing required column(s) {missing}; the minimum schema is "
            f"{list(MINIMUM_COLUMNS)} (amount_minor, occurred_at and is_fraud are accepted "
            "for amount, ts and label)"
        )
    columns = [*MINIMUM_COLUMNS, *(c for c in OPTIONAL_COLUMNS if c in frame)]
    out = frame[columns].copy()
    for column in ("transaction_id", "customer_id", "merchant_id"):
        if out[column].isna().any():
            raise InputError(f"{where}: column {column} must not be null")
        out[column] = out[column].astype(str)
    try:
        out["amount"] = pd.to_numeric(out["amount"]).astype("float64")
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: column amount must be numeric ({error})") from error
    if out["amount"].isna().any():
        raise InputError(f"{where}: column amount must not be null")
    out["ts"] = utc_timestamps(out["ts"], where)
    labels = pd.to_numeric(out["label"], errors="coerce").astype("float64")
    bad = ~labels.isna() & ~labels.isin([0.0, 1.0])
    if bad.any():
        raise InputError(
            f"{where}: column label must be 0, 1 or null; found {sorted(labels[bad].unique())}"
        )
    out["label"] = labels
    for column, prefix in _ENUM_PREFIXES.items():
        if column in out:
            values = out[column].astype("string").str.removeprefix(prefix)
            out[column] = values.where(values.isin(_KNOWN_VALUES[column]), None).astype(object)
    for column in ("latitude", "longitude"):
        if column in out:
            out[column] = pd.to_numeric(out[column]).astype("float64")
    for column in ("device_id", "ip_address", "country", "card_fingerprint", "session_id"):
        if column in out:
            out[column] = out[column].astype(object).where(out[column].notna(), None)
    if out["transaction_id"].duplicated().any():
        raise InputError(f"{where}: column transaction_id must be unique")
    return out.sort_values(["ts", "transaction_id"], kind="stable").reset_index(drop=True)


def utc_timestamps(values: pd.Series, where: str) -> pd.Series:
    try:
        stamps = pd.to_datetime(values, utc=True)
    except (TypeError, ValueError) as error:
        raise InputError(f"{where}: column ts must be a timestamp ({error})") from error
    if stamps.isna().any():
        raise InputError(f"{where}: column ts must not be null")
    return stamps.astype("datetime64[us, UTC]")
