"""Silver transactions from the lake as feature rows, through delta-rs and DuckDB (no JVM).

Used to rebuild the online feature state at start-up, to test draft rules on history, and
for a customer's churn features. Paths come from the table catalogue (`spark.tables`).
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import structlog

from models.features.money import MINOR_DIGITS
from spark.config import SparkSettings
from spark.delta_read import arrow_dataset, open_delta
from spark.tables import TABLES

log = structlog.get_logger("ecap.scoring.lake")

# A transaction's label: the investigator's when there is one, else the simulator's ground
# truth (silver labels holds one row per transaction and source).
_ROWS_SQL = """
with label as (
    select transaction_id,
           arg_min(cast(is_fraud as double),
                   case source when 'investigator' then 0 else 1 end) as label
    from labels
    where is_fraud is not null
    group by transaction_id
)
select t.transaction_id, t.customer_id, t.merchant_id, t.session_id,
       t.amount_minor, t.currency,
       t.amount_minor / pow(10, case t.currency {minor_digits} else 2 end) as amount,
       t.occurred_at as ts,
       t.payment_method, t.channel, t.card_fingerprint, t.device_id, t.ip_address,
       t.country, t.latitude, t.longitude, t.item_count, label.label
from transactions t left join label using (transaction_id)
where {where}
order by t.occurred_at, t.transaction_id
"""
_MINOR_DIGITS_SQL = " ".join(f"when '{code}' then {n}" for code, n in MINOR_DIGITS.items())


def _connect() -> duckdb.DuckDBPyConnection:
    # In UTC, whatever the machine's zone: `cast(? as date)` must give the UTC date the
    # lake's date partitions hold (elsewhere the window's first day would be lost).
    db = duckdb.connect()
    db.execute("set TimeZone = 'UTC'")
    return db


def _dataset(name: str, settings: SparkSettings):
    table = open_delta(TABLES[name].uri(settings))
    return None if table is None else arrow_dataset(table)


def transaction_rows(
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    customer_id: str | None = None,
    settings: SparkSettings | None = None,
) -> pd.DataFrame:
    """Silver transactions with `since <= ts < until` (of one customer, if given), labelled,
    in time order, as feature rows; empty when the lake has no transactions table yet."""
    settings = settings or SparkSettings()
    transactions = _dataset("transactions", settings)
    if transactions is None:
        log.info("the lake has no silver transactions yet", lake=settings.lake_uri)
        return pd.DataFrame(columns=["transaction_id", "customer_id", "merchant_id", "ts"])
    labels = _dataset("labels", settings)
    db = _connect()
    db.register("transactions", transactions)
    if labels is not None:
        db.register("labels", labels)
    else:
        db.execute("create table labels (transaction_id varchar, is_fraud boolean, source varchar)")
    where, params = ["true"], []
    if since is not None:
        where.append("t.occurred_date >= cast(? as date) and t.occurred_at >= ?")
        params += [since, since]
    if until is not None:
        where.append("t.occurred_at < ?")
        params.append(until)
    if customer_id is not None:
        where.append("t.customer_id = ?")
        params.append(customer_id)
    sql = _ROWS_SQL.format(where=" and ".join(where), minor_digits=_MINOR_DIGITS_SQL)
    frame = db.execute(sql, params).df()
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    return frame


def newest_transaction_time(settings: SparkSettings | None = None) -> datetime | None:
    """The time of the newest silver transaction, or None without any."""
    transactions = _dataset("transactions", settings or SparkSettings())
    if transactions is None:
        return None
    db = _connect()
    db.register("transactions", transactions)
    (newest,) = db.execute("select max(occurred_at) from transactions").fetchone()
    return None if newest is None else pd.Timestamp(newest).tz_convert("UTC").to_pydatetime()


def customer_history(
    customer_id: str, *, since: datetime, until: datetime, settings: SparkSettings | None = None
) -> dict[str, pd.DataFrame]:
    """One customer's churn sources from silver, in time order: `transactions` (feature
    rows), `events` (customer_id, session_id, ts) and `customers` (profile versions with
    signed_up_at, ts = valid_from)."""
    settings = settings or SparkSettings()
    history = {
        "transactions": transaction_rows(
            since=since, until=until, customer_id=customer_id, settings=settings
        )
    }
    queries = {
        "events": (
            "select customer_id, session_id, occurred_at as ts from events "
            "where customer_id = ? and occurred_date >= cast(? as date) "
            "and occurred_at >= ? and occurred_at < ? order by occurred_at"
        ),
        "customers": (
            "select customer_id, signed_up_at, coalesce(valid_from, updated_at) as ts "
            "from customers where customer_id = ? and signed_up_at is not null "
            "and coalesce(valid_from, updated_at) < ? order by ts"
        ),
    }
    params = {"events": [customer_id, since, since, until], "customers": [customer_id, until]}
    for name, sql in queries.items():
        dataset = _dataset(name, settings)
        if dataset is None:
            history[name] = pd.DataFrame(columns=["customer_id", "ts"])
            continue
        db = _connect()
        db.register(name, dataset)
        frame = db.execute(sql, params[name]).df()
        for column in ("ts", "signed_up_at"):
            if column in frame:
                frame[column] = pd.to_datetime(frame[column], utc=True)
        history[name] = frame
    return history
