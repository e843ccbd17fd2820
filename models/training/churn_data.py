"""Churn input: a customer's purchases, behaviour events and profile, as of any cutoff.

`--input` is a folder holding `transactions` (required: `transaction_id, customer_id,
amount, ts`, optional `item_count`), and optionally `events` (`customer_id, session_id, ts`)
and `customers` (`customer_id, signed_up_at`, with `updated_at` as its time), each as a
Parquet file (`transactions.parquet`), a Parquet folder or a Delta table (`transactions/`),
directly or under `silver/` (the lake's layout). The simulator's output folder qualifies.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from models.features.churn import CHURN_BASE_COLUMNS
from models.training.data import (
    InputError,
    TableSource,
    read_table,
    rename_lake_columns,
    utc_timestamps,
)

CHURN_SOURCES = ("transactions", "events", "customers")


def find_source(root: Path, name: str) -> Path | None:
    for base in (root, root / "silver"):
        for candidate in (base / f"{name}.parquet", base / name):
            if candidate.exists():
                return candidate
    return None


def load_churn_sources(
    root: Path | str,
) -> dict[str, pd.DataFrame]:
    """The churn sources under `root`, each with a UTC `ts` column, sorted by time."""
    frames, _ = load_churn_sources_with_provenance(root)
    return frames


def load_churn_sources_with_provenance(
    root: Path | str,
) -> tuple[dict[str, pd.DataFrame], dict[str, TableSource]]:
    root = Path(root)
    frames: dict[str, pd.DataFrame] = {}
    provenance: dict[str, TableSource] = {}
    for name in CHURN_SOURCES:
        path = find_source(root, name)
        if path is None:
            if name == "transactions":
                raise InputError(
                    f"input {root}: no transactions table (transactions.parquet, "
                    "transactions/ or silver/transactions)"
                )
            continue
        frame, provenance[name] = read_table(path)
        frames[name] = _normalise(name, frame, str(path))
    return frames, provenance


def _normalise(name: str, frame: pd.DataFrame, where: str) -> pd.DataFrame:
    frame = rename_lake_columns(frame)
    if name == "customers":
        if "ts" not in frame and "updated_at" in frame:
            frame["ts"] = frame["updated_at"]
        required: tuple[str, ...] = ("customer_id", "signed_up_at", "ts")
    elif name == "events":
        required = ("customer_id", "session_id", "ts")
    else:
        required = CHURN_BASE_COLUMNS
    missing = [column for column in required if column not in frame]
    if missing:
        raise InputError(f"{where}: missing required column(s) {missing} for {name}")
    optional = ["item_count"] if name == "transactions" and "item_count" in frame else []
    out = frame[[*required, *optional]].copy()
    out = out[out["customer_id"].notna()]
    out["customer_id"] = out["customer_id"].astype(str)
    out["ts"] = utc_timestamps(out["ts"], where)
    if name == "customers":
        out["signed_up_at"] = utc_timestamps(out["signed_up_at"], where)
    if name == "transactions":
        out["amount"] = pd.to_numeric(out["amount"]).astype("float64")
        if "item_count" in out:
            out["item_count"] = pd.to_numeric(out["item_count"]).astype("float64")
    sort = ["ts", "transaction_id"] if name == "transactions" else ["ts"]
    return out.sort_values(sort, kind="stable").reset_index(drop=True)
