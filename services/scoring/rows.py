"""A transaction as the feature executors and the rules see it.

`feature_row` gives the column names the feature declarations use (the training input's
names: amount in major units, `ts`, enum values without their prefix); `rule_context` gives
`tx`, the transaction as CEL rules read it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC
from typing import Any

from ecap.v1 import common_pb2
from models.features.money import major_units as amount_in_major_units

_PAYMENT_METHODS = {
    value.number: value.name.removeprefix("PAYMENT_METHOD_")
    for value in common_pb2.PaymentMethod.DESCRIPTOR.values
}
_CHANNELS = {
    value.number: value.name.removeprefix("CHANNEL_")
    for value in common_pb2.Channel.DESCRIPTOR.values
}


def major_units(money: common_pb2.Money) -> float:
    """`money` in major units (12.34 for 1234 cents)."""
    return amount_in_major_units(money.amount_minor, money.currency)


def _or_none(text: str) -> str | None:
    return text or None


def feature_row(tx: common_pb2.Transaction) -> dict[str, Any]:
    """The transaction as a feature row (`models.features` column names)."""
    point = tx.location.point if tx.location.HasField("point") else None
    payment = _PAYMENT_METHODS.get(tx.payment_method, "UNSPECIFIED")
    channel = _CHANNELS.get(tx.channel, "UNSPECIFIED")
    return {
        "transaction_id": tx.transaction_id,
        "customer_id": tx.customer_id,
        "merchant_id": tx.merchant_id,
        "session_id": _or_none(tx.session_id),
        "amount": major_units(tx.amount),
        "ts": tx.occurred_at.ToDatetime(tzinfo=UTC),
        "payment_method": None if payment == "UNSPECIFIED" else payment,
        "channel": None if channel == "UNSPECIFIED" else channel,
        "card_fingerprint": _or_none(tx.card_fingerprint),
        "device_id": _or_none(tx.device.device_id),
        "ip_address": _or_none(tx.ip_address),
        "country": _or_none(tx.location.country),
        "latitude": point.latitude if point is not None else math.nan,
        "longitude": point.longitude if point is not None else math.nan,
        "item_count": len(tx.items),
        "label": None,
    }


def rule_context(tx: common_pb2.Transaction, row: dict[str, Any]) -> dict[str, Any]:
    """`tx` as CEL rules read it: strings are "" when absent, amounts are doubles."""
    return {
        "transaction_id": tx.transaction_id,
        "customer_id": tx.customer_id,
        "merchant_id": tx.merchant_id,
        "amount": row["amount"],
        "amount_minor": tx.amount.amount_minor,
        "currency": tx.amount.currency,
        "payment_method": row["payment_method"] or "",
        "channel": row["channel"] or "",
        "country": tx.location.country,
        "device_id": tx.device.device_id,
        "ip_address": tx.ip_address,
        "card_fingerprint": tx.card_fingerprint,
        "item_count": len(tx.items),
    }


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def rule_context_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """`tx` as CEL rules read it, from a feature row of the lake (`lake.transaction_rows`):
    the same fields and types as `rule_context`. Without `amount_minor` in the row it is the
    amount in hundredths (how the lake's `amount` was made); without `currency`, ""."""
    amount = float(row["amount"])
    amount_minor = row.get("amount_minor")
    item_count = row.get("item_count")
    return {
        "transaction_id": _text(row.get("transaction_id")),
        "customer_id": _text(row.get("customer_id")),
        "merchant_id": _text(row.get("merchant_id")),
        "amount": amount,
        "amount_minor": round(amount * 100) if _text(amount_minor) == "" else int(amount_minor),
        "currency": _text(row.get("currency")),
        "payment_method": _text(row.get("payment_method")),
        "channel": _text(row.get("channel")),
        "country": _text(row.get("country")),
        "device_id": _text(row.get("device_id")),
        "ip_address": _text(row.get("ip_address")),
        "card_fingerprint": _text(row.get("card_fingerprint")),
        "item_count": 0 if _text(item_count) == "" else int(item_count),
    }
