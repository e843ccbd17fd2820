"""The scoring service on a real broker with a real `bentoml serve` of a trained fraud model:
fraud scenarios of a simulator world flagged with the right reasons, the model's outage
degrading decisions to rules alone and its return picked up without a restart, velocity
surviving a restart, idempotency, rule writes validated and versioned, and exactly one
decision per transaction consumed from `transactions`."""

from __future__ import annotations

import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.field_mask_pb2 import FieldMask

from ecap.v1 import common_pb2, scoring_pb2, scoring_pb2_grpc
from services.mesh import client as mesh_client
from services.mesh.errors import details_of
from services.mesh.kafka.producer import ProtobufProducer
from services.mesh.kafka.tail import read_since
from services.simulator.config import FraudRates, SimulatorSettings
from services.simulator.generator import generate
from services.simulator.records import Scenario
from tests.fixtures.bentoml import TrainedModel
from tests.fixtures.mesh import run_async
from tests.support.scoring import ModelServer, scoring_service, scoring_topics
from tests.support.wait import wait_until

pytestmark = pytest.mark.integration

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OUTCOMES = {v: k.removeprefix("DECISION_OUTCOME_") for k, v in common_pb2.DecisionOutcome.items()}


@pytest.fixture(scope="module")
def model_server(fraud_model: TrainedModel) -> Iterator[ModelServer]:
    with ModelServer(fraud_model) as server:
        yield server


@pytest.fixture(scope="module")
def topics(kafka_bootstrap: str) -> dict[str, str]:
    return scoring_topics(kafka_bootstrap)


@pytest.fixture(scope="module")
def scoring(tmp_path_factory, kafka_bootstrap, topics, auth_settings, mint, model_server):
    tmp = tmp_path_factory.mktemp("scoring")
    with scoring_service(
        tmp,
        kafka_bootstrap,
        topics,
        auth_settings,
        mint,
        fraud_model_url=model_server.url,
        # A loaded CI machine must not turn these decisions degraded: the budget is not what
        # this module tests (the outage test sets its own).
        model_budget_ms=5_000,
    ) as running:
        yield running


def transaction(
    customer: str,
    at: datetime,
    amount_minor: int = 4_200,
    *,
    device: str = "dev-1",
    ip: str = "198.51.100.7",
    country: str = "DE",
    card: str = "card-1",
    merchant: str = "m-001",
) -> common_pb2.Transaction:
    tx = common_pb2.Transaction(
        transaction_id=f"t-{uuid.uuid4().hex[:16]}",
        customer_id=customer,
        merchant_id=merchant,
        amount=common_pb2.Money(amount_minor=amount_minor, currency="EUR"),
        payment_method=common_pb2.PAYMENT_METHOD_CARD,
        card_fingerprint=card,
        device=common_pb2.Device(device_id=device, type=common_pb2.DEVICE_TYPE_MOBILE),
        ip_address=ip,
        location=common_pb2.Location(
            country=country, city="Berlin", point=common_pb2.GeoPoint(latitude=52.5, longitude=13.4)
        ),
        channel=common_pb2.CHANNEL_DIRECT,
    )
    tx.occurred_at.FromDatetime(at)
    return tx


def records(bootstrap: str, topic: str, message_type):
    return [message_type.FromString(r.value()) for r in read_since(bootstrap, topic, EPOCH)]


# -- decisions on a simulator world --------------------------------------------------------


def test_injected_fraud_is_flagged_with_reasons_and_normal_customers_are_approved(scoring):
    rates = FraudRates(
        card_testing_per_day=2,
        account_takeover_per_day=2,
        compromised_merchant_per_day=0,
        impossible_travel_per_day=1,
        high_amount_per_day=1,
    )
    # Two weeks up to yesterday: enough history for the customers' means and novelty.
    start = (datetime.now(UTC) - timedelta(days=15)).replace(hour=0, minute=0, second=0)
    world = generate(SimulatorSettings(seed=23, customers=400, fraud=rates), start=start, days=14)
    scenario_of: dict[str, Scenario] = {}
    transactions = []
    for item in world:
        if isinstance(item.record, common_pb2.Transaction):
            transactions.append(item.record)
            scenario_of[item.record.transaction_id] = (
                item.label.scenario if item.label is not None else Scenario.LEGIT
            )
    decisions = scoring.score_all(transactions)

    by_scenario: dict[Scenario, list[common_pb2.Decision]] = {}
    for decision in decisions:
        by_scenario.setdefault(scenario_of[decision.transaction_id], []).append(decision)
    flagged = {
        scenario: sum(OUTCOMES[d.outcome] != "APPROVE" for d in group) / len(group)
        for scenario, group in by_scenario.items()
    }
    print({s.value: (len(g), round(flagged[s], 3)) for s, g in by_scenario.items()})
    assert not any(d.degraded for d in decisions)
    assert {d.model_tag for d in decisions} == {scoring.service.fraud_model.info.tag}
    assert flagged[Scenario.LEGIT] < 0.1  # normal customers are mostly approved
    # Each flagged fraud carries a reason that names what gave it away: the scenario's rule,
    # or the model's contribution of the features that describe that scenario.
    telling = {
        Scenario.CARD_TESTING: {"CARD_TESTING", "VELOCITY_1H"}
        | {
            f"MODEL_{f.upper()}"
            for f in (
                "card_count_1h",
                "card_count_1d",
                "customer_count_1h",
                "customer_spend_1h",
                "seconds_since_last_transaction",
            )
        },
        Scenario.ACCOUNT_TAKEOVER: {"ACCOUNT_TAKEOVER", "IMPOSSIBLE_TRAVEL", "HIGH_AMOUNT"}
        | {
            f"MODEL_{f.upper()}"
            for f in (
                "new_device",
                "new_country",
                "new_ip",
                "amount",
                "amount_to_customer_mean_30d",
                "amount_zscore_30d",
                "km_from_last_location",
                "kmh_from_last_location",
            )
        },
    }
    for scenario, reasons in telling.items():
        assert flagged[scenario] >= 0.8, (scenario, flagged[scenario])
        explained = [
            bool(reasons & {r.code for r in d.reasons})
            for d in by_scenario[scenario]
            if OUTCOMES[d.outcome] != "APPROVE"
        ]
        assert sum(explained) / len(explained) >= 0.9, (scenario, Counter(explained))
    rule_codes = Counter(
        r.code for d in decisions for r in d.reasons if r.source == common_pb2.REASON_SOURCE_RULE
    )
    assert rule_codes["CARD_TESTING"] > 0 and rule_codes["IMPOSSIBLE_TRAVEL"] > 0, rule_codes
    model_reason = next(
        r for d in decisions for r in d.reasons if r.source == common_pb2.REASON_SOURCE_MODEL
    )
    assert model_reason.description and model_reason.contribution > 0

    # Every decision is on `decisions` with its features; REVIEW and DECLINE also alerted.
    decided_ids = {d.transaction_id for d in decisions}
    published = {
        d.transaction_id: d
        for d in records(scoring.bootstrap, scoring.settings.topic_decisions, common_pb2.Decision)
        if d.transaction_id in decided_ids
    }
    assert published.keys() == decided_ids
    assert all(published[d.transaction_id].features == d.features for d in decisions[:50])
    alerted = {
        a.decision.transaction_id
        for a in records(scoring.bootstrap, scoring.settings.topic_alerts, common_pb2.FraudAlert)
    }
    flagged_ids = {d.transaction_id for d in decisions if OUTCOMES[d.outcome] != "APPROVE"}
    assert flagged_ids <= alerted


# -- idempotency and restarts ----------------------------------------------------------------


def test_scoring_a_transaction_twice_returns_the_first_decision_and_counts_it_once(scoring):
    customer, now = f"c-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    first = transaction(customer, now - timedelta(minutes=3))
    one = scoring.score(first)
    again = scoring.score(first)
    assert not one.replayed and again.replayed
    assert again.decision == one.decision
    later = scoring.score(transaction(customer, now - timedelta(minutes=1))).decision
    assert later.features["customer_count_1h"] == 1.0  # not 2: the repeat did not count


def test_velocity_survives_a_restart_in_the_middle_of_a_burst(
    tmp_path, kafka_bootstrap, topics, auth_settings, mint, model_server
):
    customer, now = f"c-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    burst = [transaction(customer, now - timedelta(minutes=10 - n)) for n in range(6)]
    options = {"fraud_model_url": model_server.url, "model_budget_ms": 5_000}
    with scoring_service(tmp_path, kafka_bootstrap, topics, auth_settings, mint, **options) as one:
        before = [one.score(tx).decision for tx in burst[:3]]
    assert [d.features["customer_count_1h"] for d in before] == [0.0, 1.0, 2.0]
    with scoring_service(tmp_path, kafka_bootstrap, topics, auth_settings, mint, **options) as two:
        assert two.service.rebuilt["tail_transactions"] >= 3
        replayed = two.score(burst[1])  # decided before the restart: the same decision
        assert replayed.replayed and replayed.decision == before[1]
        after = [two.score(tx).decision for tx in burst[3:]]
    assert [d.features["customer_count_1h"] for d in after] == [3.0, 4.0, 5.0]
    assert after[-1].features["card_count_1h"] == 5.0


# -- the model's outage -----------------------------------------------------------------------


def test_model_outage_degrades_to_rules_and_its_return_needs_no_restart(
    tmp_path, kafka_bootstrap, topics, auth_settings, mint, model_server
):
    options = {"fraud_model_url": model_server.url, "model_budget_ms": 30}
    with scoring_service(tmp_path, kafka_bootstrap, topics, auth_settings, mint, **options) as s:
        customer, now = f"c-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
        wait_until(
            lambda: not s.score(transaction(customer, datetime.now(UTC))).decision.degraded,
            "a decision with the model",
        )
        model_server.stop()
        try:
            outage = [
                s.score(transaction(customer, now + timedelta(seconds=n))).decision
                for n in range(20)
            ]
            assert all(d.degraded and d.model_tag == "" for d in outage)
            assert {d.reasons[-1].code for d in outage} == {"MODEL_UNAVAILABLE"}
            print("degraded latency ms:", sorted(d.latency.ToMilliseconds() for d in outage))
            # A card-testing burst is still caught by the rules alone.
            probes = [
                transaction(
                    f"c-{uuid.uuid4().hex[:8]}", now + timedelta(seconds=n), 350, card="stolen"
                )
                for n in range(5)
            ]
            decisions = [s.score(tx).decision for tx in probes]
            assert OUTCOMES[decisions[-1].outcome] == "REVIEW"
            assert decisions[-1].reasons[0].code == "CARD_TESTING"
        finally:
            model_server.start()
        wait_until(
            lambda: not s.score(transaction(customer, datetime.now(UTC))).decision.degraded,
            "decisions with the model again, without a restart",
        )


# -- rules ----------------------------------------------------------------------------------


def _rule(rule_id: str, expression: str, action=scoring_pb2.RULE_ACTION_DECLINE):
    return scoring_pb2.Rule(
        rule_id=rule_id,
        expression=expression,
        action=action,
        reason_code=rule_id.upper().replace("-", "_"),
        enabled=True,
    )


def test_invalid_cel_is_rejected_with_the_parse_error(scoring):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        scoring.call(
            "CreateRule",
            scoring_pb2.CreateRuleRequest(rule=_rule("broken", "tx.amount >")),
            role="lead",
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    (violation,) = details_of(caught.value)["field_violations"]
    assert violation.field == "rule.expression" and violation.rule == "cel.compile"
    assert "Syntax error" in violation.description


def test_rule_writes_are_versioned_and_decisions_record_the_version(scoring):
    created = scoring.call(
        "CreateRule",
        scoring_pb2.CreateRuleRequest(rule=_rule("huge-order", "tx.amount >= 9000.0")),
        role="lead",
    )
    customer, now = f"c-{uuid.uuid4().hex[:8]}", datetime.now(UTC)
    decision = scoring.score(transaction(customer, now, 950_000)).decision
    assert OUTCOMES[decision.outcome] == "DECLINE"
    assert decision.reasons[0].code == "HUGE_ORDER"
    assert decision.rules_version == created.rules_version

    updated = scoring.call(
        "UpdateRule",
        scoring_pb2.UpdateRuleRequest(
            rule=scoring_pb2.Rule(rule_id="huge-order", enabled=False, etag=created.etag),
            update_mask=FieldMask(paths=["enabled"]),
        ),
        role="lead",
    )
    assert updated.rules_version != created.rules_version
    with pytest.raises(grpc.aio.AioRpcError) as stale:
        scoring.call(
            "UpdateRule",
            scoring_pb2.UpdateRuleRequest(
                rule=scoring_pb2.Rule(rule_id="huge-order", enabled=True, etag=created.etag),
                update_mask=FieldMask(paths=["enabled"]),
            ),
            role="lead",
        )
    assert stale.value.code() == grpc.StatusCode.ABORTED
    later = scoring.score(transaction(customer, now + timedelta(seconds=1), 950_000)).decision
    assert "HUGE_ORDER" not in {r.code for r in later.reasons}
    assert later.rules_version == updated.rules_version
    listed = scoring.call("ListRules", scoring_pb2.ListRulesRequest(), role="viewer")
    assert listed.rules_version == updated.rules_version
    assert "huge-order" in {r.rule_id for r in listed.rules}
    # Only leads write rules.
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        scoring.call("DeleteRule", scoring_pb2.DeleteRuleRequest(rule_id="huge-order"))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_test_rule_on_an_empty_lake_names_the_job_to_run(scoring):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        scoring.call(
            "TestRule",
            scoring_pb2.TestRuleRequest(rule=_rule("draft", "tx.amount > 100.0"), days=3),
            role="analyst",
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "ecap lake stream" in caught.value.details()


# -- the asynchronous path --------------------------------------------------------------------


def test_each_transaction_consumed_gets_exactly_one_decision(
    tmp_path, kafka_bootstrap, auth_settings, mint, model_server
):
    own = scoring_topics(kafka_bootstrap)
    now = datetime.now(UTC)
    sent = [
        transaction(f"c-{n % 40:03d}", now - timedelta(seconds=400 - n), 1_000 + n)
        for n in range(400)
    ]
    with ProtobufProducer(kafka_bootstrap) as producer:
        for tx in sent[:250]:
            producer.send(own["transactions"], tx)
        producer.flush()
    options = {"fraud_model_url": model_server.url, "consume_transactions": True}
    with scoring_service(tmp_path, kafka_bootstrap, own, auth_settings, mint, **options) as s:
        wait_until(lambda: s.service.consumer.decided >= 250, "the first 250 decisions")
        synchronous = s.score(sent[260])  # a checkout scores one itself first
        with ProtobufProducer(kafka_bootstrap) as producer:
            for tx in sent[250:]:
                producer.send(own["transactions"], tx)
            producer.send(own["transactions"], sent[10])  # a redelivered record
            producer.flush()
        wait_until(lambda: s.service.consumer.decided >= 399, "every transaction decided")
    decided = Counter(
        d.transaction_id for d in records(kafka_bootstrap, own["decisions"], common_pb2.Decision)
    )
    assert set(decided) == {tx.transaction_id for tx in sent}
    assert max(decided.values()) == 1  # none twice: not the redelivery, not the synchronous one
    assert not synchronous.replayed


def test_a_caller_that_gives_up_leaves_the_decision_made_once(
    tmp_path, kafka_bootstrap, topics, auth_settings, mint
):
    # A "model" that accepts connections and never answers: each decision waits out its
    # 300 ms budget, so a caller with a 50 ms deadline leaves while its decision is running.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        options = {"fraud_model_url": url, "model_budget_ms": 300, "model_retry_s": 0.001}
        with scoring_service(
            tmp_path, kafka_bootstrap, topics, auth_settings, mint, **options
        ) as s:
            tx = transaction(f"c-{uuid.uuid4().hex[:8]}", datetime.now(UTC))
            token = s.mint("service", sub="checkout")

            async def impatient():
                async with mesh_client.connect(s.address, token=token) as channel:
                    stub = scoring_pb2_grpc.ScoringServiceStub(channel)
                    request = scoring_pb2.ScoreTransactionRequest(transaction=tx)
                    with pytest.raises(grpc.aio.AioRpcError) as caught:
                        await stub.ScoreTransaction(request, timeout=0.05)
                    return caught.value.code()

            assert run_async(impatient()) == grpc.StatusCode.DEADLINE_EXCEEDED
            # The decision went on without the caller: asking again gets it back, and the
            # service (its Kafka deliveries included) keeps working.
            again = s.score(tx)
            assert again.replayed and again.decision.degraded
            later = s.score(transaction(tx.customer_id, datetime.now(UTC))).decision
            assert later.features["customer_count_1h"] == 1.0
    decided = [
        d
        for d in records(kafka_bootstrap, topics["decisions"], common_pb2.Decision)
        if d.transaction_id == tx.transaction_id
    ]
    assert len(decided) == 1
