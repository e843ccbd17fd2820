"""Every analytics batch job, in the order `run all` runs them."""

from __future__ import annotations

from spark.jobs.analytics import attribution, basket, clv, cohorts, funnel, revenue_daily, rfm
from spark.jobs.analytics.runner import Job

JOBS: tuple[Job, ...] = (
    rfm.JOB,
    clv.JOB,
    cohorts.JOB,
    funnel.JOB,
    attribution.JOB,
    basket.JOB,
    revenue_daily.JOB,
)
