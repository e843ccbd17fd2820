"""The protobuf -> Spark mapping of spark.protobuf, checked without a JVM.

Expected schemas and rows are written out by hand, field by field, from what the protos
declare and from Spark's from_protobuf mapping; nothing expected is computed by the code
under test.
"""

from __future__ import annotations

import datetime as dt

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor_pb2 import FieldDescriptorProto as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DayTimeIntervalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from ecap.v1 import common_pb2
from spark.protobuf import (
    ProtobufSchemaError,
    _Decoder,
    descriptor_set_bytes,
    message_to_row,
    spark_schema,
)

MONEY = StructType([StructField("amount_minor", LongType()), StructField("currency", StringType())])
LOCATION = StructType(
    [
        StructField("country", StringType()),
        StructField("region", StringType()),
        StructField("city", StringType()),
        StructField(
            "point",
            StructType(
                [StructField("latitude", DoubleType()), StructField("longitude", DoubleType())]
            ),
        ),
    ]
)
TRANSACTION = StructType(
    [
        StructField("transaction_id", StringType()),
        StructField("customer_id", StringType()),
        StructField("merchant_id", StringType()),
        StructField("session_id", StringType()),
        StructField("amount", MONEY),
        StructField(
            "items",
            ArrayType(
                StructType(
                    [
                        StructField("product_id", StringType()),
                        StructField("quantity", IntegerType()),
                        StructField("unit_price", MONEY),
                    ]
                ),
                containsNull=False,
            ),
        ),
        StructField("payment_method", StringType()),
        StructField("card_fingerprint", StringType()),
        StructField(
            "device",
            StructType(
                [
                    StructField("device_id", StringType()),
                    StructField("type", StringType()),
                    StructField("os", StringType()),
                    StructField("user_agent", StringType()),
                ]
            ),
        ),
        StructField("ip_address", StringType()),
        StructField("location", LOCATION),
        StructField("channel", StringType()),
        StructField("occurred_at", TimestampType()),
    ]
)


def test_transaction_schema_follows_the_proto() -> None:
    assert spark_schema("ecap.v1.Transaction") == TRANSACTION


def test_duration_becomes_a_day_time_interval() -> None:
    schema = spark_schema("ecap.v1.Decision")
    assert schema["latency"].dataType == DayTimeIntervalType()
    assert schema["decided_at"].dataType == TimestampType()
    assert schema["reasons"].dataType.elementType["contribution"].dataType == DoubleType()


def test_unknown_message_names_the_fix() -> None:
    with pytest.raises(ProtobufSchemaError, match="fully qualified"):
        spark_schema("Transaction")


def test_full_transaction_row() -> None:
    txn = common_pb2.Transaction(
        transaction_id="t-1",
        customer_id="c-1",
        merchant_id="m-1",
        session_id="s-1",
        amount=common_pb2.Money(amount_minor=2500, currency="EUR"),
        items=[
            common_pb2.LineItem(
                product_id="p-1",
                quantity=2,
                unit_price=common_pb2.Money(amount_minor=1250, currency="EUR"),
            )
        ],
        payment_method=common_pb2.PAYMENT_METHOD_WALLET,
        card_fingerprint="fp",
        device=common_pb2.Device(
            device_id="d-1", type=common_pb2.DEVICE_TYPE_APP, os="iOS 18", user_agent="ua"
        ),
        ip_address="10.1.2.3",
        location=common_pb2.Location(
            country="DE",
            region="Berlin",
            city="Berlin",
            point=common_pb2.GeoPoint(latitude=52.5, longitude=13.4),
        ),
        channel=common_pb2.CHANNEL_EMAIL,
    )
    txn.occurred_at.seconds = 1_790_000_000
    txn.occurred_at.nanos = 123_456_789
    assert message_to_row(txn) == (
        "t-1",
        "c-1",
        "m-1",
        "s-1",
        (2500, "EUR"),
        [("p-1", 2, (1250, "EUR"))],
        "PAYMENT_METHOD_WALLET",
        "fp",
        ("d-1", "DEVICE_TYPE_APP", "iOS 18", "ua"),
        "10.1.2.3",
        ("DE", "Berlin", "Berlin", (52.5, 13.4)),
        "CHANNEL_EMAIL",
        dt.datetime(2026, 9, 21, 14, 13, 20, 123_456, tzinfo=dt.UTC),
    )


def test_defaults_are_emitted_and_unset_messages_are_null() -> None:
    txn = common_pb2.Transaction(transaction_id="t-2", amount=common_pb2.Money())
    row = message_to_row(txn)
    assert row == (
        "t-2", "", "", "",
        (0, ""),
        [],
        "PAYMENT_METHOD_UNSPECIFIED",
        "",
        None,
        "",
        None,
        "CHANNEL_UNSPECIFIED",
        None,
    )  # fmt: skip


def test_without_emit_default_values_zero_scalars_are_null() -> None:
    txn = common_pb2.Transaction(transaction_id="t-3", amount=common_pb2.Money())
    assert message_to_row(txn, emit_default_values=False) == (
        "t-3", None, None, None,
        (None, None),
        [],
        None, None, None, None, None, None, None,
    )  # fmt: skip


def _probe_descriptor_set() -> bytes:
    """A proto3 file with the field kinds ECAP's protos do not use yet."""
    file = descriptor_pb2.FileDescriptorProto(name="probe.proto", package="probe", syntax="proto3")
    file.dependency.append("google/protobuf/duration.proto")
    probe = file.message_type.add(name="Probe")
    fields = [
        ("u32", F.TYPE_UINT32),
        ("u64", F.TYPE_UINT64),
        ("f", F.TYPE_FLOAT),
        ("raw", F.TYPE_BYTES),
        ("flag", F.TYPE_BOOL),
        ("s32", F.TYPE_SINT32),
    ]
    for number, (name, kind) in enumerate(fields, start=1):
        probe.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL)
    entry = probe.nested_type.add(name="CountsEntry")
    entry.options.map_entry = True
    entry.field.add(name="key", number=1, type=F.TYPE_STRING, label=F.LABEL_OPTIONAL)
    entry.field.add(name="value", number=2, type=F.TYPE_INT64, label=F.LABEL_OPTIONAL)
    probe.field.add(
        name="counts", number=7, type=F.TYPE_MESSAGE, label=F.LABEL_REPEATED,
        type_name=".probe.Probe.CountsEntry",
    )  # fmt: skip
    probe.field.add(
        name="wait", number=8, type=F.TYPE_MESSAGE, label=F.LABEL_OPTIONAL,
        type_name=".google.protobuf.Duration",
    )  # fmt: skip
    probe.field.add(
        name="tags", number=9, type=F.TYPE_STRING, label=F.LABEL_REPEATED,
    )  # fmt: skip
    probe.field.add(
        name="maybe", number=10, type=F.TYPE_INT32, label=F.LABEL_OPTIONAL,
        proto3_optional=True, oneof_index=0,
    )  # fmt: skip
    probe.oneof_decl.add(name="_maybe")
    duration = descriptor_pb2.FileDescriptorProto()
    descriptor_pool.Default().FindFileByName("google/protobuf/duration.proto").CopyToProto(duration)
    # Dependencies last: the decoder must order the set itself, as buf's output is not.
    return descriptor_pb2.FileDescriptorSet(file=[file, duration]).SerializeToString()


def test_scalar_map_and_duration_mapping() -> None:
    schema = spark_schema("probe.Probe", _probe_descriptor_set())
    assert schema == StructType(
        [
            StructField("u32", IntegerType()),
            StructField("u64", LongType()),
            StructField("f", FloatType()),
            StructField("raw", BinaryType()),
            StructField("flag", BooleanType()),
            StructField("s32", IntegerType()),
            StructField("counts", MapType(StringType(), LongType(), valueContainsNull=False)),
            StructField("wait", DayTimeIntervalType()),
            StructField("tags", ArrayType(StringType(), containsNull=False)),
            StructField("maybe", IntegerType()),
        ]
    )


def _probe_message(descriptor_set: bytes, **values: object) -> bytes:
    pool = descriptor_pool.DescriptorPool()
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set).file
    for file in reversed(files):
        pool.Add(file)
    probe_class = message_factory.GetMessageClass(pool.FindMessageTypeByName("probe.Probe"))
    return probe_class(**values).SerializeToString()


def test_decoder_values_match_java_semantics() -> None:
    descriptor_set = _probe_descriptor_set()
    decode = _Decoder(descriptor_set, "probe.Probe", emit_default_values=True, mode="FAILFAST")
    payload = _probe_message(
        descriptor_set,
        u32=4_000_000_000,
        u64=2**64 - 1,
        f=0.5,
        raw=b"\x00\xff",
        flag=True,
        s32=-7,
        counts={"a": 1},
        wait={"seconds": -1, "nanos": -500_000_000},
        tags=["x", "y"],
    )
    assert decode(payload) == (
        4_000_000_000 - 2**32,  # Java has no unsigned int: the bits read as a signed value
        -1,
        0.5,
        b"\x00\xff",
        True,
        -7,
        {"a": 1},
        dt.timedelta(seconds=-1.5),
        ["x", "y"],
        None,  # proto3 `optional`, unset: explicit presence means null
    )


def test_malformed_bytes_fail_fast_or_become_null() -> None:
    garbage = b"\xff\xff\xff"
    strict = _Decoder(descriptor_set_bytes(), "ecap.v1.Money", True, "FAILFAST")
    with pytest.raises(ValueError, match=r"malformed ecap\.v1\.Money"):
        strict(garbage)
    lenient = _Decoder(descriptor_set_bytes(), "ecap.v1.Money", True, "PERMISSIVE")
    assert lenient(garbage) is None
    assert lenient(None) is None
