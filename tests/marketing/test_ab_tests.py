"""A/B tests of a campaign: a share of the recipients gets each variant, the winner (by
human opens, replies, won deals or revenue) goes to the rest after the test's duration,
and machine opens do not vote."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections import Counter

import pytest

from kith.core.automations.worker import Worker
from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent import subscribe
from kith.sdk.testing import (
    GraphQLClient,
    deliver_mail,
    make_contact,
    run_worker_until_idle,
    smtp_sink,
    system_context,
    web_client,
)

BROWSER = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36"
APPLE_PROXY = "Mozilla/5.0"
VARIANTS = [{"name": "plain", "subject": "Our spring news"}, {"name": "curious", "subject": "Guess what is new?"}]


def pixel(message) -> str:
    html = message.get_body(("html",)).get_content()
    return re.search(r'<img src="https://crm\.acme\.example(/marketing/o/[^"]+)"', html).group(1)


async def test_the_variant_more_people_open_goes_to_the_rest(make_kith):
    async with smtp_sink() as sink:
        kith = await make_kith(enable=["marketing"], public_url="https://crm.acme.example", **sink.settings)
        context, gql = system_context(kith), GraphQLClient(kith)
        for i in range(20):
            person = await make_contact(
                kith, first_name=f"P{i}", emails=[f"p{i}@example.com"], lifecycle_stage="customer"
            )
            await subscribe(context, person["id"], "newsletter", source="test")
        segment = await context.records.create(
            "segment", {"name": "Customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})}
        )
        made = await gql.query(
            "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } errors { field message } } }",
            i={"name": "Spring", "subject": "Spring", "html": "<p>Hello {{ contact.first_name }}</p>",
               "segmentId": str(segment["id"]), "variants": json.dumps(VARIANTS), "testShare": 50,
               "testDuration": "PT2H", "winnerBy": "opens"},
        )  # fmt: skip
        assert made["createCampaign"]["errors"] == [], made
        campaign = made["createCampaign"]["campaign"]["id"]
        started = await gql.query("mutation($id: ID!) { startCampaign(id: $id) { errors { field } } }", id=campaign)
        assert started["startCampaign"]["errors"] == []
        await run_worker_until_idle(kith)
        tried = Counter(r.message["Subject"] for r in sink.received)
        assert tried == {"Our spring news": 5, "Guess what is new?": 5}  # half of 20, evenly; ten held
        # people open "curious" more; a privacy proxy "opens" every "plain" mail, which is no vote
        async with web_client(kith) as client:
            for received in sink.received:
                subject = received.message["Subject"]
                if subject == "Guess what is new?" and received.recipients[0] < "p5":
                    await client.get(pixel(received.message), headers={"User-Agent": BROWSER})
                if subject == "Our spring news":
                    await client.get(pixel(received.message), headers={"User-Agent": APPLE_PROXY})
        worker = Worker(kith)
        worker.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)  # the test's two hours are over
        await worker.run_until_idle()
        await run_worker_until_idle(kith)
    everyone = Counter(r.message["Subject"] for r in sink.received)
    assert everyone == {"Our spring news": 5, "Guess what is new?": 15}
    assert len({r.recipients[0] for r in sink.received}) == 20  # nobody twice
    done = await gql.query("query($id: ID!) { campaign(id: $id) { status winner } }", id=campaign)
    assert done["campaign"] == {"status": "sent", "winner": "curious"}


async def test_bad_variants_are_refused_before_anything_is_sent(make_kith):
    kith = await make_kith(enable=["marketing"])
    gql = GraphQLClient(kith)
    segment = await system_context(kith).records.create("segment", {"name": "All", "definition": "{}"})
    made = await gql.query(
        "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } } }",
        i={"name": "X", "subject": "S", "html": "<p>x</p>", "segmentId": str(segment["id"]),
           "variants": json.dumps([{"name": "only"}])},
    )  # fmt: skip
    started = await gql.query(
        "mutation($id: ID!) { startCampaign(id: $id) { errors { field } } }",
        id=made["createCampaign"]["campaign"]["id"],
    )
    assert started["startCampaign"]["errors"] == [{"field": "variants"}]


REPLY = """From: <{address}>
To: news@acme.example
Subject: Re: {subject}
Message-ID: <reply-{address}>
In-Reply-To: {answers}

Yes please, send me an offer.
"""


@pytest.mark.parametrize(
    ("winner_by", "expected"), [("replies", "curious"), ("deals", "plain"), ("revenue", "curious")]
)
async def test_the_winner_by_replies_deals_or_revenue(make_kith, winner_by, expected):
    """The "plain" recipients win two small deals (and one in another currency); one
    "curious" recipient answers and wins a big one. A deal won before its mail was sent
    counts for nobody."""
    async with smtp_sink() as sink:
        kith = await make_kith(enable=["marketing", "sales"], public_url="https://crm.acme.example", **sink.settings)
        context, gql = system_context(kith), GraphQLClient(kith)
        won = await context.records.first("stage", {"kind": {"eq": "won"}})

        async def win(contact: int, amount: str, currency: str = "EUR") -> None:
            await context.records.create(
                "deal", {"name": f"Deal {amount}", "contact": contact, "stage": won["id"],
                         "amount": {"amount": amount, "currency": currency}},
            )  # fmt: skip

        people = {}
        for i in range(20):
            person = await make_contact(
                kith, first_name=f"P{i}", emails=[f"p{i}@example.com"], lifecycle_stage="customer"
            )
            await subscribe(context, person["id"], "newsletter", source="test")
            people[f"p{i}@example.com"] = person["id"]
        segment = await context.records.create(
            "segment", {"name": "Customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})}
        )
        made = await gql.query(
            "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } errors { field } } }",
            i={"name": "Spring", "subject": "Spring", "html": "<p>Hello</p>", "segmentId": str(segment["id"]),
               "variants": json.dumps(VARIANTS), "testShare": 50, "testDuration": "PT2H", "winnerBy": winner_by,
               "cost": {"amount": "50.00", "currency": "EUR"}},
        )  # fmt: skip
        assert made["createCampaign"]["errors"] == [], made
        campaign = made["createCampaign"]["campaign"]["id"]
        await gql.query("mutation($id: ID!) { startCampaign(id: $id) { errors { field } } }", id=campaign)
        await run_worker_until_idle(kith)
        got = {}
        for received in sink.received:
            got.setdefault(received.message["Subject"], []).append(received)
        plain, curious = sorted(got["Our spring news"], key=lambda r: r.recipients[0]), got["Guess what is new?"]
        await win(people[plain[0].recipients[0]], "100.00")
        await win(people[plain[1].recipients[0]], "100.00")
        await win(people[plain[2].recipients[0]], "9000.00", "USD")  # not added to euros
        await win(people[curious[0].recipients[0]], "1000.00")
        await win(people[plain[3].recipients[0]], "50000.00")  # won before that mail was sent: not its doing
        await CampaignDelivery.update(
            {CampaignDelivery.sent_at: dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}
        ).where(CampaignDelivery.contact == people[plain[3].recipients[0]])
        reply = REPLY.format(address=curious[0].recipients[0], subject=curious[0].message["Subject"],
                             answers=curious[0].message["Message-ID"])  # fmt: skip
        await deliver_mail(kith, reply)
        worker = Worker(kith)
        worker.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)
        await worker.run_until_idle()
        await run_worker_until_idle(kith)
    done = await gql.query("query($id: ID!) { campaign(id: $id) { status winner } }", id=campaign)
    assert done["campaign"] == {"status": "sent", "winner": expected}
    assert len(sink.received) == 20


async def test_deals_and_revenue_need_the_sales_plugin(make_kith):
    kith = await make_kith(enable=["marketing"])
    gql = GraphQLClient(kith)
    segment = await system_context(kith).records.create("segment", {"name": "All", "definition": "{}"})
    made = await gql.query(
        "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } } }",
        i={"name": "X", "subject": "S", "html": "<p>x</p>", "segmentId": str(segment["id"]),
           "variants": json.dumps(VARIANTS), "winnerBy": "revenue", "testShare": 20, "testDuration": "PT1H"},
    )  # fmt: skip
    started = await gql.query(
        "mutation($id: ID!) { startCampaign(id: $id) { errors { field message } } }",
        id=made["createCampaign"]["campaign"]["id"],
    )
    assert started["startCampaign"]["errors"] == [
        {"field": "winnerBy", "message": "deals and revenue need the sales plugin enabled"}
    ]
