"""Load a simulator labels file into silver `labels` (source `ground_truth`), as a batch job.

`ecap lake load-labels PATH` runs this module; the streaming job does the same at start-up
when `ECAP_LAKE_GROUND_TRUTH_LABELS` names a file. Loading the same file again rewrites the
same rows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from spark.config import SparkSettings
from spark.session import get_spark
from spark.streaming.silver import load_ground_truth
from spark.streaming.sinks import ensure_table
from spark.tables import TABLES


def load_labels(path: Path | str, lake: SparkSettings | None = None) -> int:
    """Upsert the labels of `path` into the lake's silver `labels`; returns how many."""
    if "://" not in str(path) and not Path(path).is_file():
        raise ValueError(f"no labels file at {path} (`ecap simulate --out DIR` writes one)")
    lake = lake or SparkSettings()
    spark = get_spark("ecap-load-labels", lake)
    ensure_table(spark, TABLES["labels"], lake)
    return load_ground_truth(spark, lake, path)


def main(
    path: Annotated[str, typer.Argument(help="a labels Parquet file (ecap simulate --out DIR)")],
) -> None:
    """Load ground-truth labels into silver `labels`."""
    try:
        count = load_labels(path)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"loaded {count:,} ground-truth labels from {path} into silver labels")


if __name__ == "__main__":
    typer.run(main)
