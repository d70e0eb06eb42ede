"""Money as integer minor units plus an ISO 4217 currency: exact on both engines, in
SQL sums as much as in Python.  (Piccolo's Numeric becomes a float on SQLite.)"""

from __future__ import annotations

import decimal
import re

#: currencies whose minor unit is not a hundredth (ISO 4217); every other one has 2 decimals
ZERO_DECIMALS = frozenset(
    {
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    }
)
THREE_DECIMALS = frozenset({"BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"})
CURRENCY = re.compile(r"^[A-Z]{3}$")


def exponent(currency: str) -> int:
    """How many decimals ``currency``'s minor unit has (ISO 4217): JPY 0, EUR 2, KWD 3."""
    if currency in ZERO_DECIMALS:
        return 0
    if currency in THREE_DECIMALS:
        return 3
    return 2


def check_currency(currency: object) -> str:
    """The ISO 4217 code, upper-cased; raises ``ValueError`` for anything else."""
    if not isinstance(currency, str) or not CURRENCY.match(currency.strip().upper()):
        raise ValueError("currency must be a three-letter ISO 4217 code")
    return currency.strip().upper()


def to_minor(amount: object, currency: str) -> int:
    """Minor units of ``amount``; refuses more decimals than the currency has."""
    try:
        value = decimal.Decimal(str(amount).strip())
    except (decimal.InvalidOperation, ValueError):
        raise ValueError("amount must be a number") from None
    if not value.is_finite():
        raise ValueError("amount must be a finite number")
    scaled = value.scaleb(exponent(currency))
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{currency} amounts have at most {exponent(currency)} decimals")
    minor = int(scaled)
    if not -(2**63) <= minor < 2**63:
        raise ValueError("amount is out of range")
    return minor


def from_minor(minor: int, currency: str) -> decimal.Decimal:
    """``minor`` units of ``currency`` as an exact decimal in major units (1250 EUR -> 12.50)."""
    return decimal.Decimal(int(minor)).scaleb(-exponent(currency))


def normalised_sql(amount_sql: str, currency_sql: str) -> str:
    """The amount in thousandths, whatever the currency's exponent: comparable and sortable
    as an integer on both engines."""
    zero = ", ".join(f"'{c}'" for c in sorted(ZERO_DECIMALS))
    three = ", ".join(f"'{c}'" for c in sorted(THREE_DECIMALS))
    return (
        f"({amount_sql} * CASE WHEN {currency_sql} IN ({zero}) THEN 1000 "
        f"WHEN {currency_sql} IN ({three}) THEN 1 ELSE 10 END)"
    )
