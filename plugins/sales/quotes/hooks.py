"""Checks and computed values of products, prices, quotes and lines, run by
before-create/update/delete hooks scoped to each entity (inside the write's transaction).

- products: a SKU belongs to one product (deleted ones included: the column is unique);
- prices: one live price per product and currency;
- quotes: a number (``Q-00001``) and revision 1 on create, the deal's currency, zero
  totals; only drafts change; a changed discount re-figures every line's tax;
- lines: defaults from the product (description, price in the quote's currency, tax
  rate), their own figures, and the quote's totals, all in the same transaction.

The plugin's own writes of computed figures run under ``store.computing()``, and these
hooks stand aside for them.
"""

from __future__ import annotations

from typing import Any

from kith.plugins.sales.models import Product, ProductPrice
from kith.plugins.sales.quotes import store
from kith.plugins.sales.quotes.declarations import QUOTE_TOTALS
from kith.plugins.sales.quotes.figures import line_input, line_row, settle
from kith.plugins.sales.quotes.numbers import percent
from kith.plugins.sales.quotes.totals import compute
from kith.sdk import Change, DomainEvent, FieldError, NotFound, ValidationFailed, entity_hook

QUOTE_SENT = "quote.sent"
QUOTE_ACCEPTED = "quote.accepted"
QUOTE_REJECTED = "quote.rejected"

#: domain events of quotes, for ``kith_automation_events``
EVENTS = [
    DomainEvent(QUOTE_SENT, "quote", "A draft quote was sent (payload: number, revision, total, deal)."),
    DomainEvent(
        QUOTE_ACCEPTED,
        "quote",
        "A sent quote was accepted; its deal's amount is now the quote's total (payload: "
        "number, revision, total, deal).",
    ),
    DomainEvent(QUOTE_REJECTED, "quote", "A sent quote was rejected (payload: number, revision, total, deal, reason)."),
]

#: who may change a quote that is no longer a draft: the plugin's own code (workflow
#: steps, computed figures) and the system itself (data fixes from Python)
UNFROZEN_SOURCES = frozenset({"plugin", "system"})
#: quote fields by the name clients use, for errors
_QUOTE_FIELDS = {"deal": "dealId", "discount_percent": "discountPercent", "valid_until": "validUntil"}
_LINE_FIELDS = {
    "quote": "quoteId",
    "product": "productId",
    "unit_price": "unitPrice",
    "discount_percent": "discountPercent",
    "tax_percent": "taxPercent",
}

# The lifecycle hooks of each quote entity; ``kith.plugins.sales.hooks`` imports them so
# that pluggy finds them in the plugin's hooks module.


@entity_hook("kith_before_create", "product")
async def product_before_create(change: Change) -> None:
    if not store.is_computing():
        await _product(change)


@entity_hook("kith_before_update", "product")
async def product_before_update(change: Change) -> None:
    if not store.is_computing():
        await _product(change)


@entity_hook("kith_before_create", "product_price")
async def price_before_create(change: Change) -> None:
    if not store.is_computing():
        await _price(change)


@entity_hook("kith_before_update", "product_price")
async def price_before_update(change: Change) -> None:
    if not store.is_computing():
        await _price(change)


@entity_hook("kith_before_create", "quote")
async def quote_before_create(change: Change) -> None:
    if not store.is_computing():
        await _create_quote(change)


@entity_hook("kith_before_update", "quote")
async def quote_before_update(change: Change) -> None:
    """Updates and restores (``change.action == "restore"``)."""
    if store.is_computing():
        return
    await (_restore_quote(change) if change.action == "restore" else _update_quote(change))


@entity_hook("kith_before_delete", "quote")
async def quote_before_delete(change: Change) -> None:
    """Only drafts go away."""
    if not store.is_computing():
        await _delete_quote(change)


@entity_hook("kith_before_create", "quote_line")
async def line_before_create(change: Change) -> None:
    if not store.is_computing():
        await _write_line(change)


@entity_hook("kith_before_update", "quote_line")
async def line_before_update(change: Change) -> None:
    if not store.is_computing():
        await _write_line(change)


@entity_hook("kith_before_delete", "quote_line")
async def line_before_delete(change: Change) -> None:
    """Only a draft's lines go away."""
    if not store.is_computing():
        await _delete_line(change)


# -- products and prices -------------------------------------------------------------------


async def _product(change: Change) -> None:
    sku = change.values.get("sku")
    if not sku:
        return
    same = (
        await Product.select(Product.id, Product.deleted_at)
        .where((Product.sku == sku) & (Product.id != (change.record_id or 0)))
        .first()
    )
    if same is not None:
        hint = " (it is deleted: restore it, or change its SKU first)" if same["deleted_at"] else ""
        raise ValidationFailed.single("sku", "duplicate", f"product {same['id']} already has SKU {sku}{hint}")


async def _price(change: Change) -> None:
    before = change.before or {}
    product_id = change.values.get("product", before.get("product"))
    price = change.values["amount"] if "amount" in change.values else before.get("amount")
    if product_id is None or price is None:
        return
    if price["amount"] < 0:
        raise ValidationFailed.single("amount", "invalid", "must not be negative")
    prices = ProductPrice
    same = (
        await prices.select(prices.id)
        .where(
            (prices.product == product_id)
            & (prices.currency == price["currency"])
            & prices.deleted_at.is_null()
            & (prices.id != (change.record_id or 0))
        )
        .first()
    )
    if same is not None:
        raise ValidationFailed.single(
            "amount",
            "duplicate",
            f"product {product_id} already has a price in {price['currency']} (price {same['id']}); "
            "change that one instead",
        )


# -- quotes ----------------------------------------------------------------------------------


def _describe(quote: dict[str, Any]) -> str:
    return f"quote {quote['number']} revision {quote['revision']}"


def _not_draft(quote: dict[str, Any], fields: list[str]) -> ValidationFailed:
    message = (
        f"{_describe(quote)} is {quote['status']}: only drafts can be changed (reviseQuote makes a new draft revision)"
    )
    return ValidationFailed([FieldError(field, "not_draft", message) for field in fields or ["id"]])


async def _create_quote(change: Change) -> None:
    values = change.values
    deal = await store.deal(values["deal"])
    if deal is None or await change.context.records.get("deal", deal["id"]) is None:
        raise ValidationFailed.single("dealId", "not_found", f"deal {values['deal']} does not exist")
    # a revision made by the plugin brings its number, revision and currency along
    given = [values[name]["currency"] for name in QUOTE_TOTALS if values.get(name)]
    currency = given[0] if given else deal["currency"]
    if not values.get("number"):
        values["number"] = await store.next_number(change.context)
        values["revision"] = 1
    values.update(status="draft", sent_at=None, decided_at=None)
    values.update({name: store.money(0, currency) for name in QUOTE_TOTALS})


async def _update_quote(change: Change) -> None:
    before, values = change.before or {}, change.values
    changing = [k for k, v in values.items() if k != "custom" and before.get(k) != v]
    if changing and before.get("status") != "draft" and change.actor.source not in UNFROZEN_SOURCES:
        raise _not_draft(before, [_QUOTE_FIELDS.get(k, k) for k in changing])
    if "deal" in changing:
        raise ValidationFailed.single(
            "dealId", "invalid", "a quote stays on its deal (its revisions are there); create a new quote instead"
        )
    if "discount_percent" in changing:
        quote = await store.lock_quote(change.context, before["id"])
        lines = await store.lines_of(quote["id"])
        await settle(change.context, quote, lines, quote_values=values)


async def _delete_quote(change: Change) -> None:
    quote = change.before or {}
    if quote.get("status") != "draft":
        raise ValidationFailed.single(
            "id",
            "not_draft",
            f"{_describe(quote)} is {quote.get('status')}: only drafts can be deleted "
            "(a quote that was sent is the record of what was offered)",
        )
    if quote["revision"] > 1:  # the revision this draft replaced is current again
        earlier = [r for r in await store.revisions(quote["number"]) if r["id"] != quote["id"]]
        if earlier and all(r["status"] == "superseded" for r in earlier):
            previous = earlier[-1]
            status = "rejected" if previous["decided_at"] is not None else "sent"
            writer = change.context.as_plugin(keep_permissions=False).records
            await writer.update("quote", previous["id"], {"status": status})


async def _restore_quote(change: Change) -> None:
    """A deleted draft revision comes back only if the revision it replaced is still current."""
    quote = change.before or {}
    if quote["revision"] <= 1:
        return
    current = [
        r for r in await store.revisions(quote["number"]) if r["id"] != quote["id"] and r["status"] != "superseded"
    ]
    if not current:
        return
    latest = current[-1]
    if len(current) > 1 or latest["status"] not in ("sent", "rejected") or latest["revision"] > quote["revision"]:
        raise ValidationFailed.single(
            "id",
            "invalid",
            f"quote {quote['number']} has moved on (revision {latest['revision']} is {latest['status']}); "
            "revise that one instead",
        )
    writer = change.context.as_plugin(keep_permissions=False).records
    await writer.update("quote", latest["id"], {"status": "superseded"})


# -- lines -----------------------------------------------------------------------------------


async def _line_quote(change: Change, quote_id: Any) -> dict[str, Any]:
    """The line's quote, locked; it must be a draft with a currency."""
    try:
        quote = await store.lock_quote(change.context, quote_id)
    except NotFound:
        raise ValidationFailed.single("quoteId", "not_found", f"quote {quote_id} does not exist") from None
    if quote["status"] != "draft":
        if change.action == "create":
            fields = ["quoteId"]
        else:
            fields = [_LINE_FIELDS.get(k, k) for k in change.values if k != "custom"]
        raise _not_draft(quote, fields)
    if quote["currency"] is None:
        raise ValidationFailed.single(
            "quoteId",
            "no_currency",
            f"{_describe(quote)} has no currency yet (its deal has none): set one with changeQuoteCurrency",
        )
    return quote


async def _write_line(change: Change) -> None:
    """A line created, changed or restored: defaults, its figures and its quote's totals."""
    values, before = change.values, change.before
    if before is not None and "quote" in values and values["quote"] != before["quote"]:
        raise ValidationFailed.single("quoteId", "invalid", "a line stays on its quote; delete it and add it there")
    quote = await _line_quote(change, before["quote"] if before else values["quote"])
    lines = await store.lines_of(quote["id"])
    if change.action == "create" and "position" not in values:
        values["position"] = max((line["position"] or 0 for line in lines), default=0) + 1
    if change.action != "restore":
        await _defaults(change, quote)
    row = line_row(before, values)
    others = [line for line in lines if line["id"] != change.record_id]
    if change.action == "restore":
        _check_restorable(quote, row, others)
    figures = await settle(change.context, quote, others, pending=row)
    assert figures is not None
    values["net_total"] = store.money(figures.net, quote["currency"])
    values["tax_total"] = store.money(figures.tax, quote["currency"])


def _check_restorable(quote: dict[str, Any], row: dict[str, Any], others: list[dict[str, Any]]) -> None:
    """A restore writes nothing but the deletion mark, so the line's stored figures must
    still be right: not if the quote's currency or discount changed since."""
    figures = compute([*map(line_input, others), line_input(row)], percent(quote.get("discount_percent")))
    if row.get("currency") != quote["currency"] or (row.get("net_total"), row.get("tax_total")) != (
        figures.lines[-1].net,
        figures.lines[-1].tax,
    ):
        raise ValidationFailed.single(
            "id",
            "invalid",
            f"{_describe(quote)} changed since this line was deleted (its currency or discount): add the line again",
        )


async def _defaults(change: Change, quote: dict[str, Any]) -> None:
    """What the product gives a line that does not say otherwise; every problem at once."""
    values, before = change.values, change.before or {}
    currency = quote["currency"]
    errors: list[FieldError] = []
    product_id = values.get("product", before.get("product"))
    picked = "product" in values and values["product"] is not None and values["product"] != before.get("product")
    item = await store.product(product_id) if product_id is not None else None
    if product_id is not None and item is None:
        errors.append(FieldError("productId", "not_found", f"product {product_id} does not exist"))
    if picked and item is not None and not item["active"] and change.actor.source != "plugin":
        errors.append(FieldError("productId", "inactive", f"product {item['name']} is no longer sold (inactive)"))
    if picked and item is not None:  # a newly chosen product brings what the client did not give
        if values.get("description") is None:
            values["description"] = item["name"]
        if "tax_percent" not in values:
            values["tax_percent"] = item["tax_percent"]
    # a newly chosen product brings its own price, unless one is given
    given = "unit_price" in values
    price = values["unit_price"] if given else (None if picked else before.get("unit_price"))
    if price is None:
        if item is not None:
            minor = await store.price_of(item["id"], currency)
            if minor is None:
                errors.append(
                    FieldError(
                        "unitPrice",
                        "no_price",
                        f"product {item['name']} has no price in {currency}: give a unitPrice, "
                        f"or add a {currency} price to the product",
                    )
                )
            else:
                values["unit_price"] = store.money(minor, currency)
        elif product_id is None:
            errors.append(FieldError("unitPrice", "required", "give a unit price, or a product that has one"))
    elif price["currency"] != currency:
        errors.append(FieldError("unitPrice", "invalid", f"must be in the quote's currency, {currency}"))
    description = values["description"] if "description" in values else before.get("description")
    if not description and item is None:
        errors.append(FieldError("description", "required", "give a description, or a product"))
    if errors:
        raise ValidationFailed(errors)


async def _delete_line(change: Change) -> None:
    line = change.before or {}
    quote = await _line_quote(change, line["quote"])
    others = [row for row in await store.lines_of(quote["id"]) if row["id"] != line["id"]]
    await settle(change.context, quote, others)
