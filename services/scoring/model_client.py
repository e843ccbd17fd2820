"""The BentoML model client: concurrent calls micro-batched into one HTTP request.

A call joins the open batch; the batch goes out when it holds `max_rows` rows or when its
first row has waited `max_wait_s`, whichever comes first, so one request carries the rows
of every decision in flight (BentoML carries about 25x more rows per second in 32-row
requests than in single-row ones). Several batches may be in flight at once.

When a request fails (connection refused, HTTP error, timeout), every call of the batch gets
`ModelUnavailable`, and calls during the next `retry_s` fail at once without a request, so
an outage costs the decisions no latency; after that the next batch tries again, and the
first success brings the model back without a restart. Requests go to `/predict_batch`, the
route without BentoML's adaptive batching: these requests are batches already. The model's
description (`/model`: tag, feature order, thresholds) is fetched on the first call and
again whenever a response names another model tag, so a redeployed model is picked up too.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import numpy as np
import structlog

log = structlog.get_logger("ecap.scoring.model")

MODEL_TAG_HEADER = "x-ecap-model"


class ModelUnavailable(RuntimeError):
    """The model could not answer: `reason` is MODEL_UNAVAILABLE, MODEL_TIMEOUT or
    MODEL_MISMATCH."""

    def __init__(self, message: str, reason: str = "MODEL_UNAVAILABLE") -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class ModelInfo:
    """What `/model` says about the served model."""

    tag: str
    feature_names: tuple[str, ...]
    thresholds: dict[str, float] = field(default_factory=dict)
    feature_metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> ModelInfo:
        return cls(
            tag=str(body["tag"]),
            feature_names=tuple(body["feature_names"]),
            thresholds={k: float(v) for k, v in (body.get("thresholds") or {}).items()},
            feature_metadata=dict(body.get("feature_metadata") or {}),
        )


@dataclass(frozen=True)
class Prediction:
    """One row's answer: probability, per-feature contributions (log-odds) and the tag."""

    probability: float
    contributions: np.ndarray
    tag: str


@dataclass
class _Batch:
    rows: list[list[float | None]] = field(default_factory=list)
    futures: list[asyncio.Future] = field(default_factory=list)
    info: ModelInfo | None = None
    timer: asyncio.TimerHandle | None = None


def _json_value(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) else float(value)


class BatchingModelClient:
    """Predictions from one BentoML model service, micro-batched."""

    def __init__(
        self,
        url: str,
        *,
        max_wait_s: float,
        max_rows: int,
        retry_s: float,
        request_timeout_s: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.max_wait_s = max_wait_s
        self.max_rows = max_rows
        self.retry_s = retry_s
        self.request_timeout_s = request_timeout_s
        self._session: aiohttp.ClientSession | None = None
        self._info: ModelInfo | None = None
        self._info_lock = asyncio.Lock()
        self._batch: _Batch | None = None
        self._down_until = 0.0
        self._in_flight: set[asyncio.Task] = set()
        self.requests = 0
        self.failures = 0

    # -- lifecycle ----------------------------------------------------------------------------

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=60),
                timeout=aiohttp.ClientTimeout(total=self.request_timeout_s),
            )
        return self._session

    async def close(self) -> None:
        """Wait for the batches in flight, then close the HTTP session."""
        if self._batch is not None:
            self._send(self._batch)
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._session is not None:
            await self._session.close()

    # -- the model's description --------------------------------------------------------------

    @property
    def available(self) -> bool:
        """False while a recent failure keeps calls away from the model."""
        return time.monotonic() >= self._down_until

    @property
    def info(self) -> ModelInfo | None:
        """The last description fetched (None before the first success)."""
        return self._info

    async def describe(self, *, refresh: bool = False) -> ModelInfo:
        """The served model's description (`/model`), fetched once and on `refresh`."""
        if self._info is not None and not refresh:
            return self._info
        if not self.available:
            raise ModelUnavailable(f"{self.url}: model unavailable (retrying shortly)")
        async with self._info_lock:
            if self._info is not None and not refresh:
                return self._info
            try:
                async with self._client().post(f"{self.url}/model", json={}) as response:
                    response.raise_for_status()
                    info = ModelInfo.from_json(await response.json(content_type=None))
            except (aiohttp.ClientError, TimeoutError, KeyError, ValueError) as error:
                self._failed(error)
                raise ModelUnavailable(f"{self.url}/model: {error!r}") from error
            if self._info is None or info.tag != self._info.tag:
                log.info("model described", url=self.url, tag=info.tag)
            self._info = info
            return info

    # -- predictions --------------------------------------------------------------------------

    async def predict(self, values: dict[str, float | None], info: ModelInfo) -> Prediction:
        """The model's answer for one feature vector (by name, in `info`'s order)."""
        if not self.available:
            raise ModelUnavailable(f"{self.url}: model unavailable (retrying shortly)")
        loop = asyncio.get_running_loop()
        batch = self._batch
        if batch is None or batch.info is not info:
            if batch is not None:
                self._send(batch)
            batch = self._batch = _Batch(info=info)
            batch.timer = loop.call_later(self.max_wait_s, self._send, batch)
        future: asyncio.Future[Prediction] = loop.create_future()
        batch.rows.append([_json_value(values[name]) for name in info.feature_names])
        batch.futures.append(future)
        if len(batch.rows) >= self.max_rows:
            self._send(batch)
        return await future

    def _send(self, batch: _Batch) -> None:
        if batch.timer is not None:
            batch.timer.cancel()
        if self._batch is batch:
            self._batch = None
        if not batch.rows:
            return
        task = asyncio.get_running_loop().create_task(self._request(batch))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def _request(self, batch: _Batch) -> None:
        assert batch.info is not None
        self.requests += 1
        body = json.dumps({"rows": batch.rows}, allow_nan=False)
        try:
            async with self._client().post(
                f"{self.url}/predict_batch", data=body, headers={"content-type": "application/json"}
            ) as response:
                if response.status != 200:
                    raise ModelUnavailable(
                        f"{self.url}/predict_batch: HTTP {response.status}: "
                        f"{(await response.text())[:300]}"
                    )
                tag = response.headers.get(MODEL_TAG_HEADER, batch.info.tag)
                answer = np.asarray(await response.json(content_type=None), dtype=np.float64)
        except Exception as error:
            self._failed(error)
            unavailable = (
                error
                if isinstance(error, ModelUnavailable)
                else ModelUnavailable(f"{self.url}/predict_batch: {error!r}")
            )
            for future in batch.futures:
                if not future.done():
                    future.set_exception(unavailable)
            return
        if tag != batch.info.tag:
            # Another model answered rows laid out for the old one: refuse, and re-read.
            self._info = None
            mismatch = ModelUnavailable(
                f"model changed from {batch.info.tag} to {tag}", reason="MODEL_MISMATCH"
            )
            for future in batch.futures:
                if not future.done():
                    future.set_exception(mismatch)
            return
        for future, row in zip(batch.futures, answer, strict=True):
            if not future.done():
                future.set_result(Prediction(float(row[0]), row[1:-1], tag))

    def _failed(self, error: BaseException) -> None:
        self.failures += 1
        if self.available:
            log.warning(
                "model call failed; deciding on rules alone for a while",
                url=self.url,
                error=str(error)[:300],
                retry_s=self.retry_s,
            )
        self._down_until = time.monotonic() + self.retry_s
