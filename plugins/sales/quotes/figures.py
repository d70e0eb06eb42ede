"""Keeping a quote's stored figures equal to what its lines say, inside the write.

A hook that changes a line (or the quote's discount) calls ``settle`` with the lines as
they will be after the write.  It computes every figure with ``totals.compute`` and
writes whatever changed through the record service, in the caller's transaction, as the
plugin on the caller's behalf (``context.as_plugin``): the stored totals are never out of
step with the lines, not even briefly.
"""

from __future__ import annotations

from typing import Any

from kith.plugins.sales.quotes import store
from kith.plugins.sales.quotes.declarations import QUOTE_TOTALS
from kith.plugins.sales.quotes.numbers import percent, quantity
from kith.plugins.sales.quotes.totals import LineInput, LineTotals, compute
from kith.sdk import PluginContext, ValidationFailed, to_minor_units

Row = dict[str, Any]
LINE_MONEY = ("unit_price", "net_total", "tax_total")


def line_row(before: Row | None, values: Row) -> Row:
    """A line as stored (money in minor units) from a record and the values being written."""
    row: Row = {}
    for source in (before or {}, values):
        for key, value in source.items():
            if key in LINE_MONEY and isinstance(value, dict):
                row[key] = to_minor_units(value["amount"], value["currency"])
            else:
                row[key] = value
    return row


def line_input(row: Row) -> LineInput:
    return LineInput(
        quantity=quantity(row.get("quantity")),
        unit_price=int(row.get("unit_price") or 0),
        discount=percent(row.get("discount_percent")),
        tax=percent(row.get("tax_percent")),
    )


async def settle(
    context: PluginContext,
    quote: Row,
    lines: list[Row],
    *,
    pending: Row | None = None,
    quote_values: Row | None = None,
    line_values: dict[int, Row] | None = None,
) -> LineTotals | None:
    """Bring the figures of ``quote`` and its stored ``lines`` up to date.

    ``pending`` is the line being written by the calling hook: its figures are returned
    (the hook puts them into the write) rather than written.  ``quote_values`` are the
    values of the quote's own update when the caller is the quote's hook: the totals go
    there, and its ``discount_percent`` counts.  ``line_values`` adds values to write on
    stored lines (new prices when the currency changes).
    """
    currency = quote.get("currency")
    if quote_values is not None and "discount_percent" in quote_values:
        discount = quote_values["discount_percent"]
    else:
        discount = quote.get("discount_percent")
    rows = [*lines, *([pending] if pending is not None else [])]
    try:
        figures = compute([line_input(r) for r in rows], percent(discount))
    except ValueError as exc:
        raise ValidationFailed.single(None, "too_large", str(exc)) from None
    writer = context.as_plugin(keep_permissions=False).records
    extra = line_values or {}
    with store.computing():
        for row, line in zip(lines, figures.lines, strict=False):
            values = dict(extra.get(row["id"], {}))
            if values or (row.get("net_total"), row.get("tax_total")) != (line.net, line.tax):
                values["net_total"] = store.money(line.net, currency)
                values["tax_total"] = store.money(line.tax, currency)
                await writer.update("quote_line", row["id"], values)
        amounts = (figures.subtotal, figures.discount, figures.tax, figures.total)
        totals = {name: store.money(amount, currency) for name, amount in zip(QUOTE_TOTALS, amounts, strict=True)}
        if quote_values is not None:
            quote_values.update(totals)
        else:
            await writer.update("quote", quote["id"], totals)
    return figures.lines[-1] if pending is not None else None
