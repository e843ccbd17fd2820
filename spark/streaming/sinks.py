"""Writers shared by the streams: create declared tables, and idempotent MERGEs.

Every write a micro-batch makes is idempotent on its own, because Spark replays a batch
whose commit did not reach the checkpoint: insert-only MERGEs on the table's key never
insert a row twice, and upserts recompute the same values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from delta.tables import DeltaMergeBuilder, DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql.streaming import DataStreamWriter

from spark.config import SparkSettings
from spark.tables import TableSpec


@dataclass(frozen=True)
class Trigger:
    """When a stream runs micro-batches: every `interval_s`, or (None) until caught up."""

    interval_s: float | None = None

    def apply(self, writer: DataStreamWriter) -> DataStreamWriter:
        """`writer` with this trigger set."""
        if self.interval_s is None:
            return writer.trigger(availableNow=True)
        return writer.trigger(processingTime=f"{self.interval_s:g} seconds")


def ensure_table(spark: SparkSession, spec: TableSpec, settings: SparkSettings) -> str:
    """Create `spec`'s Delta table, empty, unless it exists; return its URI."""
    uri = spec.uri(settings)
    (
        DeltaTable.createIfNotExists(spark)
        .location(uri)
        .addColumns(spec.spark_schema())
        .partitionedBy(*spec.partition_by)
        .comment(spec.description)
        .execute()
    )
    return uri


def _on_key(spec: TableSpec, pinned: dict[str, str] | None = None) -> str:
    # Null-safe equality: a null key part (say, an unknown country) must still match itself.
    condition = [f"t.`{column}` <=> s.`{column}`" for column in spec.key]
    # Literal partition values let Delta prune the files the MERGE reads.
    condition += [f"t.`{column}` = {value}" for column, value in (pinned or {}).items()]
    return " AND ".join(condition)


def _merge(
    spark: SparkSession,
    spec: TableSpec,
    settings: SparkSettings,
    rows: DataFrame,
    pinned: dict[str, str] | None,
    extra_columns: Sequence[str],
) -> DeltaMergeBuilder:
    source = rows.select(*spec.column_names, *extra_columns).alias("s")
    target = DeltaTable.forPath(spark, spec.uri(settings))
    present = set(target.toDF().columns)
    lacking = [column for column in spec.column_names if column not in present]
    lacking_keys = [column for column in spec.key if column in lacking]
    if lacking_keys:
        raise OutdatedTableError(
            f"table {spec.name} at {spec.uri(settings)} has no key column(s) "
            f"{', '.join(lacking_keys)}: it was written before the catalogue declared its "
            f"key as ({', '.join(spec.key)}). Rows cannot be matched by a key they lack; "
            "stop the lake job and move the table and its stream's checkpoint aside (a gold "
            "table is then recomputed from silver)"
        )
    merge = target.alias("t").merge(source, _on_key(spec, pinned))
    # Columns beyond the table's come from fields added to a proto (`extra_columns`) or to
    # the catalogue: the table gains them (older rows read null) instead of the write failing.
    return merge.withSchemaEvolution() if extra_columns or lacking else merge


class OutdatedTableError(RuntimeError):
    """A table's stored schema cannot take the catalogue's rows without a rebuild."""


def insert_new(
    spark: SparkSession,
    spec: TableSpec,
    settings: SparkSettings,
    rows: DataFrame,
    *,
    pinned: dict[str, str] | None = None,
    extra_columns: Sequence[str] = (),
) -> None:
    """Insert the `rows` whose key is not in the table yet (rows must be unique per key).

    `extra_columns` of `rows`, beyond the declared ones, are added to the table if missing.
    """
    _merge(spark, spec, settings, rows, pinned, extra_columns).whenNotMatchedInsertAll().execute()


def upsert(
    spark: SparkSession,
    spec: TableSpec,
    settings: SparkSettings,
    rows: DataFrame,
    *,
    only_if: str | None = None,
    extra_columns: Sequence[str] = (),
) -> None:
    """Insert the `rows` whose key is new and overwrite the rows whose key exists.

    `only_if` (SQL over `t`, the table, and `s`, the new row) limits which existing rows are
    overwritten, e.g. only by a newer version.
    """
    (
        _merge(spark, spec, settings, rows, None, extra_columns)
        .whenMatchedUpdateAll(condition=only_if)
        .whenNotMatchedInsertAll()
        .execute()
    )
