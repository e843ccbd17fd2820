"""The REST routes the protos declare: every `google.api.http` rule (and its additional
bindings) on the methods of the `ecap.v1` services, read from the generated descriptors.

A test that walks `rest_routes()` covers each route there is, so a new RPC with a mapping
and no test fails it.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

from google.api import annotations_pb2, http_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor

import ecap.v1

_VARIABLE = re.compile(r"\{([^}=]+)(?:=[^}]*)?\}")


@dataclass(frozen=True)
class Route:
    """One HTTP binding of one RPC."""

    service: str  # full name, e.g. "ecap.v1.CaseService"
    method: str  # e.g. "GetCase"
    verb: str  # GET, POST, PATCH, PUT or DELETE
    template: str  # e.g. "/v1/cases/{case_id}"
    body: str  # "" (no body), "*" (the whole request) or the request field carried
    server_streaming: bool

    @property
    def rpc(self) -> str:
        """The gRPC method path, as role tables key it: `/ecap.v1.CaseService/GetCase`."""
        return f"/{self.service}/{self.method}"

    @property
    def path_fields(self) -> list[str]:
        """The request fields the path carries, e.g. ["case.case_id"]."""
        return _VARIABLE.findall(self.template)

    def path(self, **values: str) -> str:
        """The template with its variables filled; pass `rule__rule_id` for `rule.rule_id`."""

        def fill(match: re.Match) -> str:
            name = match.group(1)
            key = name.replace(".", "__")
            if key not in values:
                raise KeyError(f"route {self}: no value for path variable {name!r}")
            return quote(str(values[key]), safe="")

        return _VARIABLE.sub(fill, self.template)

    def __str__(self) -> str:
        return f"{self.verb} {self.template} ({self.service.rsplit('.', 1)[-1]}.{self.method})"


def _bindings(rule: http_pb2.HttpRule) -> list[http_pb2.HttpRule]:
    return [rule, *rule.additional_bindings]


def ecap_methods() -> Iterator[tuple[ServiceDescriptor, MethodDescriptor]]:
    """Every method of every service of the `ecap.v1` package, in declaration order."""
    for module_info in pkgutil.iter_modules(ecap.v1.__path__):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"ecap.v1.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                yield service, method


def rest_routes() -> list[Route]:
    """Every route declared on the services of the `ecap.v1` package, in declaration order."""
    routes = []
    for service, method in ecap_methods():
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        for binding in _bindings(options.Extensions[annotations_pb2.http]):
            verb = binding.WhichOneof("pattern")
            if verb == "custom":
                verb, template = binding.custom.kind, binding.custom.path
            else:
                template = getattr(binding, verb)
            routes.append(
                Route(
                    service=service.full_name,
                    method=method.name,
                    verb=verb.upper(),
                    template=template,
                    body=binding.body,
                    server_streaming=method.server_streaming,
                )
            )
    return routes
