"""Settings of the analytics service (env prefix `ECAP_ANALYTICS_`)."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.mesh.config import ServerSettings


class AnalyticsSettings(ServerSettings):
    """Where the analytics service listens, and how it reads and caches the lake."""

    model_config = SettingsConfigDict(env_prefix="ECAP_ANALYTICS_", extra="ignore")

    port: int = 50053
    metrics_port: int = 9453
    version_check_s: float = Field(
        default=1.0,
        ge=0,
        description="how often a table's newest Delta version is re-read (0: on every request)",
    )
    cache_entries: int = Field(
        default=4096, ge=0, description="results cached per table version (0: no cache)"
    )
    pinned_versions: int = Field(
        default=64, ge=1, description="table versions held open (gold tables in memory)"
    )
    customer_index_refresh_s: float = Field(
        default=60.0,
        ge=0,
        description="how stale the in-memory per-customer index of silver transactions, "
        "decisions and customers may grow before it is rebuilt (newer files are scanned)",
    )
    history_scan_commits: int = Field(
        default=200, ge=1, description="commits ListTables searches for the last maintenance"
    )
    watch_poll_s: float = Field(
        default=1.0, gt=0, description="how often WatchKpis looks for a new kpi_minute version"
    )
    watch_lookback_s: float = Field(
        default=900.0, gt=0, description="WatchKpis without since_time: minutes this far back"
    )
    cases_address: str | None = Field(
        default="127.0.0.1:50054",
        description="the case service, for a customer's open cases (unset: none are shown)",
    )
    cases_timeout_s: float = Field(default=2.0, gt=0, description="deadline of the cases call")
