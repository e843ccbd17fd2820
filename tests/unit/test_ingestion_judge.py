"""Judging a serialised stream batch: records located in the client's bytes, not re-encoded."""

from datetime import UTC, datetime, timedelta

from ecap.v1 import common_pb2, ingestion_pb2
from services.ingestion.checks import Limits
from services.ingestion.judge import judge_payload, judge_records, record_spans

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
LIMITS = Limits(timedelta(minutes=5), timedelta(days=30), frozenset({"XXX"}))
EVENTS_REQUEST = ingestion_pb2.IngestEventsRequest.DESCRIPTOR.full_name


def _event(number: int, page_url: str = "https://shop.example/p/1") -> common_pb2.BehaviorEvent:
    event = common_pb2.BehaviorEvent(
        event_id=f"e-{number}",
        type=common_pb2.BEHAVIOR_EVENT_TYPE_PAGE_VIEW,
        session_id=f"s-{number % 3}",
        customer_id="c-1",
        page_url=page_url,
    )
    event.occurred_at.FromDatetime(NOW - timedelta(seconds=number))
    return event


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes([*out, value])


def _field(number: int, wire_type: int, body: bytes) -> bytes:
    return _varint(number << 3 | wire_type) + body


def _length_delimited(number: int, body: bytes) -> bytes:
    return _field(number, 2, _varint(len(body)) + body)


def _cut(payload: bytes, spans) -> list[bytes]:
    return [payload[start:end] for start, end in zip(spans[::2], spans[1::2], strict=True)]


def test_spans_are_each_records_bytes():
    events = [_event(n) for n in range(50)]
    payload = ingestion_pb2.IngestEventsRequest(events=events).SerializeToString()
    assert _cut(payload, record_spans(payload, 1)) == [e.SerializeToString() for e in events]


def test_spans_skip_other_fields_and_read_long_varints():
    # Records beyond 16 KiB (a three-byte length), between fields of every wire type and a
    # field number whose tag takes two bytes: only field 1's records are located.
    long_event = _event(1, page_url="https://shop.example/" + "x" * 20_000)
    records = [_event(0).SerializeToString(), long_event.SerializeToString()]
    payload = b"".join(
        [
            _length_delimited(1, records[0]),
            _field(2, 0, _varint(300)),
            _field(3, 1, b"\x00" * 8),
            _field(4, 5, b"\x00" * 4),
            _length_delimited(1000, b"not a record"),
            _length_delimited(1, records[1]),
        ]
    )
    assert _cut(payload, record_spans(payload, 1)) == records
    parsed = ingestion_pb2.IngestEventsRequest.FromString(payload)
    assert [e.SerializeToString() for e in parsed.events] == records


def test_a_worker_verdict_equals_judging_the_parsed_request():
    events = [_event(n) for n in range(20)]
    events[3].event_id = ""  # protovalidate: required
    events[7].occurred_at.FromDatetime(NOW + timedelta(hours=1))  # semantic: not in the future
    request = ingestion_pb2.IngestEventsRequest(events=events)
    payload = request.SerializeToString()

    from_worker = judge_payload(payload, EVENTS_REQUEST, "events", NOW, LIMITS)
    assert from_worker.values == [] and from_worker.spans is not None  # no bytes travel back
    assert from_worker.cut_from(payload) == judge_records(request, "events", NOW, LIMITS)
    assert sorted(from_worker.invalid) == [3, 7]


def test_an_empty_batch_is_judged_empty():
    judged = judge_payload(b"", EVENTS_REQUEST, "events", NOW, LIMITS)
    assert judged.ids == [] and judged.cut_from(b"").values == []


def test_a_request_the_walk_cannot_follow_is_judged_from_its_records():
    # An unknown field of the deprecated group wire type: legal protobuf, but not walked.
    records = [_event(0).SerializeToString(), _event(1).SerializeToString()]
    group = _field(2, 3, b"") + _field(2, 4, b"")
    payload = _length_delimited(1, records[0]) + group + _length_delimited(1, records[1])
    judged = judge_payload(payload, EVENTS_REQUEST, "events", NOW, LIMITS)
    assert judged.cut_from(payload).values == records
