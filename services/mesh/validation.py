"""Request validation against the protovalidate rules declared in the protos.

`violations_of` judges one message. `record_violations_of` judges every record of a batch
request in one protovalidate call on the request, which costs about half as much per record
as a call per record.
"""

from __future__ import annotations

import protovalidate
from google.protobuf.message import Message

from services.mesh.errors import FieldViolation, InvalidArgument

_validator = protovalidate.Validator()


def field_path(path) -> str:
    """Render a protovalidate FieldPath as `items[2].unit_price.currency`."""
    return _render(path.elements)


def _render(elements) -> str:
    return ".".join(f"{element.field_name}{_subscript(element)}" for element in elements)


def _subscript(element) -> str:
    subscript = element.subscript  # a protobuf-py Oneof(field=..., value=...) or None
    if subscript is None:
        return ""
    if subscript.field == "string_key":
        return f'["{subscript.value}"]'
    return f"[{subscript.value}]"


def violations_of(message: Message) -> list[FieldViolation]:
    """Every rule `message` breaks, in declaration order; empty when it is valid."""
    found = []
    for violation in _validator.collect_violations(message):
        proto = violation.proto
        found.append(
            FieldViolation(
                field=field_path(proto.field) if proto.field else "",
                rule=proto.rule_id,
                description=proto.message,
            )
        )
    return found


def record_violations_of(request: Message, field: str) -> dict[int, list[FieldViolation]]:
    """The rules each record of the repeated `field` of `request` breaks, by record index.

    Each record's list equals `violations_of(record)`: the same violations, in the same
    order, with paths relative to the record. Valid records are absent. Rules of the request
    itself (such as the batch size) are not any record's and are left out.
    """
    by_record: dict[int, list[FieldViolation]] = {}
    for violation in _validator.collect_violations(request):
        proto = violation.proto
        elements = proto.field.elements if proto.field else ()
        if not elements or elements[0].field_name != field or elements[0].subscript is None:
            continue  # another field's record, or the request's own rule
        index = elements[0].subscript.value
        by_record.setdefault(index, []).append(
            FieldViolation(
                field=_render(elements[1:]), rule=proto.rule_id, description=proto.message
            )
        )
    return by_record


def validate(message: Message) -> None:
    """Raise `InvalidArgument` listing every violation, or return when `message` is valid."""
    found = violations_of(message)
    if found:
        summary = "; ".join(f"{v.field or '(message)'}: {v.description}" for v in found)
        raise InvalidArgument(
            f"{message.DESCRIPTOR.name} is invalid: {summary}", found, reason="REQUEST_INVALID"
        )
