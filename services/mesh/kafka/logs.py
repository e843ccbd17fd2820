"""librdkafka's errors in the service log, at most once per error kind per interval.

A client whose broker is away reports every reconnect attempt (about twenty lines a second
for a consumer); the native log is muted (`log_level` 0) and these callbacks say the same
thing once in a while, as structured log lines.
"""

from __future__ import annotations

import threading
import time

import structlog
from confluent_kafka import KafkaError

QUIET_NATIVE_LOG = {"log_level": 0}


class KafkaErrorLog:
    """An `error_cb` for librdkafka clients that logs each error kind once per interval."""

    def __init__(self, client: str, interval_s: float = 30.0) -> None:
        self._client = client
        self._interval_s = interval_s
        self._last: dict[int, float] = {}
        self._lock = threading.Lock()

    def __call__(self, error: KafkaError) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(error.code(), float("-inf")) < self._interval_s:
                return
            self._last[error.code()] = now
        # Looked up per call: the client may exist before the service configured logging.
        structlog.get_logger("ecap.kafka").warning(
            "kafka client error", client=self._client, error=error.str(), code=error.name()
        )
