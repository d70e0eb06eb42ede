"""The arithmetic of a quote, exact and with one rounding rule.

Everything is in the currency's minor units (cents; yen; fils for KWD, a thousandth of a
dinar), so "round to the currency's minor unit" is "round to a whole number" here and the
same code serves currencies of 0, 2 and 3 decimals.  Rounding is half-up (halves go away
from zero: 0.5 -> 1, -2.5 -> -3), applied once per figure, in this order:

1. line net    = round(quantity x unit price x (1 - line discount %))
2. subtotal    = sum of the line nets
3. discount    = round(subtotal x quote discount %)
4. line tax    = round(line net x (1 - quote discount %) x line tax %)
5. tax total   = sum of the line taxes
6. total       = subtotal - discount + tax total

Tax is per line (lines may have different rates) on the line's share of the discounted
amount, so the quote discount lowers the tax exactly as it lowers the price.  Rounding
each line's tax and summing (rather than rounding the sum) keeps every printed line
consistent with the total, which is what a customer checks.
"""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from dataclasses import dataclass

ONE = decimal.Decimal(1)
#: enough digits for a BigInt price times a large fractional quantity, never rounded early
_CONTEXT = decimal.Context(prec=60, rounding=decimal.ROUND_HALF_UP)
_BIGINT = 2**63


@dataclass(frozen=True)
class LineInput:
    quantity: decimal.Decimal
    unit_price: int  # minor units
    discount: decimal.Decimal = decimal.Decimal(0)  # fraction: 0.1 for 10%
    tax: decimal.Decimal = decimal.Decimal(0)  # fraction: 0.19 for 19%


@dataclass(frozen=True)
class LineTotals:
    net: int
    tax: int


@dataclass(frozen=True)
class QuoteTotals:
    lines: tuple[LineTotals, ...]
    subtotal: int
    discount: int
    tax: int
    total: int


def round_minor(value: decimal.Decimal) -> int:
    """``value`` (in minor units) rounded half-up to a whole minor unit."""
    return int(value.quantize(ONE, rounding=decimal.ROUND_HALF_UP, context=_CONTEXT))


def _checked(value: int) -> int:
    if not -_BIGINT <= value < _BIGINT:
        raise ValueError("the amounts are too large to store")
    return value


def line_net(line: LineInput) -> int:
    """Step 1: quantity x unit price, less the line's discount, rounded."""
    with decimal.localcontext(_CONTEXT):
        return _checked(round_minor(line.quantity * line.unit_price * (ONE - line.discount)))


def line_tax(net: int, quote_discount: decimal.Decimal, tax: decimal.Decimal) -> int:
    """Step 4: the tax on the line's net after the quote discount, rounded."""
    with decimal.localcontext(_CONTEXT):
        return _checked(round_minor(net * (ONE - quote_discount) * tax))


def compute(lines: Sequence[LineInput], quote_discount: decimal.Decimal) -> QuoteTotals:
    """Every figure of a quote from its lines and its discount (a fraction)."""
    totals = []
    for line in lines:
        net = line_net(line)
        totals.append(LineTotals(net=net, tax=line_tax(net, quote_discount, line.tax)))
    subtotal = sum(t.net for t in totals)
    with decimal.localcontext(_CONTEXT):
        discount = round_minor(subtotal * quote_discount)
    tax = sum(t.tax for t in totals)
    return QuoteTotals(
        lines=tuple(totals),
        subtotal=_checked(subtotal),
        discount=_checked(discount),
        tax=_checked(tax),
        total=_checked(subtotal - discount + tax),
    )
