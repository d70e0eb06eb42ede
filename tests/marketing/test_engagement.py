"""Engagement as a reader and a marketer see it, over real HTTP and a real SMTP server:
a person opens and clicks (after a while), a scanner clicks at once, a privacy proxy
opens, a tampered link goes nowhere, and bounces and complaints mark their delivery."""

from __future__ import annotations

import datetime as dt
import json
import re

import pytest
from tampering import tampered

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent import subscribe
from kith.plugins.marketing.engagement.models import Engagement
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
HTML = (
    "<html><body><p>Dear {{ contact.first_name }},</p>"
    '<p><a href="https://shop.acme.example/spring?x=1&amp;y=2">Spring sale</a> · '
    "<a class='b' href='https://acme.example/blog'>Blog</a> · "
    '<a href="mailto:help@acme.example">Write to us</a></p></body></html>'
)
REPORT = """query($id: ID!, $all: Boolean) { campaignReport(campaignId: $id, includeFlagged: $all) {
  deliveries { status count } errors { field }
  engagement { sent delivered opens uniqueOpens clicks uniqueClicks machineOpens scannerClicks
               hardBounces softBounces complaints unsubscribes openRate clickRate } } }"""


async def send_campaign(sink, make_kith, people=("Ann", "Bob", "Cy"), **campaign):
    """A sent campaign to ``people`` (subscribed customers); returns kith, the client,
    the campaign id and each person's mail by first name."""
    kith = await make_kith(enable=["marketing"], public_url="https://crm.acme.example", **sink.settings)
    context = system_context(kith)
    for name in people:
        made = await make_contact(
            kith, first_name=name, lifecycle_stage="customer", emails=[f"{name.lower()}@client.example"]
        )
        await subscribe(context, made["id"], "newsletter", source="test")
    gql = GraphQLClient(kith)
    segment = await context.records.create(
        "segment", {"name": "Customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})}
    )
    created = await gql.query(
        "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } errors { field } } }",
        i={
            "name": "Spring",
            "subject": "Spring news",
            "html": HTML,
            "segmentId": str(segment["id"]),
            "fromAddress": "news@acme.example",
            **campaign,
        },
    )
    campaign_id = created["createCampaign"]["campaign"]["id"]
    await gql.query("mutation($id: ID!) { startCampaign(id: $id) { errors { field } } }", id=campaign_id)
    await run_worker_until_idle(kith)
    mails = {}
    for received in sink.received:
        name = received.recipients[0].split("@")[0].capitalize()
        mails[name] = received.message
    return kith, gql, campaign_id, mails


def html_of(message) -> str:
    return message.get_body(("html",)).get_content()


def local(url: str) -> str:
    return url.removeprefix("https://crm.acme.example")


def tracked_links(message) -> list[str]:
    return [
        local(u) for u in re.findall(r'href=["\'](https://crm\.acme\.example/marketing/c/[^"\']+)', html_of(message))
    ]


def pixel(message) -> str:
    return local(re.search(r'<img src="(https://crm\.acme\.example/marketing/o/[^"]+)"', html_of(message)).group(1))


async def a_while_ago(campaign_id: str, minutes: int = 60) -> None:
    """As if the mail had been sent ``minutes`` ago: a person reads it later, not at once."""
    await CampaignDelivery.update(
        {CampaignDelivery.sent_at: dt.datetime.now(dt.UTC) - dt.timedelta(minutes=minutes)}
    ).where(CampaignDelivery.campaign == int(campaign_id))


async def timeline(kith, kind: str) -> list[str]:
    rows = await system_context(kith).records.list("activity", {"kind": {"eq": kind}}, first=100)
    return sorted(r["subject"] for r in rows)


async def test_a_person_opens_and_clicks_and_the_report_counts_it(make_kith):
    async with smtp_sink() as sink:
        kith, gql, campaign, mails = await send_campaign(sink, make_kith)
    ann = mails["Ann"]
    body = html_of(ann)
    assert "mailto:help@acme.example" in body  # not tracked
    assert ann["List-Unsubscribe"].strip("<>") in body  # the unsubscribe link is left as it is
    links = tracked_links(ann)
    assert len(links) == 2 and "shop.acme.example" not in body
    await a_while_ago(campaign)
    async with web_client(kith) as client:
        for _ in range(2):  # she opens it twice
            seen = await client.get(pixel(ann), headers={"User-Agent": BROWSER})
            assert seen.status_code == 200 and seen.headers["content-type"] == "image/gif"
            assert seen.content.startswith(b"GIF89a")
        followed = await client.get(links[0], headers={"User-Agent": BROWSER})
        assert followed.status_code == 302
        assert followed.headers["location"] == "https://shop.acme.example/spring?x=1&y=2"
        # Bob opens it, and unsubscribes with one click
        await client.get(pixel(mails["Bob"]), headers={"User-Agent": BROWSER})
        one_click = local(mails["Bob"]["List-Unsubscribe"].strip("<>"))
        assert (await client.post(one_click, data={"List-Unsubscribe": "One-Click"})).status_code == 200
    report = (await gql.query(REPORT, id=campaign))["campaignReport"]
    assert report["engagement"] == {
        "sent": 3, "delivered": 3, "opens": 3, "uniqueOpens": 2, "clicks": 1, "uniqueClicks": 1,
        "machineOpens": 0, "scannerClicks": 0, "hardBounces": 0, "softBounces": 0, "complaints": 0,
        "unsubscribes": 1, "openRate": 0.6667, "clickRate": 0.3333,
    }  # fmt: skip
    rows = await gql.query('{ campaignEngagements(filter: {kind: {eq: "click"}}) { edges { node { url scanner } } } }')
    assert [e["node"] for e in rows["campaignEngagements"]["edges"]] == [
        {"url": "https://shop.acme.example/spring?x=1&y=2", "scanner": False}
    ]
    # a person's engagement is on their timeline, once per open of a mail, so segments can use it
    assert await timeline(kith, "email_open") == ["Opened “Spring”", "Opened “Spring”"]
    assert await timeline(kith, "email_click") == ["Clicked a link in “Spring”"]
    opened = {"timeline": {"some": {"kind": {"eq": "email_open"}, "occurredAt": {"withinLast": "P30D"}}}}
    preview = await gql.query(
        "query($d: JSON!) { previewSegment(definition: $d) { count contacts { firstName } } }", d=opened
    )
    assert sorted(c["firstName"] for c in preview["previewSegment"]["contacts"]) == ["Ann", "Bob"]


async def test_scanner_clicks_and_machine_opens_are_flagged_and_not_engagement(make_kith):
    async with smtp_sink() as sink:
        kith, gql, campaign, mails = await send_campaign(sink, make_kith)
    async with web_client(kith) as client:
        # a security gateway follows Ann's link seconds after delivery: redirected, but flagged
        scanned = await client.get(tracked_links(mails["Ann"])[0], headers={"User-Agent": BROWSER})
        assert scanned.status_code == 302
        await a_while_ago(campaign)
        # later: a gateway's own user agent, a burst over Cy's two links, Apple's proxy opening Bob's
        await client.get(tracked_links(mails["Bob"])[1], headers={"User-Agent": "Mozilla/5.0 Proofpoint URL Defense"})
        for link in tracked_links(mails["Cy"]):
            await client.get(link, headers={"User-Agent": BROWSER})
        await client.get(pixel(mails["Bob"]), headers={"User-Agent": APPLE_PROXY})
        await client.get(pixel(mails["Cy"]), headers={"User-Agent": "Mozilla/5.0 (via ggpht.com GoogleImageProxy)"})
    engagement = (await gql.query(REPORT, id=campaign))["campaignReport"]["engagement"]
    assert (engagement["clicks"], engagement["uniqueClicks"], engagement["scannerClicks"]) == (0, 0, 4)
    assert (engagement["opens"], engagement["uniqueOpens"], engagement["machineOpens"]) == (0, 0, 2)
    # none of it is on anyone's timeline: the burst's first click was taken back when the second came
    assert await timeline(kith, "email_click") == [] and await timeline(kith, "email_open") == []
    flagged = await Engagement.select(Engagement.flag_reason).order_by(Engagement.id)
    assert [r["flag_reason"] for r in flagged] == [
        "within 30s of delivery", "gateway: proofpoint", "burst", "burst", "apple-proxy", "gmail-proxy",
    ]  # fmt: skip
    everything = (await gql.query(REPORT, id=campaign, all=True))["campaignReport"]["engagement"]
    assert (everything["clicks"], everything["uniqueClicks"], everything["uniqueOpens"]) == (4, 3, 2)


async def test_a_tampered_link_goes_nowhere_and_records_nothing(make_kith):
    async with smtp_sink() as sink:
        kith, _gql, _campaign, mails = await send_campaign(sink, make_kith, people=("Ann",))
    link = tracked_links(mails["Ann"])[0]
    body, signature = link.removeprefix("/marketing/c/").rsplit(".", 1)
    evil = json.dumps({"d": 1, "u": "https://evil.example/"}).encode()
    import base64

    forged = base64.urlsafe_b64encode(evil).decode().rstrip("=")
    async with web_client(kith) as client:
        for bad in (
            f"/marketing/c/{forged}.{signature}",
            f"/marketing/c/{body}.{tampered(signature)}",
            "/marketing/c/x",
        ):
            answer = await client.get(bad, headers={"User-Agent": BROWSER})
            assert answer.status_code == 404 and "location" not in answer.headers
        image = await client.get("/marketing/o/nonsense.gif", headers={"User-Agent": BROWSER})
        assert image.status_code == 200 and image.content.startswith(b"GIF89a")
    assert await Engagement.count() == 0


async def test_tracking_can_be_turned_off_per_campaign(make_kith):
    async with smtp_sink() as sink:
        _kith, _gql, _campaign, mails = await send_campaign(
            sink, make_kith, people=("Ann",), trackOpens=False, trackClicks=False
        )
    body = html_of(mails["Ann"])
    assert "https://shop.acme.example/spring?x=1&amp;y=2" in body
    assert "/marketing/o/" not in body and "/marketing/c/" not in body


DSN = """From: Mail Delivery System <MAILER-DAEMON@mx.client.example>
To: news@acme.example
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: text/plain

Your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.client.example

Final-Recipient: rfc822; {address}
Action: {action}
Status: {status}

--B
Content-Type: text/rfc822-headers

From: news@acme.example
To: {address}
Message-ID: {message_id}

--B--
"""

ARF = """From: staff@client.example
To: abuse@acme.example
Subject: complaint
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="P"

--P
Content-Type: text/plain

An abuse report.

--P
Content-Type: message/feedback-report

Feedback-Type: abuse
Version: 1
Original-Rcpt-To: <{address}>

--P
Content-Type: message/rfc822

From: <news@acme.example>
To: <{address}>
Subject: Spring news
Message-ID: {message_id}

Hello!
--P--
"""


async def test_bounces_and_complaints_mark_their_delivery(make_kith):
    async with smtp_sink() as sink:
        kith, gql, campaign, mails = await send_campaign(sink, make_kith)
    ids = {name: mail["Message-ID"] for name, mail in mails.items()}
    await deliver_mail(kith, DSN.format(address="ann@client.example", action="failed", status="5.1.1",
                                        message_id=ids["Ann"]))  # fmt: skip
    await deliver_mail(kith, DSN.format(address="bob@client.example", action="delayed", status="4.2.2",
                                        message_id=ids["Bob"]))  # fmt: skip
    await deliver_mail(kith, ARF.format(address="cy@client.example", message_id=ids["Cy"]))
    # a report naming a Message-ID we did not sign changes nothing
    forged = re.sub(r"\.[0-9a-f]{16}@", ".0000000000000000@", ids["Bob"])
    await deliver_mail(kith, DSN.format(address="bob@client.example", action="failed", status="5.1.1",
                                        message_id=forged))  # fmt: skip
    report = (await gql.query(REPORT, id=campaign))["campaignReport"]
    assert report["deliveries"] == [
        {"status": "bounced", "count": 1}, {"status": "complained", "count": 1}, {"status": "sent", "count": 1}
    ]  # fmt: skip
    engagement = report["engagement"]
    assert (engagement["sent"], engagement["delivered"]) == (3, 2)
    assert (engagement["hardBounces"], engagement["softBounces"], engagement["complaints"]) == (1, 1, 1)
    ann = await system_context(kith).records.first("campaign_delivery", {"status": {"eq": "bounced"}})
    assert ann["error"].startswith("5.1.1")


@pytest.mark.parametrize(
    ("agent", "ip", "reason"),
    [
        ("Mozilla/5.0", "203.0.113.9", "apple-proxy"),
        (BROWSER, "17.58.1.2", "apple-proxy"),
        ("Mozilla/5.0 (Windows NT 5.1) (via ggpht.com GoogleImageProxy)", None, "gmail-proxy"),
        ("YahooMailProxy; https://help.yahoo.com", None, "yahoo-proxy"),
        (BROWSER, "203.0.113.9", None),
    ],
)
def test_machine_open_signatures(agent, ip, reason):
    from kith.plugins.marketing.engagement.signatures import machine_open

    assert machine_open(agent, ip) == reason


async def test_the_report_is_read_as_the_caller(make_kith):
    """A marketer who may read only their own contacts counts only their engagement."""
    from kith.core.security.roles import save_role
    from kith.sdk import Grant, RoleDefinition
    from kith.sdk.testing import make_user

    async with smtp_sink() as sink:
        kith, gql, campaign, mails = await send_campaign(sink, make_kith, people=("Ann", "Bob"))
    own = Grant(actions=["read"], scope="own")
    await save_role(kith, RoleDefinition(name="own_marketer", grants={
        "contact": own, "campaign": Grant(actions=["read"]), "campaign_delivery": own, "campaign_engagement": own,
    }))  # fmt: skip
    mia = await make_user(kith, email="mia@example.com", roles=["own_marketer"])
    context = system_context(kith)
    ann = await context.records.first("contact", {"firstName": {"eq": "Ann"}})
    await context.records.update("contact", ann["id"], {"owner": mia["id"]})
    await a_while_ago(campaign)
    async with web_client(kith) as client:
        for name in ("Ann", "Bob"):
            await client.get(pixel(mails[name]), headers={"User-Agent": BROWSER})
            await client.get(tracked_links(mails[name])[0], headers={"User-Agent": BROWSER})
    everyone = (await gql.query(REPORT, id=campaign))["campaignReport"]["engagement"]
    assert (everyone["sent"], everyone["uniqueOpens"], everyone["clicks"]) == (2, 2, 2)
    as_mia = await GraphQLClient.as_user(kith, mia["id"])
    hers = (await as_mia.query(REPORT, id=campaign))["campaignReport"]["engagement"]
    assert (hers["sent"], hers["opens"], hers["uniqueOpens"], hers["clicks"]) == (1, 1, 1, 1)
    assert hers["unsubscribes"] is None  # she may not read suppressions


REPLY = """From: {name} <{address}>
To: news@acme.example
Subject: Re: Spring news
Message-ID: <{mine}@client.example>
In-Reply-To: {answers}
References: {answers}
{extra}
Sounds good, please call me on Monday.

> Dear {name},
> Spring sale
"""


async def test_a_persons_reply_counts_once_and_an_automatic_one_not_at_all(make_kith):
    async with smtp_sink() as sink:
        kith, gql, campaign, mails = await send_campaign(sink, make_kith)
    ids = {name: mail["Message-ID"] for name, mail in mails.items()}
    ann = REPLY.format(name="Ann", address="ann@client.example", mine="r1", answers=ids["Ann"], extra="")
    first = await deliver_mail(kith, ann)
    assert first["status"] == "unclaimed"  # left for others: the service plugin may make a ticket of it
    await deliver_mail(kith, ann)  # the same message again (a gateway retry) is not a second reply
    away = REPLY.format(name="Bob", address="bob@client.example", mine="r2", answers=ids["Bob"],
                        extra="Auto-Submitted: auto-replied\n")  # fmt: skip
    await deliver_mail(kith, away)
    forged = re.sub(r"\.[0-9a-f]{16}@", ".0000000000000000@", ids["Cy"])
    await deliver_mail(kith, REPLY.format(name="Cy", address="cy@client.example", mine="r3", answers=forged, extra=""))
    engagement = (await gql.query(REPORT.replace("clickRate", "clickRate replies replyRate"), id=campaign))[
        "campaignReport"
    ]["engagement"]
    assert (engagement["replies"], engagement["replyRate"]) == (1, round(1 / 3, 4))
    assert await timeline(kith, "email_reply") == ["Replied to “Spring”"]
    (activity,) = await system_context(kith).records.list("activity", {"kind": {"eq": "email_reply"}})
    assert activity["body"] == "Sounds good, please call me on Monday."
    ann_id = str(activity["subject_id"])
    view = await gql.query("query($id: ID!) { customerView(contactId: $id) { sections { title items } } }", id=ann_id)
    (mails_section,) = [s for s in view["customerView"]["sections"] if s["title"] == "Campaign mails"]
    (item,) = mails_section["items"]
    assert (item["campaign"], item["status"], item["engagement"]) == ("Spring", "sent", ["replied"])
    assert item["sentAt"] is not None


async def test_a_providers_signed_webhook_suppresses_like_a_bounce_mail(make_kith):
    from kith.core.automations import service as automation_service
    from kith.core.automations import webhooks

    async with smtp_sink() as sink:
        kith, gql, campaign, mails = await send_campaign(sink, make_kith)
    secret = await webhooks.add_source(kith, "mail-events")
    events = {"events": [
        {"type": "bounce", "hard": True, "email": "ann@client.example", "messageId": mails["Ann"]["Message-ID"],
         "diagnostic": "5.1.1 user unknown"},
        {"type": "bounce", "hard": False, "messageId": mails["Bob"]["Message-ID"], "diagnostic": "4.2.2 full"},
        {"type": "complaint", "messageId": mails["Cy"]["Message-ID"]},
        {"type": "unsubscribe", "email": "dee@client.example"},
        {"type": "bounce", "email": "not an address"},
    ]}  # fmt: skip
    body = json.dumps(events)
    headers = webhooks.signed_request(secret, "evt_1", body)
    async with web_client(kith) as client:
        assert (await client.post("/webhooks/mail-events", content=body, headers=headers)).status_code == 202
        assert (await client.post("/webhooks/mail-events", content=body, headers=headers)).status_code == 200
        forged = {**headers, "webhook-signature": webhooks.signed_request(secret, "evt_2", body)["webhook-signature"]}
        assert (await client.post("/webhooks/mail-events", content=body, headers=forged)).status_code == 401
    await run_worker_until_idle(kith)
    report = (await gql.query(REPORT, id=campaign))["campaignReport"]
    assert report["deliveries"] == [
        {"status": "bounced", "count": 1}, {"status": "complained", "count": 1}, {"status": "sent", "count": 1}
    ]  # fmt: skip
    assert (report["engagement"]["hardBounces"], report["engagement"]["softBounces"]) == (1, 1)
    suppressed = await system_context(kith).records.list("suppression", order_by=[{"id": "ASC"}])
    # by the address the provider named; by the recipient when it named only the mail
    assert [(s["email"], s["reason"]) for s in suppressed] == [("ann@client.example", "bounced"), (None, "complained")]
    assert suppressed[1]["contact"] is not None
    (run,) = await automation_service.runs(kith, rule="marketing.provider-mail-events")
    assert run["status"] == "succeeded"
    assert run["actions"][0]["done"]["result"] == {
        "applied": 3,
        "skipped": [
            {"index": 3, "field": "type", "message": "Input should be 'bounce' or 'complaint'"},
            {
                "index": 4,
                "field": "email",
                "message": "email: 'not an address' is not a valid email address: An email address must have an @-sign.",
            },
        ],
    }
