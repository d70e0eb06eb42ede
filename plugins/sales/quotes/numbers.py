"""Percentages and quantities as exact decimals kept in text columns.

They are stored as text (``"19"``, ``"7.5"``) rather than in a numeric column because
Piccolo's ``Numeric`` is a float on SQLite, and a tax rate that drifts by 1e-16 changes a
rounded total.  The normalisers here are what every surface (GraphQL, CLI, imports,
automations) goes through, so "19", "7.50" and 19 all become ``"19"`` / ``"7.5"`` and
nonsense is refused with a message that states the rule.
"""

from __future__ import annotations

import decimal
from typing import Any

#: decimals a percentage or a quantity may have (7.5%, 33.3333%, 1.25 hours)
MAX_DECIMALS = 4
#: quantities above this are surely a typo, and products of them stay far from BigInt limits
MAX_QUANTITY = decimal.Decimal("1000000000")


def parse_decimal(value: Any) -> decimal.Decimal | None:
    """``value`` as a finite Decimal, or None if it is not a number (bools are not numbers)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = decimal.Decimal(str(value).strip())
    except (decimal.InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def canonical(number: decimal.Decimal) -> str:
    """The shortest exact text of ``number``: ``19.00`` -> ``"19"``, ``7.50`` -> ``"7.5"``."""
    text = format(number.normalize(), "f")
    return "0" if text in ("-0", "0") else text


def _decimals(number: decimal.Decimal) -> int:
    exponent = number.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def normalise_percent(value: Any, region: str = "") -> str:
    """A percentage from 0 to 100 with at most four decimals, as canonical text."""
    number = parse_decimal(value)
    if number is None:
        raise ValueError("must be a percentage: a number from 0 to 100, like 19 or 7.5")
    if number < 0 or number > 100:
        raise ValueError("must be between 0 and 100 (percent)")
    if _decimals(number) > MAX_DECIMALS:
        raise ValueError(f"must have at most {MAX_DECIMALS} decimals")
    return canonical(number)


def normalise_quantity(value: Any, region: str = "") -> str:
    """A quantity above zero with at most four decimals (1, 2.5 hours), as canonical text."""
    number = parse_decimal(value)
    if number is None:
        raise ValueError("must be a quantity: a number above 0, like 3 or 2.5")
    if number <= 0:
        raise ValueError("must be more than 0")
    if number > MAX_QUANTITY:
        raise ValueError(f"must be at most {MAX_QUANTITY:,}")
    if _decimals(number) > MAX_DECIMALS:
        raise ValueError(f"must have at most {MAX_DECIMALS} decimals")
    return canonical(number)


def percent(text: str | None) -> decimal.Decimal:
    """A stored percentage as a fraction (``"19"`` -> 0.19); empty means 0."""
    return decimal.Decimal(text).scaleb(-2) if text else decimal.Decimal(0)


def quantity(text: str | None) -> decimal.Decimal:
    """A stored quantity; empty means 1 (the column's default)."""
    return decimal.Decimal(text) if text else decimal.Decimal(1)
