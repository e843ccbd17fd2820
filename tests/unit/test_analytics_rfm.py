"""RFM scores and segments on a table scored by hand, plus the rules of the segment grid."""

from __future__ import annotations

import pandas as pd
import pytest

from spark.analytics.rfm import SEGMENTS, RfmInputError, rfm_segments, segment_of, segment_summary

# Ten customers. Scores by hand with score = 1 + floor(5 * worse / 10), where `worse` counts
# the customers with a strictly worse value (larger recency; smaller frequency or monetary):
#
#   id   recency  worse R | freq  worse F | monetary worse M | FM=(F+M+1)//2  segment (R, FM)
#   c1        3     9   5 |   12    9   5 |     900    9   5 |  5            Champions (5, 5)
#   c2       10     7   4 |    8    7   4 |     400    7   4 |  4            Champions (4, 4)
#   c3       10     7   4 |    1    0   1 |      35    2   2 |  2 (1.5 up)   Potential Loyalist
#   c4       40     6   4 |    5    5   3 |     250    5   3 |  3            Potential Loyalist
#   c5       60     5   3 |    1    0   1 |      20    1   1 |  1            About to Sleep
#   c6       90     4   3 |    3    4   3 |     120    4   3 |  3            Need Attention
#   c7      120     3   2 |    9    8   5 |     600    8   5 |  5            At Risk
#   c8      200     2   2 |    2    3   2 |      80    3   2 |  2            Hibernating
#   c9      300     1   1 |    1    0   1 |      15    0   1 |  1            Lost
#   c10     365     0   1 |    6    6   4 |     300    6   4 |  4            Can't Lose Them
#
# c2 and c3 tie on recency (10 days): both count 7 worse customers and both get R = 4; the
# three customers with one purchase all get F = 1.
CUSTOMERS = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(1, 11)],
        "recency_days": [3, 10, 10, 40, 60, 90, 120, 200, 300, 365],
        "frequency": [12, 8, 1, 5, 1, 3, 9, 2, 1, 6],
        "monetary": [900.0, 400.0, 35.0, 250.0, 20.0, 120.0, 600.0, 80.0, 15.0, 300.0],
    }
)
EXPECTED = pd.DataFrame(
    {
        "customer_id": [f"c{i}" for i in range(1, 11)],
        "r": [5, 4, 4, 4, 3, 3, 2, 2, 1, 1],
        "f": [5, 4, 1, 3, 1, 3, 5, 2, 1, 4],
        "m": [5, 4, 2, 3, 1, 3, 5, 2, 1, 4],
        "segment": [
            "Champions",
            "Champions",
            "Potential Loyalist",
            "Potential Loyalist",
            "About to Sleep",
            "Need Attention",
            "At Risk",
            "Hibernating",
            "Lost",
            "Can't Lose Them",
        ],
    }
)

# Putler's R vs F&M ranges ("RFM Analysis for Successful Customer Segmentation"), inclusive.
PUTLER_RANGES = {
    "Champions": ((4, 5), (4, 5)),
    "Loyal": ((2, 5), (3, 5)),
    "Potential Loyalist": ((3, 5), (1, 3)),
    "New": ((4, 5), (0, 1)),
    "Promising": ((3, 4), (0, 1)),
    "Need Attention": ((2, 3), (2, 3)),
    "About to Sleep": ((2, 3), (0, 2)),
    "At Risk": ((0, 2), (2, 5)),
    "Can't Lose Them": ((0, 1), (4, 5)),
    "Hibernating": ((1, 2), (1, 2)),
    "Lost": ((0, 2), (0, 2)),
}


def test_scores_and_segments_match_the_hand_computed_table():
    scored = rfm_segments(CUSTOMERS)

    pd.testing.assert_frame_equal(
        scored[["customer_id", "r", "f", "m", "segment"]], EXPECTED, check_dtype=False
    )
    pd.testing.assert_frame_equal(
        scored[["customer_id", "recency_days", "frequency", "monetary"]], CUSTOMERS
    )


def test_scores_do_not_depend_on_row_order():
    shuffled = CUSTOMERS.sample(frac=1.0, random_state=7)

    scored = rfm_segments(shuffled).set_index("customer_id").loc[EXPECTED["customer_id"]]

    assert scored["r"].tolist() == EXPECTED["r"].tolist()
    assert scored["segment"].tolist() == EXPECTED["segment"].tolist()


def test_all_tied_values_share_the_lowest_score():
    customers = CUSTOMERS.assign(frequency=1)
    assert set(rfm_segments(customers)["f"]) == {1}


def test_segment_summary_counts_customers_and_revenue_per_segment():
    summary = segment_summary(rfm_segments(CUSTOMERS)).set_index("segment")

    # Champions: c1 + c2 = 900 + 400; Potential Loyalist: c3 + c4 = 35 + 250.
    assert summary.loc["Champions", "customers"] == 2
    assert summary.loc["Champions", "revenue"] == pytest.approx(1300.0)
    assert summary.loc["Potential Loyalist", "revenue"] == pytest.approx(285.0)
    assert summary.loc["Lost", "revenue"] == pytest.approx(15.0)
    assert summary.loc[["Loyal", "New", "Promising"], "customers"].tolist() == [0, 0, 0]
    assert summary["customers"].sum() == 10
    assert summary["revenue"].sum() == pytest.approx(2720.0)
    assert summary.loc["Champions", "revenue_share"] == pytest.approx(1300.0 / 2720.0)
    assert summary.loc["Potential Loyalist", "average_revenue"] == pytest.approx(142.5)
    assert set(summary.index) == set(SEGMENTS) and len(SEGMENTS) == 11


def test_segment_summary_lists_segments_by_size_then_revenue():
    order = segment_summary(rfm_segments(CUSTOMERS))["segment"].tolist()
    assert order == [
        "Champions",
        "Potential Loyalist",
        "At Risk",
        "Can't Lose Them",
        "Need Attention",
        "Hibernating",
        "About to Sleep",
        "Lost",
        "Loyal",
        "New",
        "Promising",
    ]


def test_every_grid_cell_lies_in_its_segments_published_range_and_all_segments_occur():
    seen = set()
    for r in range(1, 6):
        for f in range(1, 6):
            for m in range(1, 6):
                segment = segment_of(r, f, m)
                fm = (f + m + 1) // 2
                (r_low, r_high), (fm_low, fm_high) = PUTLER_RANGES[segment]
                assert r_low <= r <= r_high and fm_low <= fm <= fm_high, (r, f, m, segment)
                seen.add(segment)
    assert seen == set(PUTLER_RANGES)


def test_new_and_promising_are_the_recent_single_low_buyers():
    assert segment_of(5, 1, 1) == "New"
    assert segment_of(4, 1, 1) == "Promising"
    assert segment_of(3, 5, 4) == "Loyal"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"recency_days": [-1, 10, 10, 40, 60, 90, 120, 200, 300, 365]}, "'recency_days' must"),
        ({"monetary": [float("nan")] + [1.0] * 9}, "'monetary' must be a finite number >= 0"),
        ({"customer_id": ["c1"] * 10}, "'customer_id' must be unique"),
    ],
)
def test_bad_input_is_rejected_naming_the_column_and_rule(change, message):
    with pytest.raises(RfmInputError, match=message):
        rfm_segments(CUSTOMERS.assign(**change))


def test_missing_columns_and_empty_tables_are_rejected():
    with pytest.raises(RfmInputError, match="no column"):
        rfm_segments(CUSTOMERS.drop(columns="monetary"))
    with pytest.raises(RfmInputError, match="no rows"):
        rfm_segments(CUSTOMERS.iloc[:0])
    with pytest.raises(RfmInputError, match=r"score f must be in 1\.\.5"):
        segment_of(3, 6, 1)
