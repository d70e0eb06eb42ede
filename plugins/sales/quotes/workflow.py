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
from kith.sdk import Actor, FieldError, Kith, ValidationFailed

Row = dict[str, Any]
CURRENCY = re.compile(r"^[A-Z]{3}$")
#: what a revision copies from the quote it revises, and from each line
QUOTE_COPY = ("deal", "title", "discount_percent", "valid_until", "notes", "custom")
LINE_COPY = ("position", "description", "quantity", "unit_price", "discount_percent", "tax_percent", "custom")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


async def _open(kith: Kith, quote_id: Any, actor: Actor, *statuses: str, doing: str) -> Row:
    """The quote, locked, if ``actor`` may update it and it is in one of ``statuses``."""
    try:
        record_id = int(quote_id)
    except (TypeError, ValueError):
        raise ValidationFailed.single("id", "invalid", f"{quote_id!r} is not a record id") from None
    if actor.permissions is not None:
        await actor.permissions.check_record(kith.entity("quote"), record_id, "update")
    quote = await store.lock_quote(kith, record_id)
    if quote["status"] not in statuses:
        allowed = " or ".join(statuses)
        raise ValidationFailed.single(
            "id",
            "invalid_status",
            f"quote {quote['number']} revision {quote['revision']} is {quote['status']}; "
            f"only {allowed} quotes can be {doing}",
        )
    return quote


async def _emit(kith: Kith, event: str, quote: Row, **extra: Any) -> None:
    total = store.money(quote.get("total"), quote.get("currency"))
    payload = {"number": quote["number"], "revision": quote["revision"], "total": total, "deal": quote["deal"]}
    await kith.automations.emit(event, "quote", quote["id"], {**payload, **extra})


async def send(kith: Kith, quote_id: Any, actor: Actor) -> Row:
    """draft -> sent, with at least one line; records when."""
    async with kith.db.write_transaction():
        quote = await _open(kith, quote_id, actor, "draft", doing="sent")
        if not await store.lines_of(kith, quote["id"]):
            raise ValidationFailed.single("id", "no_lines", "add at least one line before sending the quote")
        sent = await kith.records.update(
            "quote", quote["id"], {"status": "sent", "sent_at": _now()}, store.as_plugin(actor, keep_permissions=True)
        )
        await _emit(kith, QUOTE_SENT, quote)
    return sent


async def accept(kith: Kith, quote_id: Any, actor: Actor) -> Row:
    """sent -> accepted: other sent revisions are superseded, the deal's amount becomes the total."""
    async with kith.db.write_transaction():
        quote = await _open(kith, quote_id, actor, "sent", doing="accepted")
        accepted = await kith.records.update(
            "quote",
            quote["id"],
            {"status": "accepted", "decided_at": _now()},
            store.as_plugin(actor, keep_permissions=True),
        )
        consequence = store.as_plugin(actor, keep_permissions=False)
        for other in await store.revisions(kith, quote["number"]):
            if other["id"] != quote["id"] and other["status"] == "sent":
                await kith.records.update("quote", other["id"], {"status": "superseded"}, consequence)
        if await store.deal(kith, quote["deal"]) is not None:
            amount = store.money(quote["total"], quote["currency"])
            await kith.records.update("deal", quote["deal"], {"amount": amount}, consequence)
        await _emit(kith, QUOTE_ACCEPTED, quote)
    return accepted


async def reject(kith: Kith, quote_id: Any, actor: Actor, reason: str | None = None) -> Row:
    """sent -> rejected; a reason becomes a note on the quote's timeline."""
    reason = (reason or "").strip() or None
    async with kith.db.write_transaction():
        quote = await _open(kith, quote_id, actor, "sent", doing="rejected")
        rejected = await kith.records.update(
            "quote",
            quote["id"],
            {"status": "rejected", "decided_at": _now()},
            store.as_plugin(actor, keep_permissions=True),
        )
        if reason:
            note = {
                "kind": "note",
                "subject": f"Quote {quote['number']} revision {quote['revision']} rejected",
                "body": reason,
                "subject_type": "quote",
                "subject_id": quote["id"],
            }
            await kith.records.create("activity", note, store.as_plugin(actor, keep_permissions=False))
        await _emit(kith, QUOTE_REJECTED, quote, reason=reason)
    return rejected


async def revise(kith: Kith, quote_id: Any, actor: Actor) -> Row:
    """A sent or rejected quote -> a new draft revision with the same number and copies of
    its lines; the revised quote becomes superseded."""
    async with kith.db.write_transaction():
        quote = await _open(kith, quote_id, actor, "sent", "rejected", doing="revised")
        if actor.permissions is not None:
            actor.permissions.require("quote", "create")
        old = await kith.records.get("quote", quote["id"])
        latest = max(r["revision"] for r in await store.revisions(kith, quote["number"]))
        writer = store.as_plugin(actor, keep_permissions=True)
        await kith.records.update("quote", quote["id"], {"status": "superseded"}, writer)
        values = {name: old[name] for name in QUOTE_COPY}
        # the revision keeps the quote's currency, which may differ from the deal's by now
        values.update(number=quote["number"], revision=latest + 1, total=store.money(0, quote["currency"]))
        draft = await kith.records.create("quote", values, writer)
        for line in await store.lines_of(kith, quote["id"]):
            record = await kith.records.get("quote_line", line["id"])
            copy = {name: record[name] for name in LINE_COPY}
            if line["product"] is not None and await store.product(kith, line["product"]) is not None:
                copy["product"] = line["product"]  # (a deleted product is left out; the line keeps its text)
            await kith.records.create("quote_line", {**copy, "quote": draft["id"]}, writer)
    return await kith.records.get("quote", draft["id"])


async def change_currency(kith: Kith, quote_id: Any, currency: str, actor: Actor) -> Row:
    """A draft in another currency: each line takes its product's price in it.

    Lines without a product have no price to take, and a product without a price in the
    new currency has none to give: both are refused, naming the line.
    """
    code = (currency or "").strip().upper()
    if not CURRENCY.match(code):
        raise ValidationFailed.single("currency", "invalid", "must be a three-letter ISO 4217 code, like EUR")
    async with kith.db.write_transaction():
        quote = await _open(kith, quote_id, actor, "draft", doing="changed")
        if quote["currency"] == code:
            return await kith.records.get("quote", quote["id"])
        lines = await store.lines_of(kith, quote["id"])
        errors: list[FieldError] = []
        prices: dict[int, Row] = {}
        for position, line in enumerate(lines, start=1):
            label = f"line {position} ({line['description']})"
            item = await store.product(kith, line["product"]) if line["product"] is not None else None
            minor = await store.price_of(kith, item["id"], code) if item is not None else None
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
        await settle(kith, {**quote, "currency": code}, repriced, actor, line_values=prices)
    return await kith.records.get("quote", quote["id"])
