"""The compiled screens against protovalidate: a screen never clears what protovalidate rejects.

Clearing means "valid by the protovalidate rules"; not clearing only sends a record on to
protovalidate. So the property that matters is soundness: for every record, cleared implies
no violation. It is checked on simulator records, on the simulator's corruptions, and on
records mutated at random, field by field, with values chosen to sit on every rule's edge.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from functools import cache

import pytest
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecap.v1 import common_pb2 as pb
from ecap.v1 import ingestion_pb2
from services.mesh import screening
from services.mesh.screening import screen_for
from services.mesh.validation import violations_of
from services.simulator.config import SimulatorSettings
from services.simulator.corrupt import invalid_records
from services.simulator.generator import Simulation

RECORD_TYPES = (pb.Transaction, pb.BehaviorEvent, pb.Product, pb.Customer)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


@cache
def simulated() -> tuple[Message, ...]:
    settings_ = SimulatorSettings(seed=11, customers=300, products=80, merchants=6)
    return tuple(Simulation(settings_, start=NOW - timedelta(days=3), days=3).records())


def test_the_ingested_record_types_get_screens():
    for record_type in (pb.Transaction, pb.BehaviorEvent, pb.Product):
        assert screen_for(record_type.DESCRIPTOR) is not None, record_type.__name__


def test_customers_have_no_screen_because_email_rules_are_left_to_protovalidate():
    assert screen_for(pb.Customer.DESCRIPTOR) is None


def test_a_type_without_rules_is_always_clear():
    screen = screen_for(pb.CaseEvent.DESCRIPTOR)
    assert screen is not None and screen(pb.CaseEvent())


def test_simulated_records_are_valid_and_cleared():
    records = simulated()
    assert len(records) > 500
    for record in records:
        assert violations_of(record) == [], record
        screen = screen_for(record.DESCRIPTOR)
        if screen is not None:
            # The simulator sends IPv4 addresses only, so nothing valid needs protovalidate.
            assert screen(record), record


def test_no_corrupted_record_is_cleared_when_protovalidate_rejects_it():
    broken = invalid_records(random.Random(5), 400, valid=simulated(), now=NOW)
    judged = 0
    for item in broken:
        screen = screen_for(item.record.DESCRIPTOR)
        if screen is None or not violations_of(item.record):
            continue  # a domain rule (checks.py), not a protovalidate one
        judged += 1
        assert not screen(item.record), (item.corruption, item.record)
    assert judged > 100


# Values on the edges of the rules our protos declare: lengths around the limits, patterns
# with newlines and non-ASCII digits, addresses in every notation, floats that are not numbers.
_EDGE_STRINGS = st.one_of(
    st.sampled_from(
        [
            "",
            "a",
            "A",
            "ab",
            "ABC",
            "US",
            "usa",
            "US\n",
            "ABC\n",
            "a\n",
            "x" * 63,
            "x" * 64,
            "x" * 65,
            "é" * 64,
            "é" * 65,
            "x" * 128,
            "x" * 129,
            "١٢٣",
            "-leading",
            "id with space",
            "ok_id.1:2-3",
            "1.2.3.4",
            "01.2.3.4",
            "256.1.1.1",
            "1.2.3",
            "::1",
            "fe80::1%eth0",
            "2001:db8::1",
            "1.2.3.4 ",
            " 1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "1.2.3.04",
            "00.1.2.3",
            "1.2.3.4\x00",
            "\uff11.2.3.4",  # a full-width digit one
            "1..2.3",
            "a@b.example",
        ]
    ),
    st.text(max_size=70),
)
_EDGE_NUMBERS = st.sampled_from(
    [0, 1, -1, 2, 500, 501, 10_000, 2**31 - 1, -(2**31), 90, -90, 180, -181]
)
_EDGE_DOUBLES = st.one_of(
    st.sampled_from([0.0, -0.0, 90.0, 90.0001, -90.0, -90.5, 180.0, -180.0, 180.5]),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
    st.floats(min_value=-400, max_value=400),
)


def _fields(descriptor, prefix=()):
    for field in descriptor.fields:
        path = (*prefix, field)
        yield path
        message = field.message_type
        if message is not None and not field.is_repeated and message.full_name.startswith("ecap."):
            yield from _fields(field.message_type, path)


def _target(record: Message, path) -> tuple[Message, FieldDescriptor]:
    for field in path[:-1]:
        record = getattr(record, field.name)
    return record, path[-1]


@st.composite
def mutated(draw, record_type):
    base = draw(st.sampled_from([r for r in simulated() if isinstance(r, record_type)]))
    record = record_type()
    record.CopyFrom(base)
    paths = list(_fields(record_type.DESCRIPTOR))
    for path in draw(st.lists(st.sampled_from(paths), min_size=1, max_size=4)):
        holder, field = _target(record, path)
        if field.is_repeated:
            if draw(st.booleans()):
                holder.ClearField(field.name)
            elif field.type == FieldDescriptor.TYPE_STRING:
                getattr(holder, field.name).extend(draw(st.lists(_EDGE_STRINGS, max_size=3)))
            elif field.message_type is not None and getattr(holder, field.name):
                getattr(holder, field.name)[0].Clear()
            continue
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            holder.ClearField(field.name)
        elif field.type == FieldDescriptor.TYPE_STRING:
            setattr(holder, field.name, draw(_EDGE_STRINGS))
        elif field.type == FieldDescriptor.TYPE_ENUM:
            setattr(holder, field.name, draw(st.integers(min_value=-2, max_value=20)))
        elif field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            setattr(holder, field.name, draw(_EDGE_DOUBLES))
        elif field.type == FieldDescriptor.TYPE_BOOL:
            setattr(holder, field.name, draw(st.booleans()))
        elif (
            field.cpp_type == FieldDescriptor.CPPTYPE_INT32
            or field.cpp_type == FieldDescriptor.CPPTYPE_INT64
        ):
            setattr(holder, field.name, draw(_EDGE_NUMBERS))
    return record


@pytest.mark.parametrize("record_type", [pb.Transaction, pb.BehaviorEvent, pb.Product])
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_mutated_record_is_cleared_only_when_protovalidate_finds_nothing(record_type, data):
    record = data.draw(mutated(record_type))
    if screen_for(record_type.DESCRIPTOR)(record):
        assert violations_of(record) == [], record


def test_a_screened_batch_reports_what_protovalidate_reports_record_by_record():
    from services.ingestion.checks import Limits, batch_violations

    events = [r for r in simulated() if isinstance(r, pb.BehaviorEvent)][:50]
    request = ingestion_pb2.IngestEventsRequest(events=events)
    request.events[3].ip_address = "2001:db8::1"  # valid, but not cleared by the screen
    request.events[7].ip_address = "01.2.3.4"
    request.events[9].event_id = ""
    limits = Limits(timedelta(minutes=5), timedelta(days=400), frozenset())
    found = batch_violations(request, "events", NOW, limits)
    assert set(found) == {7, 9}
    assert found[7] == violations_of(request.events[7])
    assert found[9] == violations_of(request.events[9])


def _with_location(event: pb.BehaviorEvent, country: str, city: str) -> pb.BehaviorEvent:
    copy = pb.BehaviorEvent()
    copy.CopyFrom(event)
    copy.location.country = country
    copy.location.city = city
    return copy


def test_a_remembered_sub_message_clears_only_its_own_bytes():
    # Locations screen a point of their own, so a cleared one is remembered by its bytes.
    screen = screening._Compiler().build(pb.BehaviorEvent.DESCRIPTOR)
    event = next(r for r in simulated() if isinstance(r, pb.BehaviorEvent))
    assert screen(_with_location(event, "PT", "Porto"))
    assert screen(_with_location(event, "PT", "Porto"))  # now from memory
    for bad_country in ("pt", "PT\n", "PRT"):
        broken = _with_location(event, bad_country, "Porto")
        assert violations_of(broken), bad_country
        assert not screen(broken), bad_country
    broken_point = _with_location(event, "PT", "Porto")
    broken_point.location.point.latitude = 91.0
    assert violations_of(broken_point) and not screen(broken_point)


def test_remembered_sub_messages_are_bounded(monkeypatch):
    monkeypatch.setattr(screening, "CLEARED_MEMORY", 3)
    screen = screening._Compiler().build(pb.BehaviorEvent.DESCRIPTOR)
    event = next(r for r in simulated() if isinstance(r, pb.BehaviorEvent))
    for n in range(10):
        assert screen(_with_location(event, "PT", f"City {n}"))
    memories = [v for v in screen.__globals__.values() if isinstance(v, set)]
    assert memories and all(0 < len(memory) <= 3 for memory in memories)
