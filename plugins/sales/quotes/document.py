"""The quote as an HTML document, rendered with Jinja2 from ``quote.html.jinja2``.

The records come through a ``Reader`` so the same code serves a GraphQL viewer (whose
loaders apply their grants: a quote they may not read is not found, hidden fields are
blank) and the CLI (the system, which sees everything).  Every figure is formatted here,
in Python, with the currency's own number of decimals, so the template only lays out
text and cannot get a number wrong; autoescaping is on, so names are text, never markup.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any, Protocol

import jinja2

from kith.plugins.sales.settings import SalesSettings
from kith.sdk import PluginContext, currency_exponent

Row = dict[str, Any]
BLANK = "—"

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("kith.plugins.sales.quotes", "."),
    autoescape=True,  # on for every template whatever its file name ends with
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATE = "quote.html.jinja2"
#: lines a document shows at most (a quote is read in one go, not paged)
MAX_LINES = 1000


class Reader(Protocol):
    async def record(self, entity: str, record_id: int | None) -> Row | None:
        """The record, or None if it does not exist or the reader may not see it."""

    async def lines(self, quote_id: int) -> list[Row]:
        """The quote's lines the reader may see, in document order."""


class ContextReader:
    """Reads through a plugin context, as its caller (the CLI's is the system)."""

    def __init__(self, context: PluginContext) -> None:
        self.context = context

    async def record(self, entity: str, record_id: int | None) -> Row | None:
        return None if record_id is None else await self.context.records.get(entity, record_id)

    async def lines(self, quote_id: int) -> list[Row]:
        if not self.context.can("quote_line", "read"):
            return []  # a reader without lines sees the quote's totals only
        order = [{"position": "ASC"}]
        return await self.context.records.list(
            "quote_line", {"quoteId": {"eq": quote_id}}, order_by=order, first=MAX_LINES
        )


# -- formatting -------------------------------------------------------------------------------


def format_money(value: Row | None, *, negative: bool = False) -> str:
    """``{"amount": 1234.5, "currency": "EUR"}`` -> ``1,234.50 EUR`` (JPY: no decimals, KWD: three)."""
    if not value:
        return BLANK
    amount = decimal.Decimal(value["amount"])
    if negative and amount:
        amount = -amount
    return f"{amount:,.{currency_exponent(value['currency'])}f} {value['currency']}"


def format_percent(text: str | None) -> str:
    return f"{text or 0}%"


def _text(value: Any) -> str:
    if value is None or value == "":
        return BLANK
    if isinstance(value, dt.datetime):
        return value.date().isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _person(contact: Row | None) -> str | None:
    if contact is None:
        return None
    name = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
    return name or (contact.get("emails") or [None])[0]


# -- the document -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineView:
    position: int
    description: str
    quantity: str
    unit_price: str
    discount: str
    tax: str
    net: str


@dataclass(frozen=True)
class QuoteView:
    number: str
    revision: str
    status: str
    title: str | None
    date: str
    deal: str
    organization: str | None
    contact: str | None
    valid_until: str
    lines: list[LineView]
    subtotal: str
    discount_percent: str
    discount: str
    tax: str
    total: str
    notes: str | None
    seller: SalesSettings = field(default_factory=SalesSettings)


async def view(reader: Reader, quote_id: int, seller: SalesSettings | None = None) -> QuoteView | None:
    """Everything the document shows, formatted; None if the reader cannot see the quote."""
    quote = await reader.record("quote", quote_id)
    if quote is None:
        return None
    deal = await reader.record("deal", quote.get("deal"))
    organization = await reader.record("organization", deal.get("organization")) if deal else None
    contact = await reader.record("contact", deal.get("contact")) if deal else None
    lines = [
        LineView(
            position=index,
            description=_text(line.get("description")),
            quantity=_text(line.get("quantity")),
            unit_price=format_money(line.get("unit_price")),
            discount=format_percent(line.get("discount_percent")),
            tax=format_percent(line.get("tax_percent")),
            net=format_money(line.get("net_total")),
        )
        for index, line in enumerate(await reader.lines(quote["id"]), start=1)
    ]
    return QuoteView(
        number=_text(quote.get("number")),
        revision=_text(quote.get("revision")),
        status=_text(quote.get("status")).capitalize(),
        title=quote.get("title"),
        date=_text(quote.get("sent_at") or quote.get("created_at")),
        deal=_text(deal.get("name") if deal else None),
        organization=organization.get("name") if organization else None,
        contact=_person(contact),
        valid_until=_text(quote.get("valid_until")),
        lines=lines,
        subtotal=format_money(quote.get("subtotal")),
        discount_percent=format_percent(quote.get("discount_percent")),
        discount=format_money(quote.get("discount_total"), negative=True),
        tax=format_money(quote.get("tax_total")),
        total=format_money(quote.get("total")),
        notes=quote.get("notes"),
        seller=seller or SalesSettings(),
    )


def render(quote: QuoteView) -> str:
    return _ENV.get_template(TEMPLATE).render(quote=quote)


async def render_quote(reader: Reader, quote_id: int, seller: SalesSettings | None = None) -> str | None:
    """The quote's HTML document, or None if the reader cannot see the quote; ``seller``
    (the plugin's settings) heads and foots it."""
    found = await view(reader, quote_id, seller)
    return None if found is None else render(found)
