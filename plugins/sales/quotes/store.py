"""Reads the quote hooks and workflow need, money conversions, and who the plugin writes as.

The reads are plain SQL on the plugin's own tables (one statement each); every write goes
through ``kith.records`` so it is validated, audited and announced like any other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from kith.sdk import Actor, Kith, NotFound, from_minor_units

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


def as_plugin(actor: Actor, *, keep_permissions: bool) -> Actor:
    """``actor`` writing through the plugin: a trusted source that may set read-only fields.

    With ``keep_permissions`` the record service still checks the actor's grants on the
    record written (a transition of a quote they may not update is refused); without, the
    write is a consequence the plugin owns (a quote's totals after a line changed).
    """
    return Actor(actor.name, "plugin", actor.user_id, actor.permissions if keep_permissions else None)


# -- money ------------------------------------------------------------------------------


def money(minor: int | None, currency: str | None) -> dict[str, Any] | None:
    """A money value as the record service takes it (major units plus currency)."""
    if minor is None or currency is None:
        return None
    return {"amount": from_minor_units(minor, currency), "currency": currency}


# -- reads ------------------------------------------------------------------------------


def _lock(kith: Kith) -> str:
    """Row lock for a read-then-write (the engine decides what that takes)."""
    return kith.db.dialect.lock_rows()


async def lock_quote(kith: Kith, quote_id: Any) -> Row:
    """The quote, locked for the rest of the transaction, so two writers changing its lines
    at once compute its totals one after the other."""
    rows = await kith.db.execute(
        f"SELECT * FROM sales_quote WHERE id = {{}} AND deleted_at IS NULL{_lock(kith)}", int(quote_id)
    )
    if not rows:
        raise NotFound("quote", quote_id)
    return dict(rows[0])


async def lines_of(kith: Kith, quote_id: int) -> list[Row]:
    """The quote's live lines, in document order."""
    rows = await kith.db.execute(
        "SELECT * FROM sales_quote_line WHERE quote = {} AND deleted_at IS NULL ORDER BY position, id", quote_id
    )
    return [dict(r) for r in rows]


async def product(kith: Kith, product_id: int) -> Row | None:
    rows = await kith.db.execute(
        "SELECT id, name, tax_percent, active FROM sales_product WHERE id = {} AND deleted_at IS NULL", product_id
    )
    return dict(rows[0]) if rows else None


async def price_of(kith: Kith, product_id: int, currency: str) -> int | None:
    """The product's price in ``currency``, in minor units (None: it has none)."""
    rows = await kith.db.execute(
        "SELECT amount FROM sales_product_price WHERE product = {} AND currency = {} AND deleted_at IS NULL "
        "ORDER BY id LIMIT 1",
        product_id,
        currency,
    )
    return int(rows[0]["amount"]) if rows and rows[0]["amount"] is not None else None


async def deal(kith: Kith, deal_id: int) -> Row | None:
    rows = await kith.db.execute(
        "SELECT id, name, amount, currency FROM sales_deal WHERE id = {} AND deleted_at IS NULL", deal_id
    )
    return dict(rows[0]) if rows else None


async def revisions(kith: Kith, number: str) -> list[Row]:
    """Every live revision of a quote number, oldest first."""
    rows = await kith.db.execute(
        "SELECT id, revision, status, decided_at FROM sales_quote WHERE number = {} AND deleted_at IS NULL "
        "ORDER BY revision, id",
        number,
    )
    return [dict(r) for r in rows]


async def next_number(kith: Kith) -> str:
    """The next free quote number, ``Q-00001`` onwards (deleted quotes keep theirs).

    Must run inside the write transaction: concurrent creates take turns on the series
    until their transactions end, so two quotes never get the same number (there may be
    no row yet to lock).
    """
    await kith.db.dialect.serialise(kith.db, "kith.sales.quote_number")
    rows = await kith.db.execute(
        "SELECT number FROM sales_quote WHERE number LIKE 'Q-%' ORDER BY LENGTH(number) DESC, number DESC LIMIT 1"
    )
    last = rows[0]["number"] if rows else None
    digits = last[2:] if last else ""
    return f"Q-{(int(digits) if digits.isdigit() else 0) + 1:05d}"
