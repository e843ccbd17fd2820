"""Reading the recent tail of a topic: every record from a point in time up to the end the
topic had when the read began, without a consumer group (nothing is committed)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TypeVar

from confluent_kafka import (
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from services.mesh.kafka.logs import QUIET_NATIVE_LOG, KafkaErrorLog

T = TypeVar("T")


def _retrying(call: Callable[[], T], timeout_s: float) -> T:
    """`call()`, retried while Kafka says it may work soon (e.g. a partition of a topic just
    created has no leader yet)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return call()
        except KafkaException as error:
            if not error.args[0].retriable() or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def read_since(
    bootstrap: str, topic: str, since: datetime, *, timeout_s: float = 10.0
) -> Iterator[Message]:
    """The records of `topic` with a timestamp at or after `since`, partition by partition
    in offset order; an absent topic yields nothing."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"ecap-tail-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "error_cb": KafkaErrorLog(f"tail-{topic}"),
            **QUIET_NATIVE_LOG,
        }
    )
    try:
        metadata = consumer.list_topics(topic, timeout=timeout_s).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            return
        since_ms = int(since.timestamp() * 1000)
        wanted = [TopicPartition(topic, p, since_ms) for p in sorted(metadata.partitions)]
        starts = _retrying(lambda: consumer.offsets_for_times(wanted, timeout=timeout_s), timeout_s)
        ends = {}
        for start in starts:
            _, high = _retrying(
                lambda start=start: consumer.get_watermark_offsets(start, timeout=timeout_s),
                timeout_s,
            )
            if start.offset != OFFSET_END and start.offset >= 0 and start.offset < high:
                ends[start.partition] = high
        if not ends:
            return
        consumer.assign([s for s in starts if s.partition in ends])
        idle_s = 0.0
        while ends and idle_s < timeout_s:
            records = consumer.consume(500, timeout=1.0)
            idle_s = 0.0 if records else idle_s + 1.0
            for record in records:
                error = record.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        raise RuntimeError(f"reading {topic}: {error.str()}")
                    continue
                partition = record.partition()
                if partition not in ends:
                    continue
                yield record
                if record.offset() + 1 >= ends[partition]:
                    del ends[partition]
            if not records and all(
                consumer.position([TopicPartition(topic, p)])[0].offset >= end
                for p, end in ends.items()
            ):
                break  # transaction markers at the end: nothing more to read
    finally:
        consumer.close()
