"""The fraud training set's features, computed by Spark from the feature declarations.

    python -m spark.jobs.fraud_features --input rows.parquet --out features.parquet

`--input` holds transactions in the documented training schema (`ecap train fraud --engine
spark` writes it after checking and normalising its input); `--out` receives
`transaction_id` plus one column per feature of `fraud_features(label_delay)` that the
input's columns allow, each as of the transaction's time (`spark.features`).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from models.features import fraud_features
from spark.features import point_in_time_features
from spark.session import get_spark


def write_fraud_features(input_path: Path, out: Path, label_delay_days: float) -> list[str]:
    """Compute and write the features; returns the feature names written."""
    spark = get_spark("ecap-fraud-features")
    rows = spark.read.parquet(str(input_path))
    features, _ = fraud_features(timedelta(days=label_delay_days)).restricted_to(rows.columns)
    frame = point_in_time_features(rows, features)
    frame.select("transaction_id", *features.names).write.mode("overwrite").parquet(str(out))
    return features.names


def main(
    input_path: Annotated[Path, typer.Option("--input", help="normalised transactions")],
    out: Annotated[Path, typer.Option(help="Parquet folder for the features")],
    label_delay_days: Annotated[float, typer.Option(min=0)] = 3.0,
) -> None:
    names = write_fraud_features(input_path, out, label_delay_days)
    typer.echo(f"wrote {len(names)} features per transaction to {out}")


if __name__ == "__main__":
    typer.run(main)
