"""Wiring of the scoring service and its `main`: rules, feature state (rebuilt at start),
the model clients, the Kafka producer and the `transactions` consumer."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from ecap.v1 import scoring_pb2_grpc
from models.features import OnlineFeatures, fraud_features
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.producer import ProtobufProducer
from services.mesh.server import ServiceSpec, serve
from services.scoring.config import ScoringSettings
from services.scoring.consumer import TransactionConsumer
from services.scoring.engine import DecidedTransactions, Scorer
from services.scoring.model_client import BatchingModelClient, ModelUnavailable
from services.scoring.publisher import DecisionPublisher
from services.scoring.rule_store import RuleStore
from services.scoring.rules import DEFAULT_RULES
from services.scoring.rules_live import LiveRules
from services.scoring.servicer import ROLES, SERVICE_NAME, ScoringServicer
from services.scoring.warmup import rebuild
from spark.config import SparkSettings

log = structlog.get_logger("ecap.scoring")


@dataclass
class ScoringService:
    """The service's parts: what the mesh runs, and the pieces tests and benchmarks inspect."""

    spec: ServiceSpec
    scorer: Scorer
    rules: LiveRules
    fraud_model: BatchingModelClient
    churn_model: BatchingModelClient
    rebuilt: dict[str, int] = field(default_factory=dict)
    consumer: TransactionConsumer | None = None


def _model_client(url: str, settings: ScoringSettings) -> BatchingModelClient:
    return BatchingModelClient(
        url,
        max_wait_s=settings.batch_max_wait_ms / 1000,
        max_rows=settings.batch_max_rows,
        retry_s=settings.model_retry_s,
    )


def build_service(
    settings: ScoringSettings | None = None,
    kafka: KafkaSettings | None = None,
    lake_settings: SparkSettings | None = None,
) -> ScoringService:
    """Rule store, feature state, model clients, producer, consumer and handlers, wired."""
    settings = settings or ScoringSettings()
    kafka = kafka or KafkaSettings()
    lake_settings = lake_settings or SparkSettings()
    store = RuleStore(settings.rules_database_url)
    if settings.seed_default_rules and store.seed(DEFAULT_RULES):
        log.info("built-in rules created", rules=len(DEFAULT_RULES))
    rules = LiveRules(store, settings.rules_refresh_s)
    features = OnlineFeatures(
        fraud_features(settings.label_delay), max_rows=settings.max_rows_per_entity
    )
    producer = ProtobufProducer(
        kafka.bootstrap_servers,
        client_id="ecap-scoring",
        config={
            "linger.ms": settings.producer_linger_ms,
            "delivery.timeout.ms": settings.delivery_timeout_ms,
        },
    )
    publisher = DecisionPublisher(
        producer,
        topic_decisions=settings.topic_decisions,
        topic_alerts=settings.topic_alerts,
        topic_transactions=settings.topic_transactions,
    )
    fraud_model = _model_client(settings.fraud_model_url, settings)
    churn_model = _model_client(settings.churn_model_url, settings)
    scorer = Scorer(
        settings,
        features,
        rules.current,
        fraud_model,
        publisher,
        DecidedTransactions(settings.decided_cache_size),
    )
    servicer = ScoringServicer(scorer, rules, churn_model, settings, lake_settings)
    service = ScoringService(
        spec=None,  # type: ignore[arg-type]  # set below: the hooks close over `service`
        scorer=scorer,
        rules=rules,
        fraud_model=fraud_model,
        churn_model=churn_model,
    )
    expiry: list[asyncio.Task] = []

    async def start() -> None:
        service.rebuilt = await asyncio.to_thread(
            rebuild, scorer, settings, kafka.bootstrap_servers, lake_settings
        )
        try:
            info = await fraud_model.describe()
            _check_label_delay(info.feature_metadata, settings)
        except ModelUnavailable as error:
            log.warning(
                "fraud model not reachable at start; rules alone decide until it is",
                url=settings.fraud_model_url,
                error=str(error)[:200],
            )
        rules.start()
        expiry.append(asyncio.get_running_loop().create_task(_expire(scorer, settings)))
        if settings.consume_transactions:
            service.consumer = TransactionConsumer(
                scorer,
                asyncio.get_running_loop(),
                kafka.bootstrap_servers,
                topic=settings.topic_transactions,
                group=settings.consumer_group,
                batch=settings.consumer_batch,
            )
            service.consumer.start()

    async def stop() -> None:
        if service.consumer is not None:
            await asyncio.to_thread(service.consumer.stop)
        for task in expiry:
            task.cancel()
        await rules.stop()
        await fraud_model.close()
        await churn_model.close()
        await asyncio.to_thread(producer.close)
        store.close()

    service.spec = ServiceSpec(
        name="scoring",
        service_names=[SERVICE_NAME],
        register=lambda server: scoring_pb2_grpc.add_ScoringServiceServicer_to_server(
            servicer, server
        ),
        role_table=ROLES,
        on_start=[start],
        on_shutdown=[stop],
    )
    return service


def _check_label_delay(metadata: dict[str, str], settings: ScoringSettings) -> None:
    served = metadata.get("label_delay_s")
    if served is not None and float(served) != settings.label_delay.total_seconds():
        log.error(
            "the served fraud model was trained with another label delay than this service "
            "uses for the merchant fraud rates: set ECAP_SCORING_LABEL_DELAY_DAYS to match",
            model_label_delay_days=float(served) / 86_400,
            service_label_delay_days=settings.label_delay_days,
        )


async def _expire(scorer: Scorer, settings: ScoringSettings) -> None:
    while True:
        await asyncio.sleep(settings.expire_interval_s)
        dropped = scorer.features.expire(datetime.now(UTC))
        log.debug("feature state expired", entities_dropped=dropped)


def build_spec(settings: ScoringSettings | None = None) -> ServiceSpec:
    """The scoring service as the mesh runs it."""
    return build_service(settings).spec


def main(spec: ServiceSpec | None = None) -> None:
    """Serve `spec` (default: `build_spec()`) until SIGTERM."""
    sys.exit(serve(spec or build_spec(), ScoringSettings()))
