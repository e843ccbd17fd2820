"""The BentoML services: `fraud` and `churn`, one process each.

    bentoml serve models.serving.services:Fraud --port 3001
    bentoml serve models.serving.services:Churn --port 3002

`POST /predict` (adaptively batched) and `POST /predict_batch` (not batched: for clients
that send their own batches, like the scoring service) take `{"rows": [[...], ...]}`
(features in the order `GET /model` lists, null for a missing value) and answer one row per
input row: the probability, then the XGBoost `pred_contribs` per feature and the bias. The
header
`x-ecap-model` names the model tag. Bad input (wrong feature count, NaN where a feature is
always present, infinities, an empty batch) is an HTTP 400 with the rule broken, checked
per request before batching. `/readyz` is BentoML's readiness probe; access logs are off,
and so are OpenTelemetry spans on the two prediction routes unless
`ECAP_SERVING_TRACE_PREDICTIONS=true` (BentoML records them even when it exports none).
With `ECAP_SERVING_FRAUD_CHALLENGER=TAG` the fraud service also scores each batch with that
model and logs both probabilities to `ECAP_SERVING_SHADOW_LOG` (shadow mode).
"""

from __future__ import annotations

from typing import Annotated, Any

import bentoml
import numpy as np
import pydantic_core
from bentoml.validators import ContentType
from pydantic import AfterValidator, RootModel
from starlette.responses import Response

from models.serving.config import ServingSettings
from models.serving.loading import ServedModel, load_served_model
from models.serving.shadow import ShadowLog

SETTINGS = ServingSettings()
_LOADED: dict[str, ServedModel] = {}


def served(kind: str) -> ServedModel:
    """The model of `kind` this process serves (loaded once)."""
    if kind not in _LOADED:
        _LOADED[kind] = load_served_model(
            kind, getattr(SETTINGS, f"{kind}_model"), threads=SETTINGS.threads
        )
    return _LOADED[kind]


def _validated(kind: str):
    # Rows arrive as lists parsed by pydantic-core (in Rust) and become one float32 matrix
    # here; a numpy-typed field would build an object array element by element first.
    def check(rows: list[list[float | None]]) -> np.ndarray:
        return served(kind).rows(rows)

    return AfterValidator(check)


class Answer(RootModel[list[list[float]]]):
    """One row per input row: probability, contributions per feature, bias."""


# Declared as JSON so BentoML does not derive the media type from the schema per response.
AnswerArray = Annotated[np.ndarray, ContentType("application/json")]


def _json(answer: np.ndarray) -> Response:
    """The answer as JSON, written by pydantic-core (the standard library's float
    formatting costs more than the prediction)."""
    return Response(pydantic_core.to_json(answer.tolist()), media_type="application/json")


PREDICTION_ROUTES = ["/predict", "/predict_batch"]


def _service_options(kind: str) -> dict[str, Any]:
    options: dict[str, Any] = {
        "name": kind,
        "traffic": {"timeout": SETTINGS.timeout_s},
        "logging": {"access": {"enabled": False}},
        "workers": getattr(SETTINGS, f"{kind}_workers"),
    }
    if not SETTINGS.trace_predictions:
        options["tracing"] = {"excluded_urls": PREDICTION_ROUTES}
    return options


class ModelTagHeader:
    """ASGI middleware: every response carries `x-ecap-model: <tag>`. (A header set through
    the request context would reach only one request of an adaptive batch.)"""

    def __init__(self, app, kind: str) -> None:
        self.app = app
        self.kind = kind

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_tag(message) -> None:
            if message["type"] == "http.response.start":
                tag = served(self.kind).tag.encode()
                message["headers"] = [*message.get("headers", []), (b"x-ecap-model", tag)]
            await send(message)

        await self.app(scope, receive, send_with_tag)


FraudRows = Annotated[list[list[float | None]], _validated("fraud")]
ChurnRows = Annotated[list[list[float | None]], _validated("churn")]


@bentoml.service(**_service_options("fraud"))
class Fraud:
    """Fraud probability and contributions per transaction feature vector; with
    `ECAP_SERVING_FRAUD_CHALLENGER`, a challenger scores in the shadow (see `shadow`)."""

    def __init__(self) -> None:
        self.model = served("fraud")
        self.shadow = None
        if SETTINGS.fraud_challenger:
            challenger = load_served_model(
                "fraud", SETTINGS.fraud_challenger, threads=SETTINGS.threads
            )
            self.shadow = ShadowLog(self.model, challenger, SETTINGS.shadow_log)

    @bentoml.api(
        batchable=True,
        max_batch_size=SETTINGS.max_batch_size,
        max_latency_ms=SETTINGS.max_latency_ms,
    )
    def predict(self, rows: FraudRows) -> AnswerArray:
        return self._answer(rows)

    @bentoml.api(route="/predict_batch", output_spec=Answer)
    async def predict_batch(self, rows: FraudRows) -> Response:
        """`/predict` without adaptive batching, for clients that batch themselves (the
        scoring service): a second batching layer would only add queueing. It predicts on
        the event loop rather than handing each batch to a worker thread and back, and
        answers JSON it wrote itself (see `_json`)."""
        return _json(self._answer(rows))

    def _answer(self, rows: np.ndarray) -> np.ndarray:
        answer = self.model.predict(rows)
        if self.shadow is not None:
            self.shadow.record(rows, answer[:, 0])
        return answer

    @bentoml.api(route="/model")
    def model_info(self) -> dict:
        info = self.model.describe()
        if self.shadow is not None:
            info["shadow"] = {"challenger": self.shadow.challenger.tag}
        return info


@bentoml.service(**_service_options("churn"))
class Churn:
    """Churn probability and contributions per customer feature vector."""

    def __init__(self) -> None:
        self.model = served("churn")

    @bentoml.api(
        batchable=True,
        max_batch_size=SETTINGS.max_batch_size,
        max_latency_ms=SETTINGS.max_latency_ms,
    )
    def predict(self, rows: ChurnRows) -> AnswerArray:
        return self.model.predict(rows)

    @bentoml.api(route="/predict_batch", output_spec=Answer)
    async def predict_batch(self, rows: ChurnRows) -> Response:
        """`/predict` without adaptive batching, for clients that batch themselves."""
        return _json(self.model.predict(rows))

    @bentoml.api(route="/model")
    def model_info(self) -> dict:
        return self.model.describe()


Fraud.add_asgi_middleware(ModelTagHeader, kind="fraud")
Churn.add_asgi_middleware(ModelTagHeader, kind="churn")
