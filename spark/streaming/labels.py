"""Load the simulator's ground-truth labels into silver `labels` (source 'ground_truth').

    ecap simulate --days 7 --out data/sim
    python -m spark.streaming.labels data/sim/labels.parquet

The streaming job does the same at start when `ECAP_LAKE_GROUND_TRUTH_LABELS` names the file.
Loading a file again rewrites the same rows; investigator labels (source 'investigator', from
case-events) are never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from spark.session import get_spark
from spark.streaming.config import LakeSettings
from spark.streaming.silver import load_ground_truth
from spark.streaming.sinks import ensure_table
from spark.tables import TABLES

cli = typer.Typer(add_completion=False, help="Load ground-truth fraud labels into the lake.")
_console = Console(stderr=True)


@cli.command()
def main(
    path: Annotated[Path, typer.Argument(help="the simulator's labels.parquet")],
) -> None:
    """Upsert the labels file at PATH into silver labels with source 'ground_truth'."""
    settings = LakeSettings()
    spark = get_spark("ecap-lake-labels", settings.spark)
    try:
        ensure_table(spark, TABLES["labels"], settings.spark)
        loaded = load_ground_truth(spark, settings.spark, path)
    except ValueError as error:
        _console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from error
    finally:
        spark.stop()
    _console.print(
        f"loaded {loaded:,} ground-truth labels into {TABLES['labels'].uri(settings.spark)}"
    )


if __name__ == "__main__":
    cli()
