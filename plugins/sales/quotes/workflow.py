"""A quote's life: draft -> sent -> accepted | rejected, and revisions.

::

    draft --sendQuote--> sent --acceptQuote--> accepted   (the deal's amount := the total)
                          |  \\--rejectQuote--> rejected
                          |                       |
                          +------reviseQuote------+--> a new draft revision (same number);
                                                       the revised one becomes superseded

Each step is one transaction: the quote is locked, checked, and every record the step
touches is written through the record service before anything commits.  The caller
needs ``update`` on the quote (``create`` too, to revise); what follows from a step on
other records (superseded revisions, the deal's amount, the rejection note) the plugin
writes on its own authority, audited under the caller's name.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from kith.plugins.sales.quotes import store
from kith.plugins.sales.quotes.figures import line_row, settle
from kith.plugins.sales.quotes.hooks import QUOTE_ACCEPTED, QUOTE_REJECTED, QUOTE_SENT
from kith.sdk import FieldError, PluginContext, ValidationFailed

Row = dict[str, Any]
CURRENCY = re.compile(r"^[A-Z]{3}$")
#: what a revision copies from the quote it revises, and from each line
QUOTE_COPY = ("deal", "title", "discount_percent", "valid_until", "notes", "custom")
LINE_COPY = ("position", "description", "quantity", "unit_price", "discount_percent", "tax_percent", "custom")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _open(context: PluginContext, quote_id: Any, *statuses: str, doing: str) -> Row:
    """The quote, locked, if the caller may update it and it is in one of ``statuses``."""
    try:
        record_id = int(quote_id)
    except (TypeError, ValueError):
        raise ValidationFailed.single("id", "invalid", f"{quote_id!r} is not a record id") from None
    await context.require("quote", "update", record_id)
    quote = await store.lock_quote(context, record_id)
    if quote["status"] not in statuses:
        allowed = " or ".join(statuses)
        raise ValidationFailed.single(
            "id",
            "invalid_status",
            f"quote {quote['number']} revision {quote['revision']} is {quote['status']}; "
            f"only {allowed} quotes can be {doing}",
        )
    return quote


async def _emit(context: PluginContext, event: str, quote: Row, **extra: Any) -> None:
    total = store.money(quote.get("total"), quote.get("currency"))
    payload = {"number": quote["number"], "revision": quote["revision"], "total": total, "deal": quote["deal"]}
    await context.emit(event, "quote", quote["id"], {**payload, **extra})


async def send(context: PluginContext, quote_id: Any) -> Row:
    """draft -> sent, with at least one line; records when."""
    async with context.db.transaction():
        quote = await _open(context, quote_id, "draft", doing="sent")
        if not await store.lines_of(quote["id"]):
            raise ValidationFailed.single("id", "no_lines", "add at least one line before sending the quote")
        step = context.as_plugin(keep_permissions=True).records
        sent = await step.update("quote", quote["id"], {"status": "sent", "sent_at": _now()})
        await _emit(context, QUOTE_SENT, quote)
    return sent


async def accept(context: PluginContext, quote_id: Any) -> Row:
    """sent -> accepted: other sent revisions are superseded, the deal's amount becomes the total."""
    async with context.db.transaction():
        quote = await _open(context, quote_id, "sent", doing="accepted")
        step = context.as_plugin(keep_permissions=True).records
        accepted = await step.update("quote", quote["id"], {"status": "accepted", "decided_at": _now()})
        consequence = context.as_plugin(keep_permissions=False).records
        for other in await store.revisions(quote["number"]):
            if other["id"] != quote["id"] and other["status"] == "sent":
                await consequence.update("quote", other["id"], {"status": "superseded"})
        if await store.deal(quote["deal"]) is not None:
            amount = store.money(quote["total"], quote["currency"])
            await consequence.update("deal", quote["deal"], {"amount": amount})
        await _emit(context, QUOTE_ACCEPTED, quote)
    return accepted


async def reject(context: PluginContext, quote_id: Any, reason: str | None = None) -> Row:
    """sent -> rejected; a reason becomes a note on the quote's timeline."""
    reason = (reason or "").strip() or None
    async with context.db.transaction():
        quote = await _open(context, quote_id, "sent", doing="rejected")
        step = context.as_plugin(keep_permissions=True).records
        rejected = await step.update("quote", quote["id"], {"status": "rejected", "decided_at": _now()})
        if reason:
            note = {
                "kind": "note",
                "subject": f"Quote {quote['number']} revision {quote['revision']} rejected",
                "body": reason,
                "subject_type": "quote",
                "subject_id": quote["id"],
            }
            await context.as_plugin(keep_permissions=False).records.create("activity", note)
        await _emit(context, QUOTE_REJECTED, quote, reason=reason)
    return rejected


async def revise(context: PluginContext, quote_id: Any) -> Row:
    """A sent or rejected quote -> a new draft revision with the same number and copies of
    its lines; the revised quote becomes superseded."""
    async with context.db.transaction():
        quote = await _open(context, quote_id, "sent", "rejected", doing="revised")
        await context.require("quote", "create")
        own = context.as_plugin(keep_permissions=False).records
        old = await own.get("quote", quote["id"])
        assert old is not None  # (locked above)
        latest = max(r["revision"] for r in await store.revisions(quote["number"]))
        writer = context.as_plugin(keep_permissions=True).records
        await writer.update("quote", quote["id"], {"status": "superseded"})
        values = {name: old[name] for name in QUOTE_COPY}
        # the revision keeps the quote's currency, which may differ from the deal's by now
        values.update(number=quote["number"], revision=latest + 1, total=store.money(0, quote["currency"]))
        draft = await writer.create("quote", values)
        for line in await store.lines_of(quote["id"]):
            record = await own.get("quote_line", line["id"]) or {}
            copy = {name: record[name] for name in LINE_COPY}
            if line["product"] is not None and await store.product(line["product"]) is not None:
                copy["product"] = line["product"]  # (a deleted product is left out; the line keeps its text)
            await writer.create("quote_line", {**copy, "quote": draft["id"]})
    return await _reread(context, draft["id"])


async def change_currency(context: PluginContext, quote_id: Any, currency: str) -> Row:
    """A draft in another currency: each line takes its product's price in it.

    Lines without a product have no price to take, and a product without a price in the
    new currency has none to give: both are refused, naming the line.
    """
    code = (currency or "").strip().upper()
    if not CURRENCY.match(code):
        raise ValidationFailed.single("currency", "invalid", "must be a three-letter ISO 4217 code, like EUR")
    async with context.db.transaction():
        quote = await _open(context, quote_id, "draft", doing="changed")
        if quote["currency"] == code:
            return await _reread(context, quote["id"])
        lines = await store.lines_of(quote["id"])
        errors: list[FieldError] = []
        prices: dict[int, Row] = {}
        for position, line in enumerate(lines, start=1):
            label = f"line {position} ({line['description']})"
            item = await store.product(line["product"]) if line["product"] is not None else None
            minor = await store.price_of(item["id"], code) if item is not None else None
            if item is None:
                errors.append(FieldError("currency", "no_price", f"{label} has no product to take a {code} price from"))
            elif minor is None:
                errors.append(
                    FieldError("currency", "no_price", f"{label}: product {item['name']} has no {code} price")
                )
            else:
                prices[line["id"]] = {"unit_price": store.money(minor, code)}
        if errors:
            raise ValidationFailed(errors)
        repriced = [line_row(line, {"unit_price": prices[line["id"]]["unit_price"]}) for line in lines]
        await settle(context, {**quote, "currency": code}, repriced, line_values=prices)
    return await _reread(context, quote["id"])


async def _reread(context: PluginContext, quote_id: int) -> Row:
    """The quote a step left, as stored (the payload names its id, number and status)."""
    quote = await context.as_plugin(keep_permissions=False).records.get("quote", quote_id)
    assert quote is not None
    return quote
