"""TestRule over a real Delta lake (written with delta-rs): its numbers against a direct
DuckDB count over the same tables' Parquet files, and against features counted by hand."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import duckdb
import pandas as pd
import pytest
from deltalake import DeltaTable

from services.mesh.errors import FailedPrecondition, InvalidArgument
from services.scoring import rule_test
from services.scoring.rules import RuleSpec
from spark.config import SparkSettings
from spark.tables import TABLES
from tests.support.lake_rows import write_rows

pytestmark = pytest.mark.integration

END = datetime(2026, 3, 20, 17, 45, tzinfo=UTC)
SPAN_DAYS = 12
DAYS = 5
CUSTOMERS = [f"c-{n}" for n in range(12)]
MERCHANTS = [f"m-{n}" for n in range(4)]


def write_silver(settings: SparkSettings, transactions: list[dict], labels: list[dict]) -> None:
    write_rows(settings, "transactions", transactions)
    write_rows(settings, "labels", labels)


def simulated_silver(seed: int = 7) -> tuple[list[dict], list[dict]]:
    """Transactions over SPAN_DAYS days ending at END, with bursts (several purchases of one
    customer within minutes), and labels from both sources, some missing or inconclusive."""
    rng = random.Random(seed)
    start = END - timedelta(days=SPAN_DAYS)
    times: list[tuple[datetime, str]] = []
    for customer in CUSTOMERS:
        for _ in range(rng.randint(15, 30)):
            at = start + timedelta(seconds=rng.uniform(0, SPAN_DAYS * 86_400))
            times.append((at, customer))
            if rng.random() < 0.2:  # a burst
                for _ in range(rng.randint(1, 4)):
                    at += timedelta(seconds=rng.uniform(30, 1500))
                    times.append((at, customer))
    times = sorted((at, customer) for at, customer in times if at < END)
    times[-1] = (END, times[-1][1])  # the newest transaction is exactly at END
    transactions, labels = [], []
    for n, (at, customer) in enumerate(times):
        tx_id = f"t-{n:05d}"
        at = at.replace(microsecond=rng.randrange(1_000_000)) if at != END else at
        transactions.append(
            {
                "transaction_id": tx_id,
                "customer_id": customer,
                "merchant_id": rng.choice(MERCHANTS),
                "amount_minor": int(rng.lognormvariate(8.5, 1.0)),
                "currency": "EUR",
                "item_count": rng.randint(1, 4),
                "payment_method": rng.choice(["CARD", "CARD", "WALLET", "BANK_TRANSFER"]),
                "card_fingerprint": f"card-{customer}",
                "device_id": f"dev-{customer}-{rng.randint(0, 2)}",
                "ip_address": f"192.0.2.{rng.randint(1, 250)}",
                "country": rng.choice(["FR", "FR", "DE"]),
                "latitude": 48.8 + rng.uniform(-0.1, 0.1),
                "longitude": 2.3 + rng.uniform(-0.1, 0.1),
                "channel": "DIRECT",
                "occurred_at": at,
                "occurred_date": at.date(),
            }
        )
        draw = rng.random()
        if draw < 0.6:
            labels.append(
                {
                    "transaction_id": tx_id,
                    "source": "ground_truth",
                    "is_fraud": rng.random() < 0.25,
                    "labelled_at": at,
                }
            )
        if draw < 0.15:  # an investigator's verdict wins over the ground truth
            labels.append(
                {
                    "transaction_id": tx_id,
                    "source": "investigator",
                    "is_fraud": None if rng.random() < 0.2 else rng.random() < 0.5,
                    "labelled_at": at + timedelta(days=1),
                }
            )
    return transactions, labels


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> SparkSettings:
    settings = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("lake")))
    write_silver(settings, *simulated_silver())
    return settings


def draft(expression: str) -> RuleSpec:
    return RuleSpec("", "", "", expression, "REVIEW", "DRAFT")


def direct_counts(settings: SparkSettings, condition: str, start: datetime) -> dict[str, int]:
    """Counts straight from the tables' Parquet files, labels resolved with a window."""
    db = duckdb.connect()
    for name in ("transactions", "labels"):
        files = DeltaTable(TABLES[name].uri(settings)).file_uris()
        db.execute(f"create view {name} as select * from read_parquet({files!r})")
    return dict(
        zip(
            ["evaluated", "hits", "labelled_hits", "fraud_hits", "fraud_total"],
            db.execute(
                f"""
                with ranked as (
                    select transaction_id, is_fraud,
                           row_number() over (
                               partition by transaction_id
                               order by source = 'investigator' desc) as rank
                    from labels where is_fraud is not null
                ), period as (
                    select t.*, r.is_fraud, ({condition}) as hit
                    from transactions t
                    left join ranked r on r.transaction_id = t.transaction_id and r.rank = 1
                    where t.occurred_at >= ?
                )
                select count(*),
                       count(*) filter (where hit),
                       count(*) filter (where hit and is_fraud is not null),
                       count(*) filter (where hit and is_fraud),
                       count(*) filter (where is_fraud)
                from period
                """,
                [start],
            ).fetchone(),
            strict=True,
        )
    )


def test_a_transaction_rule_matches_a_direct_count_over_silver(lake):
    report = rule_test.test_rule(
        draft('tx.amount > 100.0 && tx.payment_method == "CARD"'),
        DAYS,
        label_delay=timedelta(days=3),
        settings=lake,
    )

    assert (report.period_end, report.period_start) == (END, END - timedelta(days=DAYS))
    expected = direct_counts(
        lake, "amount_minor > 10000 and payment_method = 'CARD'", report.period_start
    )
    assert {k: getattr(report, k) for k in expected} == expected
    assert expected["hits"] > 10 and expected["labelled_hits"] > 5 and expected["fraud_hits"] > 0
    assert report.errors == 0
    assert report.hit_rate == pytest.approx(expected["hits"] / expected["evaluated"])
    assert report.precision == pytest.approx(expected["fraud_hits"] / expected["labelled_hits"])
    assert report.recall == pytest.approx(expected["fraud_hits"] / expected["fraud_total"])
    assert report.elapsed_s > 0


def hand_counted(transactions: list[dict], labels: list[dict]) -> pd.DataFrame:
    """Per transaction: the customer's transactions in the hour before it, and the merchant's
    labelled transactions in the 30 days before it (any label, no delay)."""
    frame = pd.DataFrame(transactions).sort_values("occurred_at").reset_index(drop=True)
    labelled = {row["transaction_id"] for row in labels if row["is_fraud"] is not None}
    frame["labelled"] = frame["transaction_id"].isin(labelled)
    frame["customer_1h"] = 0
    frame["merchant_labelled_30d"] = 0
    for i, row in frame.iterrows():
        before = frame[frame["occurred_at"] < row["occurred_at"]]
        same_customer = before[before["customer_id"] == row["customer_id"]]
        frame.loc[i, "customer_1h"] = int(
            (same_customer["occurred_at"] >= row["occurred_at"] - timedelta(hours=1)).sum()
        )
        same_merchant = before[(before["merchant_id"] == row["merchant_id"]) & before["labelled"]]
        frame.loc[i, "merchant_labelled_30d"] = int(
            (same_merchant["occurred_at"] >= row["occurred_at"] - timedelta(days=30)).sum()
        )
    return frame


@pytest.fixture(scope="module")
def in_period() -> pd.DataFrame:
    """The transactions of the tested period with their features counted by hand."""
    counted = hand_counted(*simulated_silver())
    return counted[counted["occurred_at"] >= END - timedelta(days=DAYS)]


def test_a_feature_rule_matches_features_counted_by_hand(lake, in_period):

    report = rule_test.test_rule(
        draft("f.customer_count_1h >= 2.0"), DAYS, label_delay=timedelta(days=3), settings=lake
    )

    assert report.evaluated == len(in_period)
    assert report.hits == int((in_period["customer_1h"] >= 2).sum()) > 0
    assert report.errors == 0


def test_a_label_reaches_the_features_only_of_later_transactions_after_the_delay(lake, in_period):
    threshold = int(in_period["merchant_labelled_30d"].median())
    # Labelled transactions just under the threshold: their own label would lift them over.
    assert (in_period["labelled"] & (in_period["merchant_labelled_30d"] == threshold - 1)).any()
    rule = draft(f"f.merchant_labelled_count_30d >= {threshold}.0")

    # Without a delay every earlier label counts, but never the transaction's own.
    no_delay = rule_test.test_rule(rule, DAYS, label_delay=timedelta(0), settings=lake)
    assert no_delay.hits == int((in_period["merchant_labelled_30d"] >= threshold).sum())

    # With a delay longer than the lake's history, no label is known at scoring time.
    longer = rule_test.test_rule(
        draft("f.merchant_labelled_count_30d >= 1.0"),
        DAYS,
        label_delay=timedelta(days=60),
        settings=lake,
    )
    assert (longer.hits, longer.evaluated) == (0, len(in_period))


def test_zero_days_means_seven(lake):
    report = rule_test.test_rule(draft("true"), 0, label_delay=timedelta(days=3), settings=lake)

    assert report.period_start == END - timedelta(days=7)
    expected = direct_counts(lake, "true", report.period_start)
    assert report.hits == report.evaluated == expected["evaluated"]


def test_a_draft_that_does_not_compile_is_refused_before_reading_the_lake(tmp_path):
    with pytest.raises(InvalidArgument) as caught:
        rule_test.test_rule(
            draft("tx.amount >"),
            DAYS,
            label_delay=timedelta(days=3),
            settings=SparkSettings(lake_uri=str(tmp_path)),
        )
    assert caught.value.violations[0].field == "rule.expression"
    with pytest.raises(InvalidArgument) as days:
        rule_test.test_rule(draft("true"), 91, label_delay=timedelta(days=3))
    assert days.value.violations[0].field == "days"


def test_an_empty_lake_is_a_failed_precondition_naming_the_stream_job(tmp_path):
    with pytest.raises(FailedPrecondition, match="ecap lake stream"):
        rule_test.test_rule(
            draft("true"),
            DAYS,
            label_delay=timedelta(days=3),
            settings=SparkSettings(lake_uri=str(tmp_path)),
        )
