"""The streams' latest progress as a small JSON file under the run dir, for `ecap status`.

{"updated_at": "...", "streams": {"bronze_transactions": {"batch_id": 41,
 "input_rows_per_s": 120.0, "processed_rows_per_s": 400.0, "batch_duration_ms": 812,
 "kafka_offsets_behind": 0, "active": true, ...}}}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def kafka_offsets_behind(progress: Mapping[str, Any]) -> int | None:
    """How many records the Kafka sources of a progress report had left to read, if any."""
    behind = None
    for source in progress.get("sources") or []:
        latest, end = _offsets(source.get("latestOffset")), _offsets(source.get("endOffset"))
        if not latest or not end or not source.get("description", "").startswith("Kafka"):
            continue
        for topic, partitions in latest.items():
            for partition, offset in partitions.items():
                read = end.get(topic, {}).get(partition, 0)
                behind = (behind or 0) + max(0, int(offset) - int(read))
    return behind


def _offsets(value: Any) -> dict[str, dict[str, int]] | None:
    # Progress reports carry Kafka offsets as a JSON object, or a JSON string of one.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    return value if isinstance(value, dict) else None


def stream_status(
    progress: Mapping[str, Any] | None, *, active: bool, error: str | None = None
) -> dict[str, Any]:
    """The status of one stream from its last progress report (`query.lastProgress`)."""
    progress = progress or {}
    return {
        "active": active,
        "error": error,
        "batch_id": progress.get("batchId"),
        "at": progress.get("timestamp"),
        "input_rows": progress.get("numInputRows"),
        "input_rows_per_s": progress.get("inputRowsPerSecond"),
        "processed_rows_per_s": progress.get("processedRowsPerSecond"),
        "batch_duration_ms": progress.get("batchDuration"),
        "kafka_offsets_behind": kafka_offsets_behind(progress),
    }


def write_status(path: Path, streams: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace the status file atomically, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {"updated_at": datetime.now(UTC).isoformat(), "streams": dict(streams)}
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", delete=False
    ) as handle:
        json.dump(document, handle, indent=2, default=str)
    os.replace(handle.name, path)


def read_status(path: Path) -> dict[str, Any] | None:
    """The status file's content, or None when no stream has written one yet."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
