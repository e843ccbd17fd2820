"""Every analytics batch job, in the order `run all` runs them."""

from __future__ import annotations

from spark.jobs.analytics import (
    attribution,
    basket,
    churn_scores,
    clv,
    cohorts,
    forecast,
    funnel,
    geography,
    products,
    recommendations,
    revenue_daily,
    rfm,
)
from spark.jobs.analytics.runner import Job

JOBS: tuple[Job, ...] = (
    rfm.JOB,
    clv.JOB,
    cohorts.JOB,
    funnel.JOB,
    attribution.JOB,
    basket.JOB,
    revenue_daily.JOB,
    products.JOB,
    forecast.JOB,
    geography.JOB,
    recommendations.JOB,
    # Last: it fails when the model store holds no churn model, and a failure ends the round.
    churn_scores.JOB,
)
