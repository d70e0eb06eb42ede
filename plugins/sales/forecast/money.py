"""Exact money arithmetic for forecasts: minor units in, decimals in major units out.

Amounts are summed in SQL as integer minor units (exact on both engines); only the last
step — placing the decimal point, dividing a mean, rounding — happens here, with
integers and ``decimal.Decimal``, never floats.
"""

from __future__ import annotations

import decimal

from kith.sdk import currency_exponent as exponent


def as_int(value: object) -> int:
    """An SQL aggregate as an int: PostgreSQL sums integers into ``numeric`` (a Decimal),
    SQLite into an int; a sum over no rows is NULL."""
    if value is None:
        return 0
    number = decimal.Decimal(str(value))
    if number != number.to_integral_value():
        raise ValueError(f"expected a whole number, got {value!r}")
    return int(number)


def major(minor: int | decimal.Decimal, currency: str) -> decimal.Decimal:
    """``minor`` units of ``currency`` in major units, exactly: with the currency's
    decimals (``1200.00`` EUR, ``1200`` JPY), more only for a fraction of a minor unit
    (a weighted amount: ``0.1005`` EUR)."""
    places = exponent(currency)
    value = decimal.Decimal(minor).scaleb(-places)
    at_minor_unit = value.quantize(decimal.Decimal(1).scaleb(-places))
    return at_minor_unit if at_minor_unit == value else value.normalize()


def divide(numerator: int, denominator: int, places: int = 0) -> decimal.Decimal:
    """``numerator / denominator`` rounded half away from zero to ``places`` decimals,
    computed with integers so it is exact whatever the size of the numbers."""
    if denominator == 0:
        raise ZeroDivisionError("divide by zero")
    scaled = abs(numerator) * 10**places
    quotient, remainder = divmod(scaled, abs(denominator))
    if 2 * remainder >= abs(denominator):
        quotient += 1
    negative = (numerator < 0) != (denominator < 0)
    return decimal.Decimal(-quotient if negative else quotient).scaleb(-places)


def rounded_major(numerator: int, denominator: int, currency: str) -> decimal.Decimal:
    """``numerator / denominator`` minor units, rounded half away from zero to the minor
    unit, in major units (a mean deal size, a velocity)."""
    return major(divide(numerator, denominator), currency)
