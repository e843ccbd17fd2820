"""The gateway's merged OpenAPI document: valid OpenAPI 2.0, one operation per REST route the
protos declare (no more, no fewer), a bearer-token scheme, and error responses typed as
google.rpc.Status."""

from __future__ import annotations

import json
import re
from pathlib import Path

from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV2SpecValidator

from tests.support.rest_routes import ecap_methods, rest_routes

DOCUMENT = Path(__file__).resolve().parents[2] / "gateway" / "openapi" / "ecap.swagger.json"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _openapi_path(template: str) -> str:
    """grpc-gateway's path: JSON (lowerCamel) names in the variables, e.g. {case.caseId}."""
    return re.sub(
        r"\{([^}=]+)\}", lambda m: "{" + ".".join(map(_camel, m[1].split("."))) + "}", template
    )


def _document() -> dict:
    return json.loads(DOCUMENT.read_text())


def test_the_document_is_valid_openapi_2():
    validate(_document(), cls=OpenAPIV2SpecValidator)


def test_every_mapped_rpc_is_one_operation_at_its_route():
    operations = {
        (verb.upper(), path): operation["operationId"]
        for path, item in _document()["paths"].items()
        for verb, operation in item.items()
    }
    expected = {
        (route.verb, _openapi_path(route.template)): f"{route.service.rsplit('.', 1)[1]}_"
        f"{route.method}"
        for route in rest_routes()
    }
    assert len(expected) >= 40
    assert operations == expected


def test_client_streaming_rpcs_are_not_routes():
    operation_ids = {
        op["operationId"] for item in _document()["paths"].values() for op in item.values()
    }
    assert (
        not {
            "IngestionService_IngestTransactions",
            "IngestionService_IngestEvents",
        }
        & operation_ids
    )
    assert "IngestionService_IngestBatch" in operation_ids


def test_every_operation_needs_the_bearer_token_and_errors_are_rpc_status():
    document = _document()
    assert document["securityDefinitions"]["bearer"] == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Bearer <JWT>",
    }
    assert document["security"] == [{"bearer": []}]
    for path, item in document["paths"].items():
        for verb, operation in item.items():
            default = operation["responses"]["default"]["schema"]
            assert default == {"$ref": "#/definitions/rpcStatus"}, (verb, path)
    status = document["definitions"]["rpcStatus"]["properties"]
    assert set(status) == {"code", "message", "details"}


def test_every_rpc_but_the_client_streams_has_a_rest_mapping():
    routed = {route.rpc for route in rest_routes()}
    unrouted = [
        f"/{service.full_name}/{method.name}"
        for service, method in ecap_methods()
        if not method.client_streaming and f"/{service.full_name}/{method.name}" not in routed
    ]
    assert unrouted == [], "add a google.api.http mapping (and a gateway test) for these"
