"""The analytics service's questions, as DuckDB queries over pinned lake snapshots.

Each function takes a `Snapshot` holding the tables it reads (`TABLES_READ[...]`, main table
first) and returns plain data; every figure comes from a gold table the Spark jobs wrote (or
a customer's silver rows), summed or filtered here and nothing more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from services.analytics.customer_rows import CustomerRows
from services.analytics.lake import Snapshot
from services.mesh.errors import FieldViolation, InvalidArgument
from spark.tables import ALL_CATEGORIES

# The tables each question reads; the first is the main one (what `at.version` pins).
TABLES_READ: dict[str, tuple[str, ...]] = {
    "kpis": ("kpi_minute", "transactions"),
    "revenue_minutes": ("kpi_minute",),
    "revenue_days": ("revenue_daily",),
    "segments": ("rfm_segments",),
    "customers": ("rfm", "clv", "churn_scores"),
    "customer360": (
        "transactions",
        "customers",
        "rfm",
        "clv",
        "churn_scores",
        "decisions",
    ),
    "cohorts": ("cohorts",),
    "funnel": ("funnel",),
    "attribution": ("attribution",),
    "basket_rules": ("basket_rules",),
    "recommendations": ("recommendations", "recommendation_eval"),
    "products": ("product_performance",),
    "geography": ("geo_breakdown",),
    "seasonality": ("seasonality",),
    "forecast": ("forecast", "forecast_backtest"),
    "quality": ("quality_metrics",),
    "watch": ("kpi_minute",),
}

KPI_SUMS = ("orders", "units", "revenue_minor", "decisions", "approved", "reviewed", "declined")
DIMENSIONS = ("country", "channel", "category")


def check_period(start: datetime, end: datetime) -> None:
    """INVALID_ARGUMENT unless start < end."""
    if end <= start:
        raise InvalidArgument(
            "end_time must be after start_time",
            [FieldViolation("end_time", "after_start_time", "end_time must be after start_time")],
        )


def _in(column: str, values: tuple[str, ...], params: list[Any]) -> str:
    if not values:
        return "true"
    params.extend(values)
    return f"{column} in ({', '.join('?' * len(values))})"


@dataclass(frozen=True)
class KpiFilter:
    """Countries and channels to keep (empty: all)."""

    countries: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()

    def sql(self, params: list[Any]) -> str:
        """The condition; its parameters are appended to `params`."""
        countries = _in("country", self.countries, params)
        return f"{countries} and {_in('channel', self.channels, params)}"


def kpis(
    snapshot: Snapshot, periods: Sequence[tuple[datetime, datetime]], where: KpiFilter
) -> list[dict[str, Any]]:
    """KPIs of each [start, end) period summed from kpi_minute's whole-order rows, with
    distinct customers counted from silver transactions: one scan of each table for all the
    periods (GetKpis asks for a period and the one before)."""
    snapshot.require("kpi_minute")
    first, last = min(start for start, _ in periods), max(end for _, end in periods)
    params: list[Any] = []
    sums = []
    for index, (start, end) in enumerate(periods):
        for name in KPI_SUMS:
            sums.append(
                f"coalesce(sum({name}) filter (where minute >= ? and minute < ?), 0)::bigint "
                f"as {name}_{index}"
            )
            params += [start, end]
    params += [ALL_CATEGORIES, first.date(), last.date(), first, last]
    filters = where.sql(params)
    row = snapshot.query(
        f"select {', '.join(sums)} from kpi_minute where category = ? "
        f"and minute_date between ? and ? and minute >= ? and minute < ? and {filters}",
        params,
    ).iloc[0]
    customers = [0] * len(periods)
    if snapshot.states["transactions"].exists:
        params = []
        for start, end in periods:
            params += [start, end]
        counts = ", ".join(
            ["count(distinct customer_id) filter (where occurred_at >= ? and occurred_at < ?)"]
            * len(periods)
        )
        params += [first.date(), last.date(), first, last]
        filters = where.sql(params)
        counted = snapshot.query(
            f"select {counts} from transactions where occurred_date between ? and ? "
            f"and occurred_at >= ? and occurred_at < ? and {filters}",
            params,
        ).iloc[0]
        customers = [int(count) for count in counted]
    return [
        _kpi_values({name: int(row[f"{name}_{index}"]) for name in KPI_SUMS}, customers[index])
        for index in range(len(periods))
    ]


def _kpi_values(sums: dict[str, int], unique_customers: int) -> dict[str, Any]:
    values: dict[str, Any] = dict(sums)
    values["avg_order_value_minor"] = (
        values["revenue_minor"] / values["orders"] if values["orders"] else 0.0
    )
    decided = values["decisions"]
    values["fraud_flag_rate"] = (
        (values["reviewed"] + values["declined"]) / decided if decided else 0.0
    )
    values["unique_customers"] = unique_customers
    return values


@dataclass(frozen=True)
class SeriesRequest:
    start: datetime
    end: datetime
    bucket: str  # minute, hour, day, week, month
    group_by: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        return "revenue_minutes" if self.bucket in ("minute", "hour") else "revenue_days"


def revenue_series(snapshot: Snapshot, request: SeriesRequest) -> pd.DataFrame:
    """Orders, units, revenue (and margin, by day or coarser) per bucket and group."""
    daily = request.source == "revenue_days"
    table, time_column = ("revenue_daily", "day") if daily else ("kpi_minute", "minute")
    snapshot.require(table)
    by_category = "category" in request.group_by or bool(request.categories)
    params: list[Any] = []
    filters = [
        "category <> ?" if by_category else "category = ?",
        f"{time_column} >= ?",
        f"{time_column} < ?",
    ]
    start, end = (
        (request.start.date(), request.end.date()) if daily else (request.start, request.end)
    )
    if daily and request.end.time() != datetime.min.time():
        filters[2] = f"{time_column} <= ?"  # a day partly inside the range counts whole
    params.extend([ALL_CATEGORIES, start, end])
    if not daily:  # prunes kpi_minute's date partitions
        filters.append("minute_date between ? and ?")
        params.extend([request.start.date(), request.end.date()])
    filters.append(_in("country", request.countries, params))
    filters.append(_in("channel", request.channels, params))
    filters.append(_in("category", request.categories, params))
    groups = [f"coalesce({name}, '')" + f" as {name}" for name in request.group_by]
    bucket = f"date_trunc('{request.bucket}', {time_column})::timestamptz"
    margin = ", sum(margin_minor)::bigint as margin_minor" if daily else ""
    select = ", ".join([f"{bucket} as bucket", *groups])
    keys = ", ".join(["bucket", *request.group_by])
    return snapshot.query(
        f"select {select}, sum(orders)::bigint as orders, sum(units)::bigint as units, "
        f"sum(revenue_minor)::bigint as revenue_minor{margin} from {table} "
        f"where {' and '.join(filters)} group by all order by {keys}",
        params,
    )


def segments(snapshot: Snapshot) -> tuple[pd.DataFrame, datetime | None]:
    """The RFM segments, largest first, and the time they are as of."""
    snapshot.require("rfm_segments")
    frame = snapshot.query(
        "select * from rfm_segments order by customers desc, revenue_minor desc, segment"
    )
    as_of = frame["as_of"].max() if len(frame) else None
    return frame, None if pd.isna(as_of) else as_of.to_pydatetime()


_CUSTOMERS_SQL = """
select r.customer_id, r.segment, r.r, r.f, r.m, r.recency_days, r.frequency,
       r.monetary as monetary_minor, c.clv as clv_minor, c.p_alive,
       s.probability as churn_probability, coalesce(s.band, '') as churn_band
from rfm r
left join clv c using (customer_id)
left join churn_scores s using (customer_id)
where {where}
"""


def customers(
    snapshot: Snapshot, segment: str, churn_band: str, offset: int, limit: int
) -> tuple[pd.DataFrame, int]:
    """A page of customers of `segment` and `churn_band` (empty: any), most spent first,
    and how many match in all."""
    snapshot.require("rfm")
    if churn_band:
        snapshot.require("churn_scores")
    params: list[Any] = []
    conditions = ["true"]
    if segment:
        conditions.append("r.segment = ?")
        params.append(segment)
    if churn_band:
        conditions.append("s.band = ?")
        params.append(churn_band)
    base = _CUSTOMERS_SQL.format(where=" and ".join(conditions))
    total = int(snapshot.query(f"select count(*) from ({base})", params).iloc[0, 0])
    page = snapshot.query(
        f"{base} order by r.monetary desc, r.customer_id limit ? offset ?",
        [*params, limit, offset],
    )
    return page, total


# The columns of a customer's silver rows that Customer360 reads (held in memory per customer).
CUSTOMER_ROW_COLUMNS: dict[str, tuple[str, ...]] = {
    "transactions": (
        "transaction_id",
        "customer_id",
        "occurred_at",
        "amount_minor",
        "currency",
        "merchant_id",
        "channel",
        "country",
    ),
    "decisions": ("transaction_id", "customer_id", "outcome", "risk_score", "decided_at"),
    "customers": (
        "customer_id",
        "valid_from",
        "valid_to",
        "email",
        "full_name",
        "country",
        "region",
        "city",
        "signed_up_at",
        "acquisition_channel",
    ),
}


def customer360(
    snapshot: Snapshot, customer_id: str, recent: int, rows: CustomerRows
) -> dict[str, Any]:
    """A customer's profile, value, churn score and recent transactions with decisions."""

    def found(name: str) -> pd.DataFrame:
        return rows.rows(snapshot.states[name], customer_id).to_pandas()

    def only(name: str) -> dict[str, Any] | None:
        frame = found(name)
        return frame.iloc[0].to_dict() if len(frame) else None

    profiles = found("customers").sort_values("valid_from", ascending=False)  # current first
    rfm, clv, churn = only("rfm"), only("clv"), only("churn_scores")
    summary = None
    if rfm is not None:
        summary = {**rfm, "monetary_minor": rfm["monetary"]}
        if clv is not None:
            summary.update(clv_minor=clv["clv"], p_alive=clv["p_alive"])
        if churn is not None:
            summary.update(churn_probability=churn["probability"], churn_band=churn["band"])
    transactions = (
        found("transactions")
        .sort_values(["occurred_at", "transaction_id"], ascending=[False, True])
        .head(recent)
    )
    latest = (
        found("decisions")
        .sort_values("decided_at")
        .drop_duplicates("transaction_id", keep="last")
        .rename(columns={"outcome": "decision_outcome"})[
            ["transaction_id", "decision_outcome", "risk_score"]
        ]
    )
    return {
        "profile": profiles.iloc[0].to_dict() if len(profiles) else None,
        "summary": summary,
        "clv": clv,
        "churn": churn,
        "transactions": transactions.merge(latest, on="transaction_id", how="left"),
    }


def table_rows(
    snapshot: Snapshot,
    table: str,
    where: str = "true",
    params: list[Any] | None = None,
    order_by: str = "all",
    limit: int | None = None,
) -> pd.DataFrame:
    """Rows of one gold table, filtered and ordered (SQL fragments are the service's own)."""
    snapshot.require(table)
    sql = f"select * from {table} where {where} order by {order_by}"
    if limit is not None:
        sql += f" limit {int(limit)}"
    return snapshot.query(sql, params or [])


def latest_quality(snapshot: Snapshot, source_table: str) -> pd.DataFrame:
    """The newest value of each (source table, metric, subject)."""
    snapshot.require("quality_metrics")
    params: list[Any] = []
    where = "true"
    if source_table:
        where, params = "source_table = ?", [source_table]
    return snapshot.query(
        f"""
        select source_table, metric, subject,
               arg_max(value, recorded_at) as value,
               arg_max(value_text, recorded_at) as value_text,
               max(recorded_at) as recorded_at
        from quality_metrics where {where}
        group by all order by source_table, metric, subject
        """,
        params,
    )


def kpi_rows_since(snapshot: Snapshot, since: datetime, where: KpiFilter) -> pd.DataFrame:
    """kpi_minute rows of minutes from `since` on."""
    snapshot.require("kpi_minute")
    params: list[Any] = [since.date(), since]
    filters = where.sql(params)
    return snapshot.query(
        "select * exclude (avg_order_value_minor, fraud_flag_rate, minute_date) from kpi_minute "
        f"where minute_date >= ? and minute >= ? and {filters} "
        "order by minute, country, channel, currency, category",
        params,
    )
