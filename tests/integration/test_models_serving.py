"""A real `bentoml serve` process answers the fraud model's predictions: equal to in-process
XGBoost (probability and pred_contribs) for the same rows, concurrent requests batched,
the model tag in a header, readiness on /readyz, and HTTP 400 for bad input."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from models.features import fraud_features
from models.training.config import ModelStoreSettings, TrainingSettings
from models.training.data import load_labelled_transactions
from models.training.fraud import point_in_time_matrix, train_fraud
from models.training.store import load_model, open_store
from services.simulator.config import FraudRates, SimulatorSettings
from services.simulator.run import simulate
from tests.support.net import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 180


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, np.ndarray]:
    """A small fraud model in a temporary store, and feature rows to score."""
    world = tmp_path_factory.mktemp("serving-world")
    tripled = FraudRates(**{k: 3 * v for k, v in FraudRates().model_dump().items()})
    simulate(
        SimulatorSettings(seed=7, customers=400, fraud=tripled),
        start=datetime(2026, 4, 1, tzinfo=UTC),
        days=14,
        out=world,
    )
    home = open_store(ModelStoreSettings(home=tmp_path_factory.mktemp("bentoml")))
    transactions, source = load_labelled_transactions(world)
    result = train_fraud(
        transactions,
        source,
        out_dir=world / "report",
        settings=TrainingSettings(n_estimators=60, label_delay_days=2),
    )
    matrix = point_in_time_matrix(transactions, fraud_features(timedelta(days=2)))
    return home, result.tag, matrix.to_numpy()[-96:].astype(np.float32)


@contextmanager
def bentoml_serve(home: Path, tag: str, **env: str) -> Iterator[str]:
    """`bentoml serve` of the fraud service on a free port; yields its URL once ready."""
    port = free_port()
    environment = {
        **os.environ,
        "BENTOML_HOME": str(home),
        "ECAP_SERVING_FRAUD_MODEL": tag,
        "BENTOML_DO_NOT_TRACK": "true",
        **env,
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bentoml",
            "serve",
            "models.serving.services:Fraud",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"bentoml serve exited:\n{process.stdout.read()}")
            try:
                with urllib.request.urlopen(f"{url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"bentoml serve not ready in {READY_TIMEOUT_S} s")
            time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def server(trained) -> Iterator[str]:
    home, tag, _ = trained
    # Shed no request on a busy CI machine: this test is about answers, not latency.
    with bentoml_serve(home, tag, ECAP_SERVING_MAX_LATENCY_MS="10000") as url:
        yield url


def _post(url: str, body: object) -> tuple[int, dict[str, str], object]:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read())


def _rows(matrix: np.ndarray) -> list[list[float | None]]:
    return [[None if math.isnan(v) else float(v) for v in row] for row in matrix]


def test_served_predictions_equal_in_process_xgboost(server: str, trained) -> None:
    _, tag, matrix = trained
    booster, metadata = load_model(tag)
    names = metadata["feature_names"]
    window = (0, int(metadata["best_iteration"]) + 1)
    dmatrix = xgb.DMatrix(matrix, feature_names=names)
    expected_p = booster.predict(dmatrix, iteration_range=window)
    expected_c = booster.predict(dmatrix, pred_contribs=True, iteration_range=window)

    chunks = [matrix[i : i + 8] for i in range(0, len(matrix), 8)]  # 12 concurrent requests
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda c: _post(f"{server}/predict", {"rows": _rows(c)}), chunks))
    failed = [(status, body) for status, _, body in answers if status != 200]
    assert not failed, failed[:2]
    assert {headers.get("x-ecap-model") for _, headers, _ in answers} == {tag}
    served = np.vstack([np.asarray(body, dtype=np.float64) for _, _, body in answers])
    assert served.shape == (len(matrix), 1 + len(names) + 1)
    np.testing.assert_allclose(served[:, 0], expected_p, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(served[:, 1:], expected_c, rtol=1e-5, atol=1e-5)
    assert len(np.unique(np.round(served[:, 0], 6))) > 1  # not one constant answer

    status, _, info = _post(f"{server}/model", {})
    assert status == 200
    assert info["tag"] == tag and info["feature_names"] == names
    assert info["output_columns"][0] == "probability"


def test_bad_input_is_a_400_naming_the_rule(server: str, trained) -> None:
    _, _, matrix = trained
    cases = {
        "each row needs 45 features": {"rows": [[1.0, 2.0, 3.0]]},
        "the batch is empty": {"rows": []},
        "feature amount must not be null": {"rows": [[None, *_rows(matrix[:1])[0][1:]]]},
    }
    for message, body in cases.items():
        status, _, answer = _post(f"{server}/predict", body)
        assert status == 400, (message, answer)
        assert message in json.dumps(answer), answer
