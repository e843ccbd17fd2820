"""A real `bentoml serve` process answers the fraud model's predictions: equal to in-process
XGBoost (probability and pred_contribs) for the same rows, concurrent requests batched,
the model tag in a header, readiness on /readyz, and HTTP 400 for bad input."""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from models.features import fraud_features
from models.training.config import TrainingSettings
from models.training.data import TableSource
from models.training.fraud import point_in_time_matrix, train_fraud
from models.training.store import load_model
from tests.fixtures.bentoml import TrainedModel, bentoml_serve, model_store

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def trained(fraud_model: TrainedModel) -> tuple[Path, str, np.ndarray]:
    """The shared fraud model's store and tag, and feature rows to score."""
    matrix = point_in_time_matrix(fraud_model.transactions, fraud_features())
    return fraud_model.home, fraud_model.tag, matrix.to_numpy()[-96:].astype(np.float32)


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


# /predict batches adaptively; /predict_batch (the scoring service's route) takes batches as
# they come: both answer the same.
ROUTES = ["/predict", "/predict_batch"]


@pytest.mark.parametrize("route", ROUTES)
def test_served_predictions_equal_in_process_xgboost(server: str, trained, route: str) -> None:
    _, tag, matrix = trained
    booster, metadata = load_model(tag)
    names = metadata["feature_names"]
    window = (0, int(metadata["best_iteration"]) + 1)
    dmatrix = xgb.DMatrix(matrix, feature_names=names)
    expected_p = booster.predict(dmatrix, iteration_range=window)
    expected_c = booster.predict(dmatrix, pred_contribs=True, iteration_range=window)

    chunks = [matrix[i : i + 8] for i in range(0, len(matrix), 8)]  # 12 concurrent requests
    with ThreadPoolExecutor(max_workers=12) as pool:
        answers = list(pool.map(lambda c: _post(f"{server}{route}", {"rows": _rows(c)}), chunks))
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


@pytest.mark.parametrize("route", ROUTES)
def test_bad_input_is_a_400_naming_the_rule(server: str, trained, route: str) -> None:
    _, _, matrix = trained
    cases = {
        "each row needs 45 features": {"rows": [[1.0, 2.0, 3.0]]},
        "the batch is empty": {"rows": []},
        "feature amount must not be null": {"rows": [[None, *_rows(matrix[:1])[0][1:]]]},
        "rows[1]: each row needs 45 features": {"rows": [*_rows(matrix[:1]), [1.0]]},
        "Input should be a valid number": {"rows": [["high", *_rows(matrix[:1])[0][1:]]]},
    }
    for message, body in cases.items():
        status, _, answer = _post(f"{server}{route}", body)
        assert status == 400, (message, answer)
        assert message in json.dumps(answer), answer


def test_shadow_mode_logs_the_challengers_scores_and_returns_the_champions(
    fraud_model: TrainedModel, trained, tmp_path: Path
) -> None:
    home, tag, matrix = trained
    with model_store(home):
        challenger = train_fraud(
            fraud_model.transactions,
            TableSource("fixture", "parquet"),
            out_dir=tmp_path / "report",
            settings=TrainingSettings(n_estimators=20, max_depth=2),
        ).tag
    shadow_log = tmp_path / "shadow.jsonl"
    rows = matrix[:16]
    with bentoml_serve(
        home,
        tag,
        ECAP_SERVING_FRAUD_CHALLENGER=challenger,
        ECAP_SERVING_SHADOW_LOG=str(shadow_log),
        ECAP_SERVING_MAX_LATENCY_MS="10000",
    ) as url:
        status, headers, body = _post(f"{url}/predict", {"rows": _rows(rows)})
        _, _, info = _post(f"{url}/model", {})
    assert status == 200 and headers.get("x-ecap-model") == tag
    assert info["shadow"] == {"challenger": challenger}

    def in_process(model_tag: str) -> np.ndarray:
        booster, metadata = load_model(model_tag)
        window = (0, int(metadata["best_iteration"]) + 1)
        dmatrix = xgb.DMatrix(rows, feature_names=metadata["feature_names"])
        return booster.predict(dmatrix, iteration_range=window)

    answered = np.asarray(body)[:, 0]
    np.testing.assert_allclose(answered, in_process(tag), rtol=1e-5, atol=1e-7)
    lines = [json.loads(line) for line in shadow_log.read_text().splitlines()]
    assert {(line["served"], line["challenger"]) for line in lines} == {(tag, challenger)}
    logged = np.concatenate([line["challenger_probability"] for line in lines])
    np.testing.assert_allclose(logged, in_process(challenger), atol=2e-6)
    served = np.concatenate([line["served_probability"] for line in lines])
    np.testing.assert_allclose(served, answered, atol=2e-6)
    assert not np.allclose(logged, served, atol=1e-3)  # really another model
