"""Writing a few rows into any declared lake table with delta-rs: no JVM, a second or so for
a whole small lake, for tests of what reads the lake (the analytics and scoring services).

The rows are dicts of some of the table's declared columns; the others are null. The
table's partitioning is the catalogue's, as the jobs and streams write it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa
from deltalake import write_deltalake

from spark.config import SparkSettings
from spark.tables import TABLES
from tests.support.bench_lake import arrow_schema


def arrow_rows(name: str, rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """`rows` as an Arrow table with the declared schema of table `name`."""
    if name not in TABLES:
        raise ValueError(f"table: no table {name!r} in the catalogue; declared: {sorted(TABLES)}")
    schema = arrow_schema(TABLES[name])
    rows = list(rows)
    unknown = sorted({column for row in rows for column in row} - set(schema.names))
    if unknown:
        raise ValueError(f"table {name}: no declared column(s) {unknown}")
    return pa.Table.from_pylist([{c: row.get(c) for c in schema.names} for row in rows], schema)


def write_rows(lake: SparkSettings, name: str, rows: Iterable[Mapping[str, Any]]) -> None:
    """Append `rows` to table `name` of `lake` (creating the table on the first write)."""
    spec = TABLES[name]
    write_deltalake(
        spec.uri(lake),
        arrow_rows(name, rows),
        partition_by=list(spec.partition_by) or None,
        mode="append",
    )
