"""Settings of the ingestion service (env prefix `ECAP_INGESTION_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.mesh.config import ServerSettings


class IngestionSettings(ServerSettings):
    """Where the ingestion service listens, what it accepts, and how it writes to Kafka."""

    model_config = SettingsConfigDict(env_prefix="ECAP_INGESTION_", extra="ignore")

    port: int = 50051
    metrics_port: int = 9451

    dedup_window_s: float = Field(default=3600.0, gt=0, description="how long an id is remembered")
    dedup_max_ids: int = Field(
        default=500_000, gt=0, description="ids remembered at most (bounds memory)"
    )
    max_future_skew_s: float = Field(default=300.0, ge=0, description="tolerated clock skew")
    max_age_days: float = Field(
        default=400.0, gt=0, description="oldest event time accepted (backfills included)"
    )
    # ISO-4217 codes that are not money a shop can be paid in (metals, bond units, SDR,
    # the testing and no-currency codes).
    non_money_currencies: frozenset[str] = frozenset(
        {"XAG", "XAU", "XBA", "XBB", "XBC", "XBD", "XDR", "XPD", "XPT", "XSU", "XTS", "XUA", "XXX"}
    )
    delivery_timeout_ms: int = Field(
        default=15_000, gt=0, description="after this, an unacknowledged record fails: UNAVAILABLE"
    )
    producer_queue_kbytes: int = Field(
        default=65_536,
        gt=0,
        description="each producer's buffer (streams and unary calls have one each); a full "
        "buffer slows the client down",
    )
    stream_linger_ms: float = Field(
        default=200.0,
        ge=0,
        description="Kafka producer linger for client streams: how long records wait for "
        "others to share a partition's batch; fuller batches cost the broker far less CPU "
        "per record, and a stream keeps `pipeline_depth` batches in flight meanwhile",
    )
    unary_linger_ms: float = Field(
        default=5.0,
        ge=0,
        description="Kafka producer linger for unary calls (IngestBatch, the upserts), which "
        "answer only once Kafka acknowledged: at most this much of their latency",
    )
    pipeline_depth: int = Field(
        default=32, ge=1, le=64, description="batches of one stream awaiting Kafka at once"
    )
    validation_workers: int = Field(
        default=2,
        ge=0,
        le=64,
        description="processes that parse and validate stream batches (0: the event loop does)",
    )
    topic_transactions: str = "transactions"
    topic_events: str = "user-events"
    topic_reference: str = "product-updates"
    topic_dead_letter: str = "dead-letter"
