"""Decode Kafka record values (ecap.v1 protobuf messages) into typed Spark columns.

The descriptor set that `make gen` builds from protos/ (`ecap/v1/ecap.binpb`) is the only
schema: `spark_schema("ecap.v1.Transaction")` derives the Spark type of a message from it,
and `decode_protobuf` parses each record's bytes against it, so a field added to a .proto
reaches the lake without a line of Spark code.

Why not `pyspark.sql.protobuf.functions.from_protobuf`: it needs the `spark-protobuf` jar,
and the package registry this project installs from serves no `spark-protobuf_2.13` at all.
This module does the same job in the Python workers and follows from_protobuf's mapping
(Spark's SchemaConverters and ProtobufDeserializer, option `emit.default.values`), so
swapping in the JVM function once its jar can be had changes no table:

- int32/sint32/sfixed32/uint32/fixed32 -> int; 64-bit integers -> bigint (unsigned values
  wrap as Java's do); float, double, bool, string, bytes -> float, double, boolean, string,
  binary; enums -> the value's name;
- google.protobuf.Timestamp -> timestamp; google.protobuf.Duration -> interval day to second;
- messages -> struct; repeated -> array (never null); maps -> map;
- an unset message field (or any field with explicit presence) -> null; a proto3 scalar
  left at its default -> that default (`emit_default_values=True`) or null (`False`, which
  is from_protobuf's own default).

    records = kafka.read_topic(spark, bootstrap, "transactions")
    decoded = decode_kafka(records, "ecap.v1.Transaction")
    decoded.select("offset", "ce_type", "message.transaction_id", "message.amount.*")
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Literal

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError, Message
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DataType,
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

import ecap

DESCRIPTOR_SET = Path(ecap.__file__).parent / "v1" / "ecap.binpb"
# The header naming a record's message type (DESIGN.md, Kafka contract).
CE_TYPE_HEADER = "ce_type"

Mode = Literal["FAILFAST", "PERMISSIVE"]

_SCALAR_TYPES: dict[int, DataType] = {
    FieldDescriptor.TYPE_INT32: IntegerType(),
    FieldDescriptor.TYPE_SINT32: IntegerType(),
    FieldDescriptor.TYPE_SFIXED32: IntegerType(),
    FieldDescriptor.TYPE_UINT32: IntegerType(),
    FieldDescriptor.TYPE_FIXED32: IntegerType(),
    FieldDescriptor.TYPE_INT64: LongType(),
    FieldDescriptor.TYPE_SINT64: LongType(),
    FieldDescriptor.TYPE_SFIXED64: LongType(),
    FieldDescriptor.TYPE_UINT64: LongType(),
    FieldDescriptor.TYPE_FIXED64: LongType(),
    FieldDescriptor.TYPE_FLOAT: FloatType(),
    FieldDescriptor.TYPE_DOUBLE: DoubleType(),
    FieldDescriptor.TYPE_BOOL: BooleanType(),
    FieldDescriptor.TYPE_STRING: StringType(),
    FieldDescriptor.TYPE_BYTES: BinaryType(),
    FieldDescriptor.TYPE_ENUM: StringType(),
}
_UNSIGNED_BITS = {
    FieldDescriptor.TYPE_UINT32: 32,
    FieldDescriptor.TYPE_FIXED32: 32,
    FieldDescriptor.TYPE_UINT64: 64,
    FieldDescriptor.TYPE_FIXED64: 64,
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class ProtobufSchemaError(ValueError):
    """A message cannot be found in, or mapped from, the descriptor set."""


def descriptor_set_bytes(path: Path = DESCRIPTOR_SET) -> bytes:
    """The serialized FileDescriptorSet that protos/ builds (`make gen`)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ProtobufSchemaError(
            f"descriptor set {path} is missing: run `make gen` to build it from protos/"
        ) from None


@cache
def _pool(descriptor_set: bytes) -> descriptor_pool.DescriptorPool:
    files = {f.name: f for f in descriptor_pb2.FileDescriptorSet.FromString(descriptor_set).file}
    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    # A file can only be added after its imports; the set is not ordered that way.
    def add(name: str) -> None:
        if name in added:
            return
        if name not in files:
            raise ProtobufSchemaError(
                f"the descriptor set lacks {name!r}: build it with its imports "
                "(`buf build --as-file-descriptor-set`, as `make gen` does)"
            )
        for dependency in files[name].dependency:
            add(dependency)
        pool.Add(files[name])
        added.add(name)

    for name in files:
        add(name)
    return pool


def message_descriptor(message_name: str, descriptor_set: bytes | None = None) -> Descriptor:
    """The descriptor of `message_name` (e.g. `ecap.v1.Transaction`) in the descriptor set."""
    pool = _pool(descriptor_set if descriptor_set is not None else descriptor_set_bytes())
    try:
        return pool.FindMessageTypeByName(message_name)
    except KeyError:
        raise ProtobufSchemaError(
            f"no message {message_name!r} in the descriptor set; use a fully qualified "
            "name such as 'ecap.v1.Transaction'"
        ) from None


def spark_schema(message_name: str, descriptor_set: bytes | None = None) -> StructType:
    """The Spark type of `message_name`, as from_protobuf maps it."""
    return _struct_type(message_descriptor(message_name, descriptor_set), ())


def _struct_type(descriptor: Descriptor, parents: tuple[str, ...]) -> StructType:
    if descriptor.full_name in parents:
        raise ProtobufSchemaError(
            f"{descriptor.full_name} is recursive ({' -> '.join(parents)}); recursive "
            "messages have no Spark schema"
        )
    nested = (*parents, descriptor.full_name)
    return StructType([_struct_field(field, nested) for field in descriptor.fields])


def _struct_field(field: FieldDescriptor, parents: tuple[str, ...]) -> StructField:
    if _is_map(field):
        key = field.message_type.fields_by_name["key"]
        value = field.message_type.fields_by_name["value"]
        map_type = MapType(
            _element_type(key, parents), _element_type(value, parents), valueContainsNull=False
        )
        return StructField(field.name, map_type, nullable=True)
    element = _element_type(field, parents)
    if field.is_repeated:
        return StructField(field.name, ArrayType(element, containsNull=False), nullable=True)
    return StructField(field.name, element, nullable=not field.is_required)


def _element_type(field: FieldDescriptor, parents: tuple[str, ...]) -> DataType:
    if field.type != FieldDescriptor.TYPE_MESSAGE:
        try:
            return _SCALAR_TYPES[field.type]
        except KeyError:
            raise ProtobufSchemaError(
                f"{field.full_name}: protobuf type {field.type} has no Spark mapping"
            ) from None
    if _is_timestamp(field.message_type):
        return TimestampType()
    if _is_duration(field.message_type):
        return DayTimeIntervalType()
    return _struct_type(field.message_type, parents)


def _is_map(field: FieldDescriptor) -> bool:
    return (
        field.is_repeated
        and field.type == FieldDescriptor.TYPE_MESSAGE
        and field.message_type.GetOptions().map_entry
    )


def _seconds_nanos(descriptor: Descriptor, name: str) -> bool:
    # from_protobuf's test: the type's short name plus exactly the fields seconds, nanos.
    return descriptor.name == name and [f.name for f in descriptor.fields] == ["seconds", "nanos"]


def _is_timestamp(descriptor: Descriptor) -> bool:
    return _seconds_nanos(descriptor, "Timestamp")


def _is_duration(descriptor: Descriptor) -> bool:
    return _seconds_nanos(descriptor, "Duration")


def message_to_row(message: Message, *, emit_default_values: bool = True) -> tuple[Any, ...]:
    """The values of `message` as a tuple matching `spark_schema` of its type."""
    return _Converter(message.DESCRIPTOR, emit_default_values)(message)


class _Converter:
    """Turns messages of one type into tuples; the field walk is planned once per type."""

    def __init__(self, descriptor: Descriptor, emit_default_values: bool) -> None:
        self._fields = [
            (field, self._reader(field, emit_default_values)) for field in descriptor.fields
        ]

    def __call__(self, message: Message) -> tuple[Any, ...]:
        return tuple(read(message, field) for field, read in self._fields)

    def _reader(
        self, field: FieldDescriptor, emit_default_values: bool
    ) -> Callable[[Message, FieldDescriptor], Any]:
        if _is_map(field):
            key = self._value_converter(field.message_type.fields_by_name["key"], True)
            value = self._value_converter(field.message_type.fields_by_name["value"], True)
            return lambda message, f: {
                key(k): value(v) for k, v in getattr(message, f.name).items()
            }
        convert = self._value_converter(field, emit_default_values)
        if field.is_repeated:
            return lambda message, f: [convert(v) for v in getattr(message, f.name)]
        if field.has_presence:
            return lambda message, f: (
                convert(getattr(message, f.name)) if message.HasField(f.name) else None
            )
        if emit_default_values:
            return lambda message, f: convert(getattr(message, f.name))
        default = field.default_value
        return lambda message, f: None if (v := getattr(message, f.name)) == default else convert(v)

    def _value_converter(
        self, field: FieldDescriptor, emit_default_values: bool
    ) -> Callable[[Any], Any]:
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if _is_timestamp(field.message_type):
                return _timestamp
            if _is_duration(field.message_type):
                return _duration
            return _Converter(field.message_type, emit_default_values)
        if field.type == FieldDescriptor.TYPE_ENUM:
            enum = field.enum_type
            # Java names an unknown number of an open enum this way; so does from_protobuf.
            return lambda number: (
                enum.values_by_number[number].name
                if number in enum.values_by_number
                else f"UNKNOWN_ENUM_VALUE_{enum.name}_{number}"
            )
        if bits := _UNSIGNED_BITS.get(field.type):
            half, full = 1 << (bits - 1), 1 << bits
            return lambda number: number - full if number >= half else number
        if field.type == FieldDescriptor.TYPE_BYTES:
            return bytes
        return _identity


def _identity(value: Any) -> Any:
    return value


def _timestamp(message: Message) -> dt.datetime:
    # Spark keeps microseconds; like Java's TimeUnit.toMicros, drop the rest of the nanos.
    return _EPOCH + dt.timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)


def _duration(message: Message) -> dt.timedelta:
    # nanos has the sign of seconds; truncate toward zero as Java does.
    return dt.timedelta(seconds=message.seconds, microseconds=int(message.nanos / 1000))


class _Decoder:
    """The picklable per-task decoder that `decode_protobuf` ships to the Python workers."""

    def __init__(
        self, descriptor_set: bytes, message_name: str, emit_default_values: bool, mode: Mode
    ) -> None:
        self._descriptor_set = descriptor_set
        self._message_name = message_name
        self._emit_default_values = emit_default_values
        self._mode = mode
        self._state: tuple[type[Message], _Converter] | None = None

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_state": None}

    def __call__(self, value: bytes | None) -> tuple[Any, ...] | None:
        if value is None:
            return None
        if self._state is None:
            descriptor = message_descriptor(self._message_name, self._descriptor_set)
            self._state = (
                message_factory.GetMessageClass(descriptor),
                _Converter(descriptor, self._emit_default_values),
            )
        message_class, convert = self._state
        try:
            message = message_class.FromString(bytes(value))
        except DecodeError as exc:
            if self._mode == "PERMISSIVE":
                return None
            raise ValueError(
                f"malformed {self._message_name} record ({len(value)} bytes): {exc}; decode "
                "with mode='PERMISSIVE' to get null for such records instead"
            ) from exc
        return convert(message)


def decode_protobuf(
    value: Column | str,
    message_name: str,
    *,
    emit_default_values: bool = True,
    mode: Mode = "FAILFAST",
    descriptor_set: bytes | None = None,
) -> Column:
    """A struct column holding the `message_name` message parsed from the binary `value`.

    FAILFAST fails the query on bytes that do not parse; PERMISSIVE yields null for them.
    """
    if mode not in ("FAILFAST", "PERMISSIVE"):
        raise ValueError(f"mode must be 'FAILFAST' or 'PERMISSIVE', not {mode!r}")
    descriptor_set = descriptor_set if descriptor_set is not None else descriptor_set_bytes()
    schema = spark_schema(message_name, descriptor_set)
    decoder = _Decoder(descriptor_set, message_name, emit_default_values, mode)
    column = F.col(value) if isinstance(value, str) else value
    # Pickled rows, not Arrow: the Arrow path (Spark 4.2's default when pyarrow is there)
    # coerces returned values by its own rules, and these tuples are built for the schema.
    return F.udf(decoder, schema, useArrow=False)(column)


def ce_type(headers: Column | str = "headers") -> Column:
    """The `ce_type` header of a Kafka record as a string (null when the record has none)."""
    headers = F.col(headers) if isinstance(headers, str) else headers
    matching = F.filter(headers, lambda header: header["key"] == F.lit(CE_TYPE_HEADER))
    return F.get(matching, 0)["value"].cast("string")


def decode_kafka(
    records: DataFrame,
    message_name: str,
    *,
    message_column: str = "message",
    emit_default_values: bool = True,
    mode: Mode = "FAILFAST",
) -> DataFrame:
    """Kafka records (batch or stream) as their metadata plus the decoded message.

    The result has `topic`, `partition`, `offset`, `timestamp`, `key` (a string), `ce_type`
    and the message as the struct column `message_column`. Read the records with headers
    (`spark.kafka.read_topic` does) so that `ce_type` is there.
    """
    if "headers" not in records.columns:
        raise ValueError(
            "the Kafka records have no `headers` column: read the topic with "
            "option('includeHeaders', 'true') (spark.kafka.read_topic does)"
        )
    return records.select(
        "topic",
        "partition",
        "offset",
        "timestamp",
        F.col("key").cast("string").alias("key"),
        ce_type("headers").alias("ce_type"),
        decode_protobuf(
            "value", message_name, emit_default_values=emit_default_values, mode=mode
        ).alias(message_column),
    )
