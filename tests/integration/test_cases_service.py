"""The case service on a real gRPC server, real Kafka and real databases (SQLite and PostgreSQL).

Every test runs once per backend. One service per backend and module serves the tests; each
test works in queues, customers and cases of its own, so they cannot see each other.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from confluent_kafka import Consumer, Producer
from google.protobuf import field_mask_pb2

from ecap.v1 import cases_pb2, cases_pb2_grpc, common_pb2
from services.cases.config import CasesSettings
from services.cases.models import AuditRow, CaseRow, CaseTransactionRow, OutboxRow
from services.cases.records import AlertFacts
from services.cases.server import CasesService, build_service
from services.cases.servicer import ROLES
from services.cases.store import CaseStore
from services.mesh import client as mesh_client
from services.mesh.errors import details_of
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.producer import producer_config
from services.mesh.kafka.topics import TOPICS, ensure_topics
from tests.fixtures.kafka import private_copy
from tests.fixtures.mesh import run_async, running_server
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

CLAIMERS = 30
BULK_CASES = 1_000
ALL_ROLES = ("investigator", "lead", "analyst", "viewer", "service")
EMAIL, CARD, IP = "jane.doe@example.com", "9c1e5be2f3a04d7e", "203.0.113.57"


class Desk:
    """The running service, its store and topics, and a caller that acts as any role."""

    def __init__(
        self, server, service: CasesService, settings: CasesSettings, mint, topics: dict[str, str]
    ):
        self.server = server
        self.store = service.store
        self.consumer = service.consumer
        self.relay = service.relay
        self.settings = settings
        self.mint = mint
        self.topics = topics

    def call(self, rpc: str, request, *, role: str = "lead", sub: str = "lena"):
        """Call `rpc` as `sub` holding `role`; returns the response or raises AioRpcError."""
        token = self.mint(role, sub=sub)

        async def go():
            async with mesh_client.connect(self.server.address, token=token) as channel:
                return await getattr(cases_pb2_grpc.CaseServiceStub(channel), rpc)(request)

        return run_async(go())

    def error(self, rpc: str, request, **who) -> grpc.aio.AioRpcError:
        """The error `rpc` fails with (the test fails if it succeeds)."""
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            self.call(rpc, request, **who)
        return caught.value

    def create(self, queue: str, **fields) -> cases_pb2.Case:
        """A case opened by hand by a lead."""
        case = cases_pb2.Case(
            queue=queue,
            customer_id=fields.pop("customer_id", f"c-{uuid.uuid4().hex[:10]}"),
            risk_score=fields.pop("risk_score", 0.8),
            amount=common_pb2.Money(
                amount_minor=fields.pop("amount_minor", 25_000), currency="EUR"
            ),
            customer_email=EMAIL,
            card_fingerprint=CARD,
            ip_address=IP,
            **fields,
        )
        return self.call("CreateCase", cases_pb2.CreateCaseRequest(case=case))

    def assigned(self, queue: str, assignee: str, **fields) -> cases_pb2.Case:
        """A case in review, assigned to `assignee` by a lead."""
        case = self.create(queue, **fields)
        return self.call(
            "AssignCase", cases_pb2.AssignCaseRequest(case_id=case.case_id, assignee=assignee)
        )

    def actions(self, case_id: str) -> list[str]:
        """The case's audit trail as action names, oldest first."""
        response = self.call(
            "ListCaseEvents", cases_pb2.ListCaseEventsRequest(case_id=case_id, page_size=500)
        )
        return [
            common_pb2.CaseAction.Name(e.action).removeprefix("CASE_ACTION_")
            for e in response.events
        ]


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def desk(request, tmp_path_factory, kafka_bootstrap, auth_settings, mint):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('cases') / 'cases.db'}"
    else:
        url = request.getfixturevalue("postgres_server").create_database("cases")
    specs = {s.name: private_copy(s) for s in TOPICS if s.name in ("fraud-alerts", "case-events")}
    ensure_topics(kafka_bootstrap, specs=list(specs.values()), replication_factor=1)
    topics = {name: spec.name for name, spec in specs.items()}
    # Half the bulk claimers work one queue, half two: both claim statements race.
    queues = {
        f"bulk-{n:02d}": ["bulk"] if n % 2 else ["bulk", f"bulk-spare-{n:02d}"]
        for n in range(CLAIMERS)
    }
    queues |= {"ivy": ["q-ivy"], "otto": ["q-otto"], "walt": ["q-walt"], "rbac": ["q-rbac"]}
    queues |= {"tess": ["q-tess-a", "q-tess-b"]}
    settings = CasesSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        database_url=url,
        db_workers=8,
        topic_alerts=topics["fraud-alerts"],
        topic_case_events=topics["case-events"],
        consumer_group=f"cases-{uuid.uuid4().hex[:8]}",
        investigator_queues=queues,
        outbox_interval_s=0.2,
        watch_heartbeat_s=0.5,
    )
    service = build_service(settings, KafkaSettings(bootstrap=kafka_bootstrap))
    with running_server(service.spec, auth_settings, settings) as server:
        yield Desk(server, service, settings, mint, topics)


# -- claim-next ---------------------------------------------------------------------------


def test_thirty_claimers_take_each_of_a_thousand_cases_exactly_once(desk):
    # Seeded through the alert path, by a store that routes every alert to queue "bulk".
    bulk = CaseStore(
        desk.store.db,
        desk.settings.model_copy(update={"default_queue": "bulk", "high_value_queue": "bulk"}),
    )
    now = datetime.now(UTC)
    alerts = [
        AlertFacts(
            f"bulk-a-{n}", f"bulk-t-{n}", f"bulk-c-{n}", (n % 97) / 100, 1_000 + n, "EUR", now
        )
        for n in range(BULK_CASES)
    ]
    seeded = set()
    for start in range(0, BULK_CASES, 500):
        outcome = bulk.open_from_alerts(alerts[start : start + 500])
        seeded |= {change.record.case.case_id for change in outcome.changes}
    assert len(seeded) == BULK_CASES
    claimed: list[tuple[str, str, int]] = []

    async def claimer(n: int) -> None:
        sub = f"bulk-{n:02d}"
        async with mesh_client.connect(
            desk.server.address, token=desk.mint("investigator", sub=sub)
        ) as channel:
            stub = cases_pb2_grpc.CaseServiceStub(channel)
            while True:
                response = await stub.ClaimNextCase(cases_pb2.ClaimNextCaseRequest())
                if not response.HasField("case"):
                    return
                claimed.append((response.case.case_id, sub, response.case.priority))
                assert response.case.assignee == sub
                assert response.case.status == cases_pb2.CASE_STATUS_IN_REVIEW

    async def all_claimers() -> None:
        await asyncio.gather(*(claimer(n) for n in range(CLAIMERS)))

    run_async(all_claimers(), timeout_s=300)

    ids = [case_id for case_id, _, _ in claimed]
    assert len(ids) == BULK_CASES and set(ids) == seeded  # none lost, none twice
    assert len({sub for _, sub, _ in claimed}) > 1  # the claimers really competed
    with desk.store.db.read() as session:
        rows = session.execute(
            sa.select(CaseRow.case_id, CaseRow.assignee, CaseRow.status).where(
                CaseRow.queue == "bulk"
            )
        ).all()
        claims = Counter(
            session.execute(
                sa.select(AuditRow.case_id).where(
                    AuditRow.action == "CLAIMED", AuditRow.case_id.in_(list(seeded))
                )
            ).scalars()
        )
    holder = {case_id: sub for case_id, sub, _ in claimed}
    assert {r.case_id: r.assignee for r in rows} == holder
    assert {r.status for r in rows} == {"IN_REVIEW"}
    assert set(claims.values()) == {1} and set(claims) == seeded


def test_claim_next_takes_the_highest_priority_first_and_only_from_own_queues(desk):
    low = desk.create("q-otto", risk_score=0.1, amount_minor=1_000)  # score 1: LOW
    critical = desk.create("q-otto", risk_score=0.9, amount_minor=100_000)  # 900: CRITICAL
    high = desk.create("q-otto", risk_score=0.5, amount_minor=30_000)  # 150: HIGH
    assert (low.priority, high.priority, critical.priority) == (
        cases_pb2.CASE_PRIORITY_LOW,
        cases_pb2.CASE_PRIORITY_HIGH,
        cases_pb2.CASE_PRIORITY_CRITICAL,
    )
    order = [
        desk.call(
            "ClaimNextCase", cases_pb2.ClaimNextCaseRequest(), role="investigator", sub="otto"
        ).case.case_id
        for _ in range(3)
    ]
    assert order == [critical.case_id, high.case_id, low.case_id]
    empty = desk.call(
        "ClaimNextCase", cases_pb2.ClaimNextCaseRequest(), role="investigator", sub="otto"
    )
    assert not empty.HasField("case")

    error = desk.error(
        "ClaimNextCase",
        cases_pb2.ClaimNextCaseRequest(queues=["q-ivy"]),
        role="investigator",
        sub="otto",
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(error)["reason"] == "QUEUE_NOT_YOURS"
    assert "q-ivy" in error.details()


def test_claim_next_over_two_queues_takes_the_best_of_both(desk):
    medium = desk.create("q-tess-a", risk_score=0.5, amount_minor=10_000)  # 50: MEDIUM
    critical = desk.create("q-tess-b", risk_score=0.9, amount_minor=100_000)  # 900: CRITICAL
    high = desk.create("q-tess-a", risk_score=0.5, amount_minor=30_000)  # 150: HIGH
    order = [
        desk.call(
            "ClaimNextCase", cases_pb2.ClaimNextCaseRequest(), role="investigator", sub="tess"
        ).case.case_id
        for _ in range(3)
    ]
    assert order == [critical.case_id, high.case_id, medium.case_id]


def test_a_reopened_case_is_claimed_with_its_notes_and_transactions(desk):
    case = desk.assigned("q-walt", "walt")
    desk.call(
        "AddNote",
        cases_pb2.AddNoteRequest(case_id=case.case_id, text="card used in two countries"),
        role="investigator",
        sub="walt",
    )
    desk.call(
        "ResolveCase",
        cases_pb2.ResolveCaseRequest(
            case_id=case.case_id, outcome=common_pb2.CASE_OUTCOME_FALSE_POSITIVE, note="travel"
        ),
        role="investigator",
        sub="walt",
    )
    desk.call("ReopenCase", cases_pb2.ReopenCaseRequest(case_id=case.case_id, reason="chargeback"))
    claimed = desk.call(
        "ClaimNextCase", cases_pb2.ClaimNextCaseRequest(), role="investigator", sub="walt"
    ).case
    assert claimed.case_id == case.case_id
    assert claimed.status == cases_pb2.CASE_STATUS_IN_REVIEW and claimed.assignee == "walt"
    assert [n.text for n in claimed.notes] == ["card used in two countries"]
    assert list(claimed.transaction_ids) == list(case.transaction_ids)
    assert claimed.etag != case.etag
    assert desk.actions(case.case_id)[-1] == "CLAIMED"
    fetched = desk.call("GetCase", cases_pb2.GetCaseRequest(case_id=case.case_id))
    assert fetched.etag == claimed.etag and fetched.assignee == "walt"


# -- alerts -------------------------------------------------------------------------------


def _alerts(prefix: str, customers: int, per_customer: int) -> list[common_pb2.FraudAlert]:
    alerts = []
    for c in range(customers):
        for t in range(per_customer):
            txn = common_pb2.Transaction(
                transaction_id=f"{prefix}-t-{c}-{t}",
                customer_id=f"{prefix}-c-{c}",
                merchant_id="m-1",
                amount=common_pb2.Money(amount_minor=10_000 * (t + 1), currency="EUR"),
                card_fingerprint=CARD,
                ip_address=IP,
            )
            decision = common_pb2.Decision(
                decision_id=f"{prefix}-d-{c}-{t}",
                transaction_id=txn.transaction_id,
                customer_id=txn.customer_id,
                outcome=common_pb2.DECISION_OUTCOME_REVIEW,
                risk_score=0.5 + 0.1 * t,
                reasons=[common_pb2.DecisionReason(code=f"RULE_{t}")],
            )
            alert = common_pb2.FraudAlert(
                alert_id=f"{prefix}-a-{c}-{t}", decision=decision, transaction=txn
            )
            alert.raised_at.GetCurrentTime()
            alerts.append(alert)
    return alerts


def _produce(bootstrap: str, topic: str, alerts: list[common_pb2.FraudAlert]) -> None:
    producer = Producer(producer_config(bootstrap, "test-alerts"))
    for alert in alerts:
        producer.produce(
            topic,
            alert.SerializeToString(),
            alert.transaction.transaction_id.encode(),
            headers=[("ce_type", b"ecap.v1.FraudAlert")],
        )
    assert producer.flush(30) == 0


def _cases_of(desk: Desk, prefix: str) -> dict[str, list[str]]:
    with desk.store.db.read() as session:
        rows = session.execute(
            sa.select(CaseTransactionRow.case_id, CaseTransactionRow.transaction_id).where(
                CaseTransactionRow.transaction_id.like(f"{prefix}-%")
            )
        ).all()
    cases: dict[str, list[str]] = {}
    for case_id, transaction_id in rows:
        cases.setdefault(case_id, []).append(transaction_id)
    return cases


def test_alert_replay_opens_no_duplicates_and_later_alerts_attach(desk, kafka_bootstrap):
    prefix = uuid.uuid4().hex[:8]
    alerts = _alerts(prefix, customers=40, per_customer=3)
    _produce(kafka_bootstrap, desk.topics["fraud-alerts"], alerts)
    wait_until(lambda: sum(map(len, _cases_of(desk, prefix).values())) == 120, "120 alerts")
    first = _cases_of(desk, prefix)
    assert len(first) == 40  # one case per customer: the other alerts attached

    processed = desk.consumer.processed
    _produce(kafka_bootstrap, desk.topics["fraud-alerts"], alerts)  # the replay
    wait_until(lambda: desk.consumer.processed >= processed + 120, "the replay consumed")
    assert _cases_of(desk, prefix) == first  # no new case, no new transaction

    case_id, transaction_ids = next(  # customer 0's case
        (c, ids) for c, ids in first.items() if ids[0].startswith(f"{prefix}-t-0-")
    )
    case = desk.call("GetCase", cases_pb2.GetCaseRequest(case_id=case_id))
    assert sorted(case.transaction_ids) == sorted(transaction_ids)
    assert case.amount.amount_minor == 60_000  # 100 + 200 + 300 EUR
    assert case.risk_score == pytest.approx(0.7)  # the highest of the three
    assert case.priority == cases_pb2.CASE_PRIORITY_HIGH  # 0.7 x 600 = 420
    assert case.queue == "general"
    assert set(case.reasons) == {"RULE_0", "RULE_1", "RULE_2"}
    assert desk.actions(case_id)[0] == "CREATED"

    # A resolved case takes no more alerts: the customer's next alert opens a new case.
    desk.call("AssignCase", cases_pb2.AssignCaseRequest(case_id=case_id, assignee="walt"))
    desk.call(
        "ResolveCase",
        cases_pb2.ResolveCaseRequest(
            case_id=case_id, outcome=common_pb2.CASE_OUTCOME_FALSE_POSITIVE, note="known buyer"
        ),
    )
    customer = case.customer_id
    later = _alerts(prefix, customers=1, per_customer=5)[3:]  # customer 0, new transactions
    assert {a.transaction.customer_id for a in later} == {customer}
    _produce(kafka_bootstrap, desk.topics["fraud-alerts"], later)
    wait_until(lambda: sum(map(len, _cases_of(desk, prefix).values())) == 122, "the later alerts")
    assert len(_cases_of(desk, prefix)) == 41  # one new case for the customer
    new_case = (set(_cases_of(desk, prefix)) - set(first)).pop()
    assert sorted(_cases_of(desk, prefix)[new_case]) == sorted(
        a.transaction.transaction_id for a in later
    )


# -- RBAC and masking -----------------------------------------------------------------------


def _minimal_requests(case_id: str) -> dict[str, object]:
    return {
        "GetCase": cases_pb2.GetCaseRequest(case_id=case_id),
        "ListCases": cases_pb2.ListCasesRequest(page_size=1),
        "ListCaseEvents": cases_pb2.ListCaseEventsRequest(case_id=case_id),
        "GetQueueStats": cases_pb2.GetQueueStatsRequest(queues=["q-none"]),
        "CreateCase": cases_pb2.CreateCaseRequest(
            case=cases_pb2.Case(customer_id="c-rbac", queue="q-none")
        ),
        "UpdateCase": cases_pb2.UpdateCaseRequest(
            case=cases_pb2.Case(case_id="case-missing", title="t"),
            update_mask=field_mask_pb2.FieldMask(paths=["title"]),
        ),
        "ClaimNextCase": cases_pb2.ClaimNextCaseRequest(queues=["q-rbac"]),
        "AddNote": cases_pb2.AddNoteRequest(case_id="case-missing", text="x"),
        "AddEvidence": cases_pb2.AddEvidenceRequest(
            case_id="case-missing",
            evidence=cases_pb2.Evidence(
                transaction=cases_pb2.TransactionEvidence(transaction_id="t-1")
            ),
        ),
        "ResolveCase": cases_pb2.ResolveCaseRequest(
            case_id="case-missing", outcome=common_pb2.CASE_OUTCOME_INCONCLUSIVE, note="x"
        ),
        "AssignCase": cases_pb2.AssignCaseRequest(case_id="case-missing", assignee="x"),
        "EscalateCase": cases_pb2.EscalateCaseRequest(case_id="case-missing", reason="x"),
        "ReopenCase": cases_pb2.ReopenCaseRequest(case_id="case-missing", reason="x"),
    }


EXPECTED_ACCESS = {
    "GetCase": {"investigator", "lead", "analyst", "viewer"},
    "ListCases": {"investigator", "lead", "analyst", "viewer"},
    "ListCaseEvents": {"investigator", "lead", "analyst", "viewer"},
    "WatchCases": {"investigator", "lead", "analyst", "viewer"},
    "GetQueueStats": {"investigator", "lead", "analyst", "viewer"},
    "CreateCase": {"investigator", "lead", "service"},
    "UpdateCase": {"investigator", "lead"},
    "ClaimNextCase": {"investigator", "lead"},
    "AddNote": {"investigator", "lead"},
    "AddEvidence": {"investigator", "lead"},
    "ResolveCase": {"investigator", "lead"},
    "AssignCase": {"lead"},
    "EscalateCase": {"lead"},
    "ReopenCase": {"lead"},
}


def test_every_rpc_admits_exactly_the_roles_of_the_table(desk):
    assert {m.rsplit("/", 1)[1] for m in ROLES} == set(EXPECTED_ACCESS)
    case = desk.create("q-rbac")
    denied, admitted = [], []
    for rpc, request in _minimal_requests(case.case_id).items():
        for role in (*ALL_ROLES, "admin"):
            try:
                desk.call(rpc, request, role=role, sub="rbac")
                code = grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                code = error.code()
            allowed = role == "admin" or role in EXPECTED_ACCESS[rpc]
            if allowed:
                # Admitted: whatever the RPC then says (NOT_FOUND for the missing case, ...).
                assert code != grpc.StatusCode.PERMISSION_DENIED, (rpc, role)
                admitted.append((rpc, role))
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (rpc, role, code)
                denied.append((rpc, role))
    for role in (*ALL_ROLES, "admin"):
        allowed = role == "admin" or role in EXPECTED_ACCESS["WatchCases"]
        code = _first_watch_code(desk, role)
        assert (code == grpc.StatusCode.OK) == allowed, (role, code)
    assert len(denied) == sum(len(set(ALL_ROLES) - r) for r in EXPECTED_ACCESS.values()) - (
        len(set(ALL_ROLES) - EXPECTED_ACCESS["WatchCases"])
    )


def _first_watch_code(desk: Desk, role: str) -> grpc.StatusCode:
    async def go():
        token = desk.mint(role, sub="rbac")
        async with mesh_client.connect(desk.server.address, token=token) as channel:
            call = cases_pb2_grpc.CaseServiceStub(channel).WatchCases(
                cases_pb2.WatchCasesRequest(), timeout=10
            )
            try:
                first = await call.read()
                assert first.heartbeat
                return grpc.StatusCode.OK
            except grpc.aio.AioRpcError as error:
                return error.code()
            finally:
                call.cancel()

    return run_async(go())


def test_investigators_work_only_their_own_cases_and_fields(desk):
    mine = desk.assigned("q-ivy", "ivy")
    theirs = desk.assigned("q-walt", "walt")
    as_ivy = {"role": "investigator", "sub": "ivy"}
    for rpc, request in (
        ("AddNote", cases_pb2.AddNoteRequest(case_id=theirs.case_id, text="peek")),
        (
            "AddEvidence",
            cases_pb2.AddEvidenceRequest(
                case_id=theirs.case_id,
                evidence=cases_pb2.Evidence(
                    transaction=cases_pb2.TransactionEvidence(transaction_id="t-9")
                ),
            ),
        ),
        (
            "ResolveCase",
            cases_pb2.ResolveCaseRequest(
                case_id=theirs.case_id, outcome=common_pb2.CASE_OUTCOME_FALSE_POSITIVE, note="x"
            ),
        ),
        (
            "UpdateCase",
            cases_pb2.UpdateCaseRequest(
                case=cases_pb2.Case(case_id=theirs.case_id, title="mine now"),
                update_mask=field_mask_pb2.FieldMask(paths=["title"]),
            ),
        ),
    ):
        error = desk.error(rpc, request, **as_ivy)
        assert error.code() == grpc.StatusCode.PERMISSION_DENIED, rpc
        assert details_of(error)["reason"] == "NOT_ASSIGNEE", rpc
    error = desk.error(
        "UpdateCase",
        cases_pb2.UpdateCaseRequest(
            case=cases_pb2.Case(case_id=mine.case_id, priority=cases_pb2.CASE_PRIORITY_LOW),
            update_mask=field_mask_pb2.FieldMask(paths=["priority"]),
        ),
        **as_ivy,
    )
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(error)["reason"] == "FIELD_NEEDS_LEAD"

    note = desk.call("AddNote", cases_pb2.AddNoteRequest(case_id=mine.case_id, text="ok"), **as_ivy)
    assert [n.author for n in note.notes] == ["ivy"]
    resolved = desk.call(
        "ResolveCase",
        cases_pb2.ResolveCaseRequest(
            case_id=mine.case_id,
            outcome=common_pb2.CASE_OUTCOME_CONFIRMED_FRAUD,
            note="stolen card",
        ),
        **as_ivy,
    )
    assert resolved.status == cases_pb2.CASE_STATUS_RESOLVED
    # Leads may work anyone's case.
    desk.call("AddNote", cases_pb2.AddNoteRequest(case_id=theirs.case_id, text="lead note"))


def test_viewers_see_masked_pii_everywhere_and_analysts_see_it_plain(desk):
    case = desk.create("q-mask", title="masking")
    desk.call(
        "AddEvidence",
        cases_pb2.AddEvidenceRequest(
            case_id=case.case_id,
            evidence=cases_pb2.Evidence(
                device=cases_pb2.DeviceEvidence(device_id="d-1", ip_address=IP)
            ),
        ),
    )
    as_viewer = {"role": "viewer", "sub": "vera"}
    seen = desk.call("GetCase", cases_pb2.GetCaseRequest(case_id=case.case_id), **as_viewer)
    assert (seen.customer_email, seen.card_fingerprint, seen.ip_address) == (
        "j***@example.com",
        "****4d7e",
        "203.0.x.x",
    )
    assert seen.evidence[0].device.ip_address == "203.0.x.x"
    listed = desk.call("ListCases", cases_pb2.ListCasesRequest(queue="q-mask"), **as_viewer)
    assert {c.customer_email for c in listed.cases} == {"j***@example.com"}
    events = desk.call(
        "ListCaseEvents", cases_pb2.ListCaseEventsRequest(case_id=case.case_id), **as_viewer
    )
    rendered = str(events)
    assert EMAIL not in rendered and CARD not in rendered and IP not in rendered
    assert "j***@example.com" in rendered

    plain = desk.call("GetCase", cases_pb2.GetCaseRequest(case_id=case.case_id), role="analyst")
    assert (plain.customer_email, plain.card_fingerprint, plain.ip_address) == (EMAIL, CARD, IP)
    assert plain.evidence[0].device.ip_address == IP


# -- workflow, etags, audit -------------------------------------------------------------------


def test_illegal_transitions_fail_naming_the_current_state(desk):
    case = desk.create("q-flow")
    for rpc, request, state in (
        ("EscalateCase", cases_pb2.EscalateCaseRequest(case_id=case.case_id, reason="x"), "OPEN"),
        (
            "ResolveCase",
            cases_pb2.ResolveCaseRequest(
                case_id=case.case_id, outcome=common_pb2.CASE_OUTCOME_INCONCLUSIVE, note="x"
            ),
            "OPEN",
        ),
        ("ReopenCase", cases_pb2.ReopenCaseRequest(case_id=case.case_id, reason="x"), "OPEN"),
    ):
        error = desk.error(rpc, request)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, rpc
        assert details_of(error)["reason"] == "ILLEGAL_TRANSITION"
        assert f"it is {state}" in error.details(), error.details()
    desk.call("AssignCase", cases_pb2.AssignCaseRequest(case_id=case.case_id, assignee="walt"))
    desk.call("EscalateCase", cases_pb2.EscalateCaseRequest(case_id=case.case_id, reason="big"))
    error = desk.error(
        "EscalateCase", cases_pb2.EscalateCaseRequest(case_id=case.case_id, reason="x")
    )
    assert "it is ESCALATED" in error.details()
    desk.call(
        "ResolveCase",
        cases_pb2.ResolveCaseRequest(
            case_id=case.case_id, outcome=common_pb2.CASE_OUTCOME_INCONCLUSIVE, note="x"
        ),
    )
    for rpc, request in (
        ("AddNote", cases_pb2.AddNoteRequest(case_id=case.case_id, text="late")),
        ("AssignCase", cases_pb2.AssignCaseRequest(case_id=case.case_id, assignee="ivy")),
        (
            "ResolveCase",
            cases_pb2.ResolveCaseRequest(
                case_id=case.case_id, outcome=common_pb2.CASE_OUTCOME_INCONCLUSIVE, note="again"
            ),
        ),
    ):
        error = desk.error(rpc, request)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, rpc
        assert "it is RESOLVED" in error.details()
    reopened = desk.call(
        "ReopenCase", cases_pb2.ReopenCaseRequest(case_id=case.case_id, reason="new evidence")
    )
    assert (reopened.status, reopened.assignee) == (cases_pb2.CASE_STATUS_OPEN, "")
    missing = desk.error("GetCase", cases_pb2.GetCaseRequest(case_id="case-nope"))
    assert missing.code() == grpc.StatusCode.NOT_FOUND


def test_a_stale_etag_is_aborted_and_changes_nothing(desk):
    case = desk.create("q-etag", title="v1")
    mask = field_mask_pb2.FieldMask(paths=["title"])
    updated = desk.call(
        "UpdateCase",
        cases_pb2.UpdateCaseRequest(
            case=cases_pb2.Case(case_id=case.case_id, title="v2", etag=case.etag), update_mask=mask
        ),
    )
    assert updated.title == "v2" and updated.etag != case.etag
    for rpc, request in (
        (
            "UpdateCase",
            cases_pb2.UpdateCaseRequest(
                case=cases_pb2.Case(case_id=case.case_id, title="v3", etag=case.etag),
                update_mask=mask,
            ),
        ),
        (
            "AssignCase",
            cases_pb2.AssignCaseRequest(case_id=case.case_id, assignee="walt", etag=case.etag),
        ),
    ):
        error = desk.error(rpc, request)
        assert error.code() == grpc.StatusCode.ABORTED, rpc
        assert details_of(error)["reason"] == "ETAG_MISMATCH"
    current = desk.call("GetCase", cases_pb2.GetCaseRequest(case_id=case.case_id))
    assert (current.title, current.assignee, current.etag) == ("v2", "", updated.etag)
    bad_mask = desk.error(
        "UpdateCase",
        cases_pb2.UpdateCaseRequest(
            case=cases_pb2.Case(case_id=case.case_id, assignee="x"),
            update_mask=field_mask_pb2.FieldMask(paths=["assignee"]),
        ),
    )
    assert bad_mask.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(bad_mask)["field_violations"]] == ["update_mask"]


def test_the_audit_trail_records_every_successful_change_and_nothing_else(desk):
    case = desk.create("q-audit", title="start")
    cid = case.case_id
    mask = field_mask_pb2.FieldMask(paths=["title"])
    steps = [
        ("AssignCase", cases_pb2.AssignCaseRequest(case_id=cid, assignee="walt"), {}, True),
        (
            "AssignCase",
            cases_pb2.AssignCaseRequest(case_id=cid, assignee="ivy", etag='W/"1"'),
            {},
            False,
        ),
        (
            "AddNote",
            cases_pb2.AddNoteRequest(case_id=cid, text="looked"),
            {"role": "investigator", "sub": "walt"},
            True,
        ),
        (
            "AddNote",
            cases_pb2.AddNoteRequest(case_id=cid, text="nosy"),
            {"role": "investigator", "sub": "ivy"},
            False,
        ),
        (
            "UpdateCase",
            cases_pb2.UpdateCaseRequest(
                case=cases_pb2.Case(case_id=cid, title="renamed"), update_mask=mask
            ),
            {},
            True,
        ),
        ("ReopenCase", cases_pb2.ReopenCaseRequest(case_id=cid, reason="x"), {}, False),
        ("EscalateCase", cases_pb2.EscalateCaseRequest(case_id=cid, reason="large"), {}, True),
        (
            "AddEvidence",
            cases_pb2.AddEvidenceRequest(
                case_id=cid,
                evidence=cases_pb2.Evidence(
                    external_check=cases_pb2.ExternalCheckEvidence(
                        provider="3ds", check="auth", result="fail"
                    )
                ),
            ),
            {},
            True,
        ),
        ("EscalateCase", cases_pb2.EscalateCaseRequest(case_id=cid, reason="again"), {}, False),
        (
            "ResolveCase",
            cases_pb2.ResolveCaseRequest(
                case_id=cid, outcome=common_pb2.CASE_OUTCOME_CONFIRMED_FRAUD, note="fraud"
            ),
            {},
            True,
        ),
        (
            "ReopenCase",
            cases_pb2.ReopenCaseRequest(case_id=cid, reason="appeal"),
            {"role": "investigator", "sub": "walt"},
            False,
        ),
        ("ReopenCase", cases_pb2.ReopenCaseRequest(case_id=cid, reason="appeal"), {}, True),
    ]
    for rpc, request, who, succeeds in steps:
        if succeeds:
            desk.call(rpc, request, **who)
        else:
            desk.error(rpc, request, **who)
    assert desk.actions(cid) == [
        "CREATED",
        "ASSIGNED",
        "NOTE_ADDED",
        "UPDATED",
        "ESCALATED",
        "EVIDENCE_ADDED",
        "RESOLVED",
        "REOPENED",
    ]
    events = desk.call("ListCaseEvents", cases_pb2.ListCaseEventsRequest(case_id=cid)).events
    by_action = {common_pb2.CaseAction.Name(e.action): e for e in events}
    assigned = by_action["CASE_ACTION_ASSIGNED"]
    assert assigned.actor == "lena"
    assert dict(assigned.before) == {"assignee": None, "status": "OPEN"}
    assert dict(assigned.after) == {"assignee": "walt", "status": "IN_REVIEW"}
    assert by_action["CASE_ACTION_NOTE_ADDED"].actor == "walt"
    assert dict(by_action["CASE_ACTION_UPDATED"].after) == {"title": "renamed"}
    assert by_action["CASE_ACTION_RESOLVED"].after["outcome"] == "CONFIRMED_FRAUD"
    assert [e.sequence for e in events] == sorted(e.sequence for e in events)

    pages, token = [], ""
    while True:
        page = desk.call(
            "ListCaseEvents",
            cases_pb2.ListCaseEventsRequest(case_id=cid, page_size=3, page_token=token),
        )
        pages.append([e.event_id for e in page.events])
        token = page.next_page_token
        if not token:
            break
    assert [len(p) for p in pages] == [3, 3, 2]
    assert [i for page in pages for i in page] == [e.event_id for e in events]

    # The database itself refuses to edit or delete audit events.
    for statement in ("UPDATE case_audit SET actor = 'mallory'", "DELETE FROM case_audit"):
        with (
            pytest.raises(sa.exc.DatabaseError, match="append-only"),
            desk.store.db.write() as session,
        ):
            session.execute(sa.text(statement))


def _consume_case_events(bootstrap: str, topic: str, case_id: str, idle_s: float = 3.0) -> list:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-{uuid.uuid4().hex}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    found, deadline, quiet_since = [], time.monotonic() + 60, time.monotonic()
    try:
        while time.monotonic() < deadline:
            batch = consumer.consume(500, timeout=0.5)
            for record in batch:
                assert record.error() is None, record.error()
                if record.key() == case_id.encode():
                    found.append(record)
                    quiet_since = time.monotonic()
            if found and time.monotonic() - quiet_since > idle_s:
                break
    finally:
        consumer.close()
    return found


def test_a_resolution_is_published_to_case_events_exactly_once(desk, kafka_bootstrap):
    case = desk.assigned("q-walt", "walt", transaction_ids=[f"t-{uuid.uuid4().hex[:8]}"])
    request = cases_pb2.ResolveCaseRequest(
        case_id=case.case_id, outcome=common_pb2.CASE_OUTCOME_CONFIRMED_FRAUD, note="chargeback"
    )
    resolved = desk.call("ResolveCase", request, role="investigator", sub="walt")
    desk.error("ResolveCase", request, role="investigator", sub="walt")  # a retry changes nothing

    def published() -> bool:
        with desk.store.db.read() as session:
            return (
                session.execute(
                    sa.select(OutboxRow.published_at).where(OutboxRow.key == case.case_id.encode())
                ).scalar_one()
                is not None
            )

    wait_until(published, "the relay to mark the resolution published")
    assert desk.relay.relay_once() == 0  # nothing left pending: a restart publishes nothing again

    records = _consume_case_events(kafka_bootstrap, desk.topics["case-events"], case.case_id)
    assert len(records) == 1
    event = common_pb2.CaseEvent.FromString(records[0].value())
    assert dict(records[0].headers())["ce_type"] == b"ecap.v1.CaseEvent"
    assert (event.case_id, event.action, event.outcome, event.actor, event.note) == (
        case.case_id,
        common_pb2.CASE_ACTION_RESOLVED,
        common_pb2.CASE_OUTCOME_CONFIRMED_FRAUD,
        "walt",
        "chargeback",
    )
    assert list(event.transaction_ids) == list(case.transaction_ids)
    assert event.customer_id == case.customer_id
    assert event.occurred_at.ToDatetime(tzinfo=UTC) == resolved.resolve_time.ToDatetime(tzinfo=UTC)
    audit = desk.call(
        "ListCaseEvents", cases_pb2.ListCaseEventsRequest(case_id=case.case_id)
    ).events
    assert event.event_id == audit[-1].event_id  # consumers deduplicate on the audit event id


# -- watch, list, stats, create ---------------------------------------------------------------


def test_watch_streams_committed_changes_of_the_chosen_case(desk):
    case = desk.create("q-watch")
    other = desk.create("q-watch")

    async def watch_and_change():
        token = desk.mint("viewer", sub="vera")
        async with mesh_client.connect(desk.server.address, token=token) as channel:
            call = cases_pb2_grpc.CaseServiceStub(channel).WatchCases(
                cases_pb2.WatchCasesRequest(case_id=case.case_id), timeout=30
            )
            assert (await call.read()).heartbeat  # subscribed
            loop = asyncio.get_running_loop()
            for target in (other.case_id, case.case_id):
                await loop.run_in_executor(
                    None,
                    lambda t=target: desk.call(
                        "AddNote", cases_pb2.AddNoteRequest(case_id=t, text="n")
                    ),
                )
            while True:
                response = await call.read()
                if not response.heartbeat:
                    call.cancel()
                    return response

    change = run_async(watch_and_change())
    assert change.case.case_id == case.case_id
    assert change.event.action == common_pb2.CASE_ACTION_NOTE_ADDED
    assert change.case.customer_email == "j***@example.com"  # the watcher is a viewer


def test_list_cases_filters_orders_and_pages(desk):
    customer = f"c-list-{uuid.uuid4().hex[:6]}"
    created = [
        desk.create("q-list", customer_id=customer, risk_score=0.1 * (n + 1)) for n in range(5)
    ]
    desk.call(
        "AssignCase", cases_pb2.AssignCaseRequest(case_id=created[0].case_id, assignee="walt")
    )
    request = cases_pb2.ListCasesRequest(
        customer_id=customer, page_size=2, order=cases_pb2.CASE_ORDER_CREATE_TIME
    )
    seen, token = [], ""
    while True:
        request.page_token = token
        page = desk.call("ListCases", request)
        seen += [c.case_id for c in page.cases]
        token = page.next_page_token
        if not token:
            break
    assert seen == [c.case_id for c in created]
    open_only = desk.call(
        "ListCases",
        cases_pb2.ListCasesRequest(customer_id=customer, statuses=[cases_pb2.CASE_STATUS_OPEN]),
    )
    assert {c.case_id for c in open_only.cases} == {c.case_id for c in created[1:]}
    by_priority = desk.call("ListCases", cases_pb2.ListCasesRequest(customer_id=customer))
    scores = [c.priority_score for c in by_priority.cases]
    assert scores == sorted(scores, reverse=True)
    assert (
        desk.call("ListCases", cases_pb2.ListCasesRequest(customer_id=customer, assignee="walt"))
        .cases[0]
        .case_id
        == created[0].case_id
    )

    first = desk.call("ListCases", cases_pb2.ListCasesRequest(customer_id=customer, page_size=2))
    moved = desk.error(
        "ListCases",
        cases_pb2.ListCasesRequest(
            customer_id="other", page_size=2, page_token=first.next_page_token
        ),
    )
    assert moved.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(moved)["reason"] == "PAGE_TOKEN_INVALID"
    junk = desk.error("ListCases", cases_pb2.ListCasesRequest(page_token="junk"))
    assert junk.code() == grpc.StatusCode.INVALID_ARGUMENT
    too_big = desk.error("ListCases", cases_pb2.ListCasesRequest(page_size=5000))
    assert [v.field for v in details_of(too_big)["field_violations"]] == ["page_size"]


def test_queue_stats_report_backlog_sla_workload_and_resolution_rates(desk):
    queue = f"q-stats-{uuid.uuid4().hex[:6]}"
    critical = desk.create(queue, risk_score=0.9, amount_minor=100_000)
    desk.create(queue, risk_score=0.9, amount_minor=100_000)
    low = desk.create(queue, risk_score=0.1, amount_minor=1_000)
    desk.call("AssignCase", cases_pb2.AssignCaseRequest(case_id=critical.case_id, assignee="walt"))
    desk.call("AssignCase", cases_pb2.AssignCaseRequest(case_id=low.case_id, assignee="walt"))
    desk.call(
        "ResolveCase",
        cases_pb2.ResolveCaseRequest(
            case_id=low.case_id, outcome=common_pb2.CASE_OUTCOME_FALSE_POSITIVE, note="ok"
        ),
    )
    stats = desk.call(
        "GetQueueStats", cases_pb2.GetQueueStatsRequest(queues=[queue]), role="analyst"
    )
    backlog = {b.priority: b for b in stats.backlog}
    assert [b.priority for b in stats.backlog] == [4, 3, 2, 1]
    assert (backlog[4].open, backlog[4].in_progress) == (1, 1)
    assert (backlog[1].open, backlog[1].in_progress) == (0, 0)
    assert backlog[4].oldest_age.ToTimedelta() >= timedelta(0)
    assert (stats.sla_breached, stats.sla_at_risk) == (0, 0)
    assert [(w.assignee, w.in_review, w.resolved) for w in stats.workload] == [("walt", 1, 1)]
    assert [(r.outcome, r.count, r.rate) for r in stats.resolution_rates] == [
        (common_pb2.CASE_OUTCOME_FALSE_POSITIVE, 1, 1.0)
    ]
    # 50 minutes on, the critical cases (1 h SLA) are at risk; 2 hours on, breached.
    later = desk.store.queue_stats([queue], now=datetime.now(UTC) + timedelta(minutes=50))
    critical_backlog = later.backlog[0]
    assert (
        critical_backlog.priority,
        critical_backlog.sla_at_risk,
        critical_backlog.sla_breached,
    ) == (4, 2, 0)
    later = desk.store.queue_stats([queue], now=datetime.now(UTC) + timedelta(hours=2))
    critical_backlog = later.backlog[0]
    assert (
        critical_backlog.priority,
        critical_backlog.sla_at_risk,
        critical_backlog.sla_breached,
    ) == (4, 0, 2)


def test_create_case_is_idempotent_on_request_id_and_validates_input(desk):
    request = cases_pb2.CreateCaseRequest(
        case=cases_pb2.Case(customer_id="c-idem", queue="q-create", risk_score=0.5),
        request_id=uuid.uuid4().hex,
    )
    first = desk.call("CreateCase", request, role="service", sub="checkout")
    again = desk.call("CreateCase", request, role="service", sub="checkout")
    assert first.case_id == again.case_id
    assert desk.actions(first.case_id) == ["CREATED"]
    assert first.due_time.ToDatetime() - first.create_time.ToDatetime() == timedelta(hours=72)

    missing = desk.error("CreateCase", cases_pb2.CreateCaseRequest(case=cases_pb2.Case(queue="q")))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(missing)["field_violations"]] == ["case.customer_id"]
    out_of_range = desk.error(
        "CreateCase",
        cases_pb2.CreateCaseRequest(case=cases_pb2.Case(customer_id="c", risk_score=1.5)),
    )
    assert [v.field for v in details_of(out_of_range)["field_violations"]] == ["case.risk_score"]
    txn = f"t-{uuid.uuid4().hex[:8]}"
    desk.call(
        "CreateCase",
        cases_pb2.CreateCaseRequest(case=cases_pb2.Case(customer_id="c", transaction_ids=[txn])),
    )
    taken = desk.error(
        "CreateCase",
        cases_pb2.CreateCaseRequest(case=cases_pb2.Case(customer_id="c", transaction_ids=[txn])),
    )
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS


def test_a_pooled_postgres_connection_dropped_while_idle_is_replaced(postgres_server):
    from services.cases.db import Database

    url = postgres_server.create_database("pool")
    database = Database(url, pool_size=1, ping_after_idle_s=0.2)
    try:
        with database.autocommit() as connection:
            first = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        killer = sa.create_engine(url)
        with killer.connect() as other:
            assert other.exec_driver_sql(f"SELECT pg_terminate_backend({first})").scalar()
        killer.dispose()
        time.sleep(0.3)  # idle long enough to be checked before its next use
        with database.autocommit() as connection:
            second = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
        assert second != first
    finally:
        database.dispose()
