"""PredictChurn on real components: a silver lake written with delta-rs, a `bentoml serve` of
a churn model trained on a simulator world, and the scoring service in-process.

The answers are checked against a different route: each customer's churn features counted
by hand with pandas from the rows written to the lake, and the churn model's own in-process
prediction on that hand-made vector."""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import numpy as np
import pandas as pd
import pytest
from deltalake import write_deltalake

from ecap.v1 import common_pb2, scoring_pb2, scoring_pb2_grpc
from models.features.churn import LOOKBACK, TREND_SCALE
from models.features.declarations import MIN_DENOMINATOR
from models.serving.loading import ServedModel, load_served_model
from services.mesh import client as mesh_client
from services.mesh.errors import details_of
from services.scoring.config import ScoringSettings
from spark.config import SparkSettings
from spark.tables import TABLES
from tests.fixtures.bentoml import TrainedModel, model_store
from tests.fixtures.mesh import run_async
from tests.support.lake_rows import arrow_rows
from tests.support.net import free_port
from tests.support.scoring import ModelServer, Scoring, scoring_service, scoring_topics

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
ACTIVE, LAPSED, NEWCOMER, GONE = "c-active", "c-lapsed", "c-newcomer", "c-gone"
BANDS = {v: k.removeprefix("CHURN_RISK_BAND_") for k, v in scoring_pb2.ChurnRiskBand.items()}


# -- the lake -------------------------------------------------------------------------------


class Histories:
    """The silver rows written for a handful of customers, relative to `anchor` (about the
    test's start): an active buyer, one who stopped buying and visiting four months ago, a
    newcomer of three weeks, and one whose only purchase is more than a year old."""

    def __init__(self, anchor: datetime, seed: int = 5) -> None:
        rng = random.Random(seed)
        self.anchor = anchor
        self.transactions: list[dict] = []
        self.events: list[dict] = []
        self.customers: list[dict] = []

        def purchases(customer: str, first_day: float, last_day: float, every: float) -> None:
            day = first_day
            while day >= last_day:
                self._purchase(rng, customer, anchor - (day + rng.uniform(-0.4, 0.4)) * DAY)
                day -= every

        def sessions(customer: str | None, first_day: float, last_day: float, every: float):
            day = first_day
            while day >= last_day:
                self._session(rng, customer, anchor - (day + rng.uniform(-0.4, 0.4)) * DAY)
                day -= every

        self._profile(ACTIVE, anchor - 400 * DAY, moved_at=anchor - 100 * DAY)
        purchases(ACTIVE, 200, 1.5, 4)
        sessions(ACTIVE, 150, 1, 2)
        self._profile(LAPSED, anchor - 300 * DAY)
        purchases(LAPSED, 280, 120, 10)
        sessions(LAPSED, 285, 115, 5)
        self._profile(NEWCOMER, anchor - 20 * DAY)
        self._purchase(rng, NEWCOMER, anchor - 15.2 * DAY)
        self._purchase(rng, NEWCOMER, anchor - 3.7 * DAY)
        sessions(NEWCOMER, 19, 2, 3)
        self._profile(GONE, anchor - 800 * DAY)
        self._purchase(rng, GONE, (anchor - 400 * DAY).replace(hour=21, minute=15))
        sessions(None, 60, 1, 7)  # anonymous visitors: no customer's engagement

    def _profile(self, customer: str, signed_up_at: datetime, moved_at: datetime | None = None):
        versions = [(signed_up_at, "Lyon")] + ([(moved_at, "Paris")] if moved_at else [])
        for n, (valid_from, city) in enumerate(versions):
            valid_to = versions[n + 1][0] if n + 1 < len(versions) else None
            self.customers.append(
                {
                    "customer_id": customer,
                    "valid_from": valid_from,
                    "valid_to": valid_to,
                    "email": f"{customer}@example.org",
                    "country": "FR",
                    "city": city,
                    "signed_up_at": signed_up_at,
                    "acquisition_channel": "DIRECT",
                    "updated_at": valid_from,
                }
            )

    def _purchase(self, rng: random.Random, customer: str, at: datetime) -> None:
        at = at.replace(microsecond=rng.randrange(1_000_000))
        self.transactions.append(
            {
                "transaction_id": f"t-{len(self.transactions):05d}",
                "customer_id": customer,
                "merchant_id": f"m-{rng.randint(1, 4)}",
                "session_id": f"s-{customer}-{len(self.transactions)}",
                "amount_minor": rng.randint(900, 15_000),
                "currency": "EUR",
                "item_count": rng.randint(1, 5),
                "payment_method": "CARD",
                "card_fingerprint": f"card-{customer}",
                "device_id": f"dev-{customer}",
                "device_type": "MOBILE",
                "ip_address": "192.0.2.10",
                "country": "FR",
                "city": "Lyon",
                "latitude": 45.76,
                "longitude": 4.84,
                "channel": "DIRECT",
                "occurred_at": at,
                "occurred_date": at.date(),
            }
        )

    def _session(self, rng: random.Random, customer: str | None, at: datetime) -> None:
        session = f"s-{uuid.UUID(int=rng.getrandbits(128)).hex[:12]}"
        for _ in range(rng.randint(1, 6)):
            at += timedelta(seconds=rng.uniform(5, 120))
            self.events.append(
                {
                    "event_id": f"e-{len(self.events):06d}",
                    "event_type": "PAGE_VIEW",
                    "session_id": session,
                    "customer_id": customer,
                    "occurred_at": at,
                    "device_id": f"dev-{customer}",
                    "page_url": "https://shop.ecap.example/",
                    "occurred_date": at.date(),
                }
            )

    def write(self, settings: SparkSettings) -> None:
        """The rows as silver Delta tables, partitioned as the catalogue declares."""
        for name, rows in (
            ("transactions", self.transactions),
            ("events", self.events),
            ("customers", self.customers),
        ):
            spec = TABLES[name]
            write_deltalake(
                spec.uri(settings),
                arrow_rows(name, rows),
                partition_by=list(spec.partition_by) or None,
            )

    # -- the churn features, counted by hand --------------------------------------------

    def features(self, customer: str, as_of: datetime) -> dict[str, float]:
        """The customer's churn features as of `as_of`, from the rows written, with pandas;
        features without a value (no history) are left out, as the response leaves them."""
        as_of = pd.Timestamp(as_of)
        tx = pd.DataFrame(self.transactions)
        tx = tx[(tx["customer_id"] == customer) & (tx["occurred_at"] < as_of)]
        ev = pd.DataFrame(self.events)
        ev = ev[(ev["customer_id"] == customer) & (ev["occurred_at"] < as_of)]

        def days_back(frame: pd.DataFrame, start: int, end: int = 0) -> pd.DataFrame:
            at = frame["occurred_at"]
            return frame[(at >= as_of - start * DAY) & (at < as_of - end * DAY)]

        def ratio(a: float, b: float, scale: float = 1.0) -> float | None:
            return None if abs(b) < MIN_DENOMINATOR else scale * a / b

        last_30, prev_90, last_90, year = (
            days_back(tx, 30),
            days_back(tx, 120, 30),
            days_back(tx, 90),
            days_back(tx, 365),
        )
        amount = {name: f["amount_minor"] / 100 for name, f in (("30", last_30), ("prev", prev_90))}
        events_30, events_prev = days_back(ev, 30), days_back(ev, 120, 30)
        profile = [c for c in self.customers if c["customer_id"] == customer]
        known = [c for c in profile if c["valid_from"] < as_of]
        values = {
            "recency_days": (as_of - year["occurred_at"].max()) / DAY if len(year) else None,
            "frequency_30d": len(last_30),
            "frequency_prev_90d": len(prev_90),
            "frequency_365d": len(year),
            "monetary_30d": amount["30"].sum(),
            "monetary_prev_90d": amount["prev"].sum(),
            "monetary_365d": (year["amount_minor"] / 100).sum(),
            "frequency_trend": ratio(len(last_30), len(prev_90), TREND_SCALE),
            "monetary_trend": ratio(amount["30"].sum(), amount["prev"].sum(), TREND_SCALE),
            "basket_size_mean_90d": last_90["item_count"].mean() if len(last_90) else None,
            "order_value_mean_365d": (year["amount_minor"] / 100).mean() if len(year) else None,
            "events_30d": len(events_30),
            "sessions_30d": events_30["session_id"].nunique(),
            "sessions_prev_90d": events_prev["session_id"].nunique(),
            "session_trend": ratio(
                events_30["session_id"].nunique(),
                events_prev["session_id"].nunique(),
                TREND_SCALE,
            ),
            "events_per_session_30d": ratio(len(events_30), events_30["session_id"].nunique()),
            "days_since_signup": (as_of - known[-1]["signed_up_at"]) / DAY if known else None,
        }
        return {name: float(value) for name, value in values.items() if value is not None}


# -- the running parts ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def churn_server(churn_model: TrainedModel) -> Iterator[ModelServer]:
    with ModelServer(churn_model, "Churn") as server:
        yield server


@pytest.fixture(autouse=True)
def churn_model_served(churn_server: ModelServer) -> None:
    """Each test starts with the model served (the outage test stops it; starting BentoML
    again costs about 15 s, so that test comes last and nothing after it pays)."""
    churn_server.start()


@pytest.fixture(scope="module")
def in_process(churn_model: TrainedModel) -> ServedModel:
    """The same churn model, loaded in this process from the fixture's store."""
    with model_store(churn_model.home):
        return load_served_model("churn", churn_model.tag)


@pytest.fixture(scope="module")
def histories(tmp_path_factory) -> tuple[Histories, Path]:
    root = tmp_path_factory.mktemp("churn-lake")
    histories = Histories(datetime.now(UTC).replace(microsecond=0))
    histories.write(SparkSettings(lake_uri=str(root)))
    return histories, root


@pytest.fixture(scope="module")
def topics(kafka_bootstrap: str) -> dict[str, str]:
    return scoring_topics(kafka_bootstrap)


@pytest.fixture(scope="module")
def scoring(
    topics, histories, kafka_bootstrap, auth_settings, mint, churn_server
) -> Iterator[Scoring]:
    _, root = histories
    with scoring_service(
        root,
        kafka_bootstrap,
        topics,
        auth_settings,
        mint,
        churn_model_url=churn_server.url,
        # No fraud model: PredictChurn must not need one.
        fraud_model_url=f"http://127.0.0.1:{free_port()}",
        model_retry_s=1.0,  # the default (the helper's 0.2 s is for quick recoveries)
    ) as running:
        yield running


def predict(
    scoring: Scoring, customer: str, as_of: datetime | None = None, *, role: str = "analyst"
) -> scoring_pb2.PredictChurnResponse:
    """PredictChurn through the mesh client, as a dashboard calls it (with a deadline long
    enough for its retries of UNAVAILABLE on a busy machine: the status is what is tested)."""
    request = scoring_pb2.PredictChurnRequest(customer_id=customer)
    if as_of is not None:
        request.as_of_time.FromDatetime(as_of)
    token = scoring.mint(role, sub="analyst-1")

    async def go():
        async with mesh_client.connect(scoring.address, token=token, deadline_s=60) as channel:
            return await scoring_pb2_grpc.ScoringServiceStub(channel).PredictChurn(request)

    return run_async(go(), timeout_s=90)


def expected_band(probability: float, settings: ScoringSettings) -> str:
    if probability >= settings.churn_high_from:
        return "HIGH"
    return "MEDIUM" if probability >= settings.churn_medium_from else "LOW"


def check_against_hand_count(
    response: scoring_pb2.PredictChurnResponse,
    histories: Histories,
    model: ServedModel,
    settings: ScoringSettings,
) -> dict[str, float]:
    """The response's features equal the hand count as of its `as_of_time`, its probability
    and drivers equal the in-process model's on that vector; returns the hand count."""
    as_of = response.as_of_time.ToDatetime(tzinfo=UTC)
    counted = histories.features(response.customer_id, as_of)
    assert dict(response.features) == pytest.approx(counted, rel=1e-9, abs=1e-9)

    vector = np.array([[counted.get(n, math.nan) for n in model.feature_names]], np.float32)
    (answer,) = model.predict(vector)
    probability, contributions = float(answer[0]), answer[1:-1]
    assert response.probability == pytest.approx(probability, abs=1e-6)
    assert BANDS[response.risk_band] == expected_band(response.probability, settings)

    drivers = response.drivers
    assert 0 < len(drivers) <= settings.churn_drivers
    pushes = [abs(d.contribution) for d in drivers]
    assert pushes == sorted(pushes, reverse=True)
    by_code = {
        f"CHURN_{n.upper()}": float(c)
        for n, c in zip(model.feature_names, contributions, strict=True)
    }
    for driver in drivers:
        assert driver.contribution == pytest.approx(by_code[driver.code], abs=1e-5)
        assert driver.source == common_pb2.REASON_SOURCE_MODEL
        assert ("raises" if driver.contribution > 0 else "lowers") in driver.description
    # No feature left out pushes harder than the weakest driver shown.
    shown = {d.code for d in drivers}
    assert all(abs(c) <= min(pushes) + 1e-5 for code, c in by_code.items() if code not in shown)
    assert response.model_tag == model.tag
    return counted


# -- tests ----------------------------------------------------------------------------------


def test_predictions_equal_the_model_on_features_counted_by_hand(scoring, histories, in_process):
    history, _ = histories
    answers = {}
    for customer in (ACTIVE, LAPSED, NEWCOMER):
        before = datetime.now(UTC)
        response = predict(scoring, customer)
        assert response.customer_id == customer
        # Without as_of_time, the features are as of the call.
        as_of = response.as_of_time.ToDatetime(tzinfo=UTC)
        assert before <= as_of <= datetime.now(UTC)
        answers[customer] = response
        counted = check_against_hand_count(response, history, in_process, scoring.settings)
        print(customer, round(response.probability, 4), BANDS[response.risk_band], counted)

    assert answers[ACTIVE].features["frequency_30d"] >= 5
    assert answers[LAPSED].features["frequency_30d"] == 0
    assert answers[LAPSED].features["recency_days"] > 119
    # A newcomer has no earlier quarter to compare with: the trends are unknown, not zero.
    assert "frequency_trend" not in answers[NEWCOMER].features
    assert answers[NEWCOMER].features["days_since_signup"] == pytest.approx(20, abs=0.01)


def test_a_lapsed_customer_is_at_higher_risk_than_an_active_one(scoring):
    active, lapsed = predict(scoring, ACTIVE), predict(scoring, LAPSED)
    print("active", active.probability, "lapsed", lapsed.probability)
    assert lapsed.probability > active.probability
    assert lapsed.risk_band > active.risk_band
    # What weighs most against the lapsed customer is the silence: no recent purchase or visit.
    top = {d.code for d in lapsed.drivers if d.contribution > 0}
    assert top & {
        "CHURN_RECENCY_DAYS",
        "CHURN_FREQUENCY_30D",
        "CHURN_MONETARY_30D",
        "CHURN_SESSIONS_30D",
        "CHURN_EVENTS_30D",
    }


def test_as_of_time_in_the_past_gives_the_features_as_of_then(scoring, histories, in_process):
    history, _ = histories
    # Five months ago the lapsed customer was still buying.
    then = history.anchor - 150 * DAY
    response = predict(scoring, LAPSED, then)
    assert response.as_of_time.ToDatetime(tzinfo=UTC) == then
    counted = check_against_hand_count(response, history, in_process, scoring.settings)
    assert counted["frequency_30d"] >= 2 and counted["recency_days"] < 15
    assert response.features["days_since_signup"] == pytest.approx(150, abs=1e-6)
    now = predict(scoring, LAPSED)
    assert now.features["frequency_30d"] == 0
    assert now.probability != response.probability

    # A customer whose only purchase is more than a year old is known only as of back then.
    gone_then = predict(scoring, GONE, history.anchor - 390 * DAY)
    assert gone_then.features["frequency_30d"] == 1
    check_against_hand_count(gone_then, history, in_process, scoring.settings)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        predict(scoring, GONE)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_the_year_before_as_of_time_does_not_depend_on_the_machines_time_zone(
    scoring, histories, in_process, monkeypatch
):
    history, _ = histories
    (purchase,) = [t["occurred_at"] for t in history.transactions if t["customer_id"] == GONE]
    # The year starts ten minutes before the purchase (21:15 UTC): on the purchase's UTC date,
    # which in India is already the next day.
    as_of = purchase - timedelta(minutes=10) + LOOKBACK
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        response = predict(scoring, GONE, as_of)
    finally:
        monkeypatch.undo()
        time.tzset()
    counted = check_against_hand_count(response, history, in_process, scoring.settings)
    assert counted["frequency_365d"] == 1


def test_an_unknown_customer_is_not_found_by_name(scoring):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        predict(scoring, "c-nobody")
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert "c-nobody" in caught.value.details()
    assert details_of(caught.value)["reason"] == "CUSTOMER_NOT_FOUND"


def test_analysts_may_ask_and_viewers_may_not(scoring):
    assert predict(scoring, ACTIVE, role="analyst").probability > 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        predict(scoring, ACTIVE, role="viewer")
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_stopped_churn_model_is_unavailable(scoring, churn_server):
    assert predict(scoring, ACTIVE).model_tag == churn_server.model.tag
    churn_server.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        predict(scoring, ACTIVE)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert details_of(caught.value)["reason"] == "CHURN_MODEL_UNAVAILABLE"
    assert churn_server.url in caught.value.details()
