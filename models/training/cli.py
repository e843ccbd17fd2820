"""The commands behind `ecap train fraud|churn` and `ecap models list|promote`
(`python -m models.training ...`; the `ecap` CLI forwards to them)."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from models.training.config import CostSettings, ModelStoreSettings, TrainingSettings
from models.training.data import InputError

console = Console(stderr=True)
app = typer.Typer(help="Train, evaluate and manage ECAP's models.", no_args_is_help=True)
train_app = typer.Typer(
    help="Train and evaluate a model; save it to the model store.", no_args_is_help=True
)
models_app = typer.Typer(help="The BentoML model store.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(models_app, name="models")


class Engine(StrEnum):
    """Which executor computes the training set's features."""

    ONLINE = "online"
    SPARK = "spark"


DATE_FORMATS = ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _settings(**overrides) -> TrainingSettings:
    try:
        return TrainingSettings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        console.print(f"[red]invalid training settings:[/] {error}")
        raise typer.Exit(2) from error


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


Input = Annotated[
    Path,
    typer.Option(
        "--input", "-i", help="Parquet file/folder, Delta table, or simulator output folder"
    ),
]
Out = Annotated[Path, typer.Option(help="folder for the report JSON and the PNG plots")]
PredictionsOut = Annotated[
    Path | None,
    typer.Option(help="write the test period's predictions (id, score, label); .csv or Parquet"),
]
NoSave = Annotated[bool, typer.Option("--no-save", help="evaluate only; do not store")]
Promote = Annotated[
    bool, typer.Option("--promote", help="make the saved model the champion of its kind")
]


@train_app.command("fraud")
def train_fraud_command(
    input_path: Input,
    out: Out = Path(".run/reports/fraud"),
    labels: Annotated[
        Path | None, typer.Option(help="a table of transaction_id, label (or is_fraud) to join")
    ] = None,
    train_from: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS)] = None,
    train_to: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS)] = None,
    test_from: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS)] = None,
    test_to: Annotated[datetime | None, typer.Option(formats=DATE_FORMATS)] = None,
    label_delay_days: Annotated[
        float | None,
        typer.Option(help="days until a label is known (default 3): gap and merchant-rate delay"),
    ] = None,
    capacity: Annotated[
        int | None,
        typer.Option(help="k of precision@k: customers investigated per day (default 100)"),
    ] = None,
    engine: Annotated[
        Engine,
        typer.Option(
            help="online: replay with the online executor (no JVM); spark: the Spark executor "
            "(python -m spark.jobs.fraud_features); both compile the same declarations"
        ),
    ] = Engine.ONLINE,
    features_table: Annotated[
        Path | None,
        typer.Option(
            help="precomputed features (transaction_id + feature columns), e.g. from Spark"
        ),
    ] = None,
    predictions_out: PredictionsOut = None,
    no_save: NoSave = False,
    promote: Promote = False,
) -> None:
    """Train the fraud model on labelled transactions and evaluate it on a later period."""
    from models.training.data import load_labelled_transactions
    from models.training.fraud import TrainingError, train_fraud
    from models.training.periods import LeakageError

    settings = _settings(label_delay_days=label_delay_days, daily_capacity=capacity)
    try:
        transactions, source = load_labelled_transactions(input_path, labels)
        console.print(
            f"{len(transactions):,} transactions, "
            f"{int(transactions['label'].sum()):,} labelled fraud, from {source.path}"
        )
        if engine is Engine.SPARK and features_table is None:
            features_table = _spark_features(transactions, out, settings.label_delay_days)
        if not no_save:
            _open_store()
        with _progress() as progress:
            task = progress.add_task(
                "features (point in time)",
                total=len(transactions),
                visible=features_table is None,
            )
            result = train_fraud(
                transactions,
                source,
                out_dir=out,
                settings=settings,
                costs=CostSettings(),
                bounds={
                    "train_from": _utc(train_from),
                    "train_to": _utc(train_to),
                    "test_from": _utc(test_from),
                    "test_to": _utc(test_to),
                },
                predictions_out=predictions_out,
                feature_table=features_table,
                save=not no_save,
                progress=lambda done, total: progress.update(task, completed=done),
                log=console.print,
            )
    except (InputError, TrainingError, LeakageError, ValueError) as error:
        console.print(f"[red]cannot train:[/] {error}")
        raise typer.Exit(2) from error
    _print_report(result.report)
    console.print(f"report {result.report_path}; plots {', '.join(result.plots)}")
    if result.tag:
        if promote:
            promote_command(result.tag)
        else:
            console.print(
                f"saved [bold]{result.tag}[/]; make it the champion with "
                f"`ecap models promote {result.tag}`"
            )


@train_app.command("churn")
def train_churn_command(
    input_path: Input,
    out: Out = Path(".run/reports/churn"),
    horizon_days: Annotated[
        int | None,
        typer.Option(help="churned: no purchase in this many days after the cutoff (default 60)"),
    ] = None,
    test_cutoff: Annotated[
        datetime | None,
        typer.Option(formats=DATE_FORMATS, help="default: the last horizon before the data ends"),
    ] = None,
    predictions_out: PredictionsOut = None,
    no_save: NoSave = False,
    promote: Promote = False,
) -> None:
    """Train the churn model at one cutoff and evaluate it at a later one."""
    from models.training.churn import train_churn
    from models.training.churn_data import load_churn_sources_with_provenance
    from models.training.fraud import TrainingError

    settings = _settings(churn_horizon_days=horizon_days)
    try:
        sources, provenance = load_churn_sources_with_provenance(input_path)
        if not no_save:
            _open_store()
        with console.status("features as of each cutoff (online executor)"):
            result = train_churn(
                sources,
                provenance,
                out_dir=out,
                settings=settings,
                test_cutoff=_utc(test_cutoff),
                predictions_out=predictions_out,
                save=not no_save,
                log=console.print,
            )
    except (InputError, TrainingError, ValueError) as error:
        console.print(f"[red]cannot train:[/] {error}")
        raise typer.Exit(2) from error
    _print_report(result.report)
    console.print(f"report {result.report_path}; plots {', '.join(result.plots)}")
    if result.tag:
        console.print(f"saved [bold]{result.tag}[/]")
        if promote:
            promote_command(result.tag)


def _spark_features(transactions, out: Path, label_delay_days: float) -> Path:
    """Run the Spark executor (its own process: models do not import Spark) on the
    normalised transactions; returns the feature table it wrote."""
    work = out / "spark"
    work.mkdir(parents=True, exist_ok=True)
    rows, features = work / "transactions.parquet", work / "features"
    transactions.to_parquet(rows, index=False)
    console.print("features (point in time) with Spark: python -m spark.jobs.fraud_features")
    argv = [
        sys.executable,
        "-m",
        "spark.jobs.fraud_features",
        "--input",
        str(rows),
        "--out",
        str(features),
        "--label-delay-days",
        str(label_delay_days),
    ]
    if subprocess.run(argv, check=False).returncode != 0:
        raise ValueError("the Spark feature job failed (its output is above)")
    return features


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)


def _print_report(report: dict) -> None:
    table = Table(title=f"{report['model']} model, test period")
    metrics = ["auc_roc", "average_precision", "brier", "lift_top_decile", "positives", "rows"]
    table.add_column("metric")
    table.add_column("xgboost")
    table.add_column("logistic baseline")
    for metric in metrics:
        if metric in report["xgboost"]:
            table.add_row(
                metric,
                _fmt(report["xgboost"][metric]),
                _fmt(report["baseline_logistic"].get(metric)),
            )
    if "precision_at_k" in report["xgboost"]:
        k = report["xgboost"]["precision_at_k"]["k"]
        table.add_row(
            f"customer precision@{k} (daily mean)",
            _fmt(report["xgboost"]["precision_at_k"]["mean"]),
            _fmt(report["baseline_logistic"]["precision_at_k"]["mean"]),
        )
    Console(width=120).print(table)
    if report["features"]["skipped"]:
        console.print(f"skipped features (missing columns): {report['features']['skipped']}")
    if "thresholds" in report:
        t = report["thresholds"]
        console.print(f"thresholds: REVIEW >= {t['review']:.4f}, DECLINE >= {t['decline']:.4f}")
        console.print(f"confusion at thresholds: {json.dumps(report['confusion_at_thresholds'])}")


def _open_store() -> Path:
    from models.training.store import open_store

    return open_store(ModelStoreSettings())


@models_app.command("list")
def list_command(
    kind: Annotated[str | None, typer.Option(help="fraud or churn")] = None,
) -> None:
    """Model versions in the store with their test metrics; * marks the champion."""
    from models.training.store import StoreError, list_models

    home = _open_store()
    try:
        models = list_models(home, kind)
    except StoreError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from error
    table = Table(title=f"Models in {home}")
    for column in ("", "tag", "created", "AUC", "AP", "Brier", "features", "training data"):
        table.add_column(column)
    for model in models:
        metrics = model.metadata.get("metrics", {})
        table.add_row(
            "*" if model.champion else "",
            model.tag,
            model.created_at.strftime("%Y-%m-%d %H:%M"),
            _fmt(metrics.get("auc_roc")),
            _fmt(metrics.get("average_precision")),
            _fmt(metrics.get("brier")),
            str(model.metadata.get("feature_hash", ""))[:12],
            str(model.metadata.get("training_table", "")),
        )
    Console(width=200).print(table)


@models_app.command("promote")
def promote_command(tag: Annotated[str, typer.Argument(help="e.g. ecap-fraud:abc123")]) -> None:
    """Make model TAG the champion of its kind (what serving loads)."""
    from models.training.store import StoreError, promote

    home = _open_store()
    try:
        model = promote(home, tag)
    except StoreError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from error
    console.print(f"{model.tag} is now the {model.kind} champion")


@models_app.command("bootstrap")
def bootstrap_command(
    kind: Annotated[str, typer.Argument(help="fraud or churn")],
    world: Annotated[
        Path, typer.Option(help="where the simulated training world is written (kept)")
    ] = Path(".run/models/world"),
    days: Annotated[
        int, typer.Option(min=14, help="days of simulated history (churn needs 2 horizons)")
    ] = 150,
    customers: Annotated[int, typer.Option(min=100, help="simulated customers")] = 1500,
    seed: Annotated[int, typer.Option(help="the simulated world's seed")] = 7,
) -> None:
    """Make sure KIND has a champion: when the store has none (a fresh machine), simulate a
    shop's history once and train and promote a first model on it, so serving has a model
    to load. A store with a champion is left alone."""
    from models.training.store import champion_tag

    if kind not in ("fraud", "churn"):
        console.print(f"[red]kind must be fraud or churn, not {kind!r}[/]")
        raise typer.Exit(2)
    home = _open_store()
    tag = champion_tag(home, kind)
    if tag is not None:
        console.print(f"{kind} champion: {tag}")
        return
    console.print(
        f"no {kind} champion in {home}: training a first one on a simulated world "
        f"({customers:,} customers, {days} days; once per machine)"
    )
    if not (world / "transactions").exists():
        simulate = [sys.executable, "-m", "services.simulator", "--seed", str(seed)]
        simulate += ["--customers", str(customers), "--days", str(days), "--out", str(world)]
        subprocess.run(simulate, check=True)
    reports = Path(".run/reports") / f"{kind}-bootstrap"
    if kind == "fraud":
        train_fraud_command(world, out=reports, promote=True)
    else:
        train_churn_command(world, out=reports, promote=True)


@models_app.command("drift")
def drift_command(
    tag: Annotated[str | None, typer.Option(help="default: the fraud champion")] = None,
    top: Annotated[int, typer.Option(help="how many of the worst features to print")] = 10,
) -> None:
    """Compare the live features and scores of a fraud model's decisions with its training
    distributions, hour by hour (population stability index, a Spark job writing gold
    `feature_drift`), and print the latest hour's worst features."""
    import tempfile

    from models.training.store import StoreError, champion_tag, load_model

    home = _open_store()
    tag = tag or champion_tag(home, "fraud")
    if tag is None:
        console.print("[red]no fraud champion: pass --tag or promote a model[/]")
        raise typer.Exit(2)
    try:
        _, metadata = load_model(tag)
    except StoreError as error:
        console.print(f"[red]{error}[/]")
        raise typer.Exit(2) from error
    reference = metadata.get("reference_distributions")
    if not reference:
        console.print(
            f"[red]{tag} predates drift monitoring (no training distributions): retrain[/]"
        )
        raise typer.Exit(2)
    with tempfile.NamedTemporaryFile("w", suffix=".json") as file:
        json.dump(reference, file)
        file.flush()
        argv = [sys.executable, "-m", "spark.jobs.drift", file.name, "--model-tag", tag]
        if subprocess.run([*argv, "--top", str(top)], check=False).returncode != 0:
            console.print("[red]the drift job failed (its output is above)[/]")
            raise typer.Exit(1)
