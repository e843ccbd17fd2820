"""Each RPC's response, built from a pinned snapshot: request in, query, protobuf out.

These functions are what the result cache stores per table versions; `tables_read` is filled
by the caller.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ecap.v1 import analytics_pb2
from services.analytics import queries
from services.analytics.convert import (
    ATTRIBUTION_LEVELS,
    DIMENSION_NAMES,
    GEO_LEVELS,
    GRANULARITIES,
    message,
    messages,
)
from services.analytics.customer_rows import CustomerRows
from services.analytics.lake import Snapshot
from services.mesh.timestamps import time_of, timestamp
from spark.tables import ALL_CATEGORIES


def _filter(request) -> queries.KpiFilter:
    return queries.KpiFilter(tuple(request.countries), tuple(request.channels))


def kpis(
    snapshot: Snapshot, request: analytics_pb2.GetKpisRequest
) -> analytics_pb2.GetKpisResponse:
    start, end = time_of(request, "start_time"), time_of(request, "end_time")
    queries.check_period(start, end)
    previous_start = start - (end - start)
    current, previous = queries.kpis(
        snapshot, [(start, end), (previous_start, start)], _filter(request)
    )
    change = {
        name: current[name] / previous[name] - 1.0
        for name in current
        if previous[name] and name != "fraud_flag_rate"
    }
    if previous["fraud_flag_rate"]:
        change["fraud_flag_rate"] = current["fraud_flag_rate"] / previous["fraud_flag_rate"] - 1.0
    return analytics_pb2.GetKpisResponse(
        current=message(analytics_pb2.KpiValues, current),
        previous=message(analytics_pb2.KpiValues, previous),
        previous_start_time=timestamp(previous_start),
        change=change,
    )


def series_request(request: analytics_pb2.GetRevenueSeriesRequest) -> queries.SeriesRequest:
    start, end = time_of(request, "start_time"), time_of(request, "end_time")
    queries.check_period(start, end)
    return queries.SeriesRequest(
        start=start,
        end=end,
        bucket=GRANULARITIES[request.granularity],
        group_by=tuple(DIMENSION_NAMES[d] for d in request.group_by),
        countries=tuple(request.countries),
        channels=tuple(request.channels),
        categories=tuple(request.categories),
    )


def revenue_series(
    snapshot: Snapshot, request: analytics_pb2.GetRevenueSeriesRequest
) -> analytics_pb2.GetRevenueSeriesResponse:
    wanted = series_request(request)
    frame = queries.revenue_series(snapshot, wanted)
    points = []
    for row in frame.to_dict("records"):
        point = message(analytics_pb2.RevenuePoint, row, {"bucket_start_time": "bucket"})
        point.group.update({name: str(row[name]) for name in wanted.group_by})
        if point.orders:
            point.avg_order_value_minor = point.revenue_minor / point.orders
        points.append(point)
    return analytics_pb2.GetRevenueSeriesResponse(points=points)


def segments(snapshot: Snapshot, request) -> analytics_pb2.GetSegmentsResponse:
    frame, as_of = queries.segments(snapshot)
    return analytics_pb2.GetSegmentsResponse(
        segments=messages(analytics_pb2.Segment, frame), as_of_time=timestamp(as_of)
    )


def customer360(
    snapshot: Snapshot, request: analytics_pb2.GetCustomer360Request, rows: CustomerRows
) -> analytics_pb2.GetCustomer360Response:
    found = queries.customer360(
        snapshot, request.customer_id, request.recent_transactions or 20, rows
    )
    response = analytics_pb2.GetCustomer360Response(
        recent_transactions=messages(
            analytics_pb2.RecentTransaction, found["transactions"], {"occurred_time": "occurred_at"}
        )
    )
    if found["profile"]:
        response.profile.CopyFrom(
            message(
                analytics_pb2.CustomerProfile, found["profile"], {"signed_up_time": "signed_up_at"}
            )
        )
    if found["summary"]:
        response.summary.CopyFrom(message(analytics_pb2.CustomerSummary, found["summary"]))
    if found["clv"]:
        response.clv.CopyFrom(
            message(
                analytics_pb2.CustomerClv,
                found["clv"],
                {"clv_minor": "clv", "expected_avg_spend_minor": "expected_avg_spend"},
            )
        )
    if found["churn"]:
        response.churn.CopyFrom(
            message(analytics_pb2.CustomerChurn, found["churn"], {"as_of_time": "as_of"})
        )
    return response


def cohorts(snapshot: Snapshot, request) -> analytics_pb2.GetCohortsResponse:
    frame = queries.table_rows(snapshot, "cohorts", order_by="cohort_month, month_offset")
    return analytics_pb2.GetCohortsResponse(cells=messages(analytics_pb2.CohortCell, frame))


def funnel(
    snapshot: Snapshot, request: analytics_pb2.GetFunnelRequest
) -> analytics_pb2.GetFunnelResponse:
    frame = queries.table_rows(
        snapshot,
        "funnel",
        "channel = ? and device_type = ?",
        [request.channel or ALL_CATEGORIES, request.device_type or ALL_CATEGORIES],
        order_by="step_index",
    )
    return analytics_pb2.GetFunnelResponse(steps=messages(analytics_pb2.FunnelStep, frame))


def attribution(
    snapshot: Snapshot, request: analytics_pb2.GetAttributionRequest
) -> analytics_pb2.GetAttributionResponse:
    frame = queries.table_rows(
        snapshot,
        "attribution",
        "model = ? and level = ?",
        [request.model, ATTRIBUTION_LEVELS[request.level]],
        order_by="conversions desc, channel, campaign",
    )
    return analytics_pb2.GetAttributionResponse(
        credits=messages(analytics_pb2.AttributionCredit, frame)
    )


def basket_rules(
    snapshot: Snapshot, request: analytics_pb2.GetBasketRulesRequest
) -> analytics_pb2.GetBasketRulesResponse:
    where = "lift >= ? and confidence >= ?"
    params: list = [request.min_lift, request.min_confidence]
    if request.product_id:
        where += " and list_contains(antecedent, ?)"
        params.append(request.product_id)
    frame = queries.table_rows(
        snapshot,
        "basket_rules",
        where,
        params,
        order_by="lift desc, confidence desc, support desc, antecedent, consequent",
        limit=request.limit or 100,
    )
    return analytics_pb2.GetBasketRulesResponse(rules=messages(analytics_pb2.BasketRule, frame))


def recommendations(
    snapshot: Snapshot, request: analytics_pb2.GetRecommendationsRequest
) -> analytics_pb2.GetRecommendationsResponse:
    frame = queries.table_rows(
        snapshot,
        "recommendations",
        "customer_id = ?",
        [request.customer_id],
        order_by="rank",
        limit=request.limit or None,
    )
    evaluation = queries.table_rows(snapshot, "recommendation_eval", order_by="k, model")
    return analytics_pb2.GetRecommendationsResponse(
        recommendations=messages(analytics_pb2.Recommendation, frame),
        evaluation=messages(analytics_pb2.RecommenderEvaluation, evaluation),
    )


def products(
    snapshot: Snapshot, request: analytics_pb2.GetProductPerformanceRequest
) -> analytics_pb2.GetProductPerformanceResponse:
    conditions, params = ["true"], []
    if request.category:
        conditions.append("category = ?")
        params.append(request.category)
    if request.trend:
        conditions.append("trend = ?")
        params.append(request.trend)
    frame = queries.table_rows(
        snapshot,
        "product_performance",
        " and ".join(conditions),
        params,
        order_by="revenue_rank, product_id",
        limit=request.limit or 100,
    )
    return analytics_pb2.GetProductPerformanceResponse(
        products=messages(analytics_pb2.ProductPerformance, frame)
    )


def geography(
    snapshot: Snapshot, request: analytics_pb2.GetGeoBreakdownRequest
) -> analytics_pb2.GetGeoBreakdownResponse:
    where, params = "level = ?", [GEO_LEVELS[request.level]]
    if request.country:
        where += " and country = ?"
        params.append(request.country)
    frame = queries.table_rows(
        snapshot,
        "geo_breakdown",
        where,
        params,
        order_by="revenue_minor desc, country, region, city",
    )
    return analytics_pb2.GetGeoBreakdownResponse(rows=messages(analytics_pb2.GeoRow, frame))


def seasonality(snapshot: Snapshot, request) -> analytics_pb2.GetSeasonalityResponse:
    frame = queries.table_rows(snapshot, "seasonality", order_by="profile, period")
    return analytics_pb2.GetSeasonalityResponse(
        periods=messages(analytics_pb2.SeasonalPeriod, frame)
    )


def forecast(
    snapshot: Snapshot, request: analytics_pb2.GetForecastRequest
) -> analytics_pb2.GetForecastResponse:
    category = request.category or ALL_CATEGORIES
    frame = queries.table_rows(snapshot, "forecast", "category = ?", [category], order_by="day")
    backtest = queries.table_rows(
        snapshot, "forecast_backtest", "category = ?", [category], order_by="model"
    )
    response = analytics_pb2.GetForecastResponse(
        category=category,
        points=messages(analytics_pb2.ForecastPoint, frame),
        backtest=messages(analytics_pb2.ForecastBacktest, backtest),
    )
    if len(frame):
        response.model = str(frame["model"].iloc[0])
        response.interval = float(frame["interval"].iloc[0])
    return response


def data_quality(
    snapshot: Snapshot, request: analytics_pb2.GetDataQualityRequest
) -> analytics_pb2.GetDataQualityResponse:
    frame = queries.latest_quality(snapshot, request.source_table)
    return analytics_pb2.GetDataQualityResponse(
        metrics=messages(analytics_pb2.QualityMetric, frame, {"recorded_time": "recorded_at"})
    )


def watch_since(request: analytics_pb2.WatchKpisRequest, lookback_s: float) -> datetime:
    """Where WatchKpis starts: since_time, or `lookback_s` before now."""
    return time_of(request, "since_time") or datetime.now(UTC) - timedelta(seconds=lookback_s)
