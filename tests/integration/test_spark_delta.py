"""Kafka -> Spark -> Delta, end to end on a real broker, a real JVM and real files.

Transactions go to Kafka through the project's producer; Spark reads them with the Kafka
source, decodes them against the descriptor set, and writes Delta tables; Spark (time
travel included) and delta-rs both read the tables back. Every comparison is of whole rows
against values written out here from the produced messages and the broker's acks.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyspark
import pytest
from confluent_kafka.admin import NewTopic
from deltalake import DeltaTable, QueryBuilder
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType
from pyspark.testing import assertDataFrameEqual

from ecap.v1 import common_pb2
from services.mesh.kafka.producer import Ack, ProtobufProducer
from services.mesh.kafka.topics import admin_client
from spark.config import SparkSettings
from spark.jars import ensure_jars
from spark.kafka import read_topic, read_topic_stream
from spark.protobuf import decode_kafka
from spark.streaming.sinks import OutdatedTableError, upsert
from spark.tables import TABLES, TableSpec
from tests.fixtures.kafka import make_transactions

pytestmark = pytest.mark.integration

TRANSACTION = "ecap.v1.Transaction"
PARTITIONS = 2


def _new_topic(bootstrap: str) -> str:
    """A fresh two-partition topic, so that no other test's records show up."""
    name = f"spark-it-{uuid.uuid4().hex[:12]}"
    admin = admin_client(bootstrap)  # must outlive the future: it owns the request
    futures = admin.create_topics([NewTopic(name, num_partitions=PARTITIONS, replication_factor=1)])
    futures[name].result(timeout=30)
    return name


def _produce(bootstrap: str, topic: str, messages: Sequence[common_pb2.Transaction]) -> list[Ack]:
    with ProtobufProducer(bootstrap, client_id="spark-it") as producer:
        futures = [producer.send(topic, message) for message in messages]
        return [future.result(timeout=30) for future in futures]


def _sparse_transactions() -> list[common_pb2.Transaction]:
    """Transactions that leave messages unset and scalars and enums at their defaults."""
    bare = common_pb2.Transaction(
        transaction_id="t-sparse-1",
        customer_id="c-sparse",
        merchant_id="m-1",
        amount=common_pb2.Money(amount_minor=0, currency="EUR"),
    )
    no_point = common_pb2.Transaction(
        transaction_id="t-sparse-2",
        customer_id="c-sparse",
        merchant_id="m-2",
        amount=common_pb2.Money(amount_minor=-499, currency="USD"),
        location=common_pb2.Location(country="US"),
        payment_method=common_pb2.PAYMENT_METHOD_GIFT_CARD,
    )
    no_point.occurred_at.FromDatetime(datetime(2026, 11, 2, 23, 59, 59, 999_999, tzinfo=UTC))
    return [bare, no_point]


def _money(money: common_pb2.Money) -> dict[str, Any]:
    return {"amount_minor": money.amount_minor, "currency": money.currency}


def _expected_message(txn: common_pb2.Transaction) -> dict[str, Any]:
    """The decoded row of `txn`: messages null when unset, proto3 scalars at their value."""
    location = None
    if txn.HasField("location"):
        loc = txn.location
        point = loc.point if loc.HasField("point") else None
        location = {
            "country": loc.country,
            "region": loc.region,
            "city": loc.city,
            "point": point and {"latitude": point.latitude, "longitude": point.longitude},
        }
    device = None
    if txn.HasField("device"):
        device = {
            "device_id": txn.device.device_id,
            "type": common_pb2.DeviceType.Name(txn.device.type),
            "os": txn.device.os,
            "user_agent": txn.device.user_agent,
        }
    return {
        "transaction_id": txn.transaction_id,
        "customer_id": txn.customer_id,
        "merchant_id": txn.merchant_id,
        "session_id": txn.session_id,
        "amount": _money(txn.amount) if txn.HasField("amount") else None,
        "items": [
            {
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": _money(item.unit_price),
            }
            for item in txn.items
        ],
        "payment_method": common_pb2.PaymentMethod.Name(txn.payment_method),
        "card_fingerprint": txn.card_fingerprint,
        "device": device,
        "ip_address": txn.ip_address,
        "location": location,
        "channel": common_pb2.Channel.Name(txn.channel),
        "occurred_at": (
            txn.occurred_at.ToDatetime(tzinfo=UTC) if txn.HasField("occurred_at") else None
        ),
    }


def _expected(
    spark: SparkSession,
    like: DataFrame,
    messages: Sequence[common_pb2.Transaction],
    acks: Sequence[Ack],
) -> DataFrame:
    """The decoded records of `messages`, without the broker-set `timestamp` column."""
    rows = [
        {
            "topic": ack.topic,
            "partition": ack.partition,
            "offset": ack.offset,
            "key": txn.customer_id,
            "ce_type": TRANSACTION,
            "message": _expected_message(txn),
        }
        for txn, ack in zip(messages, acks, strict=True)
    ]
    return spark.createDataFrame(rows, schema=like.drop("timestamp").schema)


def _next_offsets(table: DataFrame, topic: str) -> str:
    """Kafka `startingOffsets` that resume right after the records already in `table`."""
    ends = {row.partition: row.last + 1 for row in table.groupBy("partition").agg(
        F.max("offset").alias("last")
    ).collect()}  # fmt: skip
    return json.dumps({topic: {str(p): ends.get(p, -2) for p in range(PARTITIONS)}})


def _delta_rs_rows(table: Path, version: int | None = None) -> list[tuple[Any, ...]]:
    """The rows of a Delta table as delta-rs reads them (what the analytics service sees)."""
    delta = DeltaTable(str(table), version=version)
    reader = QueryBuilder().register("t", delta).execute("SELECT * FROM t")
    return duckdb.from_arrow(reader).fetchall()


def test_topic_to_delta_with_time_travel_read_back_by_delta_rs(
    spark: SparkSession, kafka_bootstrap: str, lake_dir: Path
) -> None:
    topic = _new_topic(kafka_bootstrap)
    first = make_transactions(12, seed=11) + _sparse_transactions()
    produced_from = datetime.now(UTC).replace(microsecond=0)
    first_acks = _produce(kafka_bootstrap, topic, first)

    batch = decode_kafka(read_topic(spark, kafka_bootstrap, topic), TRANSACTION)
    assertDataFrameEqual(batch.drop("timestamp"), _expected(spark, batch, first, first_acks))
    stamps = batch.agg(F.min("timestamp"), F.max("timestamp")).first()
    # pyspark hands timestamps over as naive local times.
    assert produced_from <= stamps[0].astimezone(UTC) <= stamps[1].astimezone(UTC)

    table = lake_dir / "transactions"
    batch.write.format("delta").save(str(table))
    v0 = spark.read.format("delta").load(str(table))

    second = make_transactions(8, seed=12)
    second_acks = _produce(kafka_bootstrap, topic, second)
    increment = decode_kafka(
        read_topic(spark, kafka_bootstrap, topic, starting_offsets=_next_offsets(v0, topic)),
        TRANSACTION,
    )
    increment.write.format("delta").mode("append").save(str(table))

    as_of_0 = spark.read.format("delta").option("versionAsOf", 0).load(str(table))
    latest = spark.read.format("delta").load(str(table))
    assertDataFrameEqual(as_of_0.drop("timestamp"), _expected(spark, batch, first, first_acks))
    assertDataFrameEqual(
        latest.drop("timestamp"),
        _expected(spark, batch, first + second, first_acks + second_acks),
    )

    for version, spark_read in ((0, as_of_0), (None, latest)):
        delta_rs = spark.createDataFrame(_delta_rs_rows(table, version), schema=latest.schema)
        assertDataFrameEqual(delta_rs, spark_read)


def test_stream_appends_each_record_exactly_once(
    spark: SparkSession,
    spark_settings: SparkSettings,
    kafka_bootstrap: str,
    lake_dir: Path,
) -> None:
    topic = _new_topic(kafka_bootstrap)
    table = str(lake_dir / "bronze")
    checkpoint = spark_settings.checkpoint_location(f"test-{topic}")
    stream = decode_kafka(read_topic_stream(spark, kafka_bootstrap, topic), TRANSACTION)

    def drain() -> None:
        query = (
            stream.writeStream.format("delta")
            .option("checkpointLocation", checkpoint)
            .trigger(availableNow=True)
            .start(table)
        )
        query.awaitTermination()

    first = make_transactions(6, seed=21)
    first_acks = _produce(kafka_bootstrap, topic, first)
    drain()
    second = make_transactions(5, seed=22) + _sparse_transactions()
    second_acks = _produce(kafka_bootstrap, topic, second)
    drain()
    drain()  # nothing new: the checkpoint must keep it from appending anything again

    written = spark.read.format("delta").load(table)
    assertDataFrameEqual(
        written.drop("timestamp"),
        _expected(spark, written, first + second, first_acks + second_acks),
    )
    as_of_0 = spark.read.format("delta").option("versionAsOf", 0).load(table)
    assertDataFrameEqual(as_of_0.drop("timestamp"), _expected(spark, written, first, first_acks))


def _artifact(jar: str) -> str:
    # "kafka-clients-3.9.2.jar" -> "kafka-clients", "hive-exec-2.3.10-core.jar" -> "hive-exec",
    # "spark-sql-kafka-0-10_2.13-4.2.0.jar" -> "spark-sql-kafka-0-10_2.13"
    match = re.match(r"(.+?)-\d+(\.\d+)+[^/]*\.jar$", jar)
    assert match, jar
    return match.group(1)


def test_added_jars_do_not_duplicate_what_pyspark_ships(spark_settings: SparkSettings) -> None:
    ours = {_artifact(jar.name) for jar in ensure_jars(spark_settings)}
    pyspark_jars = Path(pyspark.__file__).parent / "jars"
    shipped = {_artifact(jar.name) for jar in pyspark_jars.glob("*.jar")}
    assert {"delta-spark_4.2_2.13", "spark-sql-kafka-0-10_2.13", "kafka-clients"} <= ours
    assert not ours & shipped


def test_a_table_written_before_a_column_was_declared_reads_with_it_as_nulls(
    spark: SparkSession, tmp_path: Path
) -> None:
    spec = TABLES["transaction_items"]
    settings = SparkSettings(lake_uri=str(tmp_path / "lake"))
    older = [name for name in spec.column_names if name != "category"]
    schema = spec.spark_schema()
    row = tuple("t-1" if name == "transaction_id" else None for name in older)
    frame = spark.createDataFrame([row], StructType([f for f in schema.fields if f.name in older]))
    frame.write.format("delta").save(spec.uri(settings))

    read = spec.read(spark, settings)
    assert read.columns[: len(older)] == older
    assert set(read.columns) == set(spec.column_names)
    assert read.schema["category"].dataType == schema["category"].dataType
    assert [tuple(r) for r in read.select("category", "transaction_id").collect()] == [
        (None, "t-1")
    ]


def test_a_stream_over_a_table_carries_on_after_retention_deletes_rows(
    spark: SparkSession, tmp_path: Path
) -> None:
    spec = TABLES["transaction_items"]
    settings = SparkSettings(lake_uri=str(tmp_path / "lake"))
    schema = spec.spark_schema()

    def append(ids: list[str]) -> None:
        rows = [tuple(i if f.name == "transaction_id" else None for f in schema) for i in ids]
        spark.createDataFrame(rows, schema).write.format("delta").mode("append").save(
            spec.uri(settings)
        )

    seen: list[str] = []

    def catch_up() -> None:
        query = (
            spec.read_stream(spark, settings)
            .writeStream.foreachBatch(
                lambda batch, _id: seen.extend(
                    r[0] for r in batch.select("transaction_id").collect()
                )
            )
            .option("checkpointLocation", str(tmp_path / "checkpoint"))
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(120)
        assert query.exception() is None, query.exception()

    append(["t-1", "t-2"])
    catch_up()
    DeltaTable(spec.uri(settings)).delete("transaction_id = 't-1'")  # as retention does
    append(["t-3"])
    catch_up()
    assert sorted(seen) == ["t-1", "t-2", "t-3"]


def _older_table(spark: SparkSession, spec: TableSpec, settings: SparkSettings, without: str):
    schema = StructType([f for f in spec.spark_schema().fields if f.name != without])
    spark.createDataFrame([], schema).write.format("delta").save(spec.uri(settings))


def _kpi_row(spark: SparkSession, spec: TableSpec) -> DataFrame:
    values = {"minute": datetime(2026, 11, 26, 9, 30, tzinfo=UTC), "country": "DE"}
    values |= {"channel": "web", "currency": "EUR", "category": "books", "orders": 3}
    row = tuple(values.get(name) for name in spec.column_names)
    return spark.createDataFrame([row], spec.spark_schema())


def test_an_upsert_adds_the_declared_columns_an_older_table_lacks(
    spark: SparkSession, tmp_path: Path
) -> None:
    spec = TABLES["kpi_minute"]
    settings = SparkSettings(lake_uri=str(tmp_path / "lake"))
    _older_table(spark, spec, settings, without="decisions")
    upsert(spark, spec, settings, _kpi_row(spark, spec))
    rows = DeltaTable(spec.uri(settings)).to_pyarrow_table().to_pylist()
    assert [(r["category"], r["orders"], r["decisions"]) for r in rows] == [("books", 3, None)]


def test_an_older_table_without_a_declared_key_column_is_named_not_merged(
    spark: SparkSession, tmp_path: Path
) -> None:
    spec = TABLES["kpi_minute"]
    settings = SparkSettings(lake_uri=str(tmp_path / "lake"))
    _older_table(spark, spec, settings, without="category")
    with pytest.raises(OutdatedTableError, match=r"kpi_minute .* no key column\(s\) category"):
        upsert(spark, spec, settings, _kpi_row(spark, spec))
