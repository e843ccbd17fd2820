"""The REST gateway (the real `ecap-gateway` binary) in front of the four real services.

Ingestion, scoring (with a `bentoml serve` of the churn model), cases (SQLite) and analytics
run in this process on free ports, on the session's Kafka broker and a small lake written
with delta-rs; the gateway runs in front of them. Every route the protos' `google.api.http`
annotations declare is called with httpx: its happy path, checked against what the service
holds (through REST and through gRPC), and its errors: no token, a role the servicer's table
refuses, input its rules refuse; besides, not found and stale etags where a route has them.
The routes come from the descriptors, so a mapped RPC without a test here fails.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from deltalake import DeltaTable
from google.protobuf import json_format, message_factory
from google.protobuf.message import Message
from google.rpc import status_pb2

from ecap.v1 import (
    analytics_pb2,
    analytics_pb2_grpc,
    cases_pb2,
    cases_pb2_grpc,
    common_pb2,
    ingestion_pb2,
    ingestion_pb2_grpc,
    scoring_pb2,
    scoring_pb2_grpc,
)
from services.analytics.config import AnalyticsSettings
from services.analytics.server import build_spec as build_analytics
from services.analytics.servicer import ROLES as ANALYTICS_ROLES
from services.cases.config import CasesSettings
from services.cases.server import build_service as build_cases
from services.cases.servicer import ROLES as CASES_ROLES
from services.ingestion.config import IngestionSettings
from services.ingestion.server import build_spec as build_ingestion
from services.ingestion.servicer import ROLES as INGESTION_ROLES
from services.mesh import client as mesh_client
from services.mesh.auth import Role
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.tail import read_since
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.scoring.servicer import ROLES as SCORING_ROLES
from spark.config import SparkSettings
from spark.tables import TABLES
from tests.fixtures.bentoml import TrainedModel
from tests.fixtures.kafka import private_copy
from tests.fixtures.mesh import run_async, running_server
from tests.support.gateway import RunningGateway, running_gateway
from tests.support.gateway_lake import ACTIVE, ANCHOR, DAY, OCCASIONAL, gold_rows, silver_rows
from tests.support.lake_rows import write_rows
from tests.support.net import free_port
from tests.support.rest_client import Rest, error_status, reason, violated_fields
from tests.support.rest_routes import Route, rest_routes
from tests.support.scoring import ModelServer, scoring_service
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

ROUTES = rest_routes()
ROUTE = {f"{r.service.rsplit('.', 1)[-1]}.{r.method}": r for r in ROUTES}
ANALYTICS_METHODS = {
    method.input_type.full_name: method
    for method in analytics_pb2.DESCRIPTOR.services_by_name["AnalyticsService"].methods
}
ROLE_TABLE = {**INGESTION_ROLES, **SCORING_ROLES, **CASES_ROLES, **ANALYTICS_ROLES}
STUBS = {
    "ingestion": ingestion_pb2_grpc.IngestionServiceStub,
    "scoring": scoring_pb2_grpc.ScoringServiceStub,
    "analytics": analytics_pb2_grpc.AnalyticsServiceStub,
    "cases": cases_pb2_grpc.CaseServiceStub,
}
CONSOLE_ORIGIN = "https://console.ecap.example"
INVESTIGATOR = "ivy"
CLAIM_QUEUE = "q-gw-claim"
WATCH_HEARTBEAT_S = 0.5
WATCH_LINES = int(30 / WATCH_HEARTBEAT_S)  # heartbeats a watcher waits through for a change


def key(route: Route) -> str:
    """`CaseService.GetCase`: how the tables below name a route."""
    return f"{route.service.rsplit('.', 1)[-1]}.{route.method}"


def iso(moment: datetime) -> str:
    """RFC 3339 in UTC, as protojson writes a Timestamp."""
    return moment.isoformat().replace("+00:00", "Z")


def unique(prefix: str) -> str:
    """A fresh id, so that tests sharing the stack never see each other's resources."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the lake ---------------------------------------------------------------------------------


@dataclass
class Lake:
    """The lake's location and the rows written to each table."""

    settings: SparkSettings
    rows: dict[str, list[dict]]


@pytest.fixture(scope="module")
def lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    settings = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("gateway-lake")))
    rows = {**silver_rows(), **gold_rows()}
    for name, table_rows in rows.items():
        write_rows(settings, name, table_rows)
    return Lake(settings, rows)


# -- the services and the gateway ---------------------------------------------------------


@dataclass
class Stack:
    """The four services: their addresses, and a gRPC caller acting as any role."""

    addresses: dict[str, str]
    topics: dict[str, str]
    bootstrap: str
    mint: Callable[..., str]

    def grpc(self, backend: str, rpc: str, request: Message, *, role: str, sub: str = "tester"):
        """Call `rpc` of `backend` (ingestion, scoring, analytics, cases) as `sub` holding
        `role`; returns the response or raises AioRpcError."""
        token = self.mint(role, sub=sub)

        async def go():
            async with mesh_client.connect(self.addresses[backend], token=token) as channel:
                return await getattr(STUBS[backend](channel), rpc)(request)

        return run_async(go())

    def grpc_error(self, backend: str, rpc: str, request: Message, **who) -> grpc.aio.AioRpcError:
        """The error `rpc` fails with (the test fails if it succeeds)."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            self.grpc(backend, rpc, request, **who)
        return caught.value


@pytest.fixture(scope="module")
def churn_server(churn_model: TrainedModel) -> Iterator[ModelServer]:
    with ModelServer(churn_model, "Churn") as server:
        yield server


@pytest.fixture(scope="module")
def stack(
    lake: Lake,
    kafka_bootstrap: str,
    auth_settings,
    mint,
    churn_server: ModelServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    specs = {spec.name: private_copy(spec) for spec in TOPICS}
    ensure_topics(kafka_bootstrap, specs=list(specs.values()), replication_factor=1)
    topics = {name: spec.name for name, spec in specs.items()}
    kafka = KafkaSettings(bootstrap=kafka_bootstrap)
    root = Path(lake.settings.lake_uri)
    cases_dir = tmp_path_factory.mktemp("gateway-cases")

    ingestion_settings = IngestionSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        topic_transactions=topics["transactions"],
        topic_events=topics["user-events"],
        topic_reference=topics["product-updates"],
        topic_dead_letter=topics["dead-letter"],
    )
    cases_settings = CasesSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        database_url=f"sqlite:///{cases_dir / 'cases.db'}",
        topic_alerts=topics["fraud-alerts"],
        topic_case_events=topics["case-events"],
        consumer_group=unique("cases"),
        investigator_queues={INVESTIGATOR: [CLAIM_QUEUE]},
        outbox_interval_s=0.2,
        watch_heartbeat_s=WATCH_HEARTBEAT_S,
    )
    with (
        running_server(
            build_ingestion(ingestion_settings, kafka), auth_settings, ingestion_settings
        ) as ingestion,
        running_server(
            build_cases(cases_settings, kafka).spec, auth_settings, cases_settings
        ) as cases,
        scoring_service(
            root,
            kafka_bootstrap,
            topics,
            auth_settings,
            mint,
            churn_model_url=churn_server.url,
            # No fraud model: decisions come from the rules alone (degraded), which is all a
            # route test needs, and it spares a second BentoML server.
            fraud_model_url=f"http://127.0.0.1:{free_port()}",
        ) as scoring,
    ):
        analytics_settings = AnalyticsSettings(
            port=0,
            metrics_enabled=False,
            grace_period_s=1,
            version_check_s=0,
            watch_poll_s=0.2,
            cases_address=cases.address,
        )
        with running_server(
            build_analytics(analytics_settings, lake.settings), auth_settings, analytics_settings
        ) as analytics:
            yield Stack(
                addresses={
                    "ingestion": ingestion.address,
                    "scoring": scoring.address,
                    "analytics": analytics.address,
                    "cases": cases.address,
                },
                topics=topics,
                bootstrap=kafka_bootstrap,
                mint=mint,
            )


@pytest.fixture(scope="module")
def gateway(stack: Stack, tmp_path_factory) -> Iterator[RunningGateway]:
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    with running_gateway(stack.addresses, log_path=log_path, cors_origins=[CONSOLE_ORIGIN]) as gw:
        yield gw


@pytest.fixture(scope="module")
def rest(gateway: RunningGateway, mint) -> Iterator[Rest]:
    client = Rest(gateway.url, mint, ROUTE)
    yield client
    client.client.close()


@dataclass
class World:
    """What a route test needs: REST, gRPC, the lake's rows and the topics."""

    rest: Rest
    stack: Stack
    lake: Lake

    def grpc(self, backend: str, rpc: str, request: Message, *, role: str, sub: str = "tester"):
        """Call `rpc` of `backend` directly over gRPC as `sub` holding `role`."""
        return self.stack.grpc(backend, rpc, request, role=role, sub=sub)


@pytest.fixture(scope="module")
def world(rest: Rest, stack: Stack, lake: Lake) -> World:
    return World(rest, stack, lake)


# -- inputs ---------------------------------------------------------------------------------


def transaction_json(transaction_id: str, customer: str, at: datetime, amount_minor: int = 2_500):
    """A valid transaction as a REST client writes it (lowerCamelCase, enums by name)."""
    return {
        "transactionId": transaction_id,
        "customerId": customer,
        "merchantId": "m-gw-1",
        "sessionId": f"s-{transaction_id}",
        "amount": {"amountMinor": str(amount_minor), "currency": "EUR"},
        "items": [
            {
                "productId": "p-gw-1",
                "quantity": 2,
                "unitPrice": {"amountMinor": str(amount_minor // 2), "currency": "EUR"},
            }
        ],
        "paymentMethod": "PAYMENT_METHOD_CARD",
        "cardFingerprint": f"card-{customer}",
        "device": {"deviceId": f"dev-{customer}", "type": "DEVICE_TYPE_MOBILE"},
        "ipAddress": "198.51.100.20",
        "location": {
            "country": "DE",
            "city": "Berlin",
            "point": {"latitude": 52.52, "longitude": 13.4},
        },
        "channel": "CHANNEL_DIRECT",
        "occurredAt": iso(at),
    }


def new_case(world: World, queue: str, **fields) -> cases_pb2.Case:
    """A case opened by a lead over gRPC (setup for the case routes)."""
    case = cases_pb2.Case(
        queue=queue,
        customer_id=fields.pop("customer_id", unique("c-gw")),
        risk_score=0.8,
        amount=common_pb2.Money(amount_minor=25_000, currency="EUR"),
        customer_email="jane.doe@example.com",
        title="suspicious card use",
        **fields,
    )
    return world.grpc("cases", "CreateCase", cases_pb2.CreateCaseRequest(case=case), role="lead")


def assigned_case(world: World, queue: str, assignee: str = INVESTIGATOR) -> cases_pb2.Case:
    """A case in review, assigned to `assignee` by a lead over gRPC."""
    case = new_case(world, queue)
    return world.grpc(
        "cases",
        "AssignCase",
        cases_pb2.AssignCaseRequest(case_id=case.case_id, assignee=assignee),
        role="lead",
    )


def get_case(world: World, case_id: str, role: str = "lead") -> cases_pb2.Case:
    """The case as the service holds it, read over gRPC."""
    return world.grpc("cases", "GetCase", cases_pb2.GetCaseRequest(case_id=case_id), role=role)


def new_rule(world: World) -> scoring_pb2.Rule:
    """A disabled rule created by a lead over gRPC (setup for the rule routes)."""
    rule = scoring_pb2.Rule(
        rule_id=unique("gw-rule"),
        display_name="large amounts",
        expression="tx.amount > 5000.0",
        action=scoring_pb2.RULE_ACTION_REVIEW,
        reason_code="GW_LARGE_AMOUNT",
        enabled=False,
    )
    return world.grpc(
        "scoring", "CreateRule", scoring_pb2.CreateRuleRequest(rule=rule), role="lead"
    )


def kafka_records(world: World, topic: str, since: datetime, message_type, **wanted: str):
    """The records of (the private copy of) `topic` since `since`, decoded as
    `message_type`, whose fields have the `wanted` values."""
    found = []
    for record in read_since(world.stack.bootstrap, world.stack.topics[topic], since):
        if (
            dict(record.headers() or ()).get("ce_type")
            != message_type.DESCRIPTOR.full_name.encode()
        ):
            continue
        message = message_type.FromString(record.value())
        if all(getattr(message, name) == value for name, value in wanted.items()):
            found.append(message)
    return found


# -- happy paths, one per route -----------------------------------------------------------

HAPPY: dict[str, Callable[[World], None]] = {}


def happy(name: str):
    """Register the decorated function as the happy-path test of route `name`."""

    def register(check: Callable[[World], None]) -> Callable[[World], None]:
        assert name in ROUTE, f"{name} is not a declared route"
        HAPPY[name] = check
        return check

    return register


@happy("IngestionService.IngestBatch")
def _ingest_batch(world: World) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    transaction = transaction_json(unique("t-gw"), ACTIVE, datetime.now(UTC))
    event = {  # snake_case keys: inputs accept both spellings
        "event_id": unique("e-gw"),
        "type": "BEHAVIOR_EVENT_TYPE_PAGE_VIEW",
        "session_id": "s-gw-batch",
        "customer_id": ACTIVE,
        "occurred_at": iso(datetime.now(UTC)),
        "page_url": "https://shop.ecap.example/",
    }
    _, body = world.rest.ok(
        "IngestionService.IngestBatch",
        ingestion_pb2.IngestBatchResponse,
        role="service",
        body={"transactions": [transaction], "events": [event]},
    )
    # int64 counts are strings, unpopulated fields are present, names are lowerCamelCase.
    assert body["transactions"] == {
        "received": "1",
        "accepted": "1",
        "duplicates": "0",
        "rejected": "0",
        "rejections": [],
    }
    assert body["events"]["accepted"] == "1"
    (landed,) = kafka_records(
        world,
        "transactions",
        since,
        common_pb2.Transaction,
        transaction_id=transaction["transactionId"],
    )
    assert landed == json_format.ParseDict(transaction, common_pb2.Transaction())
    (landed_event,) = kafka_records(
        world, "user-events", since, common_pb2.BehaviorEvent, event_id=event["event_id"]
    )
    assert landed_event == json_format.ParseDict(event, common_pb2.BehaviorEvent())


@happy("IngestionService.UpsertProducts")
def _upsert_products(world: World) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    product = {
        "productId": unique("p-gw"),
        "name": "Noise-cancelling headphones",
        "categoryPath": ["Electronics", "Audio"],
        "price": {"amountMinor": "19900", "currency": "EUR"},
        "unitCost": {"amountMinor": "11000", "currency": "EUR"},
        "stock": 12,
        "active": True,
        "updatedAt": iso(datetime.now(UTC)),
    }
    _, body = world.rest.ok(
        "IngestionService.UpsertProducts",
        ingestion_pb2.UpsertProductsResponse,
        role="service",
        body={"products": [product]},
    )
    assert body["summary"]["accepted"] == "1"
    (landed,) = kafka_records(
        world, "product-updates", since, common_pb2.Product, product_id=product["productId"]
    )
    assert landed == json_format.ParseDict(product, common_pb2.Product())


@happy("IngestionService.UpsertCustomers")
def _upsert_customers(world: World) -> None:
    since = datetime.now(UTC) - timedelta(seconds=5)
    customer = {
        "customerId": unique("c-gw"),
        "email": "new.customer@example.org",
        "fullName": "New Customer",
        "home": {"country": "FR", "city": "Lyon"},
        "signedUpAt": iso(datetime.now(UTC) - DAY),
        "acquisitionChannel": "CHANNEL_EMAIL",
    }
    _, body = world.rest.ok(
        "IngestionService.UpsertCustomers",
        ingestion_pb2.UpsertCustomersResponse,
        role="service",
        body={"customers": [customer]},
    )
    assert body["summary"]["accepted"] == "1"
    (landed,) = kafka_records(
        world, "product-updates", since, common_pb2.Customer, customer_id=customer["customerId"]
    )
    assert landed == json_format.ParseDict(customer, common_pb2.Customer())


@happy("ScoringService.ScoreTransaction")
def _score_transaction(world: World) -> None:
    transaction = transaction_json(unique("t-gw"), ACTIVE, datetime.now(UTC), 7_500)
    response, body = world.rest.ok(
        "ScoringService.ScoreTransaction",
        scoring_pb2.ScoreTransactionResponse,
        role="service",
        body={"transaction": transaction},
    )
    decision = response.decision
    assert decision.transaction_id == transaction["transactionId"]
    assert body["decision"]["outcome"] in common_pb2.DecisionOutcome.keys()  # noqa: SIM118
    assert body["replayed"] is False
    # The service holds that decision: scoring the transaction again over gRPC replays it.
    again = world.grpc(
        "scoring",
        "ScoreTransaction",
        scoring_pb2.ScoreTransactionRequest(
            transaction=json_format.ParseDict(transaction, common_pb2.Transaction())
        ),
        role="service",
    )
    assert again.replayed
    assert again.decision == decision


@happy("ScoringService.PredictChurn")
def _predict_churn(world: World) -> None:
    response, body = world.rest.ok(
        "ScoringService.PredictChurn",
        scoring_pb2.PredictChurnResponse,
        role="analyst",
        path={"customer_id": ACTIVE},
        params={"asOfTime": iso(ANCHOR - timedelta(hours=2))},
    )
    request = scoring_pb2.PredictChurnRequest(customer_id=ACTIVE)
    request.as_of_time.FromDatetime(ANCHOR - timedelta(hours=2))
    assert response == world.grpc("scoring", "PredictChurn", request, role="analyst")
    assert body["riskBand"] in scoring_pb2.ChurnRiskBand.keys()  # noqa: SIM118
    purchases = [
        t
        for t in world.lake.rows["transactions"]
        if t["customer_id"] == ACTIVE
        and ANCHOR - timedelta(hours=2) - 365 * DAY
        <= t["occurred_at"]
        < ANCHOR - timedelta(hours=2)
    ]
    assert response.features["frequency_365d"] == len(purchases) == 12
    assert 0 <= response.probability <= 1 and response.model_tag


@happy("ScoringService.ListRules")
def _list_rules(world: World) -> None:
    response, _ = world.rest.ok(
        "ScoringService.ListRules",
        scoring_pb2.ListRulesResponse,
        role="viewer",
        params={"page_size": 500},
    )
    assert response.rules  # the built-in rules at least
    expected = world.grpc(
        "scoring", "ListRules", scoring_pb2.ListRulesRequest(page_size=500), role="viewer"
    )
    assert response == expected


@happy("ScoringService.GetRule")
def _get_rule(world: World) -> None:
    rule = new_rule(world)
    response, _ = world.rest.ok(
        "ScoringService.GetRule", scoring_pb2.Rule, role="analyst", path={"rule_id": rule.rule_id}
    )
    assert response == rule


@happy("ScoringService.CreateRule")
def _create_rule(world: World) -> None:
    rule_id = unique("gw-created")
    created, body = world.rest.ok(
        "ScoringService.CreateRule",
        scoring_pb2.Rule,
        role="lead",
        body={
            "ruleId": rule_id,
            "displayName": "card testing, REST",
            "expression": "tx.amount < 2.0",
            "action": "RULE_ACTION_REVIEW",
            "reasonCode": "GW_CARD_TESTING",
            "enabled": False,
        },
    )
    assert body["name"] == f"rules/{rule_id}" and body["etag"]
    assert created.expression == "tx.amount < 2.0"
    read, _ = world.rest.ok(
        "ScoringService.GetRule", scoring_pb2.Rule, role="viewer", path={"rule_id": rule_id}
    )
    held = world.grpc(
        "scoring", "GetRule", scoring_pb2.GetRuleRequest(rule_id=rule_id), role="viewer"
    )
    assert created == read == held


@happy("ScoringService.UpdateRule")
def _update_rule(world: World) -> None:
    rule = new_rule(world)
    updated, _ = world.rest.ok(
        "ScoringService.UpdateRule",
        scoring_pb2.Rule,
        role="lead",
        path={"rule__rule_id": rule.rule_id},
        params={"update_mask": "description"},
        body={"description": "changed through REST", "etag": rule.etag},
    )
    assert updated.description == "changed through REST"
    assert updated.etag != rule.etag
    held = world.grpc(
        "scoring", "GetRule", scoring_pb2.GetRuleRequest(rule_id=rule.rule_id), role="lead"
    )
    assert held == updated


@happy("ScoringService.DeleteRule")
def _delete_rule(world: World) -> None:
    rule = new_rule(world)
    response = world.rest.call(
        "ScoringService.DeleteRule",
        role="lead",
        path={"rule_id": rule.rule_id},
        params={"etag": rule.etag},
    )
    assert response.status_code == 200, response.text
    assert response.json() == {}
    gone = world.stack.grpc_error(
        "scoring", "GetRule", scoring_pb2.GetRuleRequest(rule_id=rule.rule_id), role="lead"
    )
    assert gone.code() == grpc.StatusCode.NOT_FOUND


@happy("ScoringService.TestRule")
def _test_rule(world: World) -> None:
    response, body = world.rest.ok(
        "ScoringService.TestRule",
        scoring_pb2.TestRuleResponse,
        role="analyst",
        body={
            "rule": {
                "ruleId": "draft",
                "expression": "tx.amount > 100.0",
                "action": "RULE_ACTION_REVIEW",
                "reasonCode": "GW_OVER_100",
            },
            "days": 30,
        },
    )
    rows = world.lake.rows["transactions"]
    newest = max(t["occurred_at"] for t in rows)
    period = [t for t in rows if newest - 30 * DAY <= t["occurred_at"] <= newest]
    assert response.evaluated == len(period) and body["evaluated"] == str(len(period))
    assert response.hits == sum(t["amount_minor"] > 10_000 for t in period) > 0
    assert response.period_end.ToDatetime(tzinfo=UTC) == newest


@happy("CaseService.CreateCase")
def _create_case(world: World) -> None:
    request_id = unique("req")
    body = {
        "queue": unique("q-gw"),
        "customerId": unique("c-gw"),
        "riskScore": 0.9,
        "amount": {"amountMinor": "42000", "currency": "EUR"},
        "customerEmail": "jane.doe@example.com",
        "title": "opened through REST",
    }
    created, raw = world.rest.ok(
        "CaseService.CreateCase",
        cases_pb2.Case,
        role="lead",
        params={"requestId": request_id},
        body=body,
    )
    assert raw["status"] == "CASE_STATUS_OPEN" and raw["caseId"]
    assert (created.queue, created.customer_id, created.title) == (
        body["queue"],
        body["customerId"],
        body["title"],
    )
    read, _ = world.rest.ok(
        "CaseService.GetCase", cases_pb2.Case, role="lead", path={"case_id": created.case_id}
    )
    assert read == created == get_case(world, created.case_id)
    # A retry with the same request id gets the first call's case.
    retried, _ = world.rest.ok(
        "CaseService.CreateCase",
        cases_pb2.Case,
        role="lead",
        params={"requestId": request_id},
        body=body,
    )
    assert retried.case_id == created.case_id


@happy("CaseService.GetCase")
def _get_case(world: World) -> None:
    case = new_case(world, unique("q-gw"))
    read, raw = world.rest.ok(
        "CaseService.GetCase", cases_pb2.Case, role="investigator", path={"case_id": case.case_id}
    )
    assert read == get_case(world, case.case_id, role="investigator")
    assert raw["customerEmail"] == "jane.doe@example.com"
    # The caller's own token reaches the service: a viewer sees the PII masked.
    masked, _ = world.rest.ok(
        "CaseService.GetCase", cases_pb2.Case, role="viewer", path={"case_id": case.case_id}
    )
    assert masked.customer_email != "jane.doe@example.com"
    assert masked == get_case(world, case.case_id, role="viewer")


@happy("CaseService.ListCases")
def _list_cases(world: World) -> None:
    queue = unique("q-gw")
    opened = [new_case(world, queue).case_id for _ in range(3)]
    listed, _ = world.rest.ok(
        "CaseService.ListCases",
        cases_pb2.ListCasesResponse,
        role="analyst",
        params={
            "queue": queue,
            "statuses": ["CASE_STATUS_OPEN", "CASE_STATUS_IN_REVIEW"],
            "order": "CASE_ORDER_CREATE_TIME",
        },
    )
    assert [c.case_id for c in listed.cases] == opened
    expected = world.grpc(
        "cases",
        "ListCases",
        cases_pb2.ListCasesRequest(
            queue=queue,
            statuses=[cases_pb2.CASE_STATUS_OPEN, cases_pb2.CASE_STATUS_IN_REVIEW],
            order=cases_pb2.CASE_ORDER_CREATE_TIME,
        ),
        role="analyst",
    )
    assert listed == expected


@happy("CaseService.UpdateCase")
def _update_case(world: World) -> None:
    case = new_case(world, unique("q-gw"))
    updated, _ = world.rest.ok(
        "CaseService.UpdateCase",
        cases_pb2.Case,
        role="lead",
        path={"case__case_id": case.case_id},
        params={"updateMask": "title"},
        body={"title": "renamed through REST", "etag": case.etag},
    )
    assert updated.title == "renamed through REST" and updated.etag != case.etag
    assert get_case(world, case.case_id) == updated


@happy("CaseService.ClaimNextCase")
def _claim_next_case(world: World) -> None:
    case = new_case(world, CLAIM_QUEUE)
    claimed, _ = world.rest.ok(
        "CaseService.ClaimNextCase",
        cases_pb2.ClaimNextCaseResponse,
        role="investigator",
        sub=INVESTIGATOR,
        body={},
    )
    assert claimed.case.case_id == case.case_id
    assert claimed.case.assignee == INVESTIGATOR
    held = get_case(world, case.case_id)
    assert (held.status, held.assignee) == (cases_pb2.CASE_STATUS_IN_REVIEW, INVESTIGATOR)
    # The queue is empty now: the response carries no case.
    empty, raw = world.rest.ok(
        "CaseService.ClaimNextCase",
        cases_pb2.ClaimNextCaseResponse,
        role="investigator",
        sub=INVESTIGATOR,
        body={"queues": [CLAIM_QUEUE]},
    )
    assert not empty.HasField("case"), raw


@happy("CaseService.AssignCase")
def _assign_case(world: World) -> None:
    case = new_case(world, unique("q-gw"))
    assigned, raw = world.rest.ok(
        "CaseService.AssignCase",
        cases_pb2.Case,
        role="lead",
        path={"case_id": case.case_id},
        body={"assignee": INVESTIGATOR, "etag": case.etag},
    )
    assert raw["status"] == "CASE_STATUS_IN_REVIEW" and raw["assignee"] == INVESTIGATOR
    assert get_case(world, case.case_id) == assigned


@happy("CaseService.EscalateCase")
def _escalate_case(world: World) -> None:
    case = assigned_case(world, unique("q-gw"))
    escalated, raw = world.rest.ok(
        "CaseService.EscalateCase",
        cases_pb2.Case,
        role="lead",
        path={"case_id": case.case_id},
        body={"reason": "merchant pattern across customers"},
    )
    assert raw["status"] == "CASE_STATUS_ESCALATED"
    assert get_case(world, case.case_id) == escalated


@happy("CaseService.AddNote")
def _add_note(world: World) -> None:
    case = assigned_case(world, unique("q-gw"))
    noted, _ = world.rest.ok(
        "CaseService.AddNote",
        cases_pb2.Case,
        role="investigator",
        sub=INVESTIGATOR,
        path={"case_id": case.case_id},
        body={"text": "called the customer: card was stolen"},
    )
    (note,) = noted.notes
    assert (note.author, note.text) == (INVESTIGATOR, "called the customer: card was stolen")
    assert get_case(world, case.case_id) == noted


@happy("CaseService.AddEvidence")
def _add_evidence(world: World) -> None:
    case = assigned_case(world, unique("q-gw"))
    added, raw = world.rest.ok(
        "CaseService.AddEvidence",
        cases_pb2.Case,
        role="lead",
        sub="lena",
        path={"case_id": case.case_id},
        body={
            "evidence": {
                "device": {"deviceId": "dev-gw-9", "ipAddress": "203.0.113.9"},
                "description": "new device on the night of the purchase",
            }
        },
    )
    (evidence,) = added.evidence
    assert evidence.device.device_id == "dev-gw-9" and evidence.added_by == "lena"
    assert raw["evidence"][0]["evidenceId"]
    assert get_case(world, case.case_id) == added


@happy("CaseService.ResolveCase")
def _resolve_case(world: World) -> None:
    case = assigned_case(world, unique("q-gw"))
    resolved, raw = world.rest.ok(
        "CaseService.ResolveCase",
        cases_pb2.Case,
        role="investigator",
        sub=INVESTIGATOR,
        path={"case_id": case.case_id},
        body={"outcome": "CASE_OUTCOME_CONFIRMED_FRAUD", "note": "customer confirmed"},
    )
    assert (raw["status"], raw["outcome"]) == (
        "CASE_STATUS_RESOLVED",
        "CASE_OUTCOME_CONFIRMED_FRAUD",
    )
    assert get_case(world, case.case_id) == resolved


@happy("CaseService.ReopenCase")
def _reopen_case(world: World) -> None:
    case = assigned_case(world, unique("q-gw"))
    world.grpc(
        "cases",
        "ResolveCase",
        cases_pb2.ResolveCaseRequest(
            case_id=case.case_id, outcome=common_pb2.CASE_OUTCOME_FALSE_POSITIVE, note="fine"
        ),
        role="lead",
    )
    reopened, raw = world.rest.ok(
        "CaseService.ReopenCase",
        cases_pb2.Case,
        role="lead",
        path={"case_id": case.case_id},
        body={"reason": "chargeback arrived"},
    )
    assert raw["status"] != "CASE_STATUS_RESOLVED"
    assert get_case(world, case.case_id) == reopened


@happy("CaseService.ListCaseEvents")
def _list_case_events(world: World) -> None:
    case = assigned_case(world, unique("q-gw"))
    events, raw = world.rest.ok(
        "CaseService.ListCaseEvents",
        cases_pb2.ListCaseEventsResponse,
        role="viewer",
        path={"case_id": case.case_id},
    )
    assert [e["action"] for e in raw["events"]] == ["CASE_ACTION_CREATED", "CASE_ACTION_ASSIGNED"]
    assert all(isinstance(e["sequence"], str) for e in raw["events"])  # int64 as strings
    expected = world.grpc(
        "cases",
        "ListCaseEvents",
        cases_pb2.ListCaseEventsRequest(case_id=case.case_id),
        role="viewer",
    )
    assert events == expected


@happy("CaseService.WatchCases")
def _watch_cases(world: World) -> None:
    queue = unique("q-gw-watch")
    route = ROUTE["CaseService.WatchCases"]
    headers = {"Authorization": f"Bearer {world.stack.mint('investigator', sub='watcher')}"}
    with world.rest.client.stream(
        route.verb, route.path(), params={"queues": [queue]}, headers=headers
    ) as response:
        assert response.status_code == 200, response.read()
        lines = (json.loads(line) for line in response.iter_lines() if line.strip())
        first = next(lines)
        assert set(first) == {"result"}
        assert first["result"]["heartbeat"] is True
        case = new_case(world, queue)
        # Heartbeats keep coming; the change must arrive within a bounded number of them.
        for _, line in zip(range(WATCH_LINES), lines, strict=False):
            change = json_format.ParseDict(line["result"], cases_pb2.WatchCasesResponse())
            if not change.heartbeat:
                break
    assert not change.heartbeat, f"no change in the first {WATCH_LINES} lines"
    assert change.case.case_id == case.case_id
    assert change.event.action == common_pb2.CASE_ACTION_CREATED


@happy("CaseService.GetQueueStats")
def _get_queue_stats(world: World) -> None:
    queue = unique("q-gw-stats")
    for _ in range(2):
        new_case(world, queue)
    stats, _ = world.rest.ok(
        "CaseService.GetQueueStats", cases_pb2.QueueStats, role="lead", params={"queues": queue}
    )
    assert sum(b.open for b in stats.backlog) == 2
    expected = world.grpc(
        "cases", "GetQueueStats", cases_pb2.GetQueueStatsRequest(queues=[queue]), role="lead"
    )
    # Ages and the computing time move between the two calls; the rest may not.
    for answer in (stats, expected):
        answer.ClearField("compute_time")
        for backlog in answer.backlog:
            backlog.ClearField("oldest_age")
    assert stats == expected


def analytics_answer(world: World, request: Message, **options) -> Message:
    """The analytics route that takes `request`, through REST as an analyst; its answer
    equals the gRPC one."""
    method = ANALYTICS_METHODS[type(request).DESCRIPTOR.full_name]
    name = f"AnalyticsService.{method.name}"
    response_type = message_factory.GetMessageClass(method.output_type)
    response, _ = world.rest.ok(name, response_type, role="analyst", **options)
    assert response == world.grpc("analytics", method.name, request, role="analyst"), name
    return response


def _stamped(request: Message, **moments: datetime) -> Message:
    for name, moment in moments.items():
        getattr(request, name).FromDatetime(moment)
    return request


@happy("AnalyticsService.GetKpis")
def _get_kpis(world: World) -> None:
    start, end = ANCHOR - timedelta(hours=1), ANCHOR
    response = analytics_answer(
        world,
        _stamped(analytics_pb2.GetKpisRequest(), start_time=start, end_time=end),
        params={"startTime": iso(start), "endTime": iso(end)},
    )

    def whole_orders(since: datetime, until: datetime) -> list[dict]:
        return [
            r
            for r in world.lake.rows["kpi_minute"]
            if r["category"] == "*" and since <= r["minute"] < until
        ]

    current, previous = whole_orders(start, end), whole_orders(start - (end - start), start)
    for name in ("orders", "units", "revenue_minor", "decisions", "approved", "reviewed"):
        assert getattr(response.current, name) == sum(r[name] for r in current), name
        assert getattr(response.previous, name) == sum(r[name] for r in previous), name
    buyers = {
        t["customer_id"] for t in world.lake.rows["transactions"] if start <= t["occurred_at"] < end
    }
    assert response.current.unique_customers == len(buyers) == 2


@happy("AnalyticsService.GetRevenueSeries")
def _get_revenue_series(world: World) -> None:
    start, end = ANCHOR - 3 * DAY, ANCHOR
    request = _stamped(
        analytics_pb2.GetRevenueSeriesRequest(granularity=analytics_pb2.GRANULARITY_DAY),
        start_time=start.replace(hour=0),
        end_time=end.replace(hour=0),
    )
    response = analytics_answer(
        world,
        request,
        params={
            "startTime": iso(start.replace(hour=0)),
            "endTime": iso(end.replace(hour=0)),
            "granularity": "GRANULARITY_DAY",
        },
    )
    written = [r for r in world.lake.rows["revenue_daily"] if r["category"] == "*"]
    assert [
        (p.bucket_start_time.ToDatetime().date(), p.orders, p.revenue_minor, p.margin_minor)
        for p in response.points
    ] == [(r["day"], r["orders"], r["revenue_minor"], r["margin_minor"]) for r in written]


@happy("AnalyticsService.GetSegments")
def _get_segments(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetSegmentsRequest(),
    )
    assert [(s.segment, s.customers, s.revenue_minor) for s in response.segments] == [
        (r["segment"], r["customers"], r["revenue_minor"]) for r in world.lake.rows["rfm_segments"]
    ]


@happy("AnalyticsService.ListCustomers")
def _list_customers(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.ListCustomersRequest(),
    )
    rfm = sorted(world.lake.rows["rfm"], key=lambda r: -r["monetary"])
    assert [(c.customer_id, c.segment, c.monetary_minor) for c in response.customers] == [
        (r["customer_id"], r["segment"], r["monetary"]) for r in rfm
    ]
    assert response.total_size == len(rfm)
    bands = {r["customer_id"]: r["band"] for r in world.lake.rows["churn_scores"]}
    assert {c.customer_id: c.churn_band for c in response.customers} == bands
    high, _ = world.rest.ok(
        "AnalyticsService.ListCustomers",
        analytics_pb2.ListCustomersResponse,
        role="analyst",
        params={"churnBand": "HIGH"},
    )
    assert [c.customer_id for c in high.customers] == [OCCASIONAL]


@happy("AnalyticsService.GetCustomer360")
def _get_customer360(world: World) -> None:
    case = new_case(world, unique("q-gw-360"), customer_id=ACTIVE)
    response = analytics_answer(
        world,
        analytics_pb2.GetCustomer360Request(customer_id=ACTIVE, recent_transactions=50),
        path={"customer_id": ACTIVE},
        params={"recentTransactions": 50},
    )
    assert (response.profile.customer_id, response.profile.city) == (ACTIVE, "Berlin")
    assert response.summary.segment == "Champions" and response.churn.band == "LOW"
    assert response.clv.clv_minor == 98_000.0
    purchases = [t for t in world.lake.rows["transactions"] if t["customer_id"] == ACTIVE]
    assert len(response.recent_transactions) == len(purchases)
    # Its open cases come from the case service, asked with the caller's token.
    assert response.open_cases_error == ""
    assert case.case_id in [c.case_id for c in response.open_cases]


@happy("AnalyticsService.GetCohorts")
def _get_cohorts(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetCohortsRequest(),
    )
    assert [(c.cohort_month, c.month_offset, c.active_customers) for c in response.cells] == [
        (r["cohort_month"].isoformat(), r["month_offset"], r["active_customers"])
        for r in world.lake.rows["cohorts"]
    ]


@happy("AnalyticsService.GetFunnel")
def _get_funnel(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetFunnelRequest(channel="*", device_type="*"),
        params={"channel": "*", "deviceType": "*"},
    )
    assert [(s.step, s.sessions) for s in response.steps] == [
        (r["step"], r["sessions"]) for r in world.lake.rows["funnel"]
    ]


@happy("AnalyticsService.GetAttribution")
def _get_attribution(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetAttributionRequest(
            model="linear", level=analytics_pb2.ATTRIBUTION_LEVEL_CHANNEL
        ),
        path={"model": "linear"},
        params={"level": "ATTRIBUTION_LEVEL_CHANNEL"},
    )
    written = sorted(world.lake.rows["attribution"], key=lambda r: -r["conversions"])
    assert [(c.channel, c.conversions) for c in response.credits] == [
        (r["channel"], r["conversions"]) for r in written
    ]


@happy("AnalyticsService.GetBasketRules")
def _get_basket_rules(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetBasketRulesRequest(min_lift=2.0),
        params={"minLift": 2.0},
    )
    assert [(list(r.antecedent), list(r.consequent), r.lift) for r in response.rules] == [
        (r["antecedent"], r["consequent"], r["lift"])
        for r in world.lake.rows["basket_rules"]
        if r["lift"] >= 2.0
    ]


@happy("AnalyticsService.GetRecommendations")
def _get_recommendations(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetRecommendationsRequest(customer_id=ACTIVE, limit=2),
        path={"customer_id": ACTIVE},
        params={"limit": 2},
    )
    assert [(r.rank, r.product_id) for r in response.recommendations] == [
        (r["rank"], r["product_id"]) for r in world.lake.rows["recommendations"][:2]
    ]
    assert {e.model: e.precision_at_k for e in response.evaluation} == {
        r["model"]: r["precision_at_k"] for r in world.lake.rows["recommendation_eval"]
    }


@happy("AnalyticsService.GetProductPerformance")
def _get_product_performance(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetProductPerformanceRequest(category="Electronics"),
        params={"category": "Electronics"},
    )
    assert [(p.product_id, p.revenue_minor, p.trend) for p in response.products] == [
        (r["product_id"], r["revenue_minor"], r["trend"])
        for r in world.lake.rows["product_performance"]
    ]


@happy("AnalyticsService.GetGeoBreakdown")
def _get_geo_breakdown(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetGeoBreakdownRequest(level=analytics_pb2.GEO_LEVEL_COUNTRY),
        params={"level": "GEO_LEVEL_COUNTRY"},
    )
    assert [(r.country, r.revenue_minor) for r in response.rows] == [
        (r["country"], r["revenue_minor"]) for r in world.lake.rows["geo_breakdown"]
    ]


@happy("AnalyticsService.GetSeasonality")
def _get_seasonality(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetSeasonalityRequest(),
    )
    assert [(p.profile, p.period, p.orders) for p in response.periods] == [
        (r["profile"], r["period"], r["orders"]) for r in world.lake.rows["seasonality"]
    ]


@happy("AnalyticsService.GetForecast")
def _get_forecast(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetForecastRequest(),
    )
    assert (response.category, response.model, response.interval) == ("*", "ets", 0.8)
    # Days are YYYY-MM-DD, as the proto documents.
    assert [(p.day, p.revenue_minor) for p in response.points] == [
        (r["day"].isoformat(), r["revenue_minor"]) for r in world.lake.rows["forecast"]
    ]
    assert [b.model for b in response.backtest] == ["ets", "seasonal_naive"]


@happy("AnalyticsService.GetDataQuality")
def _get_data_quality(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetDataQualityRequest(source_table="transactions"),
        params={"sourceTable": "transactions"},
    )
    newest = max(world.lake.rows["quality_metrics"], key=lambda r: r["recorded_at"])
    (metric,) = response.metrics
    assert (metric.metric, metric.subject, metric.value) == (
        newest["metric"],
        newest["subject"],
        newest["value"],
    )


@happy("AnalyticsService.ListTables")
def _list_tables(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.ListTablesRequest(layer="gold"),
        params={"layer": "gold"},
    )
    listed = {t.table: t for t in response.tables}
    assert set(listed) == {name for name, spec in TABLES.items() if spec.layer == "gold"}
    for name, rows in world.lake.rows.items():
        if TABLES[name].layer == "gold":
            assert (listed[name].exists, listed[name].rows) == (True, len(rows)), name
    assert not listed["job_runs"].exists


@happy("AnalyticsService.GetTableHistory")
def _get_table_history(world: World) -> None:
    response = analytics_answer(
        world,
        analytics_pb2.GetTableHistoryRequest(table="rfm"),
        path={"table": "rfm"},
    )
    history = DeltaTable(TABLES["rfm"].uri(world.lake.settings)).history()
    assert [(c.version, c.operation) for c in response.commits] == [
        (h["version"], h["operation"]) for h in history
    ]


@happy("AnalyticsService.WatchKpis")
def _watch_kpis(world: World) -> None:
    since = ANCHOR - timedelta(hours=2)
    (first,) = world.rest.first_lines(
        "AnalyticsService.WatchKpis", 1, role="viewer", params={"sinceTime": iso(since)}
    )
    assert set(first) == {"result"}
    row = json_format.ParseDict(first["result"], analytics_pb2.KpiMinute())
    earliest = min(
        world.lake.rows["kpi_minute"],
        key=lambda r: (r["minute"], r["country"], r["channel"], r["currency"], r["category"]),
    )
    assert (row.minute.ToDatetime(tzinfo=UTC), row.country, row.category, row.orders) == (
        earliest["minute"],
        earliest["country"],
        earliest["category"],
        earliest["orders"],
    )


# -- input each route's rules refuse ---------------------------------------------------------


@dataclass(frozen=True)
class Invalid:
    """A request a route's validation rules refuse, and the field named for it."""

    field: str
    role: str
    path: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    body: Any = None


_TOO_MANY_QUEUES = {"queues": [f"q-{n}" for n in range(33)]}
INVALID: dict[str, Invalid] = {
    "IngestionService.IngestBatch": Invalid("events", "service", body={"events": [{}] * 10_001}),
    "IngestionService.UpsertProducts": Invalid("products", "service", body={"products": []}),
    "IngestionService.UpsertCustomers": Invalid("customers", "service", body={"customers": []}),
    "ScoringService.ScoreTransaction": Invalid("transaction", "service", body={}),
    "ScoringService.PredictChurn": Invalid(
        "customer_id", "analyst", path={"customer_id": "-not-an-id"}
    ),
    "ScoringService.ListRules": Invalid("page_size", "analyst", params={"pageSize": 501}),
    "ScoringService.GetRule": Invalid("rule_id", "analyst", path={"rule_id": "r" * 64}),
    "ScoringService.CreateRule": Invalid(
        "rule.rule_id",
        "lead",
        body={"ruleId": "Not_A_Rule_Id", "expression": "true", "action": "RULE_ACTION_REVIEW"},
    ),
    "ScoringService.UpdateRule": Invalid(
        "rule.description",
        "lead",
        path={"rule__rule_id": "some-rule"},
        params={"update_mask": "description"},
        body={"description": "d" * 1025},
    ),
    "ScoringService.DeleteRule": Invalid(
        "etag", "lead", path={"rule_id": "some-rule"}, params={"etag": "e" * 129}
    ),
    "ScoringService.TestRule": Invalid(
        "days", "analyst", body={"rule": {"expression": "true"}, "days": 91}
    ),
    "CaseService.GetCase": Invalid("case_id", "viewer", path={"case_id": "c" * 65}),
    "CaseService.ListCases": Invalid("page_size", "viewer", params={"page_size": 501}),
    "CaseService.CreateCase": Invalid(
        "case.risk_score", "lead", body={"queue": "q", "customerId": "c-1", "riskScore": 2}
    ),
    "CaseService.UpdateCase": Invalid(
        "case.title",
        "lead",
        path={"case__case_id": "case-1"},
        params={"updateMask": "title"},
        body={"title": "t" * 257},
    ),
    "CaseService.ClaimNextCase": Invalid("queues[0]", "investigator", body={"queues": [""]}),
    "CaseService.AssignCase": Invalid(
        "assignee", "lead", path={"case_id": "case-1"}, body={"assignee": ""}
    ),
    "CaseService.EscalateCase": Invalid(
        "reason", "lead", path={"case_id": "case-1"}, body={"reason": ""}
    ),
    "CaseService.AddNote": Invalid("text", "lead", path={"case_id": "case-1"}, body={"text": ""}),
    "CaseService.AddEvidence": Invalid("evidence", "lead", path={"case_id": "case-1"}, body={}),
    "CaseService.ResolveCase": Invalid(
        "outcome",
        "lead",
        path={"case_id": "case-1"},
        body={"outcome": "CASE_OUTCOME_UNSPECIFIED", "note": "n"},
    ),
    "CaseService.ReopenCase": Invalid(
        "reason", "lead", path={"case_id": "case-1"}, body={"reason": ""}
    ),
    "CaseService.ListCaseEvents": Invalid(
        "page_size", "viewer", path={"case_id": "case-1"}, params={"pageSize": 501}
    ),
    "CaseService.WatchCases": Invalid("queues", "viewer", params=_TOO_MANY_QUEUES),
    "CaseService.GetQueueStats": Invalid("queues", "viewer", params=_TOO_MANY_QUEUES),
    "AnalyticsService.GetKpis": Invalid("start_time", "analyst"),
    "AnalyticsService.GetRevenueSeries": Invalid(
        "granularity",
        "analyst",
        params={"startTime": iso(ANCHOR - DAY), "endTime": iso(ANCHOR)},
    ),
    "AnalyticsService.GetSegments": Invalid("at.version", "analyst", params={"at.version": -1}),
    "AnalyticsService.ListCustomers": Invalid(
        "churn_band", "analyst", params={"churnBand": "EXTREME"}
    ),
    "AnalyticsService.GetCustomer360": Invalid(
        "customer_id", "analyst", path={"customer_id": "-not-an-id"}
    ),
    "AnalyticsService.GetCohorts": Invalid("at.version", "analyst", params={"at.version": -1}),
    "AnalyticsService.GetFunnel": Invalid("channel", "analyst", params={"channel": "c" * 33}),
    "AnalyticsService.GetAttribution": Invalid(
        "model", "analyst", path={"model": "last_click_wins"}
    ),
    "AnalyticsService.GetBasketRules": Invalid(
        "min_confidence", "analyst", params={"minConfidence": 1.5}
    ),
    "AnalyticsService.GetRecommendations": Invalid(
        "limit", "analyst", path={"customer_id": ACTIVE}, params={"limit": 101}
    ),
    "AnalyticsService.GetProductPerformance": Invalid(
        "trend", "analyst", params={"trend": "sideways"}
    ),
    "AnalyticsService.GetGeoBreakdown": Invalid(
        "country", "analyst", params={"country": "GERMANY-X"}
    ),
    "AnalyticsService.GetSeasonality": Invalid("at.version", "analyst", params={"at.version": -1}),
    "AnalyticsService.GetForecast": Invalid("category", "analyst", params={"category": "c" * 129}),
    "AnalyticsService.GetDataQuality": Invalid(
        "source_table", "analyst", params={"sourceTable": "s" * 65}
    ),
    "AnalyticsService.ListTables": Invalid("layer", "analyst", params={"layer": "platinum"}),
    "AnalyticsService.GetTableHistory": Invalid(
        "limit", "analyst", path={"table": "rfm"}, params={"limit": 1001}
    ),
    "AnalyticsService.WatchKpis": Invalid(
        "countries", "analyst", params={"countries": [f"C{n}" for n in range(51)]}
    ),
}


def placeholder_path(route: Route) -> dict[str, str]:
    """Some value for each path variable (auth is checked before anything reads them)."""
    return {name.replace(".", "__"): "x-1" for name in route.path_fields}


def wrong_roles(route: Route) -> tuple[str, ...]:
    """Roles the route's role table refuses: one that is not in it, or none at all when
    every role but admin may call it."""
    allowed = ROLE_TABLE[route.rpc]
    refused = sorted(set(Role) - allowed - {Role.ADMIN})
    return (refused[0].value,) if refused else ()


# -- the tests ----------------------------------------------------------------------------------


def test_every_declared_route_has_a_happy_path_and_an_invalid_request_here():
    declared = {key(route) for route in ROUTES}
    assert len(declared) == len(ROUTES), "an RPC with two bindings needs a test per binding"
    assert declared - set(HAPPY) == set(), "routes without a happy-path test"
    assert declared - set(INVALID) == set(), "routes without an invalid-input test"
    assert set(HAPPY) | set(INVALID) <= declared, "tests of routes that no longer exist"
    assert set(ROLE_TABLE) >= {route.rpc for route in ROUTES}, "routes no role table names"


@pytest.mark.parametrize("route", ROUTES, ids=key)
def test_happy_path(route: Route, world: World):
    check = HAPPY.get(key(route))
    if check is None:
        pytest.fail(f"no happy-path test for {route}: add one to HAPPY")
    check(world)


@pytest.mark.parametrize("route", ROUTES, ids=key)
def test_no_token_is_401(route: Route, rest: Rest):
    response = rest.request(
        route.verb, route.path(**placeholder_path(route)), body={} if route.body else None
    )
    body = error_status(
        response, 401, grpc.StatusCode.UNAUTHENTICATED, stream=route.server_streaming
    )
    assert reason(body) == "TOKEN_MISSING"


@pytest.mark.parametrize("route", ROUTES, ids=key)
def test_a_role_the_table_refuses_is_403(route: Route, rest: Rest):
    response = rest.request(
        route.verb,
        route.path(**placeholder_path(route)),
        roles=wrong_roles(route),
        body={} if route.body else None,
    )
    body = error_status(
        response, 403, grpc.StatusCode.PERMISSION_DENIED, stream=route.server_streaming
    )
    assert route.method in body["message"]


@pytest.mark.parametrize("route", ROUTES, ids=key)
def test_invalid_input_is_400_naming_the_field(route: Route, rest: Rest):
    invalid = INVALID.get(key(route))
    if invalid is None:
        pytest.fail(f"no invalid request for {route}: add one to INVALID")
    response = rest.request(
        route.verb,
        route.path(**(invalid.path or placeholder_path(route))),
        role=invalid.role,
        params=invalid.params,
        body=invalid.body if invalid.body is not None else ({} if route.body else None),
    )
    body = error_status(
        response, 400, grpc.StatusCode.INVALID_ARGUMENT, stream=route.server_streaming
    )
    assert invalid.field in violated_fields(body), body


def test_an_expired_or_forged_token_is_401(rest: Rest, mint):
    for token in (mint("lead", ttl_s=-3600), mint("lead")[:-4] + "AAAA"):
        response = rest.client.get(
            ROUTE["ScoringService.ListRules"].path(), headers={"Authorization": f"Bearer {token}"}
        )
        error_status(response, 401, grpc.StatusCode.UNAUTHENTICATED)


MISSING = [
    ("CaseService.GetCase", {"case_id": "case-000000000000"}, "viewer", None),
    ("CaseService.AddNote", {"case_id": "case-000000000000"}, "lead", {"text": "hello"}),
    ("ScoringService.GetRule", {"rule_id": "no-such-rule"}, "viewer", None),
    ("ScoringService.DeleteRule", {"rule_id": "no-such-rule"}, "lead", None),
    ("ScoringService.PredictChurn", {"customer_id": "c-nobody"}, "analyst", None),
    ("AnalyticsService.GetTableHistory", {"table": "no_such_table"}, "analyst", None),
]


@pytest.mark.parametrize(
    ("name", "path", "role", "body"), [pytest.param(*case, id=case[0]) for case in MISSING]
)
def test_what_does_not_exist_is_404(rest: Rest, name, path, role, body):
    response = rest.call(name, path=path, role=role, body=body)
    error_status(response, 404, grpc.StatusCode.NOT_FOUND)


def test_a_stale_etag_is_409_on_update_case(world: World):
    case = new_case(world, unique("q-gw"))
    world.rest.ok(
        "CaseService.UpdateCase",
        cases_pb2.Case,
        role="lead",
        path={"case__case_id": case.case_id},
        params={"updateMask": "title"},
        body={"title": "first", "etag": case.etag},
    )
    stale = world.rest.call(
        "CaseService.UpdateCase",
        role="lead",
        path={"case__case_id": case.case_id},
        params={"updateMask": "title"},
        body={"title": "second", "etag": case.etag},
    )
    body = error_status(stale, 409, grpc.StatusCode.ABORTED)
    assert reason(body) == "ETAG_MISMATCH"
    assert get_case(world, case.case_id).title == "first"


def test_a_stale_etag_is_409_on_update_rule(world: World):
    rule = new_rule(world)
    world.rest.ok(
        "ScoringService.UpdateRule",
        scoring_pb2.Rule,
        role="lead",
        path={"rule__rule_id": rule.rule_id},
        params={"update_mask": "description"},
        body={"description": "first", "etag": rule.etag},
    )
    stale = world.rest.call(
        "ScoringService.UpdateRule",
        role="lead",
        path={"rule__rule_id": rule.rule_id},
        params={"update_mask": "description"},
        body={"description": "second", "etag": rule.etag},
    )
    body = error_status(stale, 409, grpc.StatusCode.ABORTED)
    assert reason(body) == "ETAG_MISMATCH"
    held = world.grpc(
        "scoring", "GetRule", scoring_pb2.GetRuleRequest(rule_id=rule.rule_id), role="lead"
    )
    assert held.description == "first"


def test_an_unknown_field_in_a_body_is_400_naming_it(rest: Rest):
    response = rest.call(
        "CaseService.CreateCase",
        role="lead",
        body={"queue": "q", "customerId": "c-1", "colour": "red"},
    )
    # The gateway refuses it before any service sees it, naming the field as services do.
    body = error_status(response, 400, grpc.StatusCode.INVALID_ARGUMENT)
    assert violated_fields(body) == ["colour"]
    assert "colour" in body["message"]


def test_healthz_reports_every_backend_serving(rest: Rest):
    response = rest.client.get("/healthz")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "SERVING",
        "backends": {name: "SERVING" for name in ("ingestion", "scoring", "analytics", "cases")},
    }


def test_healthz_is_503_naming_a_backend_that_is_down(stack: Stack, tmp_path):
    backends = {**stack.addresses, "cases": f"127.0.0.1:{free_port()}"}
    with running_gateway(backends, log_path=tmp_path / "gateway.log") as gateway:
        response = httpx.get(f"{gateway.url}/healthz", timeout=30)
    assert response.status_code == 503, response.text
    report = response.json()
    assert report["status"] == "NOT_SERVING"
    assert report["backends"]["cases"] != "SERVING"
    assert {name: state for name, state in report["backends"].items() if name != "cases"} == {
        name: "SERVING" for name in ("ingestion", "scoring", "analytics")
    }


def test_cors_preflight_answers_allowed_origins_only(rest: Rest):
    def preflight(origin: str) -> httpx.Response:
        return rest.client.options(
            ROUTE["CaseService.ListCases"].path(),
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "GET",
                "Access-Control-Request-Headers": "authorization",
            },
        )

    allowed = preflight(CONSOLE_ORIGIN)
    assert allowed.status_code < 300
    assert allowed.headers["access-control-allow-origin"] == CONSOLE_ORIGIN
    assert "GET" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()
    other = preflight("https://elsewhere.example")
    assert "access-control-allow-origin" not in other.headers


def test_the_openapi_document_lists_every_route_and_docs_are_served(rest: Rest):
    spec = rest.client.get("/openapi.json").json()

    def shape(template: str) -> str:
        return "".join(
            "{}" if part.startswith("{") else part for part in re.split(r"(\{[^}]*\})", template)
        )

    documented = {
        (shape(path), verb.upper())
        for path, operations in spec["paths"].items()
        for verb in operations
        if verb != "parameters"
    }
    missing = [str(r) for r in ROUTES if (shape(r.template), r.verb) not in documented]
    assert missing == []
    docs = rest.client.get("/docs/")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()


def test_each_request_is_logged_as_one_json_line(rest: Rest, gateway: RunningGateway):
    marker = f"/v1/cases/{unique('case-log')}"
    rest.request("GET", marker, role="viewer")

    def logged() -> list[dict]:
        return [e for e in gateway.request_log() if e.get("path") == marker]

    # The line is written once the handler returns, which may be just after the client read.
    wait_until(lambda: len(logged()) > 0, "the request's log line", timeout_s=10)
    (entry,) = logged()
    assert (entry["method"], entry["status"]) == ("GET", 404)
    assert entry["duration_ms"] >= 0


# -- Fuzzing: last in the module, since its generated writes change what the tests above read.

# Generated cases per operation and mode (valid inputs, then inputs that break the schema),
# after the document's own examples: a few hundred requests in all.
FUZZ_CASES_PER_MODE = 4


def _driveable(document: dict) -> dict:
    """The document as schemathesis can drive it. It fills a path with `str.format`, which
    reads a dotted variable such as `{case.caseId}` as an attribute, so those variables are
    renamed (the URLs stay the same)."""
    for path in [p for p in document["paths"] if "." in p]:
        operations = document["paths"].pop(path)
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "path" and "." in parameter["name"]:
                    renamed = parameter["name"].replace(".", "__")
                    path = path.replace("{" + parameter["name"] + "}", "{" + renamed + "}")
                    parameter["name"] = renamed
        document["paths"][path] = operations
    return document


def _fuzz(operation, mode, url: str, headers: dict, problems: list[str]) -> int:
    """Send the operation's examples and generated cases in `mode`; note each answer that is
    a server error or an error without a google.rpc.Status body. Returns how many were sent."""
    from hypothesis import HealthCheck, Phase, given, settings

    sent = 0

    @settings(
        max_examples=FUZZ_CASES_PER_MODE,
        phases=[Phase.explicit, Phase.generate],
        derandomize=True,  # the same requests on every run: CI must not flake
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def send(case) -> None:
        nonlocal sent
        sent += 1
        response = case.call(base_url=url, headers=headers, timeout=60)
        where = f"{operation.label} ({mode.value}) -> {response.status_code}"
        if response.status_code >= 500:
            problems.append(f"{where}: {response.text[:300]}\n  {case.as_curl_command()}")
        elif response.status_code >= 400:
            try:
                body = response.json()
                json_format.ParseDict(body, status_pb2.Status())
                assert body["code"] > 0 and body["message"]
            except (ValueError, json_format.ParseError, AssertionError, KeyError):
                problems.append(f"{where}: not a google.rpc.Status: {response.text[:300]}")

    send()
    return sent


def test_fuzzing_every_operation_gives_no_server_error_and_every_error_is_a_status(
    rest: Rest, gateway: RunningGateway
):
    import schemathesis

    schema = schemathesis.openapi.from_dict(_driveable(rest.client.get("/openapi.json").json()))
    headers = rest.headers("admin", "fuzzer", None)
    problems: list[str] = []
    sent = 0
    for operation in (result.ok() for result in schema.get_all_operations()):
        if operation.path.endswith(":watch"):
            continue  # streams answer until the client leaves; tested above
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            sent += _fuzz(operation, mode, gateway.url, headers, problems)
    assert sent >= 300, f"only {sent} requests were generated"
    assert problems == [], "\n".join(problems)
