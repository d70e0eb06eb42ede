"""Consent per topic and channel: single and double opt-in with the core's consent
record written alongside, the confirmation link (GET shows, POST confirms), and an
unsubscribe that withdraws the consent; the core's consents with a channel."""

from __future__ import annotations

import re

import pytest
from tampering import tampered

from kith.plugins.marketing.consent import eligible_filter, subscribe, unsubscribe_url
from kith.sdk import ValidationFailed
from kith.sdk.testing import GraphQLClient, make_contact, outgoing_mail, system_context, web_client


@pytest.fixture
async def marketing(make_kith):
    return await make_kith(
        enable=["marketing"],
        public_url="https://crm.acme.example",
        mail_from="news@acme.example",
        plugin={
            "marketing": {
                "topics": {"newsletter": "Monthly newsletter", "offers": "Offers"},
                "consent_wording_version": "2026-03",
            }
        },
    )


async def eligible(kith, topic: str = "newsletter", channel: str = "email", frequency=None) -> list[str]:
    rows = await system_context(kith).records.list("contact", eligible_filter(topic, channel, frequency), first=100)
    return sorted(r["first_name"] for r in rows)


def state(subscription: dict) -> tuple:
    return (subscription["topic"], subscription["channel"], subscription["status"], subscription["wording_version"])


async def test_single_opt_in_subscribes_with_the_consent_recorded(marketing):
    context = system_context(marketing)
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    await make_contact(marketing, first_name="Bob", emails=["bob@client.example"])
    assert await eligible(marketing) == []  # no consent, no marketing
    found = await subscribe(context, ann["id"], "newsletter", source="signup-form")
    assert state(found) == ("newsletter", "email", "subscribed", "2026-03") and found["confirmed_at"] is not None
    assert await eligible(marketing) == ["Ann"]
    assert await eligible(marketing, "newsletter", "sms") == [] and await eligible(marketing, "offers") == []
    (consent,) = await context.consents(ann["id"])
    assert (consent["purpose"], consent["channel"], consent["source"], consent["wording_version"]) == (
        "newsletter",
        "email",
        "signup-form",
        "2026-03",
    )
    again = await subscribe(context, ann["id"], "newsletter", source="signup-form")
    assert again["id"] == found["id"] and len(await context.consents(ann["id"])) == 1


async def test_double_opt_in_confirms_only_by_the_links_post(marketing):
    context = system_context(marketing)
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    pending = await subscribe(context, ann["id"], "offers", source="shop-form", double_opt_in=True)
    assert pending["status"] == "pending" and pending["confirmed_at"] is None
    assert await eligible(marketing, "offers") == [] and await context.consents(ann["id"]) == []
    (mail,) = await outgoing_mail(marketing)
    assert mail["message"]["To"] == "ann@client.example" and "Offers" in mail["message"]["Subject"]
    url = re.search(r"https://crm\.acme\.example(/marketing/confirm/\S+)", mail["message"].get_content()).group(1)
    async with web_client(marketing) as client:
        page = await client.get(url)
        assert page.status_code == 200 and "Confirm" in page.text
        assert await eligible(marketing, "offers") == []  # opening the link confirms nothing
        done = await client.post(url, data={"confirm": "yes"})
        assert done.status_code == 200 and "You are subscribed" in done.text
        assert (await client.post(url, data={"confirm": "yes"})).status_code == 200  # twice: the same
        assert (await client.post(tampered(url), data={})).status_code == 404
    assert await eligible(marketing, "offers") == ["Ann"]
    (consent,) = await context.consents(ann["id"])
    assert (consent["purpose"], consent["source"], consent["wording_version"]) == ("offers", "double-opt-in", "2026-03")
    (subscription,) = await context.records.list("topic_subscription")
    assert state(subscription) == ("offers", "email", "subscribed", "2026-03")
    assert subscription["confirmed_at"] is not None


async def test_unsubscribing_withdraws_the_consent_and_coming_back_needs_confirming(marketing):
    context = system_context(marketing)
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    for topic in ("newsletter", "offers"):
        await subscribe(context, ann["id"], topic, source="signup-form")
    path = unsubscribe_url(context, ann["id"]).removeprefix("https://crm.acme.example")
    async with web_client(marketing) as client:
        assert (await client.post(path, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    subscriptions = await context.records.list("topic_subscription", order_by=[{"topic": "ASC"}])
    assert [s["status"] for s in subscriptions] == ["unsubscribed", "unsubscribed"]
    assert all(c["withdrawn_at"] is not None for c in await context.consents(ann["id"]))
    assert await eligible(marketing) == [] and await eligible(marketing, "offers") == []

    # someone signs her up again on a form without double opt-in: she has to confirm
    back = await subscribe(context, ann["id"], "newsletter", source="signup-form")
    assert back["status"] == "pending" and await eligible(marketing) == []
    (mail,) = await outgoing_mail(marketing)
    url = re.search(r"https://crm\.acme\.example(/marketing/confirm/\S+)", mail["message"].get_content()).group(1)
    async with web_client(marketing) as client:
        assert (await client.post(url, data={"confirm": "yes"})).status_code == 200
    assert await eligible(marketing) == ["Ann"]  # she confirmed: back on the newsletter...
    assert await eligible(marketing, "offers") == []  # ...and still off the offers


async def test_bad_input_names_the_field(marketing):
    context = system_context(marketing)
    ann = await make_contact(marketing, emails=["ann@client.example"])
    for call, field in (
        (subscribe(context, ann["id"], "cats"), "topic"),
        (subscribe(context, ann["id"], "newsletter", frequency="daily"), "frequency"),
        (subscribe(context, 999999, "newsletter"), "contactId"),
        (subscribe(context, ann["id"], "newsletter", channel=" "), "channel"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            await call
        assert refused.value.errors[0].field == field


async def test_frequency_preferences_narrow_a_sends_cadence(marketing):
    context = system_context(marketing)
    for name, frequency in (("Any", "any"), ("Weekly", "weekly"), ("Monthly", "monthly")):
        contact = await make_contact(marketing, first_name=name)
        await subscribe(context, contact["id"], "newsletter", frequency=frequency)
    assert await eligible(marketing) == ["Any", "Monthly", "Weekly"]
    assert await eligible(marketing, frequency="weekly") == ["Any", "Weekly"]
    assert await eligible(marketing, frequency="monthly") == ["Any", "Monthly", "Weekly"]


async def test_the_cores_consents_have_a_channel(marketing):
    gql = GraphQLClient(marketing)
    ann = await make_contact(marketing, emails=["ann@client.example"])
    record = """mutation($c: ID!, $ch: String!) { recordConsent(contactId: $c, purpose: "newsletter", source: "phone",
      wordingVersion: "v1", channel: $ch) { ok errors { field } } }"""
    assert (await gql.query(record, c=ann["id"], ch="SMS"))["recordConsent"]["errors"] == []
    plain = """mutation($c: ID!) { recordConsent(contactId: $c, purpose: "newsletter", source: "web",
      wordingVersion: "v1") { ok } }"""
    await gql.query(plain, c=ann["id"])
    listing = await gql.query("query($c: ID!) { consents(contactId: $c) { purpose channel } }", c=ann["id"])
    assert listing["consents"] == [
        {"purpose": "newsletter", "channel": "sms"},
        {"purpose": "newsletter", "channel": "email"},
    ]
    withdraw = """mutation($c: ID!) { withdrawConsent(contactId: $c, purpose: "newsletter", channel: "sms") {
      errors { field } } }"""
    assert (await gql.query(withdraw, c=ann["id"]))["withdrawConsent"]["errors"] == []
    consents = await system_context(marketing).consents(ann["id"])
    assert [(c["channel"], c["withdrawn_at"] is None) for c in consents] == [("sms", False), ("email", True)]
    again = await gql.query(withdraw, c=ann["id"])
    assert again["withdrawConsent"]["errors"] == [{"field": "purpose"}]


async def test_a_persons_subscriptions_are_in_their_export(marketing):
    from kith.sdk.testing import export_personal_data

    ann = await make_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    await subscribe(system_context(marketing), ann["id"], "offers", source="signup-form")
    exported = await export_personal_data(marketing, ann["id"])
    (subscription,) = exported["plugins"]["marketing"]["topic_subscriptions"]
    assert (subscription["topic"], subscription["status"]) == ("offers", "subscribed")
    assert [c["purpose"] for c in exported["consents"]] == ["offers"]
