"""The entities of products and quotes.

Everything a client cannot decide is read-only here (numbers, revisions, statuses,
computed totals): the plugin writes those itself, as a trusted ``plugin`` actor, and
clients change statuses only through the workflow mutations (``sendQuote`` …).
"""

from __future__ import annotations

from kith.plugins.sales.models import QUOTE_STATUSES, Product, ProductPrice, Quote, QuoteLine
from kith.plugins.sales.quotes.numbers import normalise_percent, normalise_quantity
from kith.sdk import Entity

#: the quote's money figures; they share its one currency column
QUOTE_TOTALS = ("subtotal", "discount_total", "tax_total", "total")


def entities() -> list[Entity]:
    return [
        Entity(
            "product",
            Product,
            required=("name",),
            searchable=("name", "sku", "description"),
            normalisers={"tax_percent": normalise_percent},
            timeline=False,
        ),
        Entity(
            "product_price",
            ProductPrice,
            label="Product price",
            required=("product", "amount"),
            money={"amount": "currency"},
            reverse={"product": "prices"},
            timeline=False,
        ),
        Entity(
            "quote",
            Quote,
            required=("deal",),
            searchable=("number", "title"),
            choices={"status": QUOTE_STATUSES},
            normalisers={"discount_percent": normalise_percent},
            money={name: "currency" for name in QUOTE_TOTALS},
            read_only=("number", "revision", "status", *QUOTE_TOTALS, "sent_at", "decided_at"),
            reverse={"deal": "quotes"},
            owner_via="deal",  # a rep's quotes are those on their deals
        ),
        Entity(
            "quote_line",
            QuoteLine,
            label="Quote line",
            required=("quote",),
            money={"unit_price": "currency", "net_total": "currency", "tax_total": "currency"},
            normalisers={
                "quantity": normalise_quantity,
                "discount_percent": normalise_percent,
                "tax_percent": normalise_percent,
            },
            read_only=("net_total", "tax_total"),
            reverse={"quote": "lines"},
            owner_via="quote",
            timeline=False,
        ),
    ]
