"""A fast first look at records, compiled from their protovalidate rules: clearly valid or not.

protovalidate judges a realistic storefront event in about 10 µs, the largest cost of
ingestion. Nearly every record a shop sends is valid, and proving that takes far less: the
rules a message type declares in `buf.validate` annotations are compiled here, once, into
plain Python checks. A record that passes every check is valid by those rules. A record that
fails one, or whose check is not sure (an IPv6 address, a NaN), is not judged here: it goes to
protovalidate, which stays the only judge of violations, their fields and their messages.

So a screen must never clear a record that protovalidate would reject; it may send a valid
record on for the full check, which only costs time. A message type whose rules use
something not compiled here (CEL expressions, map rules, timestamp rules, ...) gets no
screen, and its records all go to protovalidate. tests/unit/test_screening.py holds the
screens to protovalidate's verdicts on valid, corrupted and randomly generated records.
"""

from __future__ import annotations

import keyword
import math
import re
import socket
from collections.abc import Callable
from functools import cache

from buf.validate import validate_pb2
from google.protobuf.descriptor import Descriptor, EnumDescriptor, FieldDescriptor
from google.protobuf.message import Message

Screen = Callable[[Message], bool]

# Sub-messages whose screen is costly (it screens a message of its own: a location and its
# point, a line item and its price) are remembered by their bytes once cleared, up to this
# many per field: a shop's records repeat the same locations and line items, and serialising
# and looking one up costs a third of checking it.
CLEARED_MEMORY = 65_536

# Dotted-quad IPv4 without leading zeros is valid for protovalidate's `ip` and `ipv4` rules,
# and exactly what the C library's inet_pton(AF_INET) accepts: four decimal octets up to 255,
# no leading zero, nothing else (half the time of the equivalent regular expression). It
# raises on anything else, IPv6 included, which is left to protovalidate.
_NOT_PLAIN_IPV4 = (OSError, ValueError, UnicodeError)

_NUMERIC_RULES = {
    "float",
    "double",
    "int32",
    "int64",
    "uint32",
    "uint64",
    "sint32",
    "sint64",
    "fixed32",
    "fixed64",
    "sfixed32",
    "sfixed64",
}


class Unsupported(Exception):
    """A rule this module does not compile; the message type gets no screen."""


def _set_fields(rules: Message) -> dict[str, object]:
    found = {}
    for field, value in rules.ListFields():
        if field.is_extension:
            raise Unsupported(f"predefined rule {field.full_name}")
        if field.name != "example":
            found[field.name] = value
    return found


class _Compiler:
    """Writes one Python function per message type: straight-line checks, early `False`.

    Generated source rather than nested closures: a realistic event has some 30 checks, and
    a call per check would cost more than protovalidate itself.
    """

    def __init__(self) -> None:
        self.env: dict[str, object] = {
            "_inet_pton": socket.inet_pton,
            "_AF_INET": socket.AF_INET,
            "_NOT_PLAIN_IPV4": _NOT_PLAIN_IPV4,
        }
        self.functions: dict[str, str | None] = {}  # full name -> function name (None: no rules)
        self.costly: set[str] = set()  # full names whose checks screen a message of their own
        self.sources: list[str] = []
        self._in_progress: set[str] = set()
        self._compiling: list[str] = []  # full names, innermost last

    def const(self, value: object) -> str:
        name = f"_c{len(self.env)}"
        self.env[name] = value
        return name

    def message(self, descriptor: Descriptor) -> str | None:
        """The name of the function screening `descriptor`, or None when it has no rules."""
        full_name = descriptor.full_name
        if full_name in self.functions:
            return self.functions[full_name]
        if full_name in self._in_progress:
            raise Unsupported(f"recursive message {full_name}")
        self._in_progress.add(full_name)
        self._compiling.append(full_name)
        if descriptor.GetOptions().Extensions[validate_pb2.message].ListFields():
            raise Unsupported(f"message rules on {full_name}")
        for oneof in descriptor.oneofs:
            if oneof.GetOptions().Extensions[validate_pb2.oneof].ListFields():
                raise Unsupported(f"oneof rules on {oneof.full_name}")
        body: list[str] = []
        for field in descriptor.fields:
            body.extend(self.field(field))
        self._in_progress.discard(full_name)
        self._compiling.pop()
        if not body:
            self.functions[full_name] = None
            return None
        function = f"_screen_{len(self.functions)}_{descriptor.name}"
        self.sources.append("\n".join([f"def {function}(r):", *_indent(body), "    return True"]))
        self.functions[full_name] = function
        return function

    def field(self, field: FieldDescriptor) -> list[str]:
        rules = field.GetOptions().Extensions[validate_pb2.field]
        if rules.cel or rules.cel_expression:
            raise Unsupported(f"CEL rules on {field.full_name}")
        if rules.ignore == validate_pb2.IGNORE_ALWAYS:
            return []
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if rules.WhichOneof("type") is not None or rules.required:
                raise Unsupported(f"map rules on {field.full_name}")
            value_type = field.message_type.fields_by_name["value"].message_type
            if value_type is not None and self.message(value_type) is not None:
                raise Unsupported(f"map of validated messages {field.full_name}")
            return []
        get = (
            f"r.{field.name}"
            if not keyword.iskeyword(field.name)
            else (f"getattr(r, {field.name!r})")
        )
        if field.is_repeated:
            return self.repeated(field, rules, get)
        checks = self.value(field, rules, "v")
        if field.has_presence:
            # Unset message, optional or oneof fields are only judged by `required`.
            has = f"r.HasField({field.name!r})"
            lines = [f"if not {has}: return False"] if rules.required else []
            if checks:
                lines += [f"if {has}:", f"    v = {get}", *_indent(checks)]
            return lines
        zero = self.const(field.default_value)
        if rules.required:
            return [f"v = {get}", f"if v == {zero}: return False", *checks]
        if not checks:
            return []
        if rules.ignore == validate_pb2.IGNORE_IF_ZERO_VALUE:
            return [f"v = {get}", f"if v != {zero}:", *_indent(checks)]
        return [f"v = {get}", *checks]

    def repeated(self, field: FieldDescriptor, rules: validate_pb2.FieldRules, get: str):
        kind = rules.WhichOneof("type")
        if kind not in (None, "repeated"):
            raise Unsupported(f"{kind} rules on repeated {field.full_name}")
        repeated = _set_fields(rules.repeated) if kind == "repeated" else {}
        low = repeated.pop("min_items", 1 if rules.required else 0)
        high = repeated.pop("max_items", None)
        items = repeated.pop("items", validate_pb2.FieldRules())
        if repeated:
            raise Unsupported(f"repeated rules {sorted(repeated)} on {field.full_name}")
        if items.required or items.ignore or items.cel or items.cel_expression:
            raise Unsupported(f"item presence rules on {field.full_name}")
        element = self.value(field, items, "e")
        lines = []
        if low:
            lines.append(f"if len({get}) < {int(low)}: return False")
        if high is not None:
            lines.append(f"if len({get}) > {int(high)}: return False")
        if element:
            lines += [f"for e in {get}:", *_indent(element)]
        return lines

    def value(self, field: FieldDescriptor, rules: validate_pb2.FieldRules, v: str) -> list[str]:
        """Checks of one value `v` of `field` (an element, for a repeated field)."""
        kind = rules.WhichOneof("type")
        if field.type == FieldDescriptor.TYPE_MESSAGE:
            if kind is not None:
                raise Unsupported(f"{kind} rules on {field.full_name}")
            function = self.message(field.message_type)
            if not function:
                return []
            self.costly.add(self._compiling[-1])
            if field.message_type.full_name not in self.costly:
                return [f"if not {function}({v}): return False"]
            # Equal bytes are an equal message, so a cleared one stays cleared.
            cleared = self.const(set())
            return [
                f"b = {v}.SerializeToString()",
                f"if b not in {cleared}:",
                f"    if not {function}({v}): return False",
                f"    if len({cleared}) >= {CLEARED_MEMORY}: {cleared}.clear()",
                f"    {cleared}.add(b)",
            ]
        if kind is None:
            return []
        if kind == "string":
            return self.string(_set_fields(rules.string), v)
        if kind in _NUMERIC_RULES:
            return self.bounds(_set_fields(getattr(rules, kind)), v, kind)
        if kind == "enum":
            return self.enum(_set_fields(rules.enum), v, field.enum_type)
        raise Unsupported(f"{kind} rules on {field.full_name}")

    def string(self, rules: dict[str, object], v: str) -> list[str]:
        lines = []
        for name, bound in rules.items():
            match name:
                case "min_len":
                    lines.append(f"if len({v}) < {int(bound)}: return False")
                case "max_len":
                    lines.append(f"if len({v}) > {int(bound)}: return False")
                case "len":
                    lines.append(f"if len({v}) != {int(bound)}: return False")
                case "pattern":
                    # RE2 semantics: `$` never matches before a final newline (Python's does)
                    # and classes are ASCII; strings with a newline go to protovalidate.
                    search = self.const(re.compile(str(bound), re.ASCII).search)
                    lines.append(f"if '\\n' in {v} or {search}({v}) is None: return False")
                case "ip" | "ipv4":
                    if bound:
                        lines += [
                            f"try: _inet_pton(_AF_INET, {v})",
                            "except _NOT_PLAIN_IPV4: return False",
                        ]
                case _:
                    lines.extend(self.membership(name, bound, v, "string"))
        return lines

    def bounds(self, rules: dict[str, object], v: str, kind: str) -> list[str]:
        lines = []
        operators = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
        for name, bound in rules.items():
            if name in operators:
                # `not (v > b)`, not `v <= b`: a NaN fails every comparison, so is never cleared.
                lines.append(f"if not ({v} {operators[name]} {self.const(bound)}): return False")
            elif name == "finite":
                if bound:
                    lines.append(f"if not _isfinite({v}): return False")
                    self.env["_isfinite"] = math.isfinite
            else:
                lines.extend(self.membership(name, bound, v, kind))
        return lines

    def enum(self, rules: dict[str, object], v: str, enum: EnumDescriptor) -> list[str]:
        lines = []
        for name, bound in rules.items():
            if name == "defined_only":
                if bound:
                    defined = self.const(frozenset(value.number for value in enum.values))
                    lines.append(f"if {v} not in {defined}: return False")
            else:
                lines.extend(self.membership(name, bound, v, "enum"))
        return lines

    def membership(self, name: str, bound: object, v: str, kind: str) -> list[str]:
        match name:
            case "const":
                return [f"if {v} != {self.const(bound)}: return False"]
            case "in":
                return [f"if {v} not in {self.const(frozenset(bound))}: return False"]
            case "not_in":
                return [f"if {v} in {self.const(frozenset(bound))}: return False"]
        raise Unsupported(f"{kind} rule {name}")

    def build(self, descriptor: Descriptor) -> Screen:
        function = self.message(descriptor)
        if function is None:
            return lambda _record: True
        exec("\n\n".join(self.sources), self.env)
        return self.env[function]  # type: ignore[return-value]


def _indent(lines: list[str]) -> list[str]:
    return [f"    {line}" for line in lines]


@cache
def screen_for(descriptor: Descriptor) -> Screen | None:
    """A predicate: True means a record of this type is valid by its protovalidate rules.

    None when the type's rules are not all compiled here (every record then needs
    protovalidate). False from the predicate means "not cleared", never "invalid".
    """
    try:
        return _Compiler().build(descriptor)
    except Unsupported:
        return None
