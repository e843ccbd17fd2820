"""Delta tables read without a JVM: delta-rs for the log, pyarrow for the files.

Plain Python (no pyspark), so the services may import it beside the catalogue.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
from deltalake import DeltaTable
from deltalake.exceptions import TableNotFoundError

from spark.maintenance import delta_rs_uri


def open_delta(uri: str, version: int | None = None) -> DeltaTable | None:
    """The Delta table at `uri` (at `version`), or None when nothing was written there."""
    uri = delta_rs_uri(uri)
    if "://" not in uri and not Path(uri, "_delta_log").is_dir():
        return None
    try:
        return DeltaTable(uri, version=version)
    except TableNotFoundError:
        return None


def arrow_dataset(table: DeltaTable) -> ds.Dataset:
    """The table's files at its loaded version as a pyarrow dataset.

    delta-rs's own `to_pyarrow_dataset` takes seconds on a table of hundreds of partitions
    (16 s for 730 daily partitions: per-file partition parsing in Python), and a streaming
    table makes a version every few seconds. A table that needs neither deletion vectors nor
    column mapping is plain Parquet files with Hive-style partition directories, which pyarrow
    reads directly from the file list in milliseconds; other tables take delta-rs's route.
    """
    protocol = table.protocol()
    features = set(protocol.reader_features or ())
    if protocol.min_reader_version > 1 or features & {"deletionVectors", "columnMapping"}:
        return table.to_pyarrow_dataset()
    schema = pa.schema(table.schema().to_arrow())
    partitions = table.metadata().partition_columns
    partitioning = ds.HivePartitioning(pa.schema([schema.field(name) for name in partitions]))
    return ds.dataset(
        table.file_uris(),
        schema=schema,
        format="parquet",
        partitioning=partitioning,
        partition_base_dir=table.table_uri.removeprefix("file://"),
    )
