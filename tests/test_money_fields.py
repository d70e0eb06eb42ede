"""Money fields of entities: exact integer minor units plus a currency, on both engines."""

from __future__ import annotations

import pytest
from piccolo.columns import BigInt, Varchar
from piccolo.table import Table

from kith.sdk import Entity, Plugin, RecordColumns, ValidationFailed, hookimpl, initial_migration


class Invoice(RecordColumns, Table, tablename="test_invoice"):
    number = Varchar(length=20)
    total = BigInt(null=True, default=None)
    currency = Varchar(length=3, null=True, default=None)


class InvoiceHooks:
    @hookimpl
    def kith_entities(self):
        return [Entity("invoice", Invoice, required=("number",), money={"total": "currency"})]


INVOICES = Plugin(
    name="invoices", version="1.0", hooks=InvoiceHooks(), tables=[Invoice], migrations=[initial_migration(Invoice)]
)


@pytest.fixture
async def billing(make_kith):
    return await make_kith(plugins=[INVOICES], enable=["invoices"])


async def invoice(kith, number: str, amount: str | None, currency: str = "EUR"):
    total = None if amount is None else {"amount": amount, "currency": currency}
    return await kith.records.create("invoice", {"number": number, "total": total})


async def test_stored_exactly_and_read_back_as_money(billing):
    from kith.sdk.testing import GraphQLClient

    gql = GraphQLClient(billing)
    created = await gql.query(
        'mutation { createInvoice(input: {number: "A1", total: {amount: "19.99", currency: "eur"}}) '
        "{ invoice { number total { amount currency } } errors { field message } } }"
    )
    assert created["createInvoice"] == {
        "invoice": {"number": "A1", "total": {"amount": "19.99", "currency": "EUR"}},
        "errors": [],
    }
    rows = await billing.db.execute("SELECT total, currency FROM test_invoice")
    assert (rows[0]["total"], rows[0]["currency"]) == (1999, "EUR")
    assert "currency" not in billing.schema.sdl().split("type Invoice {")[1].split("}")[0]


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("1.5", "JPY", "JPY amounts have at most 0 decimals"),
        ("1.005", "EUR", "EUR amounts have at most 2 decimals"),
        ("12", "EURO", "currency must be a three-letter ISO 4217 code"),
        ("a lot", "EUR", "amount must be a number"),
    ],
)
async def test_bad_money_is_refused_naming_the_field(billing, amount, currency, message):
    with pytest.raises(ValidationFailed) as caught:
        await invoice(billing, "X", amount, currency)
    assert caught.value.errors[0].field == "total" and message in caught.value.errors[0].message
    assert await billing.count("invoice") == 0


async def test_filter_sort_and_sum_per_currency(billing):
    from kith.sdk.testing import GraphQLClient

    for number, amount, currency in (
        ("1", "0.10", "EUR"),
        ("2", "0.20", "EUR"),
        ("3", "100.00", "EUR"),
        ("4", "150", "JPY"),
        ("5", "2.125", "KWD"),
        ("6", None, "EUR"),
    ):
        await invoice(billing, number, amount, currency)
    gql = GraphQLClient(billing)
    big = await gql.query(
        '{ invoices(filter: {total: {amount: {gte: "2"}}}, orderBy: [{total: DESC}]) { nodes { number } } }'
    )
    assert [n["number"] for n in big["invoices"]["nodes"]] == ["4", "3", "5"]
    euros = await gql.query('{ invoices(filter: {total: {currency: {eq: "eur"}, amount: {lt: "1"}}}) { totalCount } }')
    assert euros["invoices"]["totalCount"] == 2
    empty = await gql.query("{ invoices(filter: {total: {isNull: true}}) { nodes { number } } }")
    assert empty["invoices"]["nodes"] == [{"number": "6"}]
    sums = await gql.query('{ invoicesAggregate(sum: ["total"]) { key count sums } }')
    by_currency = {g["key"]["total.currency"]: g["sums"]["total"] for g in sums["invoicesAggregate"]}
    assert by_currency == {"EUR": "100.30", "JPY": "150", "KWD": "2.125", None: None}
    changed = await billing.records.update("invoice", 1, {"total": {"amount": "0.1", "currency": "EUR"}})
    assert changed["version"] == 1  # 0.1 EUR is what it was: no change
