"""Products and quotes of the sales plugin, driven through GraphQL (and the CLI) as a user
would: exact totals worked out by hand, the draft/sent/accepted/rejected/superseded life
of a quote and its revisions, the HTML document, and all-or-nothing writes."""

from __future__ import annotations

import asyncio
import re

import pytest

from kith.plugins.sales.quotes.numbers import normalise_percent, normalise_quantity
from kith.sdk import Plugin, ValidationFailed, hookimpl
from kith.sdk.testing import GraphQLClient, make_contact, make_organization, make_user, system_context

PRODUCT = """mutation($input: ProductCreateInput!) { createProduct(input: $input) {
  product { id name sku taxPercent active } errors { field code message } } }"""
PRICE = """mutation($input: ProductPriceCreateInput!) { createProductPrice(input: $input) {
  productPrice { id amount { amount currency } } errors { field code message } } }"""
DEAL = (
    """mutation($input: DealCreateInput!) { createDeal(input: $input) { deal { id } errors { field code message } } }"""
)
QUOTE = """mutation($input: QuoteCreateInput!) { createQuote(input: $input) {
  quote { id number revision status total { amount currency } } errors { field code message } } }"""
UPDATE_QUOTE = """mutation($id: ID!, $input: QuoteUpdateInput!) { updateQuote(id: $id, input: $input) {
  quote { id discountPercent } errors { field code message } } }"""
LINE = """mutation($input: QuoteLineCreateInput!) { createQuoteLine(input: $input) {
  quoteLine { id description quantity discountPercent taxPercent unitPrice { amount currency }
              netTotal { amount currency } taxTotal { amount currency } }
  errors { field code message } } }"""
UPDATE_LINE = """mutation($id: ID!, $input: QuoteLineUpdateInput!) { updateQuoteLine(id: $id, input: $input) {
  quoteLine { id description unitPrice { amount currency } netTotal { amount } taxTotal { amount } }
  errors { field code message } } }"""
DELETE_LINE = """mutation($id: ID!) { deleteQuoteLine(id: $id) { quoteLine { id } errors { field code message } } }"""
FIGURES = """query($id: ID!) { quote(id: $id) {
  number revision status currency: total { currency }
  subtotal { amount } discountTotal { amount } taxTotal { amount } total { amount }
  lines { description netTotal { amount } taxTotal { amount } } } }"""
STEP = """mutation($id: ID!) { %s(id: $id) { quoteId number revision status errors { field code message } } }"""
REJECT = """mutation($id: ID!, $reason: String) { rejectQuote(id: $id, reason: $reason) {
  quoteId status errors { field code message } } }"""
CURRENCY = """mutation($id: ID!, $currency: String!) { changeQuoteCurrency(id: $id, currency: $currency) {
  quoteId status errors { field code message } } }"""
DOCUMENT = "query($id: ID!) { quoteDocument(id: $id) }"


async def open_sales(make_kith, *plugins: Plugin):
    return await make_kith(plugins=list(plugins), enable=["sales", *(p.name for p in plugins)])


@pytest.fixture
async def sales(make_kith):
    return await open_sales(make_kith)


class UserClient(GraphQLClient):
    """Queries as a signed-in user, through the same path as an HTTP request."""

    def __init__(self, kith, principal) -> None:
        super().__init__(kith)
        self.principal = principal

    async def execute(self, query, variables=None):
        from kith.core.web.app import execute

        return await execute(self.kith, query, variables or {}, principal=self.principal)


class Quotes:
    """The mutations a user runs, returning the payload and asserting no GraphQL errors."""

    def __init__(self, kith, principal=None) -> None:
        self.kith = kith
        self.gql = GraphQLClient(kith) if principal is None else UserClient(kith, principal)

    async def product(self, name: str, prices: dict[str, str] = (), **fields) -> str:
        made = (await self.gql.query(PRODUCT, input={"name": name, **fields}))["createProduct"]
        assert made["errors"] == [], made
        for currency, amount in dict(prices).items():
            priced = await self.price(made["product"]["id"], amount, currency)
            assert priced["errors"] == [], priced
        return made["product"]["id"]

    async def price(self, product: str, amount: str, currency: str) -> dict:
        data = await self.gql.query(
            PRICE, input={"productId": product, "amount": {"amount": amount, "currency": currency}}
        )
        return data["createProductPrice"]

    async def deal(self, name: str, currency: str | None = "EUR", **fields) -> str:
        amount = {"amount": "1", "currency": currency} if currency else None
        made = (await self.gql.query(DEAL, input={"name": name, "amount": amount, **fields}))["createDeal"]
        assert made["errors"] == [], made
        return made["deal"]["id"]

    async def quote(self, deal: str, **fields) -> dict:
        made = (await self.gql.query(QUOTE, input={"dealId": deal, **fields}))["createQuote"]
        assert made["errors"] == [], made
        return made["quote"]

    async def line(self, quote: str, **fields) -> dict:
        return (await self.gql.query(LINE, input={"quoteId": quote, **fields}))["createQuoteLine"]

    async def add(self, quote: str, **fields) -> dict:
        made = await self.line(quote, **fields)
        assert made["errors"] == [], made
        return made["quoteLine"]

    async def update_line(self, line: str, **fields) -> dict:
        return (await self.gql.query(UPDATE_LINE, id=line, input=fields))["updateQuoteLine"]

    async def update_quote(self, quote: str, **fields) -> dict:
        return (await self.gql.query(UPDATE_QUOTE, id=quote, input=fields))["updateQuote"]

    async def figures(self, quote: str) -> dict:
        return (await self.gql.query(FIGURES, id=quote))["quote"]

    async def step(self, name: str, quote: str) -> dict:
        return (await self.gql.query(STEP % name, id=quote))[name]

    async def document(self, quote: str) -> str | None:
        return (await self.gql.query(DOCUMENT, id=quote))["quoteDocument"]


def totals(figures: dict) -> tuple[str, str, str, str]:
    return (
        figures["subtotal"]["amount"],
        figures["discountTotal"]["amount"],
        figures["taxTotal"]["amount"],
        figures["total"]["amount"],
    )


# -- products and prices ----------------------------------------------------------------------


async def test_a_product_has_one_price_per_currency_and_a_unique_sku(sales):
    q = Quotes(sales)
    widget = await q.product("Widget", {"EUR": "19.99", "JPY": "2500"}, sku="W-1", taxPercent="19")
    again = await q.price(widget, "21.00", "EUR")
    assert again == {
        "productPrice": None,
        "errors": [
            {
                "field": "amount",
                "code": "duplicate",
                "message": "product 1 already has a price in EUR (price 1); change that one instead",
            }
        ],
    }
    negative = await q.price(widget, "-1", "USD")
    assert negative["errors"] == [{"field": "amount", "code": "invalid", "message": "must not be negative"}]
    listed = await q.gql.query(
        """query($id: ID!) { product(id: $id) { name sku taxPercent active
        prices { amount { amount currency } } } }""",
        id=widget,
    )
    assert listed["product"] == {
        "name": "Widget",
        "sku": "W-1",
        "taxPercent": "19",
        "active": True,
        "prices": [
            {"amount": {"amount": "19.99", "currency": "EUR"}},
            {"amount": {"amount": "2500", "currency": "JPY"}},
        ],
    }
    same_sku = await q.gql.query(PRODUCT, input={"name": "Other", "sku": "W-1"})
    assert same_sku["createProduct"]["errors"] == [
        {"field": "sku", "code": "duplicate", "message": "product 1 already has SKU W-1"}
    ]
    # a deleted price no longer counts; bringing it back while another exists is refused
    first = (await sales.db.execute("SELECT id FROM sales_product_price WHERE currency = 'EUR'"))[0]["id"]
    await q.gql.query("mutation($id: ID!) { deleteProductPrice(id: $id) { errors { message } } }", id=str(first))
    assert (await q.price(widget, "21.00", "EUR"))["errors"] == []
    restored = await q.gql.query(
        "mutation($id: ID!) { restoreProductPrice(id: $id) { errors { field code } } }", id=str(first)
    )
    assert restored["restoreProductPrice"]["errors"] == [{"field": "amount", "code": "duplicate"}]


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("19", "19"),
        ("7.5", "7.5"),
        ("7.50", "7.5"),
        (19, "19"),
        (7.5, "7.5"),
        (" 0 ", "0"),
        ("100", "100"),
        ("33.3333", "33.3333"),
    ],
)
def test_percentages_are_stored_as_exact_canonical_text(value, stored):
    assert normalise_percent(value) == stored


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("-1", "must be between 0 and 100 (percent)"),
        ("100.01", "must be between 0 and 100 (percent)"),
        ("ten", "must be a percentage: a number from 0 to 100, like 19 or 7.5"),
        ("NaN", "must be a percentage: a number from 0 to 100, like 19 or 7.5"),
        (True, "must be a percentage: a number from 0 to 100, like 19 or 7.5"),
        ("1.23456", "must have at most 4 decimals"),
    ],
)
def test_bad_percentages_are_refused_with_the_rule(value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        normalise_percent(value)


@pytest.mark.parametrize(
    ("value", "outcome"),
    [
        ("3", "3"),
        (2.5, "2.5"),
        ("0.0001", "0.0001"),
        ("0", "must be more than 0"),
        ("-2", "must be more than 0"),
        ("a few", "must be a quantity: a number above 0, like 3 or 2.5"),
        ("1000000001", "must be at most 1,000,000,000"),
    ],
)
def test_quantities(value, outcome):
    if outcome[0].isdigit():
        assert normalise_quantity(value) == outcome
    else:
        with pytest.raises(ValueError, match=re.escape(outcome)):
            normalise_quantity(value)


async def test_percent_fields_name_the_field_and_take_numbers_from_python(sales):
    q = Quotes(sales)
    bad = await q.gql.query(PRODUCT, input={"name": "Widget", "taxPercent": "150"})
    assert bad["createProduct"]["errors"] == [
        {"field": "taxPercent", "code": "invalid", "message": "must be between 0 and 100 (percent)"}
    ]
    product = await sales.records.create("product", {"name": "Gadget", "tax_percent": 7.5})
    assert product["tax_percent"] == "7.5"
    deal = await q.deal("Deal")
    quote = await q.quote(deal)
    bad_line = await q.line(
        quote["id"], description="X", unitPrice={"amount": "1", "currency": "EUR"}, quantity="-1", discountPercent="abc"
    )
    assert bad_line["errors"] == [
        {"field": "quantity", "code": "invalid", "message": "must be more than 0"},
        {
            "field": "discountPercent",
            "code": "invalid",
            "message": "must be a percentage: a number from 0 to 100, like 19 or 7.5",
        },
    ]


# -- totals, worked out by hand ------------------------------------------------------------------


async def test_euro_totals_with_line_and_quote_discounts_and_two_tax_rates(sales):
    q = Quotes(sales)
    widget = await q.product("Widget", {"EUR": "19.99"}, taxPercent="19")
    deal = await q.deal("Acme renewal")
    quote = await q.quote(deal, discountPercent="5")
    assert (quote["number"], quote["revision"], quote["status"]) == ("Q-00001", 1, "draft")
    assert quote["total"] == {"amount": "0.00", "currency": "EUR"}  # the deal's currency

    # net 3 x 19.99 x 0.90 = 53.973 -> 53.97; tax 53.97 x 0.95 x 0.19 = 9.741585 -> 9.74
    first = await q.add(quote["id"], productId=widget, quantity="3", discountPercent="10")
    assert first == {
        "id": first["id"],
        "description": "Widget",
        "quantity": "3",
        "discountPercent": "10",
        "taxPercent": "19",
        "unitPrice": {"amount": "19.99", "currency": "EUR"},
        "netTotal": {"amount": "53.97", "currency": "EUR"},
        "taxTotal": {"amount": "9.74", "currency": "EUR"},
    }
    # net 12.50; tax 12.50 x 0.95 x 0.07 = 0.83125 -> 0.83
    setup = await q.add(
        quote["id"], description="Setup", unitPrice={"amount": "12.50", "currency": "EUR"}, taxPercent="7"
    )
    # net 0.5 x 0.05 = 0.025 -> 0.03 (half-up: half-even would give 0.02); no tax
    tiny = await q.add(quote["id"], description="Tiny", quantity="0.5", unitPrice={"amount": "0.05", "currency": "EUR"})
    assert tiny["netTotal"]["amount"] == "0.03"
    # subtotal 53.97 + 12.50 + 0.03 = 66.50; discount 66.50 x 0.05 = 3.325 -> 3.33 (half-up);
    # tax 9.74 + 0.83 + 0.00 = 10.57; total 66.50 - 3.33 + 10.57 = 73.74
    assert totals(await q.figures(quote["id"])) == ("66.50", "3.33", "10.57", "73.74")

    # without the quote discount every line's tax changes: 53.97 x 0.19 = 10.2543 -> 10.25;
    # 12.50 x 0.07 = 0.875 -> 0.88 (half-up); total 66.50 + 11.13 = 77.63
    changed = await q.update_quote(quote["id"], discountPercent=None)
    assert changed["errors"] == []
    figures = await q.figures(quote["id"])
    assert totals(figures) == ("66.50", "0.00", "11.13", "77.63")
    assert [line["taxTotal"]["amount"] for line in figures["lines"]] == ["10.25", "0.88", "0.00"]

    # a line changes: Setup x 2 = 25.00, tax 1.75; subtotal 53.97 + 25.00 + 0.03 = 79.00;
    # tax 10.25 + 1.75 = 12.00; total 91.00
    edited = await q.update_line(setup["id"], quantity="2")
    assert edited["errors"] == [] and edited["quoteLine"]["netTotal"] == {"amount": "25.00"}
    assert totals(await q.figures(quote["id"])) == ("79.00", "0.00", "12.00", "91.00")
    # a line goes: 78.97 + 12.00 = 90.97
    assert (await q.gql.query(DELETE_LINE, id=tiny["id"]))["deleteQuoteLine"]["errors"] == []
    assert totals(await q.figures(quote["id"])) == ("78.97", "0.00", "12.00", "90.97")


async def test_yen_totals_have_no_decimals(sales):
    q = Quotes(sales)
    teaset = await q.product("Tea set", {"JPY": "4980"}, taxPercent="10")
    quote = await q.quote(await q.deal("Kyoto", currency="JPY"), discountPercent="3")
    # net 3 x 4980 x 0.975 = 14566.5 -> 14567 (half-up)
    first = await q.add(quote["id"], productId=teaset, quantity="3", discountPercent="2.5")
    assert first["netTotal"] == {"amount": "14567", "currency": "JPY"}
    # tax 14567 x 0.97 x 0.10 = 1412.999 -> 1413
    assert first["taxTotal"] == {"amount": "1413", "currency": "JPY"}
    # net 1250; tax 1250 x 0.97 x 0.08 = 97
    await q.add(quote["id"], description="Shipping", unitPrice={"amount": "1250", "currency": "JPY"}, taxPercent="8")
    # subtotal 14567 + 1250 = 15817; discount 15817 x 0.03 = 474.51 -> 475;
    # tax 1413 + 97 = 1510; total 15817 - 475 + 1510 = 16852
    figures = await q.figures(quote["id"])
    assert totals(figures) == ("15817", "475", "1510", "16852")
    assert figures["currency"] == {"currency": "JPY"}
    fraction = await q.line(quote["id"], description="Half a yen", unitPrice={"amount": "0.5", "currency": "JPY"})
    assert fraction["errors"] == [
        {"field": "unitPrice", "code": "invalid", "message": "JPY amounts have at most 0 decimals"}
    ]


async def test_three_decimal_dinar_totals(sales):
    q = Quotes(sales)
    quote = await q.quote(await q.deal("Kuwait", currency="KWD"))
    # net 1.5 x 12.345 = 18.5175 -> 18.518 (half-up); tax 18.518 x 0.05 = 0.9259 -> 0.926
    consulting = await q.add(
        quote["id"],
        description="Consulting",
        quantity="1.5",
        unitPrice={"amount": "12.345", "currency": "KWD"},
        taxPercent="5",
    )
    assert (consulting["netTotal"], consulting["taxTotal"]) == (
        {"amount": "18.518", "currency": "KWD"},
        {"amount": "0.926", "currency": "KWD"},
    )
    # net 0.001; tax 0.001 x 0.5 = 0.0005 -> 0.001 (half-up)
    await q.add(quote["id"], description="Token", unitPrice={"amount": "0.001", "currency": "KWD"}, taxPercent="50")
    # subtotal 18.519; no discount; tax 0.926 + 0.001 = 0.927; total 19.446
    assert totals(await q.figures(quote["id"])) == ("18.519", "0.000", "0.927", "19.446")


# -- lines and their defaults ----------------------------------------------------------------------


async def test_a_line_takes_the_products_price_in_the_quotes_currency_or_says_why_not(sales):
    q = Quotes(sales)
    widget = await q.product("Widget", {"EUR": "19.99"}, taxPercent="19")
    quote = await q.quote(await q.deal("Tokyo", currency="JPY"))
    missing = await q.line(quote["id"], productId=widget)
    assert missing == {
        "quoteLine": None,
        "errors": [
            {
                "field": "unitPrice",
                "code": "no_price",
                "message": "product Widget has no price in JPY: give a unitPrice, or add a JPY price to the product",
            }
        ],
    }
    # a price given on the line is used as is, the product still gives the name and tax rate
    priced = await q.add(quote["id"], productId=widget, unitPrice={"amount": "2400", "currency": "JPY"})
    assert (priced["description"], priced["taxPercent"], priced["netTotal"]) == (
        "Widget",
        "19",
        {"amount": "2400", "currency": "JPY"},
    )
    wrong = await q.line(quote["id"], description="Euro thing", unitPrice={"amount": "5", "currency": "EUR"})
    assert wrong["errors"] == [
        {"field": "unitPrice", "code": "invalid", "message": "must be in the quote's currency, JPY"}
    ]
    empty = await q.line(quote["id"])
    assert empty["errors"] == [
        {"field": "unitPrice", "code": "required", "message": "give a unit price, or a product that has one"},
        {"field": "description", "code": "required", "message": "give a description, or a product"},
    ]
    retired = await q.product("Old model", {"JPY": "100"}, active=False)
    assert (await q.line(quote["id"], productId=retired))["errors"] == [
        {"field": "productId", "code": "inactive", "message": "product Old model is no longer sold (inactive)"}
    ]
    # choosing another product brings its name, price and tax rate
    await q.price(widget, "2500", "JPY")
    gadget = await q.product("Gadget", {"JPY": "990"}, taxPercent="8")
    switched = await q.update_line(priced["id"], productId=gadget)
    assert switched["errors"] == []
    assert switched["quoteLine"]["description"] == "Gadget"
    assert switched["quoteLine"]["unitPrice"] == {"amount": "990", "currency": "JPY"}
    # 990 x 0.08 = 79.2 -> 79
    assert switched["quoteLine"]["taxTotal"] == {"amount": "79"}


async def test_a_quote_on_a_deal_without_currency_gets_one_when_asked(sales):
    q = Quotes(sales)
    widget = await q.product("Widget", {"USD": "10.00", "EUR": "9.00"}, taxPercent="10")
    service = await q.product("Service", {"USD": "100.00"})
    quote = await q.quote(await q.deal("No amount yet", currency=None))
    assert quote["total"] is None
    refused = await q.line(quote["id"], productId=widget)
    assert refused["errors"] == [
        {
            "field": "quoteId",
            "code": "no_currency",
            "message": "quote Q-00001 revision 1 has no currency yet (its deal has none): "
            "set one with changeQuoteCurrency",
        }
    ]
    set_usd = (await q.gql.query(CURRENCY, id=quote["id"], currency="usd"))["changeQuoteCurrency"]
    assert set_usd == {"quoteId": quote["id"], "status": "draft", "errors": []}
    await q.add(quote["id"], productId=widget, quantity="2")
    await q.add(quote["id"], productId=service)
    # USD: 2 x 10.00 = 20.00 (tax 2.00) + 100.00 = 120.00; total 122.00
    assert totals(await q.figures(quote["id"])) == ("120.00", "0.00", "2.00", "122.00")
    no_eur = (await q.gql.query(CURRENCY, id=quote["id"], currency="EUR"))["changeQuoteCurrency"]
    assert no_eur["errors"] == [
        {"field": "currency", "code": "no_price", "message": "line 2 (Service): product Service has no EUR price"}
    ]
    await q.price(service, "90.00", "EUR")
    assert (await q.gql.query(CURRENCY, id=quote["id"], currency="EUR"))["changeQuoteCurrency"]["errors"] == []
    # EUR: 2 x 9.00 = 18.00 (tax 1.80) + 90.00 = 108.00; total 109.80
    figures = await q.figures(quote["id"])
    assert totals(figures) == ("108.00", "0.00", "1.80", "109.80") and figures["currency"] == {"currency": "EUR"}


async def test_a_deleted_line_comes_back_only_while_its_figures_hold(sales):
    q = Quotes(sales)
    quote = await q.quote(await q.deal("Undo"))
    await q.add(quote["id"], description="Kept", unitPrice={"amount": "10.00", "currency": "EUR"}, taxPercent="10")
    gone = await q.add(
        quote["id"], description="Gone", unitPrice={"amount": "5.00", "currency": "EUR"}, taxPercent="10"
    )
    restore = "mutation($id: ID!) { restoreQuoteLine(id: $id) { errors { field code message } } }"
    await q.gql.query(DELETE_LINE, id=gone["id"])
    assert totals(await q.figures(quote["id"])) == ("10.00", "0.00", "1.00", "11.00")
    assert (await q.gql.query(restore, id=gone["id"]))["restoreQuoteLine"]["errors"] == []
    assert totals(await q.figures(quote["id"])) == ("15.00", "0.00", "1.50", "16.50")
    # deleted again, then the quote gets 10% off: the line's stored tax (0.50) no longer holds
    await q.gql.query(DELETE_LINE, id=gone["id"])
    await q.update_quote(quote["id"], discountPercent="10")
    assert (await q.gql.query(restore, id=gone["id"]))["restoreQuoteLine"]["errors"] == [
        {
            "field": "id",
            "code": "invalid",
            "message": "quote Q-00001 revision 1 changed since this line was deleted "
            "(its currency or discount): add the line again",
        }
    ]
    # 10.00 - 1.00 discount + 10.00 x 0.9 x 10% = 0.90 tax -> 9.90
    assert totals(await q.figures(quote["id"])) == ("10.00", "1.00", "0.90", "9.90")


async def test_quote_numbers_are_unique_when_created_at_once(sales):
    q = Quotes(sales)
    deal = await q.deal("Busy")
    made = await asyncio.gather(*(sales.records.create("quote", {"deal": int(deal)}) for _ in range(5)))
    assert sorted(m["number"] for m in made) == ["Q-00001", "Q-00002", "Q-00003", "Q-00004", "Q-00005"]


# -- statuses and revisions ----------------------------------------------------------------------------


async def test_a_sent_quote_is_frozen(sales):
    q = Quotes(sales)
    quote = await q.quote(await q.deal("Frozen"), title="Offer")
    empty = await q.step("sendQuote", quote["id"])
    assert empty == {
        "quoteId": None,
        "number": None,
        "revision": None,
        "status": None,
        "errors": [{"field": "id", "code": "no_lines", "message": "add at least one line before sending the quote"}],
    }
    line = await q.add(quote["id"], description="Work", unitPrice={"amount": "100", "currency": "EUR"})
    sent = await q.step("sendQuote", quote["id"])
    assert sent == {"quoteId": quote["id"], "number": "Q-00001", "revision": 1, "status": "sent", "errors": []}
    sent_at = await q.gql.query("query($id: ID!) { quote(id: $id) { sentAt decidedAt } }", id=quote["id"])
    assert sent_at["quote"]["sentAt"] is not None and sent_at["quote"]["decidedAt"] is None

    message = "quote Q-00001 revision 1 is sent: only drafts can be changed (reviseQuote makes a new draft revision)"
    assert (await q.update_quote(quote["id"], title="Better offer", discountPercent="5"))["errors"] == [
        {"field": "title", "code": "not_draft", "message": message},
        {"field": "discountPercent", "code": "not_draft", "message": message},
    ]
    assert (await q.line(quote["id"], description="More", unitPrice={"amount": "1", "currency": "EUR"}))["errors"] == [
        {"field": "quoteId", "code": "not_draft", "message": message}
    ]
    assert (await q.update_line(line["id"], quantity="2"))["errors"] == [
        {"field": "quantity", "code": "not_draft", "message": message}
    ]
    assert (await q.gql.query(DELETE_LINE, id=line["id"]))["deleteQuoteLine"]["errors"] == [
        {"field": "id", "code": "not_draft", "message": message}
    ]
    deleted = await q.gql.query("mutation($id: ID!) { deleteQuote(id: $id) { errors { field code } } }", id=quote["id"])
    assert deleted["deleteQuote"]["errors"] == [{"field": "id", "code": "not_draft"}]
    again = await q.step("sendQuote", quote["id"])
    assert again["errors"] == [
        {
            "field": "id",
            "code": "invalid_status",
            "message": "quote Q-00001 revision 1 is sent; only draft quotes can be sent",
        }
    ]
    # the status is the workflow's: clients have no status (nor totals, nor number) to write
    sdl = sales.schema.sdl()
    update_input = sdl.split("input QuoteUpdateInput {")[1].split("}")[0]
    assert "status" not in update_input and "total" not in update_input and "number" not in update_input
    assert (await q.figures(quote["id"]))["status"] == "sent"


async def test_reject_revise_and_accept(sales):
    q = Quotes(sales)
    widget = await q.product("Widget", {"EUR": "50.00"}, taxPercent="20")
    deal = await q.deal("Big deal")
    quote = await q.quote(deal, title="First offer", discountPercent="10")
    await q.add(quote["id"], productId=widget, quantity="4")
    await q.step("sendQuote", quote["id"])
    rejected = (await q.gql.query(REJECT, id=quote["id"], reason="Too expensive"))["rejectQuote"]
    assert rejected == {"quoteId": quote["id"], "status": "rejected", "errors": []}
    notes = await q.gql.query(
        "query($id: ID!) { quote(id: $id) { decidedAt timeline { subject body } } }", id=quote["id"]
    )
    assert notes["quote"]["timeline"] == [{"subject": "Quote Q-00001 revision 1 rejected", "body": "Too expensive"}]
    assert notes["quote"]["decidedAt"] is not None

    revised = await q.step("reviseQuote", quote["id"])
    assert revised["errors"] == [] and (revised["number"], revised["revision"], revised["status"]) == (
        "Q-00001",
        2,
        "draft",
    )
    draft = revised["quoteId"]
    assert draft != quote["id"]
    # the lines came along: 4 x 50.00 = 200.00; discount 20.00; tax 200 x 0.9 x 0.2 = 36.00; total 216.00
    copy = await q.figures(draft)
    assert totals(copy) == ("200.00", "20.00", "36.00", "216.00")
    assert [line["description"] for line in copy["lines"]] == ["Widget"]
    assert (await q.figures(quote["id"]))["status"] == "superseded"
    assert (await q.step("acceptQuote", quote["id"]))["errors"][0]["code"] == "invalid_status"

    # the draft is negotiated down: 15% off -> discount 30.00; tax 200 x 0.85 x 0.2 = 34.00; total 204.00
    assert (await q.update_quote(draft, discountPercent="15"))["errors"] == []
    await q.step("sendQuote", draft)
    accepted = await q.step("acceptQuote", draft)
    assert accepted == {"quoteId": draft, "number": "Q-00001", "revision": 2, "status": "accepted", "errors": []}
    outcome = await q.gql.query(
        """query($id: ID!) { deal(id: $id) { amount { amount currency }
        quotes { revision status decidedAt } } }""",
        id=deal,
    )
    assert outcome["deal"]["amount"] == {"amount": "204.00", "currency": "EUR"}
    assert [(x["revision"], x["status"]) for x in outcome["deal"]["quotes"]] == [(1, "superseded"), (2, "accepted")]
    assert outcome["deal"]["quotes"][1]["decidedAt"] is not None
    domain = await sales.db.execute(
        "SELECT event, record_id FROM kith_outbox WHERE event IN "
        "('quote.sent', 'quote.accepted', 'quote.rejected') ORDER BY id"
    )
    assert [(e["event"], str(e["record_id"])) for e in domain] == [
        ("quote.sent", quote["id"]),
        ("quote.rejected", quote["id"]),
        ("quote.sent", draft),
        ("quote.accepted", draft),
    ]
    assert (await q.step("reviseQuote", draft))["errors"][0]["code"] == "invalid_status"


async def test_accepting_supersedes_other_sent_revisions_and_prices_the_deal_in_the_quote_currency(sales):
    q = Quotes(sales)
    deal = await q.deal("Yen deal", currency="EUR")
    quote = await q.quote(deal)
    await q.gql.query(CURRENCY, id=quote["id"], currency="JPY")
    await q.add(quote["id"], description="Licence", unitPrice={"amount": "120000", "currency": "JPY"}, taxPercent="10")
    await q.step("sendQuote", quote["id"])
    second = (await q.step("reviseQuote", quote["id"]))["quoteId"]
    await q.step("sendQuote", second)
    # an old revision sent again behind the workflow's back (e.g. data brought in from elsewhere)
    await sales.records.update("quote", int(quote["id"]), {"status": "sent"})
    await q.step("acceptQuote", second)
    assert (await q.figures(quote["id"]))["status"] == "superseded"
    amount = await q.gql.query("query($id: ID!) { deal(id: $id) { amount { amount currency } } }", id=deal)
    assert amount["deal"]["amount"] == {"amount": "132000", "currency": "JPY"}  # 120000 + 10% tax


async def test_deleting_a_draft_revision_brings_the_revised_quote_back(sales):
    q = Quotes(sales)
    quote = await q.quote(await q.deal("Oops"))
    await q.add(quote["id"], description="Thing", unitPrice={"amount": "10", "currency": "EUR"})
    await q.step("sendQuote", quote["id"])
    draft = (await q.step("reviseQuote", quote["id"]))["quoteId"]
    deleted = await q.gql.query("mutation($id: ID!) { deleteQuote(id: $id) { errors { code } } }", id=draft)
    assert deleted["deleteQuote"]["errors"] == []
    assert (await q.figures(quote["id"]))["status"] == "sent"
    restored = await q.gql.query("mutation($id: ID!) { restoreQuote(id: $id) { errors { code } } }", id=draft)
    assert restored["restoreQuote"]["errors"] == []
    assert (await q.figures(quote["id"]))["status"] == "superseded"
    assert (await q.figures(draft))["status"] == "draft"


# -- the document ----------------------------------------------------------------------------------


async def make_document_quote(kith) -> str:
    """Quote Q-00001 for Acme / Ann Archer: the figures of the euro test, and a hostile name."""
    q = Quotes(kith)
    acme = await make_organization(kith, name="Acme & Sons")
    ann = await make_contact(kith, first_name="Ann", last_name="Archer", organization=acme["id"])
    widget = await q.product("<script>alert(1)</script> Widget", {"EUR": "1234.50"}, taxPercent="19")
    deal = await q.deal("Acme renewal", organizationId=str(acme["id"]), contactId=str(ann["id"]))
    quote = await q.quote(deal, discountPercent="5", validUntil="2031-03-31", notes="Prices <b>net</b> of VAT")
    # net 2 x 1234.50 x 0.9 = 2222.10; tax 2222.10 x 0.95 x 0.19 = 401.08905 -> 401.09
    await q.add(quote["id"], productId=widget, quantity="2", discountPercent="10")
    # net 0.5 x 0.05 = 0.025 -> 0.03; no tax
    await q.add(quote["id"], description="Tiny", quantity="0.5", unitPrice={"amount": "0.05", "currency": "EUR"})
    # subtotal 2222.13; discount 111.1065 -> 111.11; tax 401.09; total 2222.13 - 111.11 + 401.09 = 2512.11
    return quote["id"]


def cells(html: str, css_class: str) -> str:
    match = re.search(rf'class="{css_class}"[^>]*>(?:<th>[^<]*</th><td>)?([^<]*)<', html)
    assert match, css_class
    return match.group(1)


async def test_the_html_document_shows_every_figure_formatted_and_escapes_names(sales):
    q = Quotes(sales)
    quote = await make_document_quote(sales)
    html = await q.document(quote)
    assert "<title>Quote Q-00001 (revision 1)</title>" in html
    assert (cells(html, "revision"), cells(html, "status"), cells(html, "deal")) == ("1", "Draft", "Acme renewal")
    assert (cells(html, "organization"), cells(html, "contact")) == ("Acme &amp; Sons", "Ann Archer")
    assert cells(html, "valid-until") == "2031-03-31"
    assert (
        '<tr><td>1</td><td>&lt;script&gt;alert(1)&lt;/script&gt; Widget</td><td class="num">2</td>'
        '<td class="num">1,234.50 EUR</td><td class="num">10%</td><td class="num">19%</td>'
        '<td class="num">2,222.10 EUR</td></tr>'
    ) in html
    assert (
        '<tr><td>2</td><td>Tiny</td><td class="num">0.5</td><td class="num">0.05 EUR</td>'
        '<td class="num">0%</td><td class="num">0%</td><td class="num">0.03 EUR</td></tr>'
    ) in html
    assert "<script>" not in html
    assert (cells(html, "subtotal"), cells(html, "tax"), cells(html, "total")) == (
        "2,222.13 EUR",
        "401.09 EUR",
        "2,512.11 EUR",
    )
    assert '<tr class="discount"><th>Discount (5%)</th><td>-111.11 EUR</td></tr>' in html
    assert "Prices &lt;b&gt;net&lt;/b&gt; of VAT" in html


async def test_document_amounts_follow_the_currency(sales):
    q = Quotes(sales)
    yen = await q.quote(await q.deal("Yen", currency="JPY"))
    await q.add(yen["id"], description="Licence", quantity="3", unitPrice={"amount": "49800", "currency": "JPY"})
    dinar = await q.quote(await q.deal("Dinar", currency="KWD"))
    await q.add(dinar["id"], description="Consulting", unitPrice={"amount": "1234.5", "currency": "KWD"})
    assert cells(await q.document(yen["id"]), "total") == "149,400 JPY"
    assert cells(await q.document(dinar["id"]), "total") == "1,234.500 KWD"
    assert await q.document("999") is None


async def test_the_document_respects_the_viewers_grants(sales):
    from kith.core.web.app import execute

    quote = await make_document_quote(sales)
    manager = await make_user(sales, email="boss@example.com")
    await sales.auth.grant_role(manager["id"], "sales_manager")
    agent = await make_user(sales, email="agent@example.com")
    await sales.auth.grant_role(agent["id"], "support_agent")

    async def document_as(user) -> dict:
        principal = await sales.auth.principal_for_user(user["id"], "token")
        return await execute(sales, DOCUMENT, {"id": quote}, principal=principal)

    as_manager = await document_as(manager)
    assert "2,512.11 EUR" in as_manager["data"]["quoteDocument"]
    as_agent = await document_as(agent)
    assert as_agent["data"]["quoteDocument"] is None and not as_agent.get("errors")


class QuoteRoles:
    """A rep who quotes on their own deals, and someone who may only read quotes."""

    @hookimpl
    def kith_roles(self):
        from kith.sdk import Grant, RoleDefinition

        catalogue = {"product": Grant(actions=["read"]), "product_price": Grant(actions=["read"])}
        return [
            RoleDefinition(
                name="quoter",
                grants={
                    **catalogue,
                    "deal": Grant(actions=["read"], scope="own"),
                    "quote": Grant(actions=["read", "create", "update"]),
                    "quote_line": Grant(actions=["read", "create"]),
                },
            ),
            RoleDefinition(name="quote_reader", grants={**catalogue, "quote": Grant(actions=["read"])}),
        ]


async def test_quoting_follows_the_users_grants(make_kith):
    kith = await open_sales(make_kith, Plugin(name="quote_roles", version="0", hooks=QuoteRoles()))
    admin = Quotes(kith)

    async def as_user(email: str, role: str) -> Quotes:
        user = await make_user(kith, email=email)
        await kith.auth.grant_role(user["id"], role)
        return Quotes(kith, await kith.auth.principal_for_user(user["id"], "token"))

    rep = await as_user("rita@example.com", "quoter")
    reader = await as_user("rob@example.com", "quote_reader")
    mine = await admin.deal("Rita's deal", ownerId=str(rep.gql.principal.user_id))
    theirs = await admin.deal("Someone else's deal")
    hidden = await rep.gql.query(QUOTE, input={"dealId": theirs})
    assert hidden["createQuote"]["errors"] == [
        {"field": "dealId", "code": "not_found", "message": f"deal {theirs} does not exist"}
    ]
    quote = await rep.quote(mine)
    await rep.add(quote["id"], description="Work", unitPrice={"amount": "300", "currency": "EUR"})
    forbidden = await reader.step("sendQuote", quote["id"])
    assert forbidden["errors"] == [{"field": None, "code": "forbidden", "message": "you may not update quote records"}]
    assert (await rep.step("sendQuote", quote["id"]))["status"] == "sent"
    assert "300.00 EUR" in await reader.document(quote["id"])
    # the deal follows the accepted quote although Rita may not update deals herself
    assert (await rep.step("acceptQuote", quote["id"]))["errors"] == []
    audit = await kith.db.execute(
        "SELECT actor, source FROM kith_audit WHERE entity = 'deal' AND record_id = {} ORDER BY id DESC LIMIT 1",
        int(mine),
    )
    assert (audit[0]["actor"], audit[0]["source"]) == (rep.gql.principal.name, "plugin")
    amount = await admin.gql.query("query($id: ID!) { deal(id: $id) { amount { amount } } }", id=mine)
    assert amount["deal"]["amount"] == {"amount": "300.00"}


def test_quote_html_command(kith_cli, kith_database_url, tmp_path):
    from kith.core.runtime import Kith
    from kith.sdk import load_settings

    assert kith_cli("plugins", "enable", "sales").exit_code == 0

    async def setup() -> str:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            return await make_document_quote(kith)
        finally:
            await kith.close()

    quote = asyncio.run(setup())
    printed = kith_cli("sales", "quote-html", quote)
    assert printed.exit_code == 0, printed.output
    assert printed.output.startswith("<!DOCTYPE html>") and "2,512.11 EUR" in printed.output
    target = tmp_path / "quote.html"
    written = kith_cli("sales", "quote-html", quote, "--output", str(target))
    assert written.exit_code == 0 and written.output == f"Wrote quote {quote} to {target}\n"
    assert target.read_text() == printed.output
    missing = kith_cli("sales", "quote-html", "999")
    assert missing.exit_code == 1 and "quote 999 does not exist" in missing.output


# -- all or nothing -------------------------------------------------------------------------------


class Tripwire:
    """Refuses chosen writes after the quote hooks have run (it is enabled after sales),
    noting what it saw of the quote's totals inside the transaction."""

    seen_totals: list[int] = []

    @hookimpl
    async def kith_before_create(self, change):
        if change.entity == "quote_line" and change.values.get("description") == "boom":
            rows = await change.context._kith.db.execute(
                "SELECT total FROM sales_quote WHERE id = {}", change.values["quote"]
            )
            Tripwire.seen_totals.append(rows[0]["total"])
            raise ValidationFailed.single("description", "invalid", "tripwire")
        if change.entity == "quote_line" and change.values.get("description") == "copy fails":
            raise ValidationFailed.single("description", "invalid", "tripwire")

    @hookimpl
    async def kith_before_update(self, change):
        if change.entity == "deal" and "amount" in change.values and change.before["name"] == "Locked deal":
            raise ValidationFailed.single("amount", "invalid", "this deal's amount is locked")


async def audit_rows(kith) -> int:
    return int((await kith.db.execute("SELECT COUNT(*) AS n FROM kith_audit"))[0]["n"])


async def test_nothing_is_half_written_when_a_step_fails(make_kith):
    Tripwire.seen_totals.clear()
    tripwire = Plugin(name="tripwire", version="0", hooks=Tripwire())
    kith = await open_sales(make_kith, tripwire)
    q = Quotes(kith)
    quote = await q.quote(await q.deal("Locked deal"))
    await q.add(quote["id"], description="Work", unitPrice={"amount": "100", "currency": "EUR"})
    audit_before = await audit_rows(kith)

    # a line refused after its quote's totals were written: neither stays
    boom = await q.line(quote["id"], description="boom", unitPrice={"amount": "5", "currency": "EUR"})
    assert boom["errors"] == [{"field": "description", "code": "invalid", "message": "tripwire"}]
    assert Tripwire.seen_totals == [10500]  # the new total was written inside the transaction ...
    assert totals(await q.figures(quote["id"])) == ("100.00", "0.00", "0.00", "100.00")  # ... and rolled back
    assert await audit_rows(kith) == audit_before

    # accepting fails at the deal: the quote stays sent, no event
    await q.step("sendQuote", quote["id"])
    refused = await q.step("acceptQuote", quote["id"])
    assert refused["errors"] == [{"field": "amount", "code": "invalid", "message": "this deal's amount is locked"}]
    assert (await q.figures(quote["id"]))["status"] == "sent"
    assert not await kith.db.execute("SELECT id FROM kith_outbox WHERE event = 'quote.accepted'")

    # revising fails while copying a line: no new revision, the old one is still sent
    await kith.records.create("quote", {"deal": int(await q.deal("Other"))})  # takes Q-00002
    other = await q.quote(await q.deal("Third"))
    await q.add(other["id"], description="fine", unitPrice={"amount": "1", "currency": "EUR"})
    await kith.records.update(
        "quote_line",
        (await kith.db.execute("SELECT id FROM sales_quote_line WHERE quote = {}", int(other["id"])))[0]["id"],
        {"description": "copy fails"},
    )
    await q.step("sendQuote", other["id"])
    failed = await q.step("reviseQuote", other["id"])
    assert failed["errors"] == [{"field": "description", "code": "invalid", "message": "tripwire"}]
    assert (await q.figures(other["id"]))["status"] == "sent"
    assert await kith.count("quote") == 3


async def test_a_sales_rep_sees_the_quotes_on_their_own_deals_only(sales):
    rep = await make_user(sales, email="rep@example.com")
    await sales.auth.grant_role(rep["id"], "sales_rep")
    admin = Quotes(sales)
    as_rep = Quotes(sales, await sales.auth.principal_for_user(rep["id"], "token"))
    mine = await admin.deal("Mine", ownerId=str(rep["id"]))
    theirs = await admin.deal("Theirs")
    await as_rep.quote(mine)
    await admin.quote(theirs)
    listed = await as_rep.gql.query("{ quotes { totalCount nodes { deal { name } } } }")
    assert listed["quotes"] == {"totalCount": 1, "nodes": [{"deal": {"name": "Mine"}}]}
    refused = await as_rep.gql.query(QUOTE, input={"dealId": theirs})
    assert refused["createQuote"]["errors"][0]["code"] == "not_found"


async def test_the_seller_from_the_plugins_settings_heads_the_document(make_kith, monkeypatch):
    monkeypatch.setenv("KITH_PLUGIN", '{"sales": {"seller_name": "Kith & Co", "quote_footer": "Net 30 days"}}')
    kith = await make_kith(enable=["sales"])
    quote = await make_document_quote(kith)
    html = (await GraphQLClient(kith).query(DOCUMENT, id=quote))["quoteDocument"]
    assert '<p class="seller"><strong>Kith &amp; Co</strong></p>' in html
    assert '<footer class="terms"><p>Net 30 days</p></footer>' in html


async def test_a_misspelt_sales_setting_is_one_clear_error(make_kith, monkeypatch):
    from kith.plugins.sales.settings import sales_settings
    from kith.sdk import KithError

    monkeypatch.setenv("KITH_PLUGIN", '{"sales": {"seler_name": "Typo Ltd"}}')
    with pytest.raises(KithError) as caught:  # refused when enabled, before any hook reads it
        await make_kith(enable=["sales"])
    assert "invalid settings: plugin.sales.seler_name: Extra inputs are not permitted" in str(caught.value)
    monkeypatch.setenv("KITH_PLUGIN", '{"sales": {"seller_name": "Right Ltd"}}')
    kith = await make_kith(enable=["sales"])
    assert sales_settings(system_context(kith)).seller_name == "Right Ltd"
