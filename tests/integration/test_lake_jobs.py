"""The analytics batch jobs on real Spark and Delta: small silver tables written here, each
job's gold output checked against figures worked out in this file by another route (by hand
or in pandas), and every run's lineage in gold `job_runs`.

One lake (module scope) holds the shared silver inputs; the lineage tests write their own.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from deltalake import DeltaTable
from pyspark.sql import SparkSession
from scipy import special

from spark.config import SparkSettings
from spark.streaming.sinks import ensure_table
from spark.tables import TABLES
from tests.support.lake_jobs import job_runs, read_gold, run, write_rows_with_spark

pytestmark = pytest.mark.integration

DAY = timedelta(days=1)


def _transaction(tid: str, customer: str | None, at: datetime, amount: int, **extra: Any) -> dict:
    return {
        "transaction_id": tid,
        "customer_id": customer,
        "amount_minor": amount,
        "currency": "EUR",
        "occurred_at": at,
        "occurred_date": at.date(),
        **extra,
    }


# Five customers and a guest. As of the newest transaction (a's, 30 Nov 12:00):
#   customer  purchases (date: amount)                 recency  frequency  monetary
#   a         10 Oct:100  20 Nov:200  30 Nov:300           0 d        3         600
#   b         29 Nov:50                                    1 d        1          50
#   c         5 Sep:1000  6 Sep:1000                      85 d        2        2000
#   d         1 Aug:10                                   121 d        1          10
#   e         15 Nov:80  25 Nov:80  26 Nov:80  27 Nov:80   3 d        4         320
# Scores with n = 5: score = 1 + (customers strictly worse); FM = (F + M + 1) // 2:
#   a R5 F4 M4 FM4 Champions | b R4 F1 M2 FM2 Potential Loyalist | c R2 F3 M5 FM4 At Risk
#   d R1 F1 M1 FM1 Lost      | e R3 F5 M3 FM4 Loyal
RFM_PURCHASES = {
    "a": [((10, 10), 100), ((11, 20), 200), ((11, 30), 300)],
    "b": [((11, 29), 50)],
    "c": [((9, 5), 1000), ((9, 6), 1000)],
    "d": [((8, 1), 10)],
    "e": [((11, 15), 80), ((11, 25), 80), ((11, 26), 80), ((11, 27), 80)],
}
RFM_EXPECTED = {
    "a": (5, 4, 4, "Champions"),
    "b": (4, 1, 2, "Potential Loyalist"),
    "c": (2, 3, 5, "At Risk"),
    "d": (1, 1, 1, "Lost"),
    "e": (3, 5, 3, "Loyal"),
}


def _on(month: int, day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def rfm_transactions() -> list[dict]:
    rows = [
        _transaction(
            f"{customer}-{month:02}-{day:02}",
            customer,
            _on(month, day),
            amount,
            country="FR" if customer in "de" else "DE",
            channel="EMAIL" if customer == "e" else "PAID_SEARCH",
        )
        for customer, purchases in RFM_PURCHASES.items()
        for (month, day), amount in purchases
    ]
    rows.append(_transaction("guest-1", None, _on(11, 30, 9), 999, country="DE", channel="DIRECT"))
    return rows


@pytest.fixture(scope="module")
def lake(spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> SparkSettings:
    """A lake with the shared silver inputs."""
    settings = SparkSettings(lake_uri=str(tmp_path_factory.mktemp("jobs-lake")))
    write_rows_with_spark(spark, settings, "transactions", rfm_transactions())
    return settings


def test_rfm_scores_and_segments_match_the_hand_worked_table(
    spark: SparkSession, lake: SparkSettings
) -> None:
    record, messages = run(spark, lake, "rfm")
    assert record.status == "succeeded"
    # Recency, frequency and monetary by another route: pandas over the rows written.
    rows = pd.DataFrame([r for r in rfm_transactions() if r["customer_id"]])
    as_of = rows["occurred_at"].max()
    grouped = rows.groupby("customer_id").agg(
        last=("occurred_at", "max"),
        frequency=("amount_minor", "size"),
        monetary=("amount_minor", "sum"),
    )
    rfm = read_gold(lake, "rfm").set_index("customer_id").sort_index()
    assert list(rfm.index) == ["a", "b", "c", "d", "e"]
    expected_recency = (as_of - grouped["last"]).dt.total_seconds() / 86_400
    assert rfm["recency_days"].tolist() == pytest.approx(expected_recency.tolist())
    assert rfm["recency_days"].tolist() == pytest.approx([0, 1, 85, 121, 3])
    assert rfm["frequency"].tolist() == grouped["frequency"].tolist() == [3, 1, 2, 1, 4]
    assert rfm["monetary"].tolist() == grouped["monetary"].tolist() == [600, 50, 2000, 10, 320]
    scored = {c: (row.r, row.f, row.m, row.segment) for c, row in rfm.iterrows()}
    assert scored == RFM_EXPECTED
    assert (rfm["as_of"] == pd.Timestamp(as_of)).all()

    segments = read_gold(lake, "rfm_segments").set_index("segment")
    assert len(segments) == 11
    expected = {
        "Champions": 600,
        "Potential Loyalist": 50,
        "At Risk": 2000,
        "Lost": 10,
        "Loyal": 320,
    }
    for segment, row in segments.iterrows():
        revenue = expected.get(segment, 0)
        assert (row.customers, row.revenue_minor) == (1 if revenue else 0, revenue), segment
    assert segments.loc["At Risk", "revenue_share"] == pytest.approx(2000 / 2980)
    assert segments.loc["Loyal", "customer_share"] == pytest.approx(0.2)
    assert any("wrote rfm v" in message for message in messages)


def test_a_job_records_its_lineage_and_a_rerun_sees_the_newer_input(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    write_rows_with_spark(spark, lake, "transactions", rfm_transactions())
    first, _ = run(spark, lake, "cohorts")
    # A new customer in December: a new cohort, and every older one gains a month.
    write_rows_with_spark(spark, lake, "transactions", [_transaction("f-1", "f", _on(12, 1), 70)])
    second, _ = run(spark, lake, "cohorts")

    runs = job_runs(lake)
    assert runs["run_id"].tolist() == [first.run_id, second.run_id]
    assert runs["job"].tolist() == ["cohorts", "cohorts"]
    assert runs["status"].tolist() == ["succeeded", "succeeded"]
    assert runs["error"].isna().all()
    # The first write made version 0 of transactions, the append version 1.
    assert runs["input_versions"].tolist() == [{"transactions": 0}, {"transactions": 1}]
    assert runs["output_versions"].tolist() == [{"cohorts": 0}, {"cohorts": 1}]
    # Cohort-months: 4 + 3 + 2 + 1 as of November (COHORTS_EXPECTED); as of December
    # 5 + 4 + 3 + 2 for August to November, plus December's own.
    assert runs["rows_written"].tolist() == [{"cohorts": 10}, {"cohorts": 15}]
    assert [p["as_of"] for p in runs["parameters"]] == [
        _on(11, 30).isoformat(),
        _on(12, 1).isoformat(),
    ]
    assert (runs["finished_at"] >= runs["started_at"]).all()
    assert (runs["duration_s"] > 0).all()
    # The versions recorded are the ones the outputs were computed from: time travel agrees.
    older = DeltaTable(TABLES["cohorts"].uri(lake), version=0).to_pandas()
    assert len(older) == 10 and older["cohort_month"].max() == date(2026, 11, 1)
    latest = read_gold(lake, "cohorts")
    assert latest["cohort_month"].max() == date(2026, 12, 1)


def test_jobs_over_empty_or_missing_inputs_write_empty_tables_and_say_so(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    record, messages = run(spark, lake, "rfm")
    assert record.status == "succeeded"
    assert record.input_versions == {"transactions": None}
    assert record.rows_written == {"rfm": 0, "rfm_segments": 0}
    assert any("transactions does not exist yet" in m for m in messages), messages
    assert any("hold no rows; writing empty rfm, rfm_segments" in m for m in messages), messages
    rfm = read_gold(lake, "rfm")
    assert rfm.empty and list(rfm.columns) == TABLES["rfm"].column_names

    ensure_table(spark, TABLES["transactions"], lake)  # exists now, without rows
    record, messages = run(spark, lake, "cohorts")
    assert record.input_versions == {"transactions": 0}
    assert record.rows_written == {"cohorts": 0}
    assert any("hold no rows; writing empty cohorts" in m for m in messages), messages


# --- cohorts --------------------------------------------------------------------------------
# Cohorts (first purchase month) of the customers above, as of November:
#   Aug: d            active Aug            | Sep: c  active Sep (2 orders)
#   Oct: a            active Oct, Nov (2)   | Nov: b, e  active Nov (1 + 4 orders)
COHORTS_EXPECTED = {
    # (cohort month, offset): (customers, active, orders, revenue)
    ("2026-08-01", 0): (1, 1, 1, 10),
    ("2026-08-01", 1): (1, 0, 0, 0),
    ("2026-08-01", 2): (1, 0, 0, 0),
    ("2026-08-01", 3): (1, 0, 0, 0),
    ("2026-09-01", 0): (1, 1, 2, 2000),
    ("2026-09-01", 1): (1, 0, 0, 0),
    ("2026-09-01", 2): (1, 0, 0, 0),
    ("2026-10-01", 0): (1, 1, 1, 100),
    ("2026-10-01", 1): (1, 1, 2, 500),
    ("2026-11-01", 0): (2, 2, 5, 370),
}


def test_cohorts_follow_each_first_purchase_month_up_to_the_as_of_month(
    spark: SparkSession, lake: SparkSettings
) -> None:
    run(spark, lake, "cohorts")
    cohorts = read_gold(lake, "cohorts")
    found = {
        (str(row.cohort_month), row.month_offset): (
            row.customers,
            row.active_customers,
            row.orders,
            row.revenue_minor,
        )
        for row in cohorts.itertuples()
    }
    assert found == COHORTS_EXPECTED
    # The same activity by another route: pandas month arithmetic over the rows written.
    rows = pd.DataFrame([r for r in rfm_transactions() if r["customer_id"]])
    month = rows["occurred_at"].dt.year * 12 + rows["occurred_at"].dt.month
    rows["offset"] = month - month.groupby(rows["customer_id"]).transform("min")
    active = rows.groupby("offset")["customer_id"].nunique().to_dict()
    by_offset = cohorts.groupby("month_offset")["active_customers"].sum()
    assert {k: v for k, v in by_offset.items() if v} == active
    retention = cohorts.set_index(["month_offset"]).query("customers == 2")["retention"]
    assert retention.tolist() == [1.0]
    assert len(cohorts.query("retention == 0")) == 5


# --- funnel and attribution: one silver events table -----------------------------------------
STEP_NAMES = ("PAGE_VIEW", "PRODUCT_VIEW", "ADD_TO_CART", "BEGIN_CHECKOUT", "PURCHASE")


def _event(
    n: int, session: str, kind: str, at: datetime, customer: str | None = None, **extra: Any
) -> dict:
    return {
        "event_id": f"e{n}",
        "event_type": kind,
        "session_id": session,
        "customer_id": customer,
        "occurred_at": at,
        "occurred_date": at.date(),
        **extra,
    }


def _session(
    session: str, device: str, channel: str | None, kinds: list[str], start: datetime
) -> list[tuple[str, str, datetime, dict]]:
    """A funnel session: its touch (when it has a channel), then `kinds` a minute apart."""
    events = []
    if channel:
        events.append((session, "MARKETING_TOUCH", start, {"touch_channel": channel}))
    for step, kind in enumerate(kinds, 1):
        events.append((session, kind, start + timedelta(minutes=step), {"device_type": device}))
    return events


# Funnel sessions; the steps each reaches in order, worked by hand:
#   s1 PAID_SEARCH MOBILE   all five in order                          -> 5
#   s2 EMAIL DESKTOP        page, cart, product, (cart missing after)  -> 2
#   s3 PAID_SEARCH DESKTOP  product, page, purchase                    -> 1 (product came first)
#   s4 no touch MOBILE      page, product, cart                        -> 3
#   s5 EMAIL MOBILE         page, product, cart, checkout, purchase    -> 5
#   s6 EMAIL MOBILE         cart, checkout                             -> 0
FUNNEL_SESSIONS = [
    ("s1", "MOBILE", "PAID_SEARCH", list(STEP_NAMES)),
    ("s2", "DESKTOP", "EMAIL", ["PAGE_VIEW", "ADD_TO_CART", "PRODUCT_VIEW"]),
    ("s3", "DESKTOP", "PAID_SEARCH", ["PRODUCT_VIEW", "PAGE_VIEW", "PURCHASE"]),
    ("s4", "MOBILE", None, ["PAGE_VIEW", "PRODUCT_VIEW", "ADD_TO_CART"]),
    ("s5", "MOBILE", "EMAIL", ["PAGE_VIEW", "SEARCH", *STEP_NAMES[1:]]),
    ("s6", "MOBILE", "EMAIL", ["ADD_TO_CART", "BEGIN_CHECKOUT"]),
]
FUNNEL_REACHED = {"s1": 5, "s2": 2, "s3": 1, "s4": 3, "s5": 5, "s6": 0}

# Marketing touches of customers (the transactions above are their conversions), 30-day
# lookback, as of 30 Nov 12:00. Journeys, worked by hand:
#   a 10 Oct (100): EMAIL/fall 9 Oct, PAID_SEARCH/brand 10 Oct 11:00
#   a 20 Nov (200): SOCIAL 1 Nov            a 30 Nov: no touch since 20 Nov
#   b 29 Nov (50): DISPLAY 28 Nov (EMAIL 1 Sep is beyond the lookback)
#   e 15 Nov (80): EMAIL/fall 14 Nov        e 26 Nov (80): PAID_SEARCH/brand 25 Nov 13:00
#   e, after its last purchase: SOCIAL 28 Nov (no conversion)
#   z (never bought): DISPLAY 29 Nov, EMAIL 29 Nov 13:00 (no conversion)
#   an anonymous touch: ignored.
# Conversions with touches: 5 of 11, revenue 510; without: a 30 Nov, c x2, d, e 25 and 27 Nov.
TOUCHES = [
    ("a", _on(10, 9), "EMAIL", "fall"),
    ("a", _on(10, 10, 11), "PAID_SEARCH", "brand"),
    ("a", _on(11, 1), "SOCIAL", None),
    ("b", _on(9, 1), "EMAIL", "fall"),
    ("b", _on(11, 28), "DISPLAY", None),
    ("e", _on(11, 14), "EMAIL", "fall"),
    ("e", _on(11, 25, 13), "PAID_SEARCH", "brand"),
    ("e", _on(11, 28), "SOCIAL", None),
    ("z", _on(11, 29), "DISPLAY", None),
    ("z", _on(11, 29, 13), "EMAIL", None),
    (None, _on(11, 29), "AFFILIATE", None),
]


def silver_events() -> list[dict]:
    rows, n = [], 0
    for index, (session, device, channel, kinds) in enumerate(FUNNEL_SESSIONS):
        for sid, kind, at, extra in _session(session, device, channel, kinds, _on(11, 2 + index)):
            n += 1
            rows.append(_event(n, sid, kind, at, **extra))
    for customer, at, channel, campaign in TOUCHES:
        n += 1
        rows.append(
            _event(
                n,
                f"touch-{n}",
                "MARKETING_TOUCH",
                at,
                customer,
                touch_channel=channel,
                campaign=campaign,
            )
        )
    return rows


def _funnel_by_pandas(events: pd.DataFrame) -> dict[tuple[str, str, int], int]:
    """Sessions per (channel, device, step) by another route: each step's earliest time at or
    after the previous step's, session by session."""
    reached = {}
    for session, group in events.groupby("session_id"):
        group = group.sort_values("occurred_at", kind="stable")
        touches = group[group["event_type"] == "MARKETING_TOUCH"]
        channel = touches["touch_channel"].iloc[0] if len(touches) else "NONE"
        devices = group["device_type"].dropna()
        device = devices.iloc[0] if len(devices) else "UNKNOWN"
        count, since = 0, None
        for step in STEP_NAMES:
            times = group[group["event_type"] == step]["occurred_at"]
            if since is not None:
                times = times[times >= since]
            if times.empty:
                break
            count, since = count + 1, times.min()
        reached[session] = (channel, device, count)
    counts: dict[tuple[str, str, int], int] = {}
    for channel, device, count in reached.values():
        for c in (channel, "*"):
            for d in (device, "*"):
                for step in range(len(STEP_NAMES)):
                    key = (c, d, step)
                    counts[key] = counts.get(key, 0) + (count > step)
    return counts


@pytest.fixture(scope="module")
def events_lake(lake: SparkSettings, spark: SparkSession) -> SparkSettings:
    write_rows_with_spark(spark, lake, "events", silver_events())
    return lake


def test_funnel_counts_a_step_only_after_the_previous_one_in_its_session(
    spark: SparkSession, events_lake: SparkSettings
) -> None:
    run(spark, events_lake, "funnel")
    funnel = read_gold(events_lake, "funnel")
    found = {
        (row.channel, row.device_type, row.step_index): row.sessions for row in funnel.itertuples()
    }
    events = pd.DataFrame(silver_events())
    assert found == _funnel_by_pandas(events)
    # The funnel sessions alone, by hand: at each step, the sessions that got that far.
    funnel_sessions = {s for s, *_ in FUNNEL_SESSIONS}
    by_hand = [sum(FUNNEL_REACHED[s] > k for s in funnel_sessions) for k in range(5)]
    assert by_hand == [5, 4, 3, 2, 2]
    total = funnel.query("channel == '*' and device_type == '*'").sort_values("step_index")
    assert total["step"].tolist() == list(STEP_NAMES)
    assert total["sessions"].tolist() == by_hand
    assert total["conversion_from_start"].tolist() == pytest.approx([1, 0.8, 0.6, 0.4, 0.4])
    assert total["conversion_from_previous"].tolist()[1:] == pytest.approx([0.8, 0.75, 2 / 3, 1])
    email_mobile = funnel.query("channel == 'EMAIL' and device_type == 'MOBILE'")
    assert email_mobile.sort_values("step_index")["sessions"].tolist() == [1, 1, 1, 1, 1]


def test_attribution_builds_journeys_per_purchase_and_credits_them(
    spark: SparkSession, events_lake: SparkSettings
) -> None:
    record, _ = run(spark, events_lake, "attribution")
    assert record.parameters["conversions_with_touches"] == 5
    assert record.parameters["conversions_without_touches"] == 6
    assert record.parameters["journeys"] == 7
    gold = read_gold(events_lake, "attribution")
    channel = gold[gold["level"] == "channel"]

    def credit(model: str, level: str = "channel") -> dict[str, tuple[float, float]]:
        rows = gold[(gold["model"] == model) & (gold["level"] == level)]
        key = rows["channel"] if level == "channel" else rows["channel"] + "/" + rows["campaign"]
        return {
            k: (c, r)
            for k, c, r in zip(key, rows["conversions"], rows["revenue_minor"], strict=True)
            if c or r
        }

    assert credit("last_touch") == {
        "PAID_SEARCH": (2, 180),
        "SOCIAL": (1, 200),
        "DISPLAY": (1, 50),
        "EMAIL": (1, 80),
    }
    assert credit("first_touch") == {
        "EMAIL": (2, 180),
        "SOCIAL": (1, 200),
        "DISPLAY": (1, 50),
        "PAID_SEARCH": (1, 80),
    }
    assert credit("linear") == {
        "EMAIL": (1.5, 130),
        "PAID_SEARCH": (1.5, 130),
        "SOCIAL": (1, 200),
        "DISPLAY": (1, 50),
    }
    assert credit("last_touch", "campaign") == {
        "PAID_SEARCH/brand": (2, 180),
        "SOCIAL/(none)": (1, 200),
        "DISPLAY/(none)": (1, 50),
        "EMAIL/fall": (1, 80),
    }
    for (model, level), rows in gold.groupby(["model", "level"]):
        assert rows["conversions"].sum() == pytest.approx(5), (model, level)
        assert rows["revenue_minor"].sum() == pytest.approx(510), (model, level)
    assert set(channel["model"]) == {
        "first_touch",
        "last_touch",
        "linear",
        "time_decay",
        "position_based",
        "markov",
        "shapley",
    }
    # AFFILIATE was touched only anonymously: no journey holds it.
    assert "AFFILIATE" not in set(gold["channel"])


# --- basket: the textbook table of Han, Kamber & Pei, "Data Mining", 3rd ed., Table 6.1 ------
TEXTBOOK_BASKETS = {
    "T100": ["I1", "I2", "I5"],
    "T200": ["I2", "I4"],
    "T300": ["I2", "I3"],
    "T400": ["I1", "I2", "I4"],
    "T500": ["I1", "I3"],
    "T600": ["I2", "I3"],
    "T700": ["I1", "I3"],
    "T800": ["I1", "I2", "I3", "I5"],
    "T900": ["I1", "I2", "I3"],
}
# Their frequent itemsets at a minimum support count of 2 (the book's Figure 6.2).
TEXTBOOK_ITEMSETS = {
    ("I1",): 6,
    ("I2",): 7,
    ("I3",): 6,
    ("I4",): 2,
    ("I5",): 2,
    ("I1", "I2"): 4,
    ("I1", "I3"): 4,
    ("I1", "I5"): 2,
    ("I2", "I3"): 4,
    ("I2", "I4"): 2,
    ("I2", "I5"): 2,
    ("I1", "I2", "I3"): 2,
    ("I1", "I2", "I5"): 2,
}


def test_basket_finds_the_textbook_itemsets_and_their_rules(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    items = [
        {
            "transaction_id": tid,
            "line_no": n,
            "product_id": item,
            "occurred_at": _on(11, 1),
            "occurred_date": _on(11, 1).date(),
        }
        for tid, basket in TEXTBOOK_BASKETS.items()
        for n, item in enumerate(basket)
    ]
    write_rows_with_spark(spark, lake, "transaction_items", items)
    # 0.2 x 9 baskets = 1.8: MLlib rounds the count up, to the book's 2.
    record, _ = run(spark, lake, "basket", basket_min_support=0.2, basket_min_confidence=0.5)
    assert record.parameters["baskets"] == 9
    itemsets = read_gold(lake, "basket_itemsets")
    found = {tuple(row.items): row.baskets for row in itemsets.itertuples()}
    assert found == TEXTBOOK_ITEMSETS
    assert (itemsets["support"] == itemsets["baskets"] / 9).all()

    # Rules X -> {y} by brute force over the baskets themselves.
    baskets = [set(b) for b in TEXTBOOK_BASKETS.values()]

    def support(items: set[str]) -> float:
        return sum(items <= basket for basket in baskets) / len(baskets)

    expected = {}
    for itemset in TEXTBOOK_ITEMSETS:
        for consequent in itemset if len(itemset) > 1 else ():
            antecedent = set(itemset) - {consequent}
            confidence = support(set(itemset)) / support(antecedent)
            if confidence >= 0.5:
                lift = confidence / support({consequent})
                expected[(tuple(sorted(antecedent)), consequent)] = (
                    support(set(itemset)),
                    confidence,
                    lift,
                )
    rules = read_gold(lake, "basket_rules")
    found_rules = {
        (tuple(row.antecedent), row.consequent[0]): (row.support, row.confidence, row.lift)
        for row in rules.itertuples()
    }
    assert set(found_rules) == set(expected)
    for key, values in expected.items():
        assert found_rules[key] == pytest.approx(values), key
    # The book's strong rules from {I1, I2, I5} (min_conf 70%): I1 ^ I5 => I2, I2 ^ I5 => I1.
    assert found_rules[(("I1", "I5"), "I2")][1] == 1.0
    assert found_rules[(("I2", "I5"), "I1")][1] == 1.0


# --- clv: a small synthetic shop, summarised in pandas and valued with the papers' formulas ---
CLV_START = datetime(2026, 6, 1, 10, tzinfo=UTC)
CLV_AS_OF = CLV_START + timedelta(days=119, hours=12)


def clv_purchases(seed: int = 7, customers: int = 150) -> list[tuple[str, int, int]]:
    """(customer, day, amount) drawn from a BG/NBD-like process with Gamma spend."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(customers):
        first = int(rng.integers(0, 90))
        rate, dropout = rng.gamma(0.8, 1 / 12), rng.beta(1.0, 4.0)
        scale = rng.gamma(4.0, 1 / 0.002)
        days, day = [first], first
        while True:
            day += max(1, int(rng.exponential(1 / rate)))
            if day > 119:
                break
            days.append(day)
            if rng.random() < dropout:
                break
        rows += [(f"c{c:03}", d, int(rng.gamma(6.0, scale / 6.0)) + 1) for d in days]
    return rows


def _conditional_expected_purchases(params: dict, t: float, x, t_x, big_t) -> np.ndarray:
    """E[Y(t) | x, t_x, T], eq. 10 of Fader, Hardie & Lee (2005) as printed."""
    r, alpha, a, b = params["r"], params["alpha"], params["a"], params["b"]
    hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + big_t + t))
    head = (
        (a + b + x - 1) / (a - 1) * (1 - ((alpha + big_t) / (alpha + big_t + t)) ** (r + x) * hyp)
    )
    dropped = np.where(x > 0, a / (b + x - 1) * ((alpha + big_t) / (alpha + t_x)) ** (r + x), 0.0)
    return head / (1 + dropped)


def test_clv_summarises_in_spark_and_values_customers_with_the_fitted_models(
    spark: SparkSession, tmp_path: Path
) -> None:
    lake = SparkSettings(lake_uri=str(tmp_path / "lake"))
    purchases = clv_purchases()
    write_rows_with_spark(
        spark,
        lake,
        "transactions",
        [
            _transaction(f"t{n}", c, CLV_START + timedelta(days=d, hours=n % 5), amount)
            for n, (c, d, amount) in enumerate(purchases)
        ]
        + [_transaction("late", "c000", CLV_AS_OF + DAY, 10_000)],  # after as_of: left out
    )
    record, messages = run(spark, lake, "clv", as_of=CLV_AS_OF)
    fit = record.parameters["fit"]

    # The summary by another route: pandas over (customer, day) totals.
    frame = pd.DataFrame(purchases, columns=["customer_id", "day", "amount"])
    daily = frame.groupby(["customer_id", "day"])["amount"].sum().reset_index()
    by = daily.groupby("customer_id")
    first = daily.sort_values("day").groupby("customer_id")["amount"].first()
    expected = pd.DataFrame(
        {
            "frequency": by.size() - 1,
            "recency": (by["day"].max() - by["day"].min()).astype(float),
            "T": (119 - by["day"].min()).astype(float),
        }
    )
    expected["monetary"] = np.where(
        expected["frequency"] > 0,
        (by["amount"].sum() - first) / expected["frequency"].clip(lower=1),
        0.0,
    )
    clv = read_gold(lake, "clv").set_index("customer_id").sort_index()
    assert list(clv.index) == list(expected.index)
    for column in ("frequency", "recency", "T", "monetary"):
        assert clv[column].tolist() == pytest.approx(expected[column].tolist()), column

    x, t_x, big_t = (expected[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    bg = fit["bgnbd"]
    odds = np.where(
        x > 0,
        bg["a"]
        / (bg["b"] + x - 1)
        * ((bg["alpha"] + big_t) / (bg["alpha"] + t_x)) ** (bg["r"] + x),
        0,
    )
    assert clv["p_alive"].to_numpy() == pytest.approx(1 / (1 + odds))
    horizon = 12 * 30.0
    assert (clv["horizon_days"] == horizon).all()
    assert clv["expected_purchases"].to_numpy() == pytest.approx(
        _conditional_expected_purchases(bg, horizon, x, t_x, big_t), rel=1e-6
    )
    gg = fit["gamma_gamma"]
    spend = (
        gg["p"] * (gg["gamma"] + x * expected["monetary"].to_numpy()) / (gg["p"] * x + gg["q"] - 1)
    )
    assert clv["expected_avg_spend"].to_numpy() == pytest.approx(spend)
    cumulative = [_conditional_expected_purchases(bg, 30.0 * i, x, t_x, big_t) for i in range(13)]
    value = sum((cumulative[i] - cumulative[i - 1]) / 1.01**i for i in range(1, 13))
    assert clv["clv"].to_numpy() == pytest.approx(spend * value, rel=1e-6)

    # The fit is stored twice: in clv_params and in the run's parameters.
    params = read_gold(lake, "clv_params")
    stored = {(row.model, row.parameter): row.value for row in params.itertuples()}
    assert stored == pytest.approx(
        {("bgnbd", k): bg[k] for k in ("r", "alpha", "a", "b")}
        | {("gamma_gamma", k): gg[k] for k in ("p", "q", "gamma")}
    )
    assert bg["customers"] == 150 and gg["customers"] == int((x > 0).sum())
    assert record.parameters["as_of"] == CLV_AS_OF
    assert job_runs(lake)["parameters"][0]["as_of"] == CLV_AS_OF.isoformat()
    assert record.parameters["horizon_periods"] == 12
    assert any("BG/NBD r=" in message for message in messages)


# --- revenue_daily: line items of some of the transactions above ------------------------------
#   transaction   category  qty  unit price  line total  unit cost
LINES = [
    ("a-10-10", "books", 1, 60, 60, 30),
    ("a-10-10", "toys", 2, 20, 40, 5),
    ("e-11-25", "books", 1, 80, 80, None),
    ("e-11-26", "books", 1, 50, 50, 20),
    ("e-11-26", "garden", 3, 10, 30, 4),
    ("guest-1", "toys", 9, 111, 999, 100),
]


def test_revenue_daily_matches_a_pandas_roll_up_of_orders_and_lines(
    spark: SparkSession, lake: SparkSettings
) -> None:
    items = [
        {
            "transaction_id": tid,
            "line_no": n,
            "product_id": f"p-{category}",
            "quantity": quantity,
            "unit_price_minor": price,
            "line_total_minor": total,
            "unit_cost_minor": cost,
            "category": category,
        }
        for n, (tid, category, quantity, price, total, cost) in enumerate(LINES)
    ]
    write_rows_with_spark(spark, lake, "transaction_items", items)
    run(spark, lake, "revenue_daily")
    gold = read_gold(lake, "revenue_daily")

    orders = pd.DataFrame(rfm_transactions())
    orders["day"] = orders["occurred_at"].dt.date
    lines = pd.DataFrame(
        LINES, columns=["transaction_id", "category", "units", "price", "revenue", "unit_cost"]
    )
    lines["cost"] = lines["units"] * lines["unit_cost"].fillna(0)
    per_order = lines.groupby("transaction_id")[["units", "cost"]].sum()
    whole = orders.join(per_order, on="transaction_id").fillna({"units": 0, "cost": 0})
    expected = {}
    keys = ["day", "country", "channel"]
    for (day, country, channel), group in whole.groupby(keys):
        revenue, cost = group["amount_minor"].sum(), group["cost"].sum()
        expected[(day, "*", country, channel)] = (
            len(group),
            group["units"].sum(),
            revenue,
            cost,
            revenue - cost,
            revenue / len(group),
        )
    joined = lines.merge(orders[["transaction_id", *keys]], on="transaction_id")
    for (day, category, country, channel), group in joined.groupby(["day", "category", *keys[1:]]):
        revenue, cost = group["revenue"].sum(), group["cost"].sum()
        n = group["transaction_id"].nunique()
        expected[(day, category, country, channel)] = (
            n,
            group["units"].sum(),
            revenue,
            cost,
            revenue - cost,
            revenue / n,
        )
    found = {
        (row.day, row.category, row.country, row.channel): (
            row.orders,
            row.units,
            row.revenue_minor,
            row.cost_minor,
            row.margin_minor,
            row.avg_order_value_minor,
        )
        for row in gold.itertuples()
    }
    assert set(found) == set(expected)
    for key, values in expected.items():
        assert found[key] == pytest.approx(tuple(float(v) for v in values)), key
    # One figure by hand: books on 26 Nov (FR, EMAIL): 50 revenue - 1 x 20 cost.
    assert found[(date(2026, 11, 26), "books", "FR", "EMAIL")][2:5] == (50, 20, 30)
