"""Reads the quote hooks and workflow need, money conversions, and the series of numbers.

The reads are Piccolo queries on the plugin's own tables (they run in the caller's
transaction); every write goes through ``context.records`` so it is validated, audited
and announced like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from kith.plugins.sales.models import Deal, Product, ProductPrice, Quote, QuoteLine
from kith.sdk import NotFound, PluginContext, from_minor_units

Row = dict[str, Any]

_COMPUTING: ContextVar[bool] = ContextVar("kith_sales_quote_computing", default=False)


@contextmanager
def computing() -> Iterator[None]:
    """While the plugin writes figures it computed, its own hooks stand aside (they would
    recompute what is being written, and write the quote the caller is writing)."""
    token = _COMPUTING.set(True)
    try:
        yield
    finally:
        _COMPUTING.reset(token)


def is_computing() -> bool:
    return _COMPUTING.get()


# -- money ------------------------------------------------------------------------------


def money(minor: int | None, currency: str | None) -> dict[str, Any] | None:
    """A money value as the record service takes it (major units plus currency)."""
    if minor is None or currency is None:
        return None
    return {"amount": from_minor_units(minor, currency), "currency": currency}


# -- reads ------------------------------------------------------------------------------


async def lock_quote(context: PluginContext, quote_id: Any) -> Row:
    """The quote, locked for the rest of the transaction, so two writers changing its lines
    at once compute its totals one after the other."""
    await context.db.lock_rows(Quote, [int(quote_id)])
    row: Row | None = await Quote.select().where((Quote.id == int(quote_id)) & Quote.deleted_at.is_null()).first()
    if row is None:
        raise NotFound("quote", quote_id)
    return row


async def lines_of(quote_id: int) -> list[Row]:
    """The quote's live lines, in document order."""
    line = QuoteLine
    rows = (
        await line.select().where((line.quote == quote_id) & line.deleted_at.is_null()).order_by(line.position, line.id)
    )
    return list(rows)


async def product(product_id: int) -> Row | None:
    found: Row | None = (
        await Product.select(Product.id, Product.name, Product.tax_percent, Product.active)
        .where((Product.id == product_id) & Product.deleted_at.is_null())
        .first()
    )
    return found


async def price_of(product_id: int, currency: str) -> int | None:
    """The product's price in ``currency``, in minor units (None: it has none)."""
    price = ProductPrice
    row = (
        await price.select(price.amount)
        .where((price.product == product_id) & (price.currency == currency) & price.deleted_at.is_null())
        .order_by(price.id)
        .first()
    )
    return int(row["amount"]) if row is not None and row["amount"] is not None else None


async def deal(deal_id: int) -> Row | None:
    found: Row | None = (
        await Deal.select(Deal.id, Deal.name, Deal.amount, Deal.currency)
        .where((Deal.id == deal_id) & Deal.deleted_at.is_null())
        .first()
    )
    return found


async def revisions(number: str) -> list[Row]:
    """Every live revision of a quote number, oldest first."""
    rows = (
        await Quote.select(Quote.id, Quote.revision, Quote.status, Quote.decided_at)
        .where((Quote.number == number) & Quote.deleted_at.is_null())
        .order_by(Quote.revision, Quote.id)
    )
    return list(rows)


async def next_number(context: PluginContext) -> str:
    """The next free quote number, ``Q-00001`` onwards (deleted quotes keep theirs).

    Must run inside the write transaction: concurrent creates take turns on the series
    until their transactions end, so two quotes never get the same number."""
    return await context.db.next_number(Quote, Quote.number, prefix="Q-", width=5)
