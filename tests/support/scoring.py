"""The scoring service in tests: a BentoML model server that can be stopped and started
again, private topics, and the service itself on a free port with a caller."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ecap.v1 import common_pb2, scoring_pb2, scoring_pb2_grpc
from services.mesh import client as mesh_client
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.scoring.config import ScoringSettings
from services.scoring.server import ScoringService, build_service
from spark.config import SparkSettings
from tests.fixtures.bentoml import TrainedModel, bentoml_serve
from tests.fixtures.kafka import private_copy
from tests.fixtures.mesh import run_async, running_server
from tests.support.net import free_port


class ModelServer:
    """A BentoML model service (`Fraud` or `Churn`) on a fixed port, stoppable and
    startable again at the same address."""

    def __init__(self, model: TrainedModel, service: str = "Fraud") -> None:
        self.model = model
        self.service = service
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stack: ExitStack | None = None

    def start(self) -> None:
        """Serve the model (unless it is served already)."""
        if self._stack is not None:
            return
        self._stack = ExitStack()
        self._stack.enter_context(
            bentoml_serve(
                self.model.home,
                self.model.tag,
                service=self.service,
                port=self.port,
                # Shed no request on a busy CI machine: latency is not what tests check.
                ECAP_SERVING_MAX_LATENCY_MS="10000",
            )
        )

    def stop(self) -> None:
        if self._stack is not None:
            self._stack.close()
            self._stack = None

    def __enter__(self) -> ModelServer:
        self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def scoring_topics(bootstrap: str) -> dict[str, str]:
    """Private copies of the topics the scoring service uses, by their usual names."""
    wanted = ("transactions", "decisions", "fraud-alerts")
    specs = {s.name: private_copy(s) for s in TOPICS if s.name in wanted}
    ensure_topics(bootstrap, specs=list(specs.values()), replication_factor=1)
    return {name: spec.name for name, spec in specs.items()}


@dataclass
class Scoring:
    """A running scoring service and a caller."""

    service: ScoringService
    address: str
    settings: ScoringSettings
    mint: object
    bootstrap: str

    def call(self, rpc: str, request, *, role: str = "service"):
        token = self.mint(role, sub="checkout")

        async def go():
            async with mesh_client.connect(self.address, token=token) as channel:
                return await getattr(scoring_pb2_grpc.ScoringServiceStub(channel), rpc)(request)

        return run_async(go())

    def score(self, tx: common_pb2.Transaction) -> scoring_pb2.ScoreTransactionResponse:
        return self.call("ScoreTransaction", scoring_pb2.ScoreTransactionRequest(transaction=tx))

    def score_all(self, transactions: list[common_pb2.Transaction]) -> list[common_pb2.Decision]:
        """Score in order on one channel (a checkout calling for each payment)."""
        token = self.mint("service", sub="checkout")

        async def go():
            decisions = []
            async with mesh_client.connect(self.address, token=token) as channel:
                stub = scoring_pb2_grpc.ScoringServiceStub(channel)
                for tx in transactions:
                    request = scoring_pb2.ScoreTransactionRequest(transaction=tx)
                    decisions.append((await stub.ScoreTransaction(request)).decision)
            return decisions

        return run_async(go(), timeout_s=600)


@contextmanager
def scoring_service(
    tmp: Path, kafka_bootstrap: str, topics: dict[str, str], auth_settings, mint, **overrides
) -> Iterator[Scoring]:
    options = {
        "port": 0,
        "metrics_enabled": False,
        "grace_period_s": 1.0,
        "rules_database_url": f"sqlite:///{tmp / 'rules.db'}",
        "topic_transactions": topics["transactions"],
        "topic_decisions": topics["decisions"],
        "topic_alerts": topics["fraud-alerts"],
        "consumer_group": f"scoring-{uuid.uuid4().hex[:8]}",
        "consume_transactions": False,
        "model_retry_s": 0.2,
        **overrides,
    }
    settings = ScoringSettings(**options)
    service = build_service(
        settings, KafkaSettings(bootstrap=kafka_bootstrap), SparkSettings(lake_uri=str(tmp))
    )
    with running_server(service.spec, auth_settings, settings) as server:
        yield Scoring(service, server.address, settings, mint, kafka_bootstrap)
