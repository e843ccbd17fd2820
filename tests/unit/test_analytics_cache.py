"""The analytics result cache and the response conversions: pure logic."""

from __future__ import annotations

from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest

from ecap.v1 import analytics_pb2 as A
from services.analytics.cache import VersionedCache
from services.analytics.convert import message, page_token, read_page_token
from services.mesh.errors import InvalidArgument


def test_a_result_is_computed_once_per_request_and_versions():
    cache = VersionedCache(10)
    calls = []

    def compute(value):
        def go():
            calls.append(value)
            return value

        return go

    versions = (("rfm", 3),)
    assert cache.get_or_compute("GetSegments", b"r", versions, compute("a")) == "a"
    assert cache.get_or_compute("GetSegments", b"r", versions, compute("b")) == "a"
    assert cache.get_or_compute("GetSegments", b"other", versions, compute("c")) == "c"
    assert cache.get_or_compute("GetSegments", b"r", (("rfm", 4),), compute("d")) == "d"
    assert calls == ["a", "c", "d"]


def test_a_new_version_drops_exactly_the_entries_that_read_the_replaced_one():
    cache = VersionedCache(10)
    cache.advance((("rfm", 1), ("clv", 1)))
    cache.get_or_compute("ListCustomers", b"", (("clv", 1), ("rfm", 1)), lambda: "both")
    cache.get_or_compute("GetSegments", b"", (("rfm", 1),), lambda: "rfm")
    cache.get_or_compute("GetCohorts", b"", (("cohorts", 7),), lambda: "cohorts")
    cache.get_or_compute("GetSegments", b"old", (("rfm", 0),), lambda: "pinned")
    assert len(cache) == 4

    cache.advance((("rfm", 2),))

    assert len(cache) == 2  # the two that read rfm's replaced newest version went
    assert cache.get_or_compute("GetCohorts", b"", (("cohorts", 7),), lambda: "x") == "cohorts"
    assert cache.get_or_compute("GetSegments", b"old", (("rfm", 0),), lambda: "x") == "pinned"
    cache.advance((("rfm", 1),))  # an older version seen late changes nothing
    assert len(cache) == 2


def test_the_cache_is_bounded_least_recently_used_first():
    cache = VersionedCache(2)
    for name in ("a", "b"):
        cache.get_or_compute("r", name, (), lambda name=name: name)
    cache.get_or_compute("r", "a", (), lambda: "again")  # a is now the most recent
    cache.get_or_compute("r", "c", (), lambda: "c")
    assert cache.get_or_compute("r", "a", (), lambda: "new a") == "a"
    assert cache.get_or_compute("r", "b", (), lambda: "new b") == "new b"
    off = VersionedCache(0)
    off.get_or_compute("r", "a", (), lambda: "a")
    assert len(off) == 0


def test_rows_become_messages_by_field_name_with_nulls_left_unset():
    row = {
        "customer_id": "c-1",
        "segment": "Champions",
        "r": np.int32(5),
        "frequency": np.int64(7),
        "monetary_minor": 1200,
        "clv_minor": float("nan"),
        "p_alive": 0.5,
        "churn_band": None,
        "unrelated": "ignored",
    }
    summary = message(A.CustomerSummary, row)
    assert (summary.customer_id, summary.r, summary.frequency) == ("c-1", 5, 7)
    assert not summary.HasField("clv_minor") and summary.p_alive == 0.5
    cell = message(A.CohortCell, {"cohort_month": date(2026, 9, 1), "month_offset": 2})
    assert cell.cohort_month == "2026-09-01"
    # DuckDB's date columns reach pandas as naive midnight timestamps: still a day.
    point = message(A.ForecastPoint, {"day": pd.Timestamp("2026-10-16"), "revenue_minor": 5})
    assert point.day == "2026-10-16"
    moment = pd.Timestamp(datetime(2026, 9, 1, 12, tzinfo=UTC))
    tx = message(A.RecentTransaction, {"occurred_at": moment}, {"occurred_time": "occurred_at"})
    assert tx.occurred_time.ToDatetime(tzinfo=UTC) == moment.to_pydatetime()
    rule = message(A.BasketRule, {"antecedent": np.array(["p-1", "p-2"]), "lift": 2.0})
    assert list(rule.antecedent) == ["p-1", "p-2"]


def test_a_page_token_pins_versions_and_refuses_other_filters_or_garbage():
    filters = {"segment": "Lost", "churn_band": ""}
    token = page_token(50, {"rfm": 3, "clv": -1}, filters)
    assert read_page_token(token, filters) == (50, {"rfm": 3, "clv": -1})
    with pytest.raises(InvalidArgument, match="other filters") as caught:
        read_page_token(token, {"segment": "At Risk", "churn_band": ""})
    assert caught.value.violations[0].field == "page_token"
    with pytest.raises(InvalidArgument, match="not a token"):
        read_page_token("garbage!", filters)
