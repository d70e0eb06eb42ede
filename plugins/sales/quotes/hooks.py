"""Checks and computed values of products, prices, quotes and lines, run by the sales
plugin's before-create/update hooks."""

from __future__ import annotations

from kith.sdk import Change

ENTITIES = frozenset({"product", "product_price", "quote", "quote_line"})


async def before_create(change: Change) -> None:
    pass


async def before_update(change: Change) -> None:
    pass
