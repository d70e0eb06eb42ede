"""Web forms over real HTTP: a site's post creates or updates a contact with consent,
a double opt-in waits for its confirmation, the honeypot and the rate limit keep bots
out, bad input stores nothing; and subscribing a contact by hand through GraphQL, as
the caller (a contact they cannot see is not found)."""

from __future__ import annotations

import re

import pytest

from kith.plugins.marketing.consent import eligible_filter
from kith.sdk.testing import GraphQLClient, make_contact, make_user, outgoing_mail, system_context, web_client


@pytest.fixture
async def marketing(make_kith):
    kith = await make_kith(
        enable=["marketing"],
        public_url="https://crm.acme.example",
        mail_from="news@acme.example",
        plugin={
            "marketing": {
                "topics": {"newsletter": "Monthly newsletter", "offers": "Offers"},
                "form_rate_limit_per_minute": 5,
            }
        },
    )
    await kith.custom_fields.add("contact", "tier", "integer")
    return kith


async def make_form(kith, **values):
    defaults = {"name": "Website sign-up", "topics": ["newsletter"], "fields": ["first_name", "last_name", "company"]}
    return await system_context(kith).records.create("marketing_form", {**defaults, **values})


async def eligible(kith, topic: str = "newsletter") -> list[str]:
    rows = await system_context(kith).records.list("contact", eligible_filter(topic), first=100)
    return sorted(r["emails"][0] for r in rows)


async def contacts(kith) -> list[dict]:
    return await system_context(kith).records.list("contact", order_by=[{"id": "ASC"}], first=100)


async def test_a_post_creates_the_contact_subscribed_with_consent(marketing):
    form = await make_form(marketing, fields=["first_name", "last_name", "company", "phone", "tier"])
    assert form["key"] == "website-sign-up"  # generated from the name
    async with web_client(marketing) as client:
        answer = await client.post(
            f"/marketing/forms/{form['key']}",
            data={"email": " Ann@Client.Example ", "first_name": "Ann", "last_name": "Lee", "company": "Acme",
                  "phone": "+1 415 555 2671", "tier": "3", "lifecycle_stage": "customer"},
        )  # fmt: skip
    assert answer.status_code == 200 and "Thank you" in answer.text
    (ann,) = await contacts(marketing)
    assert (ann["first_name"], ann["last_name"], ann["emails"], ann["phones"]) == (
        "Ann",
        "Lee",
        ["ann@client.example"],
        ["+14155552671"],
    )
    assert ann["custom"]["tier"] == 3
    assert ann["lifecycle_stage"] == "lead"  # not a field the form may set
    organization = await system_context(marketing).records.get("organization", ann["organization"])
    assert organization["name"] == "Acme"
    assert await eligible(marketing) == ["ann@client.example"]
    (subscription,) = await system_context(marketing).records.list("topic_subscription")
    assert (subscription["status"], subscription["source"]) == ("subscribed", "form:website-sign-up")
    (consent,) = await system_context(marketing).consents(ann["id"])
    assert (consent["purpose"], consent["source"]) == ("newsletter", "form:website-sign-up")


async def test_double_opt_in_mails_a_confirmation_and_waits_for_it(marketing):
    form = await make_form(marketing, key="offers-signup", topics=["offers"], double_opt_in=True)
    async with web_client(marketing) as client:
        answer = await client.post(
            "/marketing/forms/offers-signup",
            json={"email": "bob@client.example", "first_name": "Bob"},
        )
        assert answer.status_code == 200 and answer.json()["ok"] is True
        assert answer.headers["access-control-allow-origin"] == "*"
        assert await eligible(marketing, "offers") == []  # not until confirmed
        (subscription,) = await system_context(marketing).records.list("topic_subscription")
        assert (subscription["status"], subscription["source"]) == ("pending", f"form:{form['key']}")
        (mail,) = await outgoing_mail(marketing)
        assert mail["message"]["To"] == "bob@client.example" and "Offers" in mail["message"]["Subject"]
        url = re.search(r"https://crm\.acme\.example(/marketing/confirm/\S+)", mail["message"].get_content()).group(1)
        assert (await client.post(url, data={"confirm": "yes"})).status_code == 200
    assert await eligible(marketing, "offers") == ["bob@client.example"]


async def test_an_existing_contact_is_updated_and_empty_input_erases_nothing(marketing):
    ann = await make_contact(marketing, first_name="Ann", last_name="Lee", emails=["ann@client.example"])
    form = await make_form(marketing, redirect_url="https://www.acme.example/thanks")
    async with web_client(marketing) as client:
        answer = await client.post(
            f"/marketing/forms/{form['key']}",
            data={"email": "ANN@client.example", "first_name": "Annie", "last_name": "", "company": "  "},
        )
    assert answer.status_code == 303 and answer.headers["location"] == "https://www.acme.example/thanks"
    (only,) = await contacts(marketing)
    assert only["id"] == ann["id"]
    assert (only["first_name"], only["last_name"], only["organization"]) == ("Annie", "Lee", None)
    assert await eligible(marketing) == ["ann@client.example"]


async def test_the_honeypot_is_answered_as_a_success_and_stores_nothing(marketing):
    form = await make_form(marketing, redirect_url="https://www.acme.example/thanks")
    path = f"/marketing/forms/{form['key']}"
    async with web_client(marketing) as client:
        person = await client.post(path, data={"email": "ann@client.example", "website": ""})
        bot = await client.post(path, data={"email": "bot@spam.example", "website": "http://spam.example"})
        as_json = await client.post(path, json={"email": "bot2@spam.example", "website": "x"})
    assert (bot.status_code, bot.headers["location"]) == (person.status_code, person.headers["location"])
    assert as_json.status_code == 200 and as_json.json()["ok"] is True
    assert [c["emails"] for c in await contacts(marketing)] == [["ann@client.example"]]
    assert await eligible(marketing) == ["ann@client.example"]


async def test_posts_past_the_rate_limit_are_refused(marketing):
    form = await make_form(marketing)
    other = await make_form(marketing, name="Other")
    async with web_client(marketing) as client:
        for n in range(5):
            answer = await client.post(f"/marketing/forms/{form['key']}", data={"email": f"p{n}@client.example"})
            assert answer.status_code == 200
        refused = await client.post(f"/marketing/forms/{form['key']}", json={"email": "late@client.example"})
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0
        assert refused.json()["errors"][0]["code"] == "rate_limited"
        # the limit is per form: another form of the site still takes posts
        assert (await client.post(f"/marketing/forms/{other['key']}", data={"email": "x@client.example"})).is_success
    assert "late@client.example" not in [c["emails"][0] for c in await contacts(marketing)]
    assert len(await contacts(marketing)) == 6


async def test_bad_input_is_refused_naming_the_field_and_stores_nothing(marketing):
    form = await make_form(marketing, fields=["first_name", "tier"])
    path = f"/marketing/forms/{form['key']}"
    async with web_client(marketing) as client:
        bad_email = await client.post(path, json={"email": "not an address", "first_name": "X"})
        assert bad_email.status_code == 400 and bad_email.json()["errors"][0]["field"] == "email"
        missing = await client.post(path, data={"first_name": "X"})
        assert missing.status_code == 400 and "email" in missing.text
        bad_tier = await client.post(path, json={"email": "ann@client.example", "tier": "lots"})
        assert bad_tier.status_code == 400 and bad_tier.json()["errors"][0]["field"] == "tier"
    assert await contacts(marketing) == []
    assert await system_context(marketing).records.count("topic_subscription") == 0


async def test_an_unknown_or_inactive_form_is_not_found(marketing):
    form = await make_form(marketing, active=False)
    async with web_client(marketing) as client:
        for key in (form["key"], "no-such-form", "Bad%20Key"):
            answer = await client.post(f"/marketing/forms/{key}", data={"email": "ann@client.example"})
            assert answer.status_code == 404
        preflight = await client.options(
            "/marketing/forms/no-such-form",
            headers={"Origin": "https://www.acme.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204 and "POST" in preflight.headers["access-control-allow-methods"]
    assert await contacts(marketing) == []


async def test_a_forms_settings_are_checked(marketing):
    gql = GraphQLClient(marketing)
    create = """mutation($input: MarketingFormCreateInput!) { createMarketingForm(input: $input) {
      errors { field code } marketingForm { key } } }"""
    for values, field in (
        ({"topics": ["cats"]}, "topics"),
        ({"fields": ["lifecycle_stage"]}, "fields"),
        ({"redirectUrl": "javascript:alert(1)"}, "redirectUrl"),
        ({"key": "Not a key!"}, "key"),
    ):
        answer = await gql.query(create, input={"name": "Form", **values})
        assert [e["field"] for e in answer["createMarketingForm"]["errors"]] == [field], values
    first = await gql.query(create, input={"name": "Spring sign-up!", "topics": ["offers"], "fields": ["tier"]})
    second = await gql.query(create, input={"name": "Spring sign-up!"})
    first_key = first["createMarketingForm"]["marketingForm"]["key"]
    second_key = second["createMarketingForm"]["marketingForm"]["key"]
    assert first_key == "spring-sign-up" and second_key.startswith("spring-sign-up-") and second_key != first_key


SUBSCRIBE = """mutation($c: ID!, $t: String!, $d: Boolean!) { subscribeContact(contactId: $c, topic: $t,
  doubleOptIn: $d) { errors { field code } subscription { topic status source } } }"""
UNSUBSCRIBE = """mutation($c: ID!, $t: String) { unsubscribeContact(contactId: $c, topic: $t) {
  errors { field code } subscriptions { topic status } } }"""


async def test_subscribing_and_unsubscribing_by_hand(marketing):
    mia = await make_user(marketing, email="mia@acme.example", roles=["marketer"])
    as_mia = await GraphQLClient.as_user(marketing, mia["id"])
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    done = await as_mia.query(SUBSCRIBE, c=ann["id"], t="newsletter", d=False)
    assert done["subscribeContact"] == {
        "errors": [],
        "subscription": {"topic": "newsletter", "status": "subscribed", "source": "admin"},
    }
    pending = await as_mia.query(SUBSCRIBE, c=ann["id"], t="offers", d=True)
    assert pending["subscribeContact"]["subscription"]["status"] == "pending"
    assert len(await outgoing_mail(marketing)) == 1
    assert await eligible(marketing) == ["ann@client.example"]

    bad = await as_mia.query(SUBSCRIBE, c=ann["id"], t="cats", d=False)
    assert bad["subscribeContact"]["errors"] == [{"field": "topic", "code": "invalid"}]
    gone = await as_mia.query(UNSUBSCRIBE, c=ann["id"], t="newsletter")
    assert gone["unsubscribeContact"] == {
        "errors": [],
        "subscriptions": [{"topic": "newsletter", "status": "unsubscribed"}, {"topic": "offers", "status": "pending"}],
    }
    assert await eligible(marketing) == []
    missing = await as_mia.query(UNSUBSCRIBE, c="999999", t=None)
    assert missing["unsubscribeContact"]["errors"] == [{"field": "contactId", "code": "not_found"}]


async def test_a_contact_the_caller_cannot_see_is_not_found(marketing):
    from kith.core.security.roles import save_role
    from kith.sdk import Grant, RoleDefinition

    await save_role(marketing, RoleDefinition(name="own_marketer", grants={
        "contact": Grant(actions=["read", "update"], scope="own"),
        "topic_subscription": Grant(actions=["read", "create", "update"]),
        "suppression": Grant(actions=["read", "create"]),
    }))  # fmt: skip
    ivy = await make_user(marketing, email="ivy@acme.example", roles=["own_marketer"])
    reader = await make_user(marketing, email="rex@acme.example", roles=["read_only"])
    as_ivy = await GraphQLClient.as_user(marketing, ivy["id"])
    theirs = await make_contact(marketing, first_name="Bob", emails=["bob@client.example"])
    mine = await make_contact(marketing, first_name="Cy", emails=["cy@client.example"], owner=ivy["id"])
    for query, variables, name in (
        (SUBSCRIBE, {"t": "newsletter", "d": False}, "subscribeContact"),
        (UNSUBSCRIBE, {"t": None}, "unsubscribeContact"),
    ):
        refused = await as_ivy.query(query, c=theirs["id"], **variables)
        assert refused[name]["errors"] == [{"field": "contactId", "code": "not_found"}]
    assert await system_context(marketing).records.count("topic_subscription") == 0
    assert await system_context(marketing).records.count("suppression") == 0
    ok = await as_ivy.query(SUBSCRIBE, c=mine["id"], t="newsletter", d=False)
    assert ok["subscribeContact"]["errors"] == []
    as_reader = await GraphQLClient.as_user(marketing, reader["id"])
    forbidden = await as_reader.query(SUBSCRIBE, c=mine["id"], t="offers", d=False)
    assert forbidden["subscribeContact"]["errors"][0]["code"] == "forbidden"
