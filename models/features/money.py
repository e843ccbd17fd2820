"""Money in the unit the features count it: major units of the transaction's currency.

The lake and the wire carry `amount_minor` (an integer) and an ISO-4217 `currency`; the
`amount` every feature reads is `amount_minor / 10**digits`, with the currency's minor-unit
digits (2 unless listed here). The scoring service and the Spark jobs convert with this one
table, so online and batch features count the same amounts.
"""

from __future__ import annotations

DEFAULT_MINOR_DIGITS = 2
# Currencies whose minor unit is not a hundredth (ISO 4217).
MINOR_DIGITS = {"JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "BHD": 3, "KWD": 3, "OMR": 3, "TND": 3}


def minor_digits(currency: str | None) -> int:
    """The number of minor-unit digits of `currency` (2 when unlisted or unknown)."""
    return MINOR_DIGITS.get(currency or "", DEFAULT_MINOR_DIGITS)


def major_units(amount_minor: int, currency: str | None) -> float:
    """`amount_minor` in major units of `currency` (12.34 for 1234 cents)."""
    return amount_minor / 10 ** minor_digits(currency)
