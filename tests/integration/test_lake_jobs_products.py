"""The `products` and `recommendations` jobs on real Spark and Delta: small hand-built silver
line items, the gold figures checked against pandas and hand-worked values.

Each job has its own lake (module scope), since both read silver transaction_items.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import combinations

import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession

from spark.config import SparkSettings
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.runner import RunRecord
from spark.tables import TABLES
from tests.support.lake_jobs import job_runs, read_gold, run, write_rows_with_spark

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)
AS_OF = datetime(2026, 11, 30, 12, tzinfo=UTC)


def _line(tid: str, n: int, product: str, at: datetime, quantity: int, price: int, **extra) -> dict:
    return {
        "transaction_id": tid,
        "line_no": n,
        "customer_id": extra.pop("customer", None),
        "product_id": product,
        "quantity": quantity,
        "unit_price_minor": price,
        "line_total_minor": quantity * price,
        "currency": "EUR",
        "occurred_at": at,
        "occurred_date": at.date(),
        **extra,
    }


# --- products --------------------------------------------------------------------------------
# Window 7 days before AS_OF (30 Nov 12:00): (23 Nov 12:00, 30 Nov 12:00]; the window before:
# (16 Nov 12:00, 23 Nov 12:00]. Top = revenue rank <= 3; rising from +0.5, declining to -0.5.
#   (transaction, product, days before AS_OF, quantity, unit price, unit cost)
PRODUCT_LINES = [
    ("t1", "kettle", 0, 4, 50, 30),  # the newest line: the as-of time
    ("t1", "mug", 0, 2, 10, 4),
    ("t2", "kettle", 1, 3, 50, 30),
    ("t3", "kettle", 6.5, 3, 50, None),  # no known cost
    ("t4", "kettle", 8, 10, 50, 30),
    ("t5", "lamp", 2, 4, 40, 25),
    ("t6", "lamp", 7, 8, 40, 25),  # exactly on the boundary: the window before
    ("t7", "mug", 3, 4, 10, 4),
    ("t8", "mug", 10, 4, 10, 4),
    ("t9", "pan", 4, 5, 20, 12),
    ("t10", "pan", 12, 5, 20, 12),
    ("t11", "rug", 9, 3, 70, 40),
    ("t12", "sofa", 5, 1, 900, 600),
    ("t13", "vase", 15, 6, 15, 5),  # before both windows: not listed
    ("t14", "ghost", 3, 2, 5, 1),  # not in the catalogue
]
# By hand: revenue in the window and its rank, units against the window before, the trend:
#   sofa   900  rank 1   1 vs 0   new, but top first          -> top
#   kettle 500  rank 2  10 vs 10  change 0                     -> top
#   lamp   160  rank 3   4 vs 8   change -0.5, wins over top   -> declining
#   pan    100  rank 4   5 vs 5   change 0                     -> steady
#   mug     60  rank 5   6 vs 4   change +0.5                  -> rising
#   ghost   10  rank 6   2 vs 0   new                          -> rising
#   rug      0  no rank  0 vs 3                                -> stopped
#   (units, previous units, revenue rank, trend)
PRODUCTS_EXPECTED = {
    "sofa": (1, 0, 1, "top"),
    "kettle": (10, 10, 2, "top"),
    "lamp": (4, 8, 3, "declining"),
    "pan": (5, 5, 4, "steady"),
    "mug": (6, 4, 5, "rising"),
    "ghost": (2, 0, 6, "rising"),
    "rug": (0, 3, None, "stopped"),
}
CATALOGUE = [
    # product, valid_from (days before AS_OF), name, category
    ("kettle", 60, "Kettle", "kitchen"),
    ("kettle", 5, "Kettle Pro", "kitchen"),  # the latest version's name wins
    ("lamp", 60, "Lamp", "home"),
    ("mug", 60, "Mug", "kitchen"),
    ("pan", 60, "Pan", "kitchen"),
    ("rug", 60, "Rug", "home"),
    ("sofa", 60, "Sofa", "home"),
    ("vase", 60, "Vase", "home"),
]
PRODUCT_SETTINGS = {
    "products_window_days": 7,
    "products_top_n": 3,
    "products_rising_change": 0.5,
    "products_declining_change": -0.5,
}


def product_lines() -> list[dict]:
    return [
        _line(
            tid,
            n,
            product,
            AS_OF - days * DAY,
            quantity,
            price,
            unit_cost_minor=cost,
            category="misc" if product == "ghost" else "stale-category",
        )
        for n, (tid, product, days, quantity, price, cost) in enumerate(PRODUCT_LINES)
    ]


@pytest.fixture(scope="module")
def products_lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> SparkSettings:
    lake = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("products-lake")))
    write_rows_with_spark(spark, lake, "transaction_items", product_lines())
    versions = [
        {
            "product_id": product,
            "valid_from": AS_OF - days * DAY,
            "name": name,
            "category": category,
        }
        for product, days, name, category in CATALOGUE
    ]
    write_rows_with_spark(spark, lake, "products", versions)
    return lake


def test_products_compare_two_windows_rank_by_revenue_and_label_the_trend(
    spark: SparkSession, products_lake: SparkSettings
) -> None:
    record, _ = run(spark, products_lake, "products", **PRODUCT_SETTINGS)
    assert record.status == "succeeded"
    gold = read_gold(products_lake, "product_performance").set_index("product_id")

    # Units, orders, revenue and margin by another route: pandas over the lines written.
    lines = pd.DataFrame(PRODUCT_LINES, columns=["tid", "product", "days", "qty", "price", "cost"])
    lines["revenue"] = lines["qty"] * lines["price"]
    lines["margin"] = lines["revenue"] - lines["qty"] * lines["cost"].fillna(0)
    current = lines[lines["days"] < 7].groupby("product")
    previous = lines[(lines["days"] >= 7) & (lines["days"] < 14)].groupby("product")
    expected = pd.DataFrame(
        {
            "units": current["qty"].sum(),
            "orders": current["tid"].nunique(),
            "revenue_minor": current["revenue"].sum(),
            "margin_minor": current["margin"].sum(),
            "previous_units": previous["qty"].sum(),
            "previous_revenue_minor": previous["revenue"].sum(),
        }
    ).fillna(0)
    assert sorted(gold.index) == sorted(expected.index) == sorted(PRODUCTS_EXPECTED)
    for column in expected.columns:
        assert gold[column].to_dict() == expected[column].astype(int).to_dict(), column
    assert gold.loc["kettle", "margin_minor"] == 500 - 7 * 30  # t3's 3 kettles have no cost
    assert gold.loc["kettle", "orders"] == 3

    velocity = expected["units"] / 7
    assert gold["velocity_units_per_day"].to_dict() == pytest.approx(velocity.to_dict())
    for product, (units, previous_units, rank, trend) in PRODUCTS_EXPECTED.items():
        row = gold.loc[product]
        assert (row.units, row.previous_units, row.trend) == (units, previous_units, trend)
        assert (None if pd.isna(row.revenue_rank) else row.revenue_rank) == rank, product
        if previous_units:
            assert row.velocity_change == pytest.approx((units - previous_units) / previous_units)
        else:
            assert pd.isna(row.velocity_change), product

    assert gold.loc["kettle", "name"] == "Kettle Pro"
    assert gold.loc["lamp", ["name", "category"]].tolist() == ["Lamp", "home"]
    assert pd.isna(gold.loc["ghost", "name"]) and gold.loc["ghost", "category"] == "misc"
    assert (gold["window_days"] == 7).all()
    assert (gold["as_of"] == pd.Timestamp(AS_OF)).all()
    parameters = job_runs(products_lake)["parameters"].iloc[-1]
    assert parameters["window_days"] == 7 and parameters["as_of"] == AS_OF.isoformat()


def test_product_trend_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="products_declining_change"):
        JobSettings(products_declining_change=0.1)
    with pytest.raises(ValueError, match="products_window_days"):
        JobSettings(products_window_days=0)


# --- recommendations -------------------------------------------------------------------------
# Two groups with disjoint tastes: customers a0..a5 buy only products A0..A4, b0..b5 only
# B0..B4. Before the held-out period (the last 14 days) each buys 3 of its group's 5 products
# (a different 3 each), the b customers 3 units a line, the a customers 1; in the held-out
# period each buys one of its 2 group products not bought yet. Besides:
#   - a0 also buys again a product it had (not relevant: it is not new to a0);
#   - b5 only buys again what it had (not judged: nothing new);
#   - newbie buys A0 only in the held-out period (not judged: no history to learn from).
# k = top_n = 2. ALS, if it learns the groups, recommends each judged customer exactly its 2
# unseen group products: one hit each, precision 1/2. Most-popular recommends the 2 most
# bought products not yet bought: B products (3 units a line) before any A product, so only
# the b customers get a hit.
GROUPS = {"a": [f"A{i}" for i in range(5)], "b": [f"B{i}" for i in range(5)]}
HOLDOUT_DAYS = 14
REC_SETTINGS = {"recommendations_top_n": 2, "recommendations_holdout_days": HOLDOUT_DAYS}


def recommendation_lines() -> list[dict]:
    rows = []
    for group, products in GROUPS.items():
        subsets = list(combinations(products, 3))[:6]
        for c, bought in enumerate(subsets):
            customer = f"{group}{c}"
            unseen = [p for p in products if p not in bought]
            training = [(p, 40 - 5 * j) for j, p in enumerate(bought)]
            held_out = [(unseen[c % 2], 10)] if customer != "b5" else [(bought[0], 3)]
            if customer == "a0":
                held_out.append((bought[1], 2))
            for n, (product, days_before) in enumerate(training + held_out):
                rows.append(
                    _line(
                        f"{customer}-{n}",
                        0,
                        product,
                        AS_OF - days_before * DAY,
                        3 if group == "b" else 1,
                        10,
                        customer=customer,
                    )
                )
    rows.append(_line("newbie-0", 0, "A0", AS_OF, 1, 10, customer="newbie"))
    rows.append(_line("guest-0", 0, "A1", AS_OF - 20 * DAY, 5, 10))  # no customer: left out
    return rows


@pytest.fixture(scope="module")
def recommendations_lake(
    spark: SparkSession, tmp_path_factory: pytest.TempPathFactory
) -> SparkSettings:
    lake = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("recommendations-lake")))
    write_rows_with_spark(spark, lake, "transaction_items", recommendation_lines())
    return lake


@pytest.fixture(scope="module")
def recommended(
    spark: SparkSession, recommendations_lake: SparkSettings
) -> tuple[RunRecord, list[str]]:
    """The first run of the job over the lake, and its progress messages."""
    record, messages = run(spark, recommendations_lake, "recommendations", **REC_SETTINGS)
    assert record.status == "succeeded"
    return record, messages


def _group(customer: str) -> str:
    return "a" if customer == "newbie" else customer[0]


def test_recommendations_stay_in_the_customers_group_and_skip_what_they_bought(
    recommendations_lake: SparkSettings, recommended: tuple[RunRecord, list[str]]
) -> None:
    lines = pd.DataFrame(recommendation_lines()).dropna(subset=["customer_id"])
    bought = lines.groupby("customer_id")["product_id"].agg(set).to_dict()
    gold = read_gold(recommendations_lake, "recommendations")
    assert set(gold["customer_id"]) == set(bought)
    assert (gold["as_of"] == pd.Timestamp(AS_OF)).all()
    for customer, recs in gold.sort_values("rank").groupby("customer_id"):
        assert recs["rank"].tolist() == [1, 2], customer
        assert recs["score"].is_monotonic_decreasing, customer
        products = recs["product_id"].tolist()
        assert not set(products) & bought[customer], customer
        # Its group's unseen products come first (1 to 4 of them), then anything else.
        unseen_in_group = set(GROUPS[_group(customer)]) - bought[customer]
        assert set(products[: min(2, len(unseen_in_group))]) <= unseen_in_group, (
            customer,
            products,
        )
    _, messages = recommended
    assert any("als precision@2=" in message for message in messages), messages


def test_recommendation_eval_judges_the_held_out_period_against_most_popular(
    recommendations_lake: SparkSettings, recommended: tuple[RunRecord, list[str]]
) -> None:
    evaluation = read_gold(recommendations_lake, "recommendation_eval").set_index("model")
    k = 2
    train_until = AS_OF - HOLDOUT_DAYS * DAY

    # The metrics by another route: pandas over the lines written.
    lines = pd.DataFrame(recommendation_lines()).dropna(subset=["customer_id"])
    training = lines[lines["occurred_at"] <= train_until]
    held_out = lines[lines["occurred_at"] > train_until]
    seen = training.groupby("customer_id")["product_id"].agg(set).to_dict()
    relevant = {
        customer: new
        for customer, products in held_out.groupby("customer_id")["product_id"]
        if customer in seen and (new := set(products) - seen[customer])
    }
    assert sorted(relevant) == sorted([f"a{i}" for i in range(6)] + [f"b{i}" for i in range(5)])
    units = training.groupby("product_id")["quantity"].sum().reset_index()
    popular = units.sort_values(["quantity", "product_id"], ascending=[False, True])["product_id"]

    def mean_metrics(recommend) -> tuple[float, float]:
        hits = {c: len(set(recommend(c)) & relevant[c]) for c in relevant}
        precision = sum(h / k for h in hits.values()) / len(hits)
        recall = sum(hits[c] / len(relevant[c]) for c in hits) / len(hits)
        return precision, recall

    popular_expected = mean_metrics(lambda c: [p for p in popular if p not in seen[c]][:k])
    # A model that learnt the groups recommends exactly the customer's 2 unseen group products.
    als_expected = mean_metrics(lambda c: sorted(set(GROUPS[c[0]]) - seen[c]))
    assert popular_expected == pytest.approx((5 * 0.5 / 11, 5 / 11))
    assert als_expected == pytest.approx((0.5, 1.0))

    assert sorted(evaluation.index) == ["als", "most_popular"]
    assert (evaluation["k"] == k).all() and (evaluation["customers"] == 11).all()
    assert (evaluation["train_until"] == pd.Timestamp(train_until)).all()
    assert (evaluation["as_of"] == pd.Timestamp(AS_OF)).all()
    popular_row = evaluation.loc["most_popular"]
    assert (popular_row.precision_at_k, popular_row.recall_at_k) == pytest.approx(popular_expected)
    als_row = evaluation.loc["als"]
    assert 0 <= als_row.precision_at_k <= 1 and 0 <= als_row.recall_at_k <= 1
    assert als_row.precision_at_k > popular_row.precision_at_k
    assert (als_row.precision_at_k, als_row.recall_at_k) == pytest.approx(als_expected)
    record, _ = recommended
    assert record.parameters["als_precision_at_k"] == als_row.precision_at_k
    assert record.parameters["most_popular_customers"] == 11


def test_recommendations_rerun_over_the_same_data_gives_the_same_tables(
    spark: SparkSession,
    recommendations_lake: SparkSettings,
    recommended: tuple[RunRecord, list[str]],
) -> None:
    first, _ = recommended
    second, _ = run(spark, recommendations_lake, "recommendations", **REC_SETTINGS)
    assert second.parameters["seed"] == JobSettings().recommendations_seed
    for name in ("recommendations", "recommendation_eval"):
        uri = TABLES[name].uri(recommendations_lake)
        before = DeltaTable(uri, version=first.output_versions[name]).to_pandas()
        after = DeltaTable(uri, version=second.output_versions[name]).to_pandas()
        assert second.output_versions[name] == first.output_versions[name] + 1
        key = ["customer_id", "rank"] if name == "recommendations" else ["model"]
        pd.testing.assert_frame_equal(
            before.sort_values(key).reset_index(drop=True),
            after.sort_values(key).reset_index(drop=True),
        )
