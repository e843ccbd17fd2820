"""Model contributions in plain words: "amount 6.2x the customer's 30-day average".

XGBoost's `pred_contribs` give each feature's push on the log-odds of fraud for one row;
the features that pushed the risk up the most become the decision's model reasons, each
described from its value.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from ecap.v1 import common_pb2

_WINDOWS = {"1h": "hour", "1d": "day", "7d": "7 days", "30d": "30 days"}
_NOVELTY = {"device": "device", "ip": "IP address", "country": "country"}


def _duration(seconds: float) -> str:
    for unit, size in (("days", 86_400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f} {unit}"
    return f"{seconds:.0f} seconds"


def _describe(name: str, value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        if name in {"seconds_since_last_transaction", "km_from_last_location"}:
            return "no earlier transaction of the customer in 30 days"
        return f"{name.replace('_', ' ')} unknown (no history)"
    if name == "amount":
        return f"amount {value:,.2f}"
    if name == "amount_to_customer_mean_30d":
        return f"amount {value:.1f}x the customer's 30-day average"
    if name == "amount_zscore_30d":
        return f"amount {value:+.1f} standard deviations from the customer's 30-day mean"
    if name == "seconds_since_last_transaction":
        return f"{_duration(value)} since the customer's previous transaction"
    if name == "km_from_last_location":
        return f"{value:,.0f} km from the previous transaction's location"
    if name == "kmh_from_last_location":
        return f"implied travel speed {value:,.0f} km/h since the previous transaction"
    if match := re.fullmatch(r"new_(device|ip|country)", name):
        thing = _NOVELTY[match[1]]
        return (
            f"a {thing} new for this customer" if value else f"a {thing} the customer used before"
        )
    if match := re.fullmatch(r"customer_count_(\w+)", name):
        return f"{value:.0f} earlier transactions by the customer in the last {_WINDOWS[match[1]]}"
    if match := re.fullmatch(r"customer_spend_(\w+)", name):
        return f"customer spent {value:,.2f} in the last {_WINDOWS[match[1]]}"
    if match := re.fullmatch(r"customer_amount_(mean|std)_30d", name):
        what = "average amount" if match[1] == "mean" else "amount spread"
        return f"customer's 30-day {what} {value:,.2f}"
    if match := re.fullmatch(r"card_count_(\w+)", name):
        return f"card used {value:.0f} times in the last {_WINDOWS[match[1]]}"
    if match := re.fullmatch(r"merchant_count_(\w+)", name):
        return f"merchant had {value:,.0f} transactions in the last {_WINDOWS[match[1]]}"
    if match := re.fullmatch(r"merchant_fraud_rate_(\w+)", name):
        return f"merchant's known fraud rate {value:.0%} over {_WINDOWS[match[1]]}"
    if match := re.fullmatch(r"merchant_labelled_count_(\w+)", name):
        return f"{value:,.0f} labelled transactions at the merchant over {_WINDOWS[match[1]]}"
    if name == "is_night":
        return "at night (00:00-06:00 UTC)" if value else "in the daytime"
    if name == "is_weekend":
        return "at the weekend" if value else "on a weekday"
    if match := re.fullmatch(r"(payment_method|channel)_(\w+)", name):
        what = match[2].replace("_", " ")
        if match[1] == "payment_method":
            return f"paid by {what}" if value else f"not paid by {what}"
        return f"through the {what} channel" if value else f"not through the {what} channel"
    return f"{name.replace('_', ' ')} = {value:g}"


def describe_feature(name: str, value: float | None) -> str:
    """One feature's value in plain words."""
    try:
        return _describe(name, value)
    except KeyError:
        return f"{name.replace('_', ' ')} = {value}"


def model_reasons(
    names: Sequence[str],
    contributions: np.ndarray,
    values: Mapping[str, float | None],
    limit: int,
    describe: Callable[[str, float | None], str] = describe_feature,
) -> list[common_pb2.DecisionReason]:
    """The `limit` features that raised the risk the most, largest push first."""
    order = np.argsort(-contributions)
    reasons = []
    for index in order[:limit]:
        push = float(contributions[index])
        if push <= 0:
            break
        name = names[index]
        reasons.append(
            common_pb2.DecisionReason(
                code=f"MODEL_{name.upper()}",
                description=describe(name, values.get(name)),
                source=common_pb2.REASON_SOURCE_MODEL,
                contribution=push,
            )
        )
    return reasons


def churn_drivers(
    names: Sequence[str],
    contributions: np.ndarray,
    values: Mapping[str, float | None],
    limit: int,
) -> list[common_pb2.DecisionReason]:
    """The `limit` features with the largest effect on churn risk either way, largest first
    (a negative contribution lowers the risk)."""
    order = np.argsort(-np.abs(contributions))
    drivers = []
    for index in order[:limit]:
        push = float(contributions[index])
        if push == 0:
            break
        name = names[index]
        value = values.get(name)
        shown = "unknown" if value is None or math.isnan(value) else f"{value:,.2f}"
        direction = "raises" if push > 0 else "lowers"
        drivers.append(
            common_pb2.DecisionReason(
                code=f"CHURN_{name.upper()}",
                description=f"{name.replace('_', ' ')} {shown} {direction} the risk",
                source=common_pb2.REASON_SOURCE_MODEL,
                contribution=push,
            )
        )
    return drivers
