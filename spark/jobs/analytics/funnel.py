"""Funnel: how many sessions reach each journey step in order, per channel and device type.

Steps: PAGE_VIEW -> PRODUCT_VIEW -> ADD_TO_CART -> BEGIN_CHECKOUT -> PURCHASE. A session
reaches step k when its events, in time order, hold steps 1..k one after the other (each at
or after the previous one; other events may come between): a purchase without a product
view before it counts for the page view only. Walking the time-ordered steps once and
advancing whenever the next expected step appears finds the furthest step reached (matching
the earliest occurrence of each step can only leave more room for the later ones).

A session's channel is the touch_channel of its first marketing touch ('NONE' without one),
its device type that of its first event with one ('UNKNOWN' without). Rows are per (channel,
device type), per channel and per device type across the other ('*'), and over all ('*', '*').
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark.jobs.analytics.runner import Job, JobContext, JobOutput
from spark.tables import ALL_CATEGORIES

STEPS = ("PAGE_VIEW", "PRODUCT_VIEW", "ADD_TO_CART", "BEGIN_CHECKOUT", "PURCHASE")
TOUCH = "MARKETING_TOUCH"
NO_CHANNEL = "NONE"
NO_DEVICE = "UNKNOWN"


def steps_reached(events: DataFrame) -> DataFrame:
    """One row per session: channel, device_type and `reached`, the steps done in order."""
    step_index = F.array_position(F.array(*map(F.lit, STEPS)), F.col("event_type")) - 1
    steps = F.array_sort(
        F.collect_list(
            F.when(step_index >= 0, F.struct(F.col("occurred_at"), step_index.alias("step")))
        )
    )
    reached = F.aggregate(
        steps, F.lit(0), lambda done, event: F.when(event["step"] == done, done + 1).otherwise(done)
    )
    touch = F.col("event_type") == TOUCH
    return (
        events.where(F.col("session_id").isNotNull())
        .groupBy("session_id")
        .agg(
            reached.alias("reached"),
            F.min_by(
                F.when(touch, F.col("touch_channel")),
                F.when(touch & F.col("touch_channel").isNotNull(), F.col("occurred_at")),
            ).alias("channel"),
            F.min_by(
                F.col("device_type"), F.when(F.col("device_type").isNotNull(), F.col("occurred_at"))
            ).alias("device_type"),
        )
        .fillna({"channel": NO_CHANNEL, "device_type": NO_DEVICE})
    )


def transform(events: DataFrame) -> DataFrame:
    """Gold `funnel` from silver events."""
    sessions = steps_reached(events)
    counts = sessions.cube("channel", "device_type").agg(
        F.grouping("channel").alias("all_channels"),
        F.grouping("device_type").alias("all_devices"),
        *(F.count_if(F.col("reached") > k).alias(f"s{k}") for k in range(len(STEPS))),
    )
    rows = counts.select(
        F.when(F.col("all_channels") == 1, F.lit(ALL_CATEGORIES))
        .otherwise(F.col("channel"))
        .alias("channel"),
        F.when(F.col("all_devices") == 1, F.lit(ALL_CATEGORIES))
        .otherwise(F.col("device_type"))
        .alias("device_type"),
        F.inline(
            F.array(
                *(
                    F.struct(
                        F.lit(k).alias("step_index"),
                        F.lit(step).alias("step"),
                        F.col(f"s{k}").alias("sessions"),
                        (F.try_divide(F.col(f"s{k}"), F.col(f"s{k - 1}")) if k else F.lit(None))
                        .cast("double")
                        .alias("conversion_from_previous"),
                        F.try_divide(F.col(f"s{k}"), F.col("s0")).alias("conversion_from_start"),
                    )
                    for k, step in enumerate(STEPS)
                )
            )
        ),
    )
    return rows


def compute(inputs: Mapping[str, DataFrame], context: JobContext) -> JobOutput:
    """The job's glue."""
    return JobOutput({"funnel": transform(inputs["events"])}, {"steps": list(STEPS)})


JOB = Job(
    name="funnel",
    description="sessions reaching each funnel step in order, by channel and device type",
    reads=("events",),
    writes=("funnel",),
    compute=compute,
)
