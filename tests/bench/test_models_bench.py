"""Fraud predictions per second through a real `bentoml serve`, beside in-process XGBoost
on the same rows in the same run.

Measurements against the server, each printed with p50/p99 latency:
- single-row requests to `/predict` (adaptive batching) from many concurrent clients
  (closed loop: as fast as they can);
- 32-row requests to `/predict_batch`, which is what the scoring service's micro-batcher
  sends, closed loop (and to `/predict` for comparison);
- both at a fixed offered load (open loop), where latency is the figure that matters.
The baseline is `ServedModel.predict` (probability + pred_contribs) called in this process
on 1-row and 32-row arrays. The load generator is aiohttp, the scoring service's client,
on the same cores as the server. Access logging and prediction tracing stay off (the
service's defaults). Figures are printed with the load average, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time

import aiohttp
import numpy as np
import pytest
from rich.console import Console
from rich.table import Table

from models.serving.loading import load_served_model
from tests.fixtures.bentoml import bentoml_serve
from tests.integration.test_models_serving import trained  # noqa: F401

DURATION_S = 5.0
CLIENT_TIMEOUT_S = 10.0
CLIENTS = 32
OFFERED_SINGLE_PER_S = 300
OFFERED_BATCH_PER_S = 200
HEADERS = {"content-type": "application/json"}
console = Console()


def _body(rows: np.ndarray) -> bytes:
    return json.dumps(
        {"rows": [[None if math.isnan(v) else float(v) for v in row] for row in rows]}
    ).encode()


def _percentiles(latencies: list[float]) -> tuple[float, float]:
    ms = np.array(latencies) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 99))


async def _ok(client: aiohttp.ClientSession, url: str, body: bytes) -> bool:
    """True for a 200; refusals (503 when batching cannot meet its latency budget) and
    timeouts count as errors rather than end the run."""
    try:
        async with client.post(url, data=body, headers=HEADERS) as response:
            await response.read()
            return response.status == 200
    except (aiohttp.ClientError, TimeoutError):
        return False


def _client(connections: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=connections),
        timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S),
    )


async def _closed_loop(url: str, bodies: list[bytes], clients: int) -> tuple[int, list, int]:
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + DURATION_S
    async with _client(clients) as client:

        async def worker(offset: int) -> None:
            nonlocal errors
            i = offset
            while time.perf_counter() < stop:
                start = time.perf_counter()
                if await _ok(client, url, bodies[i % len(bodies)]):
                    latencies.append(time.perf_counter() - start)
                else:
                    errors += 1
                i += clients

        await asyncio.gather(*(worker(k) for k in range(clients)))
    return len(latencies), latencies, errors


async def _open_loop(url: str, bodies: list[bytes], per_s: float) -> tuple[int, list, int]:
    latencies: list[float] = []
    errors = 0
    async with _client(256) as client:

        async def one(body: bytes) -> None:
            nonlocal errors
            start = time.perf_counter()
            if await _ok(client, url, body):
                latencies.append(time.perf_counter() - start)
            else:
                errors += 1

        tasks = []
        begin = time.perf_counter()
        for i in range(int(per_s * DURATION_S)):
            await asyncio.sleep(max(0.0, begin + i / per_s - time.perf_counter()))
            tasks.append(asyncio.create_task(one(bodies[i % len(bodies)])))
        await asyncio.gather(*tasks)
    return len(latencies), latencies, errors


def _in_process(model, rows: np.ndarray, size: int) -> tuple[float, float, float]:
    calls, latencies = 0, []
    stop = time.perf_counter() + DURATION_S / 2
    while time.perf_counter() < stop:
        chunk = rows[(calls * size) % (len(rows) - size) :][:size]
        start = time.perf_counter()
        model.predict(chunk)
        latencies.append(time.perf_counter() - start)
        calls += 1
    p50, p99 = _percentiles(latencies)
    return calls * size / sum(latencies), p50, p99


@pytest.mark.timeout(900)
def test_fraud_predictions_through_bentoml_against_in_process_xgboost(trained) -> None:  # noqa: F811
    home, tag, rows = trained
    os.environ["BENTOML_HOME"] = str(home)
    model = load_served_model("fraud", tag)
    rows = np.vstack([rows] * 8)
    singles = [_body(rows[i : i + 1]) for i in range(len(rows))]
    batches = [_body(rows[i : i + 32]) for i in range(0, len(rows) - 32, 32)]

    load_before = os.getloadavg()[0]
    table = Table(title=f"Fraud model {tag}: rows/s and latency")
    for column in ("path", "requests", "rows/s", "p50 ms", "p99 ms", "errors", "vs in-process"):
        table.add_column(column)
    base_single, p50, p99 = _in_process(model, rows, 1)
    base_batch, b50, b99 = _in_process(model, rows, 32)
    table.add_row(
        "in-process, 1 row", "-", f"{base_single:,.0f}", f"{p50:.2f}", f"{p99:.2f}", "-", "1.00"
    )
    table.add_row(
        "in-process, 32 rows", "-", f"{base_batch:,.0f}", f"{b50:.2f}", f"{b99:.2f}", "-", "1.00"
    )
    with bentoml_serve(home, tag) as url:
        predict, predict_batch = f"{url}/predict", f"{url}/predict_batch"
        runs = [
            (
                f"BentoML /predict, 1 row, {CLIENTS} clients",
                _closed_loop(predict, singles, CLIENTS),
                1,
                base_single,
            ),
            (
                f"BentoML /predict_batch, 32 rows, {CLIENTS // 4} clients",
                _closed_loop(predict_batch, batches, CLIENTS // 4),
                32,
                base_batch,
            ),
            (
                f"BentoML /predict, 32 rows, {CLIENTS // 4} clients",
                _closed_loop(predict, batches, CLIENTS // 4),
                32,
                base_batch,
            ),
            (
                f"BentoML /predict, 1 row, offered {OFFERED_SINGLE_PER_S}/s",
                _open_loop(predict, singles, OFFERED_SINGLE_PER_S),
                1,
                base_single,
            ),
            (
                f"BentoML /predict_batch, 32 rows, offered {OFFERED_BATCH_PER_S}/s",
                _open_loop(predict_batch, batches, OFFERED_BATCH_PER_S),
                32,
                base_batch,
            ),
        ]
        for name, run, size, baseline in runs:
            start = time.perf_counter()
            done, latencies, errors = asyncio.run(run)
            elapsed = time.perf_counter() - start
            rate = done * size / elapsed
            l50, l99 = _percentiles(latencies) if latencies else (math.nan, math.nan)
            console.print(
                f"{name}: {done:,} ok, {errors} errors, {rate:,.0f} rows/s, "
                f"load average {os.getloadavg()[0]:.1f} (2 cores)"
            )
            table.add_row(
                name,
                f"{done:,}",
                f"{rate:,.0f}",
                f"{l50:.1f}",
                f"{l99:.1f}",
                str(errors),
                f"{rate / baseline:.2f}",
            )
    console.print(table)
    console.print(
        f"load average before: {load_before:.1f}, after: {os.getloadavg()[0]:.1f} (2 cores, "
        "shared with the load generator and anything else running)"
    )
