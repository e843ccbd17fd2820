"""A REST client for tests of the gateway, and checks of its error bodies.

`Rest` calls routes by name with a bearer token minted for a role; `error_status` checks that
an error answer is a `google.rpc.Status` with the expected HTTP status and gRPC code, and
`violated_fields` and `reason` read its BadRequest and ErrorInfo details.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import grpc
import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2, status_pb2

from tests.support.rest_routes import Route


class Rest:
    """httpx through the gateway, with a bearer token for a role (or none); routes are
    named as in `routes` (e.g. "CaseService.GetCase")."""

    def __init__(self, url: str, mint: Callable[..., str], routes: Mapping[str, Route]) -> None:
        self.client = httpx.Client(base_url=url, timeout=60.0)
        self.mint = mint
        self.routes = routes

    def headers(self, role: str | None, sub: str, roles: tuple[str, ...] | None) -> dict:
        """The Authorization header for `role` (or all of `roles`, maybe none); none at all
        when neither is given."""
        if roles is not None:
            return {"Authorization": f"Bearer {self.mint(*roles, sub=sub)}"}
        if role is None:
            return {}
        return {"Authorization": f"Bearer {self.mint(role, sub=sub)}"}

    def request(
        self,
        verb: str,
        path: str,
        *,
        role: str | None = None,
        roles: tuple[str, ...] | None = None,
        sub: str = "tester",
        params: dict | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """Send `verb path` as `sub` holding `role` (or `roles`), with query `params` and a
        JSON `body`."""
        return self.client.request(
            verb,
            path,
            params=params,
            json=body,
            headers=self.headers(role, sub, roles),
        )

    def call(self, name: str, *, path: dict | None = None, **options) -> httpx.Response:
        """Call route `name` (e.g. "CaseService.GetCase") with its template filled."""
        route = self.routes[name]
        return self.request(route.verb, route.path(**(path or {})), **options)

    def ok(self, name: str, response_type: type[Message], **options) -> tuple[Message, dict]:
        """Call route `name`, demand 200, and return the body parsed as `response_type` (a
        field the message does not have fails) with the raw JSON."""
        response = self.call(name, **options)
        assert response.status_code == 200, f"{name}: {response.status_code} {response.text}"
        body = response.json()
        return json_format.ParseDict(body, response_type()), body

    def first_lines(self, name: str, count: int, **options) -> list[dict]:
        """The first `count` lines of a newline-delimited JSON stream of route `name`."""
        route = self.routes[name]
        lines = []
        with self.client.stream(
            route.verb,
            route.path(**options.pop("path", {})),
            params=options.pop("params", None),
            headers=self.headers(options.pop("role", None), "tester", None),
            timeout=httpx.Timeout(30.0),
        ) as response:
            assert response.status_code == 200, response.read()
            for line in response.iter_lines():
                if line.strip():
                    lines.append(json.loads(line))
                if len(lines) == count:
                    break
        return lines


def error_status(
    response: httpx.Response, http_status: int, code: grpc.StatusCode, *, stream: bool = False
) -> dict:
    """The response's google.rpc.Status as JSON, after checking the HTTP status, the gRPC
    code, a message, and details that each name their @type.

    A `stream` that fails before its first message answers with one NDJSON line, the
    status under "error", as grpc-gateway frames stream errors."""
    assert response.status_code == http_status, (response.status_code, response.text)
    body = response.json()
    if stream:
        assert set(body) == {"error"}, body
        body = body["error"]
    assert set(body) >= {"code", "message", "details"}, body
    json_format.ParseDict(body, status_pb2.Status())  # exactly a Status, its details known
    assert body["code"] == code.value[0], body
    assert body["message"], body
    assert body["details"] and all("@type" in d for d in body["details"]), body
    return body


def detail(body: dict, message_type: type[Message]) -> Message | None:
    """The first detail of `body` of `message_type`, unpacked."""
    status = json_format.ParseDict(body, status_pb2.Status())
    for item in status.details:
        if item.Is(message_type.DESCRIPTOR):
            unpacked = message_type()
            item.Unpack(unpacked)
            return unpacked
    return None


def violated_fields(body: dict) -> list[str]:
    """The fields named by the BadRequest detail of a Status body."""
    bad = detail(body, error_details_pb2.BadRequest)
    assert bad is not None, f"no google.rpc.BadRequest in {body}"
    return [violation.field for violation in bad.field_violations]


def reason(body: dict) -> str:
    """The UPPER_SNAKE_CASE reason of the ErrorInfo detail of a Status body."""
    info = detail(body, error_details_pb2.ErrorInfo)
    assert info is not None, f"no google.rpc.ErrorInfo in {body}"
    return info.reason
