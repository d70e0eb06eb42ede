"""The unsubscribe link over real HTTP: opening it (as a mail scanner does) changes
nothing; the page's button or a mail program's RFC 8058 one-click POST suppresses the
contact's addresses at once, idempotently; a forged or altered link is refused."""

from __future__ import annotations

import time

import pytest
from marketing_helpers import subscribed_contact

from kith.plugins.marketing.consent import eligible_filter, list_unsubscribe_headers, unsubscribe_url
from kith.sdk.testing import system_context, web_client


@pytest.fixture
async def marketing(make_kith):
    return await make_kith(
        enable=["marketing"],
        public_url="https://crm.acme.example",
        plugin={"marketing": {"topics": {"newsletter": "Monthly newsletter", "offers": "Offers"}}},
    )


def path_of(url: str) -> str:
    return url.removeprefix("https://crm.acme.example")


async def eligible(kith, topic: str = "newsletter") -> list[str]:
    rows = await system_context(kith).records.list("contact", eligible_filter(topic), first=100)
    return sorted(r["first_name"] for r in rows)


async def test_a_get_never_unsubscribes_and_a_one_click_post_does_at_once(marketing):
    context = system_context(marketing)
    ann = await subscribed_contact(marketing, first_name="Ann", emails=["ann@client.example", "ann@home.example"])
    await subscribed_contact(marketing, first_name="Bob", emails=["bob@client.example"])
    header = list_unsubscribe_headers(context, ann["id"], "spring-sale")["List-Unsubscribe"]
    path = path_of(header.strip("<>"))
    async with web_client(marketing) as client:
        for _ in range(3):  # a scanner, a gateway, the person having a look
            page = await client.get(path)
            assert page.status_code == 200 and '<form method="post">' in page.text
            assert "all our marketing mail" in page.text
        assert await context.records.count("suppression") == 0
        assert await eligible(marketing) == ["Ann", "Bob"]

        started = time.monotonic()
        done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and "You are unsubscribed" in done.text
        assert await eligible(marketing) == ["Bob"]  # the next send skips her
        assert time.monotonic() - started < 1

        again = await client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200
    entries = await context.records.list("suppression", order_by=[{"email": "ASC"}])
    assert [(e["email"], e["reason"], e["topic"], e["source"], e["campaign"], e["contact"]) for e in entries] == [
        ("ann@client.example", "unsubscribed", None, "one-click", "spring-sale", ann["id"]),
        ("ann@home.example", "unsubscribed", None, "one-click", "spring-sale", ann["id"]),
    ]


async def test_the_pages_button_unsubscribes_from_one_topic(marketing):
    context = system_context(marketing)
    ann = await subscribed_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    path = path_of(unsubscribe_url(context, ann["id"], topic="newsletter"))
    async with web_client(marketing) as client:
        page = await client.get(path)
        assert "Monthly newsletter" in page.text and 'name="confirm"' in page.text
        done = await client.post(path, data={"confirm": "yes"})
        assert done.status_code == 200 and "Monthly newsletter" in done.text
    (entry,) = await context.records.list("suppression")
    assert (entry["topic"], entry["source"]) == ("newsletter", "unsubscribe-page")
    assert await eligible(marketing, "newsletter") == []
    assert await eligible(marketing, "offers") == ["Ann"]


async def test_a_forged_or_altered_link_is_refused_and_changes_nothing(marketing):
    context = system_context(marketing)
    ann = await subscribed_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    bob = await subscribed_contact(marketing, first_name="Bob", emails=["bob@client.example"])
    path = path_of(unsubscribe_url(context, ann["id"]))
    token = path.rsplit("/", 1)[1]
    body, signature = token.split(".")
    bobs_body = path_of(unsubscribe_url(context, bob["id"])).rsplit("/", 1)[1].split(".")[0]
    async with web_client(marketing) as client:
        for bad in (
            f"{body}.{'0' * 64}",  # forged signature
            f"{bobs_body}.{signature}",  # another contact under Ann's signature
            body,  # no signature
            "nothing-here",
        ):
            assert (await client.get(f"/marketing/unsubscribe/{bad}")).status_code == 404
            refused = await client.post(f"/marketing/unsubscribe/{bad}", data={"List-Unsubscribe": "One-Click"})
            assert refused.status_code == 404 and "not valid" in refused.text
    assert await context.records.count("suppression") == 0
    assert await eligible(marketing) == ["Ann", "Bob"]
