"""The suppression list as a sender relies on it: an address suppressed reaches every
contact with it, now and later (even after its person was erased), and the sender's
set-wise filter leaves them out; the unsubscribe link's headers."""

from __future__ import annotations

import pytest
from marketing_helpers import subscribed_contact

from kith.plugins.marketing.consent import (
    eligible_filter,
    is_suppressed,
    list_unsubscribe_headers,
    subscribe,
    suppress,
    unsubscribe_url,
)
from kith.sdk import ValidationFailed
from kith.sdk.testing import GraphQLClient, system_context


@pytest.fixture
async def marketing(make_kith):
    return await make_kith(
        enable=["marketing"],
        public_url="https://crm.acme.example",
        plugin={"marketing": {"topics": {"newsletter": "Newsletter", "offers": "Offers"}}},
    )


async def eligible(kith, topic: str = "newsletter", channel: str = "email") -> list[str]:
    rows = await system_context(kith).records.list("contact", eligible_filter(topic, channel), first=100)
    return sorted(r["first_name"] for r in rows)


async def test_an_address_suppressed_reaches_every_contact_with_it_now_and_later(marketing):
    context = system_context(marketing)
    await subscribed_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    await subscribed_contact(marketing, first_name="Ann2", emails=["other@x.example", "Ann@Client.example"])
    await subscribed_contact(marketing, first_name="Bob", emails=["bob@client.example"])
    assert await eligible(marketing) == ["Ann", "Ann2", "Bob"]

    entry = await suppress(context, email=" ANN@client.example", reason="bounced", source="bounce")
    assert (entry["email"], entry["reason"], entry["topic"]) == ("ann@client.example", "bounced", None)
    assert await eligible(marketing) == ["Bob"]
    assert await eligible(marketing, "offers") == ["Bob"]  # all marketing
    assert await is_suppressed(context, "Ann@Client.Example")
    assert not await is_suppressed(context, "bob@client.example")

    # idempotent: the same address again is the same entry
    again = await suppress(context, email="ann@client.example", reason="complained")
    assert again["id"] == entry["id"] and await context.records.count("suppression") == 1

    # a contact created later with the address, or given it, is left out too
    await subscribed_contact(marketing, first_name="Cara", emails=["ann@client.example"])
    dan = await subscribed_contact(marketing, first_name="Dan", emails=["dan@client.example"])
    assert await eligible(marketing) == ["Bob", "Dan"]
    await context.records.update("contact", dan["id"], {"emails": ["dan@client.example", "ann@client.example"]})
    assert await eligible(marketing) == ["Bob"]
    await context.records.update("contact", dan["id"], {"emails": ["dan@client.example"]})
    assert await eligible(marketing) == ["Bob", "Dan"]

    # taken off the list: everyone is back
    await context.records.delete("suppression", entry["id"])
    assert await eligible(marketing) == ["Ann", "Ann2", "Bob", "Cara", "Dan"]


async def test_a_topic_suppression_stops_that_topic_only(marketing):
    context = system_context(marketing)
    ann = await subscribed_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    await subscribe(context, ann["id"], "newsletter", channel="sms", source="test")
    await suppress(context, email="ann@client.example", reason="unsubscribed", topic="offers")
    assert await eligible(marketing, "offers") == []
    assert await eligible(marketing, "newsletter") == ["Ann"]
    assert await eligible(marketing, "newsletter", "sms") == ["Ann"]  # an address stops mail only
    # a suppression for everything covers the topic: no second entry for it
    everything = await suppress(context, email="ann@client.example", reason="manual")
    assert everything["topic"] is None and await eligible(marketing, "newsletter") == []
    assert (await suppress(context, email="ann@client.example", topic="newsletter"))["id"] == everything["id"]


async def test_bad_input_is_refused_naming_the_field(marketing):
    gql = GraphQLClient(marketing)
    create = """mutation($i: SuppressionCreateInput!) { createSuppression(input: $i) {
      suppression { id email } errors { field code message } } }"""
    bad_email = await gql.query(create, i={"email": "not an address", "reason": "manual"})
    assert bad_email["createSuppression"]["errors"][0]["field"] == "email"
    bad_topic = await gql.query(create, i={"email": "a@b.example", "topic": "cats"})
    (error,) = bad_topic["createSuppression"]["errors"]
    assert error["field"] == "topic" and "newsletter, offers" in error["message"]
    bad_reason = await gql.query(create, i={"email": "a@b.example", "reason": "bored"})
    assert bad_reason["createSuppression"]["errors"][0]["field"] == "reason"
    nothing = await gql.query(create, i={"reason": "manual"})
    assert nothing["createSuppression"]["errors"][0]["field"] == "email"
    ok = await gql.query(create, i={"email": "A@B.example"})
    assert ok["createSuppression"]["suppression"]["email"] == "a@b.example"
    twice = await gql.query(create, i={"email": "a@b.example"})
    assert twice["createSuppression"]["errors"][0]["code"] == "duplicate"
    with pytest.raises(ValidationFailed) as refused:
        await suppress(system_context(marketing), email="nope")
    assert refused.value.errors[0].field == "email"


async def test_unsubscribe_headers_follow_rfc_8058(marketing):
    context = system_context(marketing)
    ann = await subscribed_contact(marketing, emails=["ann@client.example"])
    headers = list_unsubscribe_headers(context, ann["id"], "spring-sale")
    url = unsubscribe_url(context, ann["id"], "spring-sale")
    assert headers == {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
    assert url.startswith("https://crm.acme.example/marketing/unsubscribe/")
    assert "ann" not in url  # no address in the link
    assert unsubscribe_url(context, ann["id"], "other") != url


async def test_an_erased_persons_address_stays_suppressed_without_being_kept(marketing):
    from kith.sdk.testing import erase_personal_data, export_personal_data

    context = system_context(marketing)
    ann = await subscribed_contact(marketing, first_name="Ann", emails=["ann@client.example", "ann@home.example"])
    await suppress(context, email="ann@client.example", reason="unsubscribed", topic="offers", source="one-click")
    exported = await export_personal_data(marketing, ann["id"])
    (entry,) = exported["plugins"]["marketing"]["suppressions"]
    assert (entry["email"], entry["topic"]) == ("ann@client.example", "offers")

    await erase_personal_data(marketing, ann["id"])
    entries = await context.records.list("suppression", order_by=[{"id": "ASC"}], include_deleted=True)
    assert [(e["email"], e["reason"], e["topic"]) for e in entries] == [
        (None, "unsubscribed", "offers"),
        (None, "erased", None),
        (None, "erased", None),
    ]
    stored = await marketing.db.execute("SELECT * FROM marketing_suppression")
    assert "ann@" not in repr([dict(r) for r in stored])
    audit = await marketing.db.execute("SELECT changes FROM kith_audit WHERE entity = 'suppression'")
    assert "ann@" not in repr([dict(r) for r in audit])

    # someone adds her again later: she gets no marketing, on any topic
    again = await subscribed_contact(marketing, first_name="Ann again", emails=["ANN@home.example"])
    bob = await subscribed_contact(marketing, first_name="Bob", emails=["bob@client.example"])
    for contact in (again, bob):
        await subscribe(context, contact["id"], "offers", channel="sms", source="test")
    assert await eligible(marketing) == ["Bob"]
    assert await eligible(marketing, "offers", "sms") == ["Bob"]
    assert await is_suppressed(context, "ann@client.example")


BOUNCE = """From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>
To: crm@acme.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain; charset=us-ascii

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example

Final-Recipient: rfc822; {address}
Action: {action}
Status: {status}

--B--
"""


async def test_a_hard_bounce_suppresses_the_address_and_a_soft_one_does_not(marketing):
    from kith.sdk.testing import deliver_mail

    context = system_context(marketing)
    await subscribed_contact(marketing, first_name="Gone", emails=["gone@client.example"])
    await subscribed_contact(marketing, first_name="Full", emails=["full@client.example"])
    await deliver_mail(marketing, BOUNCE.format(address="full@client.example", action="delayed", status="4.2.2"))
    await deliver_mail(marketing, BOUNCE.format(address="gone@client.example", action="failed", status="5.1.1"))
    (entry,) = await context.records.list("suppression")
    assert (entry["email"], entry["reason"], entry["source"]) == ("gone@client.example", "bounced", "bounce 5.1.1")
    assert await eligible(marketing) == ["Full"]
