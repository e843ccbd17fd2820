"""Domain errors become rich gRPC statuses; protovalidate violations become field paths."""

import grpc
from google.rpc import code_pb2, error_details_pb2

from ecap.v1 import common_pb2
from services.mesh import errors
from services.mesh.validation import validate, violations_of


def _unpack(status, kind):
    for detail in status.details:
        if detail.Is(kind.DESCRIPTOR):
            message = kind()
            detail.Unpack(message)
            return message
    return None


def test_domain_error_carries_code_reason_and_metadata():
    error = errors.NotFound(
        "case c-9 does not exist", reason="CASE_NOT_FOUND", metadata={"id": "c-9"}
    )
    status = errors.status_for(error)
    assert status.code == code_pb2.NOT_FOUND
    assert status.message == "case c-9 does not exist"
    info = _unpack(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (
        "CASE_NOT_FOUND",
        errors.ERROR_DOMAIN,
        {"id": "c-9"},
    )


def test_invalid_argument_lists_field_violations():
    error = errors.InvalidArgument(
        "bad",
        [errors.FieldViolation("amount.currency", "string.pattern", "must be ISO-4217")],
    )
    bad = _unpack(errors.status_for(error), error_details_pb2.BadRequest)
    assert [(v.field, v.reason, v.description) for v in bad.field_violations] == [
        ("amount.currency", "string.pattern", "must be ISO-4217")
    ]


def test_unexpected_exceptions_are_internal_and_say_nothing_of_internals():
    status = errors.status_for(KeyError("secret_column"))
    assert status.code == code_pb2.INTERNAL
    assert "secret_column" not in status.message


def test_every_domain_error_has_a_non_unknown_code():
    for kind in errors.DomainError.__subclasses__():
        assert kind.code not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.OK), kind


def test_violations_name_nested_and_repeated_fields():
    txn = common_pb2.Transaction(
        transaction_id="t-1",
        customer_id="c-1",
        merchant_id="m-1",
        amount=common_pb2.Money(amount_minor=100, currency="EUR"),
        ip_address="300.1.1.1",
    )
    txn.occurred_at.GetCurrentTime()
    txn.items.add(product_id="p-1", quantity=1, unit_price=common_pb2.Money(currency="EUR"))
    txn.items.add(product_id="p-2", quantity=1, unit_price=common_pb2.Money(currency="euro"))
    found = [(v.field, v.rule) for v in violations_of(txn)]
    assert found == [
        ("items[1].unit_price.currency", "string.pattern"),
        ("ip_address", "string.ip"),
    ]


def test_valid_message_passes_and_invalid_one_raises_with_all_violations():
    event = common_pb2.BehaviorEvent(
        event_id="e-1", type=common_pb2.BEHAVIOR_EVENT_TYPE_PAGE_VIEW, session_id="s-1"
    )
    event.occurred_at.GetCurrentTime()
    validate(event)
    event.ClearField("type")
    event.session_id = ""
    try:
        validate(event)
    except errors.InvalidArgument as exc:
        assert {v.field for v in exc.violations} == {"type", "session_id"}
    else:
        raise AssertionError("an event without type and session must be invalid")
