"""The churn_scores job on real Spark and Delta, with a churn model trained by `ecap train
churn`'s own code on a simulator world (the session's `churn_model`).

The expected answers come by another route: PredictChurn's, i.e. each customer's features from
the online executor over the lake read with delta-rs and DuckDB
(`services.scoring.churn.churn_values`), the booster's own XGBoost prediction on that vector,
and bands and drivers worked out here from the thresholds and the contributions. Which
customers are scored is counted with pandas from the rows written.
"""

from __future__ import annotations

import math
import random
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from deltalake import DeltaTable, write_deltalake
from pyspark.sql import SparkSession

from models.serving.loading import ServedModel, load_served_model
from models.training.store import promote
from services.scoring.churn import churn_values
from spark.config import SparkSettings
from spark.jobs.analytics.churn_scores import churn_feature_frame
from spark.jobs.analytics.runner import JobError
from spark.tables import TABLES
from tests.fixtures.bentoml import TrainedModel, model_store
from tests.support.lake_jobs import job_runs, read_gold, run
from tests.support.lake_rows import arrow_rows

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
AS_OF = datetime(2026, 3, 1, 12, tzinfo=UTC)
DRIVERS = 3
GONE, LATE, AT_AS_OF, YEN, MOVED, NO_PROFILE = (
    "c-gone",
    "c-late",
    "c-at-as-of",
    "c-yen",
    "c-moved",
    "c-no-profile",
)


class Shop:
    """Silver rows of a small shop as of AS_OF: customers who buy steadily, slow down, stopped
    months ago or just arrived, with their sessions; a customer paying in yen (no minor
    unit), one who moved (two profile versions, a third valid only after AS_OF), one without
    a profile; and rows that must not be scored: a customer whose only purchase is more than
    a year old, one whose only purchase is after AS_OF, one whose only purchase is at AS_OF
    itself (features count rows strictly before it), guests and anonymous visitors."""

    def __init__(self, seed: int = 3) -> None:
        self.rng = random.Random(seed)
        self.transactions: list[dict] = []
        self.events: list[dict] = []
        self.customers: list[dict] = []
        patterns = ("steady", "slowing", "stopped", "new")
        for n in range(24):
            customer = f"c-{n:02d}"
            pattern = patterns[n % len(patterns)]
            first = 30 if pattern == "new" else self.rng.uniform(150, 330)
            last = {"steady": 1, "slowing": 25, "stopped": 100, "new": 2}[pattern]
            self.profile(customer, AS_OF - (first + self.rng.uniform(1, 60)) * DAY)
            self.history(customer, first, last, every=self.rng.uniform(3, 12))
        self.profile(YEN, AS_OF - 200 * DAY)
        self.history(YEN, 120, 5, every=9, currency="JPY")
        self.profile(MOVED, AS_OF - 300 * DAY)
        self.profile(MOVED, AS_OF - 300 * DAY, valid_from=AS_OF - 50 * DAY, city="Paris")
        # A later sign-up date, known only after AS_OF: must not count yet.
        self.profile(MOVED, AS_OF - 10 * DAY, valid_from=AS_OF + 2 * DAY, city="Nice")
        self.history(MOVED, 200, 3, every=7)
        self.history(NO_PROFILE, 60, 10, every=6)
        self.profile(GONE, AS_OF - 800 * DAY)
        self.purchase(GONE, AS_OF - 400 * DAY)
        self.purchase(LATE, AS_OF + 3 * DAY)
        self.purchase(AT_AS_OF, AS_OF)
        for day in (40, 20, 5):
            self.purchase(None, AS_OF - day * DAY)
            self.session(None, AS_OF - day * DAY)

    def profile(
        self,
        customer: str,
        signed_up_at: datetime,
        *,
        valid_from: datetime | None = None,
        city: str = "Lyon",
    ) -> None:
        valid_from = valid_from or signed_up_at
        self.customers.append(
            {
                "customer_id": customer,
                "valid_from": valid_from,
                "email": f"{customer}@example.org",
                "country": "FR",
                "city": city,
                "signed_up_at": signed_up_at,
                "acquisition_channel": "DIRECT",
                "updated_at": valid_from,
            }
        )

    def history(
        self, customer: str, first_day: float, last_day: float, every: float, **purchase
    ) -> None:
        """Purchases about every `every` days from `first_day` to `last_day` before AS_OF,
        and sessions in between."""
        day = first_day
        while day >= last_day:
            at = AS_OF - (day + self.rng.uniform(-0.4, 0.4)) * DAY
            self.purchase(customer, at, **purchase)
            if self.rng.random() < 0.8:
                self.session(customer, at - self.rng.uniform(0.5, 3) * DAY)
            day -= every * self.rng.uniform(0.6, 1.4)

    def purchase(self, customer: str | None, at: datetime, currency: str = "EUR") -> None:
        at = at.replace(microsecond=self.rng.randrange(1_000_000)) if at != AS_OF else at
        amount = self.rng.randint(900, 25_000)
        self.transactions.append(
            {
                "transaction_id": f"t-{len(self.transactions):05d}",
                "customer_id": customer,
                "merchant_id": f"m-{self.rng.randint(1, 4)}",
                "amount_minor": amount * 10 if currency == "JPY" else amount,
                "currency": currency,
                "item_count": self.rng.randint(1, 6),
                "channel": "DIRECT",
                "occurred_at": at,
                "occurred_date": at.date(),
            }
        )

    def session(self, customer: str | None, at: datetime) -> None:
        session = f"s-{len(self.events):06d}"
        for _ in range(self.rng.randint(1, 6)):
            at += timedelta(seconds=self.rng.uniform(5, 120))
            self.events.append(
                {
                    "event_id": f"e-{len(self.events):06d}",
                    "event_type": "PAGE_VIEW",
                    "session_id": session,
                    "customer_id": customer,
                    "occurred_at": at,
                    "occurred_date": at.date(),
                }
            )

    def scored_customers(self) -> set[str]:
        """Customers with a purchase in the year before AS_OF, counted with pandas."""
        tx = pd.DataFrame(self.transactions)
        recent = tx[(tx["occurred_at"] >= AS_OF - 365 * DAY) & (tx["occurred_at"] < AS_OF)]
        return set(recent["customer_id"].dropna())


@pytest.fixture(scope="module")
def shop() -> Shop:
    return Shop()


@pytest.fixture(scope="module")
def lake(shop: Shop, tmp_path_factory: pytest.TempPathFactory) -> SparkSettings:
    """The shop's silver tables, one file each, written with delta-rs (quicker than Spark
    here; the job reads them with Spark, PredictChurn's route with delta-rs and DuckDB)."""
    settings = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("churn-scores-lake")))
    for name, rows in (
        ("transactions", shop.transactions),
        ("events", shop.events),
        ("customers", shop.customers),
    ):
        write_deltalake(TABLES[name].uri(settings), arrow_rows(name, rows))
    return settings


@pytest.fixture(scope="module")
def champion_store(churn_model: TrainedModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the churn model's store in which that model is the churn champion (the
    session's store stays as it was)."""
    home = tmp_path_factory.mktemp("churn-champion") / "bentoml"
    shutil.copytree(churn_model.home, home)
    with model_store(home):
        promote(home, churn_model.tag)
    return home


@pytest.fixture(scope="module")
def model(churn_model: TrainedModel) -> ServedModel:
    with model_store(churn_model.home):
        return load_served_model("churn", churn_model.tag)


@pytest.fixture(scope="module")
def online(shop: Shop, lake: SparkSettings) -> dict[str, dict[str, float | None]]:
    """Each scored customer's churn features as PredictChurn computes them."""
    return {c: churn_values(c, AS_OF, lake) for c in sorted(shop.scored_customers())}


def expected_scores(model: ServedModel, online: dict[str, dict]) -> pd.DataFrame:
    """The booster's probability and contributions on the online feature vectors."""
    customers = sorted(online)
    vectors = np.array(
        [
            [math.nan if online[c][n] is None else online[c][n] for n in model.feature_names]
            for c in customers
        ],
        dtype=np.float32,
    )
    matrix = xgb.DMatrix(vectors, feature_names=model.feature_names)
    window = (0, model.best_iteration + 1)
    probability = model.booster.predict(matrix, iteration_range=window)
    contributions = model.booster.predict(matrix, pred_contribs=True, iteration_range=window)
    frame = pd.DataFrame({"customer_id": customers, "probability": probability.astype(float)})
    frame["contributions"] = list(contributions[:, :-1])
    return frame.set_index("customer_id")


@pytest.fixture(scope="module")
def thresholds(model: ServedModel, online: dict[str, dict]) -> tuple[float, float]:
    """Band thresholds at the tertiles of the expected probabilities, so that each band
    holds customers."""
    probabilities = np.sort(expected_scores(model, online)["probability"].to_numpy())
    third = len(probabilities) // 3
    medium = (probabilities[third - 1] + probabilities[third]) / 2
    high = (probabilities[2 * third - 1] + probabilities[2 * third]) / 2
    return float(medium), float(high)


@pytest.fixture(scope="module")
def scored(
    spark: SparkSession, lake: SparkSettings, champion_store: Path, thresholds
) -> pd.DataFrame:
    """One run of the job with the champion store, bands at `thresholds` and DRIVERS drivers
    (from the scoring service's settings); gold `churn_scores` after it."""
    medium, high = thresholds
    with pytest.MonkeyPatch.context() as env, model_store(champion_store):
        env.delenv("ECAP_SERVING_CHURN_MODEL", raising=False)
        env.setenv("ECAP_SCORING_CHURN_MEDIUM_FROM", repr(medium))
        env.setenv("ECAP_SCORING_CHURN_HIGH_FROM", repr(high))
        env.setenv("ECAP_SCORING_CHURN_DRIVERS", str(DRIVERS))
        record, messages = run(spark, lake, "churn_scores", as_of=AS_OF)
    assert record.status == "succeeded", record.error
    assert any("scoring the customers" in m for m in messages)
    return read_gold(lake, "churn_scores").set_index("customer_id")


def test_the_job_computes_the_features_predict_churn_computes(
    spark: SparkSession, lake: SparkSettings, online: dict[str, dict]
) -> None:
    frames = {
        name: TABLES[name].read(spark, lake) for name in ("transactions", "events", "customers")
    }
    batch = {
        row["customer_id"]: row.asDict()
        for row in churn_feature_frame(
            frames["transactions"], frames["events"], frames["customers"], AS_OF
        ).collect()
    }
    assert set(batch) == set(online)
    for customer, values in online.items():
        computed = {name: batch[customer][name] for name in values}
        present = {name for name, value in values.items() if value is not None}
        assert {n for n, v in computed.items() if v is not None} == present, customer
        assert {n: computed[n] for n in present} == pytest.approx(
            {n: values[n] for n in present}, rel=1e-9, abs=1e-9
        ), customer
    # The yen amounts count in yen, the later sign-up date of the moved customer not yet.
    assert online[YEN]["order_value_mean_365d"] > 9_000
    assert online[MOVED]["days_since_signup"] == pytest.approx(300)
    assert online[NO_PROFILE]["days_since_signup"] is None


def test_every_recent_customer_gets_the_models_probability_for_their_features(
    scored: pd.DataFrame, shop: Shop, model: ServedModel, online: dict[str, dict]
) -> None:
    expected = expected_scores(model, online)
    assert set(scored.index) == shop.scored_customers() == set(expected.index)
    assert not {GONE, LATE, AT_AS_OF} & set(scored.index)
    for customer, row in scored.iterrows():
        assert row["probability"] == pytest.approx(
            expected.loc[customer, "probability"], abs=1e-6
        ), customer
    assert (scored["model_tag"] == model.tag).all()
    assert (scored["as_of"] == pd.Timestamp(AS_OF)).all()
    # Customers who stopped buying months ago are at higher risk than steady buyers.
    steady = [f"c-{n:02d}" for n in range(0, 24, 4)]
    stopped = [f"c-{n:02d}" for n in range(2, 24, 4)]
    assert scored.loc[stopped, "probability"].mean() > scored.loc[steady, "probability"].mean()


def test_bands_follow_the_scoring_thresholds(scored: pd.DataFrame, thresholds) -> None:
    medium, high = thresholds
    for customer, row in scored.iterrows():
        p = row["probability"]
        band = "HIGH" if p >= high else "MEDIUM" if p >= medium else "LOW"
        assert row["band"] == band, (customer, p)
    assert set(scored["band"]) == {"LOW", "MEDIUM", "HIGH"}


def test_drivers_are_the_features_raising_the_risk_most(
    scored: pd.DataFrame, model: ServedModel, online: dict[str, dict]
) -> None:
    expected = expected_scores(model, online)
    for customer, row in scored.iterrows():
        pushes = dict(
            zip(model.feature_names, expected.loc[customer, "contributions"], strict=True)
        )
        drivers = list(row["drivers"])
        assert 0 < len(drivers) <= DRIVERS, customer
        assert set(drivers) <= set(model.feature_names)
        shown = [pushes[name] for name in drivers]
        assert all(push > 0 for push in shown), customer
        assert shown == sorted(shown, reverse=True), customer
        left_out = [push for name, push in pushes.items() if name not in drivers]
        # Fewer than DRIVERS shown only when no other feature raises the risk.
        floor = min(shown) if len(drivers) == DRIVERS else 0.0
        assert all(push <= floor + 1e-6 for push in left_out), customer


def test_the_run_records_the_model_and_the_settings_it_scored_with(
    scored: pd.DataFrame, lake: SparkSettings, model: ServedModel, thresholds
) -> None:
    runs = job_runs(lake)
    last = runs[(runs["job"] == "churn_scores") & (runs["status"] == "succeeded")].iloc[-1]
    assert last["parameters"]["model_tag"] == model.tag
    assert last["parameters"]["features"] == model.feature_names
    assert (
        last["parameters"]["churn_medium_from"],
        last["parameters"]["churn_high_from"],
        last["parameters"]["churn_drivers"],
    ) == (*thresholds, DRIVERS)
    assert last["parameters"]["as_of"] == AS_OF.isoformat()
    assert last["rows_written"] == {"churn_scores": len(scored)}


def test_without_a_churn_model_the_run_fails_saying_how_to_train_one(
    spark: SparkSession,
    lake: SparkSettings,
    scored: pd.DataFrame,
    tmp_path: Path,
) -> None:
    before = DeltaTable(TABLES["churn_scores"].uri(lake)).version()
    with pytest.MonkeyPatch.context() as env, model_store(tmp_path / "empty-store"):
        env.delenv("ECAP_SERVING_CHURN_MODEL", raising=False)
        with pytest.raises(
            JobError, match=r"no churn champion .*`ecap train churn PATH --promote`"
        ):
            run(spark, lake, "churn_scores", as_of=AS_OF)
    last = job_runs(lake).iloc[-1]
    assert last["job"] == "churn_scores" and last["status"] == "failed"
    assert "ecap models bootstrap churn" in last["error"]
    with pytest.MonkeyPatch.context() as env, model_store(tmp_path / "empty-store"):
        env.setenv("ECAP_SERVING_CHURN_MODEL", "ecap-churn:nosuchversion")
        with pytest.raises(JobError, match=r"cannot load churn model ecap-churn:nosuchversion"):
            run(spark, lake, "churn_scores", as_of=AS_OF)
    assert DeltaTable(TABLES["churn_scores"].uri(lake)).version() == before
