"""The analytics service on a lake built from a fixed-seed simulator run.

The silver tables come from a simulated world (tests/support/lake_world.py), the gold tables
from the real Spark jobs and the stream's own kpi_minute aggregate; the service runs in this
process on a free port. Every figure the service returns is compared with a direct DuckDB
query over the same Delta tables, written here.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import grpc
import pandas as pd
import pytest
from deltalake import DeltaTable
from google.protobuf.timestamp_pb2 import Timestamp
from pyspark.sql import SparkSession

from ecap.v1 import analytics_pb2 as A
from ecap.v1 import analytics_pb2_grpc, cases_pb2, cases_pb2_grpc, common_pb2
from services.analytics.config import AnalyticsSettings
from services.analytics.server import build_spec
from services.cases.config import CasesSettings
from services.cases.server import build_service
from services.mesh import client as mesh_client
from services.mesh.errors import details_of
from services.mesh.kafka.config import KafkaSettings
from services.mesh.kafka.topics import TOPICS, ensure_topics
from services.simulator.config import SimulatorSettings
from spark.config import SparkSettings
from spark.jobs.analytics.config import JobSettings
from spark.jobs.analytics.registry import JOBS
from spark.jobs.analytics.runner import JobContext, run_jobs, select_jobs
from spark.streaming.gold import kpi_minute
from spark.streaming.sinks import ensure_table, upsert
from spark.tables import TABLES
from tests.fixtures.kafka import private_copy
from tests.fixtures.mesh import run_async, running_server
from tests.support.lake_jobs import run, write_rows_with_spark
from tests.support.lake_world import write_world

# The fixture builds the lake with seven Spark jobs: longer than the default per-test timeout.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]

START = datetime(2026, 9, 1, tzinfo=UTC)
DAYS = 45
WORLD = SimulatorSettings(seed=21, customers=250, products=80, merchants=6)
GOLD_JOBS = ("rfm", "clv", "cohorts", "funnel", "attribution", "basket", "revenue_daily")


def _stamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def direct(lake: SparkSettings, sql: str, params: list | None = None, **versions: int):
    """`sql` over the named Delta tables (at `versions`), with DuckDB in UTC: the reference."""
    db = duckdb.connect()
    db.execute("set TimeZone = 'UTC'")
    for name in TABLES:
        if f" {name}" not in sql:
            continue
        table = DeltaTable(TABLES[name].uri(lake), version=versions.get(name))
        db.register(name, table.to_pyarrow_dataset())
    return db.execute(sql, params or []).df()


def write_kpi_minute(spark: SparkSession, lake: SparkSettings) -> None:
    """gold kpi_minute for every minute of silver, with the stream's own aggregate."""

    def read(name: str):
        return TABLES[name].read(spark, lake)

    ensure_table(spark, TABLES["kpi_minute"], lake)
    upsert(spark, TABLES["kpi_minute"], lake, kpi_minute(read("transactions"), read))


@dataclass
class Lake:
    settings: SparkSettings
    frames: dict[str, pd.DataFrame]
    decided: list[str]


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Lake:
    settings = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("analytics-lake")))
    frames = write_world(spark, settings, tmp_path_factory.mktemp("world"), WORLD, START, DAYS)
    # Decisions for every third transaction (the scoring service's part, not simulated).
    transactions = frames["transactions"].sort_values("transaction_id")
    decided = transactions.iloc[::3]
    write_rows_with_spark(
        spark,
        settings,
        "decisions",
        [
            {
                "decision_id": f"d-{row.transaction_id}",
                "transaction_id": row.transaction_id,
                "customer_id": row.customer_id,
                "outcome": ("APPROVE", "REVIEW", "DECLINE")[n % 3],
                "risk_score": (n % 10) / 10,
                "decided_at": row.occurred_at.to_pydatetime() + timedelta(milliseconds=40),
                "decided_date": row.occurred_at.date(),
            }
            for n, row in enumerate(decided.itertuples())
        ],
    )
    write_kpi_minute(spark, settings)
    context = JobContext(spark, settings, JobSettings(), lambda message: None)
    run_jobs(select_jobs(JOBS, list(GOLD_JOBS)), context)
    return Lake(settings, frames, list(decided["transaction_id"]))


@dataclass
class Analytics:
    address: str
    mint: object

    def call(self, rpc: str, request, *, role: str = "analyst"):
        token = self.mint(role, sub="dashboard")

        async def go():
            async with mesh_client.connect(self.address, token=token) as channel:
                return await getattr(analytics_pb2_grpc.AnalyticsServiceStub(channel), rpc)(request)

        return run_async(go())

    def error(self, rpc: str, request, *, role: str = "analyst") -> grpc.aio.AioRpcError:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            self.call(rpc, request, role=role)
        return caught.value


@pytest.fixture(scope="module")
def analytics(lake: Lake, auth_settings, mint) -> Iterator[Analytics]:
    settings = AnalyticsSettings(
        port=0, metrics_enabled=False, grace_period_s=1.0, version_check_s=0, cases_address=None
    )
    with running_server(build_spec(settings, lake.settings), auth_settings, settings) as server:
        yield Analytics(server.address, mint)


def _versions(response) -> dict[str, int]:
    return {read.table: read.version for read in response.tables_read}


def test_kpis_equal_a_direct_query_for_the_period_and_the_one_before(lake, analytics):
    start, end = START + timedelta(days=20), START + timedelta(days=30)
    response = analytics.call(
        "GetKpis", A.GetKpisRequest(start_time=_stamp(start), end_time=_stamp(end))
    )

    def expected(since: datetime, until: datetime) -> dict:
        sums = direct(
            lake.settings,
            "select sum(orders) orders, sum(units) units, sum(revenue_minor) revenue_minor, "
            "sum(decisions) decisions, sum(approved) approved, sum(reviewed) reviewed, "
            "sum(declined) declined from kpi_minute "
            "where category = '*' and minute >= ? and minute < ?",
            [since, until],
        ).iloc[0]
        customers = direct(
            lake.settings,
            "select count(distinct customer_id) from transactions "
            "where occurred_at >= ? and occurred_at < ?",
            [since, until],
        ).iloc[0, 0]
        return {**{k: int(v) for k, v in sums.items()}, "unique_customers": int(customers)}

    current, previous = expected(start, end), expected(start - (end - start), start)
    assert current["orders"] > 50 and previous["orders"] > 50
    for name, value in current.items():
        assert getattr(response.current, name) == value, name
    for name, value in previous.items():
        assert getattr(response.previous, name) == value, name
    assert response.current.avg_order_value_minor == pytest.approx(
        current["revenue_minor"] / current["orders"]
    )
    assert response.current.fraud_flag_rate == pytest.approx(
        (current["reviewed"] + current["declined"]) / current["decisions"]
    )
    assert response.change["orders"] == pytest.approx(current["orders"] / previous["orders"] - 1)
    assert response.previous_start_time.ToDatetime(tzinfo=UTC) == start - (end - start)
    assert set(_versions(response)) == {"kpi_minute", "transactions"}

    bad = analytics.error(
        "GetKpis", A.GetKpisRequest(start_time=_stamp(end), end_time=_stamp(start))
    )
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert details_of(bad)["field_violations"][0].field == "end_time"


def test_revenue_series_by_week_and_category_and_by_hour_equal_direct_queries(lake, analytics):
    start, end = START, START + timedelta(days=DAYS)
    weekly = analytics.call(
        "GetRevenueSeries",
        A.GetRevenueSeriesRequest(
            start_time=_stamp(start),
            end_time=_stamp(end),
            granularity=A.GRANULARITY_WEEK,
            group_by=[A.DIMENSION_CATEGORY],
        ),
    )
    expected = direct(
        lake.settings,
        "select date_trunc('week', day) as week, category, sum(orders) orders, "
        "sum(revenue_minor) revenue, sum(margin_minor) margin from revenue_daily "
        "where category <> '*' and day >= ? and day < ? group by all order by week, category",
        [start.date(), end.date()],
    )
    got = [
        (
            p.bucket_start_time.ToDatetime().date(),
            p.group["category"],
            p.orders,
            p.revenue_minor,
            p.margin_minor,
        )
        for p in weekly.points
    ]
    assert got == [
        (r.week.date(), r.category, r.orders, r.revenue, r.margin) for r in expected.itertuples()
    ]
    assert len({p.group["category"] for p in weekly.points}) > 3

    day = START + timedelta(days=10)
    hourly = analytics.call(
        "GetRevenueSeries",
        A.GetRevenueSeriesRequest(
            start_time=_stamp(day),
            end_time=_stamp(day + timedelta(days=1)),
            granularity=A.GRANULARITY_HOUR,
            countries=["DE"],
        ),
    )
    expected = direct(
        lake.settings,
        "select hour(minute) h, sum(orders) orders, sum(revenue_minor) revenue from kpi_minute "
        "where category = '*' and country = 'DE' and minute >= ? and minute < ? "
        "group by all order by h",
        [day, day + timedelta(days=1)],
    )
    assert [
        (p.bucket_start_time.ToDatetime().hour, p.orders, p.revenue_minor) for p in hourly.points
    ] == [(r.h, r.orders, r.revenue) for r in expected.itertuples()]
    assert all(not p.HasField("margin_minor") for p in hourly.points)


def test_segments_and_paged_customers_equal_the_gold_tables(lake, analytics):
    segments = analytics.call("GetSegments", A.GetSegmentsRequest())
    expected = direct(lake.settings, "select * from rfm_segments")
    assert len(segments.segments) == 11
    assert {s.segment: (s.customers, s.revenue_minor) for s in segments.segments} == {
        r.segment: (r.customers, r.revenue_minor) for r in expected.itertuples()
    }
    assert [s.customers for s in segments.segments] == sorted(
        (s.customers for s in segments.segments), reverse=True
    )

    segment = max(segments.segments, key=lambda s: s.customers).segment
    members = direct(
        lake.settings,
        "select customer_id from rfm where segment = ? order by monetary desc, customer_id",
        [segment],
    )["customer_id"].tolist()
    seen, token = [], ""
    while True:
        page = analytics.call(
            "ListCustomers",
            A.ListCustomersRequest(segment=segment, page_size=7, page_token=token),
        )
        assert page.total_size == len(members)
        seen += [c.customer_id for c in page.customers]
        token = page.next_page_token
        if not token:
            break
    assert seen == members
    first = analytics.call("ListCustomers", A.ListCustomersRequest(segment=segment, page_size=1))
    clv = direct(
        lake.settings, "select clv from clv where customer_id = ?", [first.customers[0].customer_id]
    ).iloc[0, 0]
    assert first.customers[0].clv_minor == pytest.approx(clv)
    assert not first.customers[0].HasField("churn_probability")  # churn_scores not run

    changed = analytics.error(
        "ListCustomers",
        A.ListCustomersRequest(segment="Lost", page_size=1, page_token=first.next_page_token),
    )
    assert changed.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "other filters" in changed.details()
    churn = analytics.error("ListCustomers", A.ListCustomersRequest(churn_band="HIGH"))
    assert churn.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert details_of(churn)["reason"] == "TABLE_NOT_COMPUTED"
    assert "ecap lake jobs run churn_scores" in churn.details()


def test_customer_360_joins_profile_value_and_recent_decided_transactions(lake, analytics):
    decided = set(lake.decided)
    buyers = lake.frames["transactions"].groupby("customer_id")["transaction_id"].count()
    customer = buyers.sort_values(ascending=False).index[0]
    response = analytics.call(
        "GetCustomer360", A.GetCustomer360Request(customer_id=customer, recent_transactions=5)
    )
    profile = direct(
        lake.settings,
        "select * from customers where customer_id = ? and valid_to is null",
        [customer],
    ).iloc[0]
    assert (response.profile.email, response.profile.city) == (profile.email, profile.city)
    rfm = direct(lake.settings, "select * from rfm where customer_id = ?", [customer]).iloc[0]
    assert (response.summary.segment, response.summary.frequency) == (rfm.segment, rfm.frequency)
    assert response.clv.clv_minor == pytest.approx(
        direct(lake.settings, "select clv from clv where customer_id = ?", [customer]).iloc[0, 0]
    )
    recent = direct(
        lake.settings,
        "select t.transaction_id, t.amount_minor, d.outcome from transactions t "
        "left join decisions d using (transaction_id) where t.customer_id = ? "
        "order by t.occurred_at desc, t.transaction_id limit 5",
        [customer],
    )
    assert [
        (t.transaction_id, t.amount_minor, t.decision_outcome) for t in response.recent_transactions
    ] == [
        (r.transaction_id, r.amount_minor, r.outcome if r.transaction_id in decided else "")
        for r in recent.itertuples()
    ]
    assert not response.HasField("churn")
    assert response.open_cases_error.startswith("no case service configured")

    assert (
        analytics.error(
            "GetCustomer360", A.GetCustomer360Request(customer_id=customer), role="viewer"
        ).code()
        == grpc.StatusCode.PERMISSION_DENIED
    )
    unknown = analytics.call("GetCustomer360", A.GetCustomer360Request(customer_id="c-nobody"))
    assert not unknown.HasField("profile") and not unknown.recent_transactions


def test_cohorts_funnel_attribution_and_basket_rules_are_the_gold_rows(lake, analytics):
    cohorts = analytics.call("GetCohorts", A.GetCohortsRequest())
    expected = direct(lake.settings, "select * from cohorts order by cohort_month, month_offset")
    assert [(c.cohort_month, c.month_offset, c.active_customers) for c in cohorts.cells] == [
        (f"{r.cohort_month:%Y-%m-%d}", r.month_offset, r.active_customers)
        for r in expected.itertuples()
    ]

    funnel = analytics.call("GetFunnel", A.GetFunnelRequest(channel="*"))
    expected = direct(
        lake.settings,
        "select step, sessions from funnel where channel = '*' and device_type = '*' "
        "order by step_index",
    )
    assert [(s.step, s.sessions) for s in funnel.steps] == list(
        expected.itertuples(index=False, name=None)
    )
    assert funnel.steps[0].sessions > funnel.steps[-1].sessions > 0

    markov = analytics.call("GetAttribution", A.GetAttributionRequest(model="markov"))
    expected = direct(
        lake.settings,
        "select channel, conversions from attribution where model = 'markov' and level = 'channel'",
    )
    assert {c.channel: c.conversions for c in markov.credits} == pytest.approx(
        dict(expected.itertuples(index=False, name=None))
    )
    bad = analytics.error("GetAttribution", A.GetAttributionRequest(model="magic"))
    assert bad.code() == grpc.StatusCode.INVALID_ARGUMENT

    rules = analytics.call("GetBasketRules", A.GetBasketRulesRequest(min_lift=1.0, limit=5))
    expected = direct(
        lake.settings,
        "select lift from basket_rules where lift >= 1 order by lift desc, confidence desc limit 5",
    )
    assert [r.lift for r in rules.rules] == pytest.approx(expected["lift"].tolist())


def test_a_table_no_job_wrote_is_failed_precondition_naming_the_job(analytics):
    for rpc, request, job in (
        ("GetDataQuality", A.GetDataQualityRequest(), "start the lake stream"),
        ("GetForecast", A.GetForecastRequest(), "forecast"),
    ):
        error = analytics.error(rpc, request)
        assert error.code() == grpc.StatusCode.FAILED_PRECONDITION, rpc
        assert details_of(error)["reason"] == "TABLE_NOT_COMPUTED"
        assert job in error.details(), error.details()


def test_time_travel_returns_the_older_numbers_after_a_newer_job_run(spark, lake, analytics):
    before = analytics.call("GetSegments", A.GetSegmentsRequest())
    version = _versions(before)["rfm_segments"]
    run(spark, lake.settings, "rfm", as_of=START + timedelta(days=DAYS // 2))
    after = analytics.call("GetSegments", A.GetSegmentsRequest())
    assert _versions(after)["rfm_segments"] == version + 1
    newer = direct(lake.settings, "select segment, customers from rfm_segments")
    older = direct(
        lake.settings, "select segment, customers from rfm_segments", rfm_segments=version
    )
    assert dict(newer.itertuples(index=False, name=None)) != dict(
        older.itertuples(index=False, name=None)
    )
    assert {s.segment: s.customers for s in after.segments} == dict(
        newer.itertuples(index=False, name=None)
    )
    pinned = analytics.call("GetSegments", A.GetSegmentsRequest(at=A.LakeAt(version=version)))
    assert {s.segment: s.customers for s in pinned.segments} == dict(
        older.itertuples(index=False, name=None)
    )
    assert pinned == before
    between = after.tables_read[0].commit_time.ToDatetime(tzinfo=UTC) - timedelta(microseconds=1)
    by_time = analytics.call("GetSegments", A.GetSegmentsRequest(at=A.LakeAt(time=_stamp(between))))
    assert _versions(by_time)["rfm_segments"] == version
    missing = analytics.error("GetSegments", A.GetSegmentsRequest(at=A.LakeAt(version=version + 5)))
    assert missing.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_tables_and_history_show_versions_and_operations(lake, analytics):
    listed = analytics.call("ListTables", A.ListTablesRequest())
    assert [t.table for t in listed.tables] == list(TABLES)
    by_name = {t.table: t for t in listed.tables}
    assert by_name["rfm"].exists and by_name["rfm"].filled_by == "rfm"
    assert by_name["transactions"].rows == len(lake.frames["transactions"])
    assert not by_name["quality_metrics"].exists
    gold = analytics.call("ListTables", A.ListTablesRequest(layer="gold"))
    assert {t.layer for t in gold.tables} == {"gold"}

    history = analytics.call("GetTableHistory", A.GetTableHistoryRequest(table="kpi_minute"))
    assert [c.version for c in history.commits] == sorted(
        (c.version for c in history.commits), reverse=True
    )
    assert history.commits[0].operation == "MERGE"
    unknown = analytics.error("GetTableHistory", A.GetTableHistoryRequest(table="nope"))
    assert unknown.code() == grpc.StatusCode.NOT_FOUND


def test_watch_kpis_pushes_existing_rows_then_the_rows_a_new_version_changes(
    spark, lake, analytics
):
    last = lake.frames["transactions"]["occurred_at"].max().to_pydatetime()
    since = last.replace(second=0, microsecond=0) - timedelta(minutes=30)
    late_at = last + timedelta(minutes=1)
    expected_rows = direct(
        lake.settings, "select count(*) from kpi_minute where minute >= ?", [since]
    ).iloc[0, 0]
    late = {
        "transaction_id": "t-late",
        "customer_id": "c-late",
        "amount_minor": 1234,
        "currency": "EUR",
        "country": "DE",
        "channel": "DIRECT",
        "occurred_at": late_at,
        "occurred_date": late_at.date(),
    }

    def add_a_late_transaction() -> None:
        write_rows_with_spark(spark, lake.settings, "transactions", [late])
        write_kpi_minute(spark, lake.settings)

    async def watch():
        token = analytics.mint("analyst")
        async with mesh_client.connect(analytics.address, token=token) as channel:
            stub = analytics_pb2_grpc.AnalyticsServiceStub(channel)
            call = stub.WatchKpis(A.WatchKpisRequest(since_time=_stamp(since)), timeout=300)
            first = [await call.read() for _ in range(expected_rows)]
            await asyncio.to_thread(add_a_late_transaction)
            pushed = await call.read()
            call.cancel()
            return first, pushed

    first, pushed = run_async(watch(), timeout_s=300)
    assert {row.minute.ToDatetime(tzinfo=UTC) >= since for row in first} == {True}
    assert pushed.version > first[0].version
    assert pushed.minute.ToDatetime(tzinfo=UTC) == late_at.replace(second=0, microsecond=0)
    assert (pushed.orders, pushed.revenue_minor) == (1, 1234)


def test_results_are_cached_per_version_and_only_the_changed_table_invalidates(lake, analytics):
    from prometheus_client import REGISTRY

    def lookups(rpc: str, result: str) -> float:
        return (
            REGISTRY.get_sample_value(
                "ecap_analytics_cache_lookups_total", {"rpc": rpc, "result": result}
            )
            or 0.0
        )

    analytics.call("GetCohorts", A.GetCohortsRequest())
    hits = lookups("GetCohorts", "hit")
    analytics.call("GetCohorts", A.GetCohortsRequest())
    assert lookups("GetCohorts", "hit") == hits + 1


def test_products_recommendations_forecast_geography_and_churn_are_served_as_written(
    spark, lake, analytics
):
    as_of = START + timedelta(days=DAYS)
    gold = {
        "product_performance": [
            {
                "product_id": f"p-{n}",
                "name": f"Product {n}",
                "category": "Toys" if n % 2 else "Books",
                "window_days": 30,
                "units": 10 - n,
                "revenue_minor": 1000 * (10 - n),
                "previous_units": 5,
                "velocity_units_per_day": (10 - n) / 30,
                "velocity_change": None if n == 3 else (10 - n) / 5 - 1,
                "revenue_rank": n + 1,
                "trend": "declining" if n > 5 else "top",
                "as_of": as_of,
            }
            for n in range(8)
        ],
        "recommendations": [
            {
                "customer_id": "c-000001",
                "rank": rank,
                "product_id": f"p-{rank}",
                "score": 1 / rank,
                "as_of": as_of,
            }
            for rank in (1, 2, 3)
        ],
        "recommendation_eval": [
            {
                "model": model,
                "k": 10,
                "precision_at_k": p,
                "recall_at_k": p / 2,
                "customers": 40,
                "as_of": as_of,
            }
            for model, p in (("als", 0.2), ("most_popular", 0.1))
        ],
        "forecast": [
            {
                "category": "*",
                "day": (as_of + timedelta(days=d)).date(),
                "revenue_minor": 100.0 + d,
                "lower_minor": 80.0 + d,
                "upper_minor": 120.0 + d,
                "interval": 0.9,
                "model": "holt_winters",
                "as_of": as_of,
            }
            for d in range(1, 31)
        ],
        "forecast_backtest": [
            {
                "category": "*",
                "model": model,
                "horizon_days": 30,
                "mae": mae,
                "mape": mae / 100,
                "interval_coverage": 0.9,
                "as_of": as_of,
            }
            for model, mae in (("holt_winters", 12.0), ("seasonal_naive", 20.0))
        ],
        "geo_breakdown": [
            {
                "level": "country",
                "country": country,
                "orders": orders,
                "customers": orders // 2,
                "revenue_minor": orders * 100,
                "revenue_share": share,
                "as_of": as_of,
            }
            for country, orders, share in (("DE", 30, 0.6), ("FR", 20, 0.4))
        ]
        + [
            {
                "level": "city",
                "country": "DE",
                "region": "Berlin",
                "city": "Berlin",
                "orders": 30,
                "customers": 15,
                "revenue_minor": 3000,
                "as_of": as_of,
            }
        ],
        "seasonality": [
            {
                "profile": "day_of_week",
                "period": day,
                "orders": day,
                "revenue_minor": 100 * day,
                "index": day / 4,
                "as_of": as_of,
            }
            for day in range(1, 8)
        ],
        "churn_scores": [
            {
                "customer_id": "c-000001",
                "probability": 0.72,
                "band": "HIGH",
                "drivers": ["recency_days", "frequency_trend"],
                "model_tag": "ecap-churn:t",
                "as_of": as_of,
            }
        ],
    }
    for name, rows in gold.items():
        write_rows_with_spark(spark, lake.settings, name, rows)

    top = analytics.call(
        "GetProductPerformance", A.GetProductPerformanceRequest(trend="top", limit=3)
    )
    assert [p.product_id for p in top.products] == ["p-0", "p-1", "p-2"]
    assert not next(
        p
        for p in analytics.call("GetProductPerformance", A.GetProductPerformanceRequest()).products
        if p.product_id == "p-3"
    ).HasField("velocity_change")
    toys = analytics.call("GetProductPerformance", A.GetProductPerformanceRequest(category="Toys"))
    assert {p.category for p in toys.products} == {"Toys"} and len(toys.products) == 4

    recommended = analytics.call(
        "GetRecommendations", A.GetRecommendationsRequest(customer_id="c-000001", limit=2)
    )
    assert [(r.rank, r.product_id) for r in recommended.recommendations] == [(1, "p-1"), (2, "p-2")]
    assert {e.model: e.precision_at_k for e in recommended.evaluation} == {
        "als": 0.2,
        "most_popular": 0.1,
    }

    forecast = analytics.call("GetForecast", A.GetForecastRequest())
    assert (forecast.category, forecast.model, forecast.interval) == ("*", "holt_winters", 0.9)
    assert len(forecast.points) == 30 and forecast.points[0].lower_minor == 81.0
    assert {b.model: b.mae for b in forecast.backtest} == {
        "holt_winters": 12.0,
        "seasonal_naive": 20.0,
    }

    countries = analytics.call("GetGeoBreakdown", A.GetGeoBreakdownRequest())
    assert [(r.country, r.revenue_minor) for r in countries.rows] == [("DE", 3000), ("FR", 2000)]
    cities = analytics.call(
        "GetGeoBreakdown", A.GetGeoBreakdownRequest(level=A.GEO_LEVEL_CITY, country="DE")
    )
    assert [(r.region, r.city) for r in cities.rows] == [("Berlin", "Berlin")]
    weekly = analytics.call("GetSeasonality", A.GetSeasonalityRequest())
    assert [p.period for p in weekly.periods] == list(range(1, 8))

    customer = analytics.call("GetCustomer360", A.GetCustomer360Request(customer_id="c-000001"))
    assert (customer.churn.band, list(customer.churn.drivers)) == (
        "HIGH",
        ["recency_days", "frequency_trend"],
    )
    high = analytics.call("ListCustomers", A.ListCustomersRequest(churn_band="HIGH"))
    expected = direct(
        lake.settings,
        "select r.customer_id from rfm r join churn_scores s using (customer_id) "
        "where s.band = 'HIGH'",
    )
    assert [c.customer_id for c in high.customers] == expected["customer_id"].tolist()


def test_customer_360_shows_the_open_cases_the_case_service_holds(
    lake, auth_settings, mint, kafka_bootstrap, tmp_path
):
    specs = {s.name: private_copy(s) for s in TOPICS if s.name in ("fraud-alerts", "case-events")}
    ensure_topics(kafka_bootstrap, specs=list(specs.values()), replication_factor=1)
    cases_settings = CasesSettings(
        port=0,
        metrics_enabled=False,
        grace_period_s=1,
        database_url=f"sqlite:///{tmp_path / 'cases.db'}",
        topic_alerts=specs["fraud-alerts"].name,
        topic_case_events=specs["case-events"].name,
        consumer_group=f"cases-{uuid.uuid4().hex[:8]}",
    )
    customer = lake.frames["transactions"]["customer_id"].iloc[0]
    cases = build_service(cases_settings, KafkaSettings(bootstrap=kafka_bootstrap))
    with running_server(cases.spec, auth_settings, cases_settings) as cases_server:
        lead = mint("lead", sub="lena")

        async def open_case(customer_id: str) -> cases_pb2.Case:
            async with mesh_client.connect(cases_server.address, token=lead) as channel:
                case = cases_pb2.Case(
                    queue="general",
                    customer_id=customer_id,
                    risk_score=0.9,
                    amount=common_pb2.Money(amount_minor=5_000, currency="EUR"),
                    title="card testing",
                )
                stub = cases_pb2_grpc.CaseServiceStub(channel)
                return await stub.CreateCase(cases_pb2.CreateCaseRequest(case=case))

        opened = run_async(open_case(customer))
        run_async(open_case("c-someone-else"))
        settings = AnalyticsSettings(
            port=0, metrics_enabled=False, grace_period_s=1.0, cases_address=cases_server.address
        )
        spec = build_spec(settings, lake.settings)
        with running_server(spec, auth_settings, settings) as server:
            analytics = Analytics(server.address, mint)
            response = analytics.call(
                "GetCustomer360", A.GetCustomer360Request(customer_id=customer)
            )
    assert [case.case_id for case in response.open_cases] == [opened.case_id]
    assert response.open_cases[0].title == "card testing"
    assert response.open_cases_error == ""
    assert response.recent_transactions  # the lake's part is there too
