"""The preference page over HTTP: GET shows the topics ticked as subscribed and changes
nothing; POST saves topics and frequency, or unsubscribes from everything."""

from __future__ import annotations

import pytest
from tampering import tampered

from kith.plugins.marketing.consent import eligible_filter, preferences_url, subscribe
from kith.sdk.testing import make_contact, system_context, web_client


@pytest.fixture
async def marketing(make_kith):
    return await make_kith(
        enable=["marketing"],
        public_url="https://crm.acme.example",
        plugin={"marketing": {"topics": {"newsletter": "Monthly newsletter", "offers": "Offers"}}},
    )


async def eligible(kith, topic: str, frequency=None) -> list[str]:
    rows = await system_context(kith).records.list("contact", eligible_filter(topic, frequency=frequency), first=100)
    return sorted(r["first_name"] for r in rows)


async def test_the_preference_page_shows_and_saves_topics_and_frequency(marketing):
    context = system_context(marketing)
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@client.example"])
    await subscribe(context, ann["id"], "newsletter", source="signup-form")
    path = preferences_url(context, ann["id"]).removeprefix("https://crm.acme.example")
    async with web_client(marketing) as client:
        page = await client.get(path)
        assert page.status_code == 200
        assert 'value="newsletter" checked' in page.text and 'value="offers">' in page.text
        assert "Unsubscribe from everything" in page.text

        saved = await client.post(path, data={"topic": ["offers"], "frequency": "monthly"})
        assert saved.status_code == 200 and "saved" in saved.text
        assert await eligible(marketing, "newsletter") == []
        assert await eligible(marketing, "offers") == ["Ann"]
        assert await eligible(marketing, "offers", frequency="weekly") == []  # she wants at most monthly
        page = await client.get(path)
        assert 'value="offers" checked' in page.text and 'value="monthly" checked' in page.text

        # she changes her mind: the newsletter again (the link proves it is her)
        await client.post(path, data={"topic": ["offers", "newsletter"], "frequency": "any"})
        assert await eligible(marketing, "newsletter") == ["Ann"]

        bad = await client.post(path, data={"topic": ["cats"], "frequency": "any"})
        assert bad.status_code == 400 and "topic" in bad.text

        off = await client.post(path, data={"topic": ["offers"], "unsubscribe_all": "yes"})
        assert off.status_code == 200
        assert await eligible(marketing, "offers") == [] and await eligible(marketing, "newsletter") == []
        assert (await client.get(tampered(path))).status_code == 404
        assert (await client.post((tampered(path)), data={"unsubscribe_all": "yes"})).status_code == 404
    states = await context.records.list("topic_subscription", order_by=[{"topic": "ASC"}])
    assert [(s["topic"], s["status"]) for s in states] == [("newsletter", "unsubscribed"), ("offers", "unsubscribed")]
