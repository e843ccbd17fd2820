"""Per-customer lookups over a real Delta table written with delta-rs: the in-memory index,
the files added after it, and the fall-back scans."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from services.analytics.customer_rows import CustomerRows, KeyedRows
from services.analytics.lake import TableState
from spark.delta_read import arrow_dataset
from spark.tables import TABLES

COLUMNS = {"transactions": ("transaction_id", "customer_id", "amount_minor")}


def _append(path: Path, rows: list[tuple[str, str, int]], mode: str = "append") -> None:
    ids, customers, amounts = zip(*rows, strict=True)
    table = pa.table(
        {
            "transaction_id": list(ids),
            "customer_id": list(customers),
            "amount_minor": pa.array(amounts, pa.int64()),
        }
    )
    write_deltalake(str(path), table, mode=mode)


def _state(path: Path, version: int | None = None) -> TableState:
    table = DeltaTable(str(path), version=version)
    return TableState(TABLES["transactions"], table.version(), None, table.to_pyarrow_dataset())


def _ids(table: pa.Table) -> list[str]:
    return sorted(table["transaction_id"].to_pylist())


def test_keyed_rows_find_every_row_of_a_key_and_nothing_for_others():
    table = pa.table({"customer_id": ["b", "a", "b", None, "c"], "n": [1, 2, 3, 4, 5]})
    rows = KeyedRows(table, "customer_id")
    assert sorted(rows.rows("b")["n"].to_pylist()) == [1, 3]
    assert rows.rows("a")["n"].to_pylist() == [2]
    assert rows.rows("zzz").num_rows == 0
    assert KeyedRows(table.slice(0, 0), "customer_id").rows("a").num_rows == 0


def test_lookups_use_the_index_plus_newer_files_and_scan_when_files_are_gone(tmp_path):
    path = tmp_path / "transactions"
    _append(path, [("t1", "a", 10), ("t2", "b", 20), ("t3", "a", 30)])
    rows = CustomerRows(refresh_s=3600, columns=COLUMNS, key="customer_id")

    assert _ids(rows.rows(_state(path), "a")) == ["t1", "t3"]  # no index yet: a scan
    rows.build(_state(path))
    assert _ids(rows.rows(_state(path), "a")) == ["t1", "t3"]

    _append(path, [("t4", "a", 40), ("t5", "c", 50)])
    assert _ids(rows.rows(_state(path), "a")) == ["t1", "t3", "t4"]  # index + the new file
    assert _ids(rows.rows(_state(path), "c")) == ["t5"]

    # Rewritten (the index's files are gone): the lookup scans the new version.
    _append(path, [("t6", "a", 60)], mode="overwrite")
    assert _ids(rows.rows(_state(path), "a")) == ["t6"]
    # An older version than the index (time travel) is scanned at that version.
    rows.build(_state(path))
    assert _ids(rows.rows(_state(path, version=1), "a")) == ["t1", "t3", "t4"]


def test_tables_in_memory_are_indexed_per_version():
    rows = CustomerRows(refresh_s=3600, columns={}, key="customer_id")
    spec = TABLES["rfm"]
    first = pa.table({"customer_id": ["a", "b"], "frequency": [1, 2]})
    second = pa.table({"customer_id": ["a"], "frequency": [5]})
    assert rows.rows(TableState(spec, 0, None, first), "b")["frequency"].to_pylist() == [2]
    assert rows.rows(TableState(spec, 1, None, second), "a")["frequency"].to_pylist() == [5]
    assert rows.rows(TableState(spec, 0, None, first), "a")["frequency"].to_pylist() == [1]
    assert rows.rows(TableState(spec, -1, None, None), "a").num_rows == 0


def test_the_direct_dataset_reads_what_delta_rs_reads(tmp_path):
    path = str(tmp_path / "partitioned")
    first = pa.table(
        {
            "id": ["a", "b", "c"],
            "day": pa.array([date(2026, 11, 1), date(2026, 11, 2), None], pa.date32()),
            "at": pa.array(
                [datetime(2026, 11, 1, 9, tzinfo=UTC)] * 3, pa.timestamp("us", tz="UTC")
            ),
        }
    )
    write_deltalake(path, first, partition_by=["day"])
    later = first.append_column("extra", pa.array([1.5, None, 2.5])).slice(0, 2)
    write_deltalake(path, later, partition_by=["day"], mode="append", schema_mode="merge")
    table = DeltaTable(path)

    def rows(dataset) -> list[tuple]:
        frame = dataset.to_table().to_pandas().sort_values(["id", "extra"], na_position="first")
        return [tuple(row) for row in frame.astype(object).where(frame.notna(), None).values]

    assert rows(arrow_dataset(table)) == rows(table.to_pyarrow_dataset())
    assert len(rows(arrow_dataset(table))) == 5
