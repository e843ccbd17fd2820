"""Request validation against the protovalidate rules declared in the protos.

`violations_of` judges one message. For batches of records, `services.mesh.screening` first
clears the plainly valid ones far faster; protovalidate judges the rest.
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


def validate(message: Message) -> None:
    """Raise `InvalidArgument` listing every violation, or return when `message` is valid."""
    found = violations_of(message)
    if found:
        summary = "; ".join(f"{v.field or '(message)'}: {v.description}" for v in found)
        raise InvalidArgument(
            f"{message.DESCRIPTOR.name} is invalid: {summary}", found, reason="REQUEST_INVALID"
        )
