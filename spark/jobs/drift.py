"""Feature and score drift of a model, hour by hour, into gold `feature_drift` (a batch job).

    python -m spark.jobs.drift REFERENCE.json --model-tag ecap-fraud:abc

The reference is the model's training distributions (`reference_distributions` in its
metadata; `ecap models drift` writes it out and runs this job). The job reads the silver
decisions the model scored (not degraded), counts, per hour and feature, the values in each
reference bin in Spark, and computes the population stability index of each hour in the
driver (models.features.drift); a feature absent from a decision's vector counts as missing.
The model's rows of `feature_drift` are rewritten whole, and the latest hour's figures go to
a Prometheus text file (`ECAP_DRIFT_METRICS_PATH`) for a node exporter's textfile collector.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from rich.console import Console
from rich.table import Table

from models.features.drift import SCORE, psi, status
from spark.config import SparkSettings
from spark.session import get_spark
from spark.streaming.sinks import ensure_table
from spark.tables import TABLES

MISSING_BIN = -1


class DriftSettings(BaseSettings):
    """Where the drift job's metrics go (env prefix `ECAP_DRIFT_`)."""

    model_config = SettingsConfigDict(env_prefix="ECAP_DRIFT_", extra="ignore")

    metrics_path: Path = Field(
        default=Path(".run/metrics/drift.prom"),
        description="Prometheus text file with the latest hour's PSI per feature",
    )


def _bin(edges: list[float]) -> F.Column:
    value = F.col("value")
    binned = sum((value >= F.lit(edge)).cast("int") for edge in edges) if edges else F.lit(0)
    return F.when(value.isNull() | F.isnan(value), F.lit(MISSING_BIN)).otherwise(binned)


def bin_counts(decisions: DataFrame, reference: dict[str, dict]) -> DataFrame:
    """(hour, feature, bin, count) of `decisions` against the reference bins, and per hour
    the number of decisions as feature "" (bin -1), for the missing counts."""
    hourly = decisions.select(
        F.date_trunc("hour", "decided_at").alias("hour"), "features", "risk_score"
    )
    values = hourly.select("hour", F.explode("features").alias("feature", "value")).unionByName(
        hourly.select("hour", F.lit(SCORE).alias("feature"), F.col("risk_score").alias("value"))
    )
    values = values.where(F.col("feature").isin(list(reference)))
    bin_of = F.lit(MISSING_BIN)
    for name, distribution in reference.items():
        bin_of = F.when(F.col("feature") == name, _bin(distribution["edges"])).otherwise(bin_of)
    counted = values.withColumn("bin", bin_of).groupBy("hour", "feature", "bin").count()
    totals = (
        hourly.groupBy("hour")
        .count()
        .select("hour", F.lit("").alias("feature"), F.lit(MISSING_BIN).alias("bin"), "count")
    )
    return counted.unionByName(totals)


def drift_rows(counts: list, reference: dict[str, dict], model_tag: str) -> list[dict]:
    """PSI per (hour, feature) from collected `bin_counts` rows."""
    totals = {row["hour"]: row["count"] for row in counts if row["feature"] == ""}
    bins: dict[tuple, dict[int, int]] = defaultdict(dict)
    for row in counts:
        if row["feature"]:
            bins[(row["hour"], row["feature"])][row["bin"]] = row["count"]
    computed_at = datetime.now(UTC)
    rows = []
    for hour, total in sorted(totals.items()):
        for name, distribution in reference.items():
            found = bins.get((hour, name), {})
            present = [found.get(i, 0) for i in range(len(distribution["shares"]))]
            missing = total - sum(present)
            value = psi(distribution, present, missing)
            rows.append(
                {
                    "hour": hour,
                    "model_tag": model_tag,
                    "feature": name,
                    "rows": total,
                    "missing": missing,
                    "psi": value,
                    "status": status(value),
                    "computed_at": computed_at,
                    "hour_date": hour.date(),
                }
            )
    return rows


def run_drift(
    spark: SparkSession, lake: SparkSettings, reference: dict[str, dict], model_tag: str
) -> list[dict]:
    """Compute and store the drift of `model_tag`; returns the rows written."""
    decisions = TABLES["decisions"].read(spark, lake)
    scored = decisions.where((F.col("model_tag") == model_tag) & ~F.col("degraded"))
    rows = drift_rows(bin_counts(scored, reference).collect(), reference, model_tag)
    spec = TABLES["feature_drift"]
    uri = ensure_table(spark, spec, lake)
    frame = spark.createDataFrame(rows, schema=spec.ddl()) if rows else None
    if frame is not None:
        (
            frame.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", f"model_tag = '{model_tag}'")
            .save(uri)
        )
    return rows


def write_metrics(rows: list[dict], path: Path) -> None:
    """The latest hour's PSI per feature as Prometheus gauges in a text file."""
    registry = CollectorRegistry()
    gauge = Gauge(
        "ecap_feature_drift_psi",
        "Population stability index of the latest hour against the training distribution.",
        ["model", "feature"],
        registry=registry,
    )
    if rows:
        latest = max(row["hour"] for row in rows)
        for row in rows:
            if row["hour"] == latest:
                gauge.labels(row["model_tag"], row["feature"]).set(row["psi"])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)


def worst(rows: list[dict], top: int) -> list[dict]:
    """The latest hour's `top` features by PSI, largest first."""
    if not rows:
        return []
    latest = max(row["hour"] for row in rows)
    ranked = [row for row in rows if row["hour"] == latest and not math.isnan(row["psi"])]
    return sorted(ranked, key=lambda row: -row["psi"])[:top]


def main(
    reference_path: Annotated[Path, typer.Argument(help="JSON: feature -> distribution")],
    model_tag: Annotated[str, typer.Option(help="the model whose decisions are compared")],
    top: Annotated[int, typer.Option(help="how many of the worst features to print")] = 10,
) -> None:
    """Compute the hourly drift of a model's decisions into gold `feature_drift` and print
    the latest hour's worst features."""
    reference = json.loads(reference_path.read_text())
    lake = SparkSettings()
    spark = get_spark("ecap-drift", lake)
    rows = run_drift(spark, lake, reference, model_tag)
    write_metrics(rows, DriftSettings().metrics_path)
    hours = len({row["hour"] for row in rows})
    console = Console()
    console.print(f"feature_drift: {len(rows)} rows over {hours} hours for {model_tag}")
    if not rows:
        console.print("no decisions of this model in silver decisions yet")
        return
    table = Table(title=f"worst features, hour {max(r['hour'] for r in rows):%Y-%m-%d %H:00} UTC")
    for column in ("feature", "PSI", "status", "decisions", "missing"):
        table.add_column(column)
    for row in worst(rows, top):
        table.add_row(
            row["feature"],
            f"{row['psi']:.3f}",
            row["status"],
            str(row["rows"]),
            str(row["missing"]),
        )
    console.print(table)


if __name__ == "__main__":
    typer.run(main)
