"""Campaigns sent for real: to a segment's members through an SMTP server the test
starts, rendered per contact, paused and resumed, and a sender that dies mid-campaign
resending only what was in flight, with the same Message-ID."""

from __future__ import annotations

import json

from mail_servers import CaptureHandler, smtp_server, smtp_settings

from kith.plugins.marketing.campaigns import sender
from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.consent import subscribe
from kith.sdk.testing import GraphQLClient, make_contact, run_worker_until_idle, system_context

CREATE = """mutation($input: CampaignCreateInput!) { createCampaign(input: $input) {
  campaign { id status } errors { field code message } } }"""
START = """mutation($id: ID!) { startCampaign(id: $id) { campaign { status } errors { field code message } } }"""
PAUSE = """mutation($id: ID!) { pauseCampaign(id: $id) { campaign { status } errors { field code message } } }"""
RESUME = """mutation($id: ID!) { resumeCampaign(id: $id) { campaign { status } errors { field code message } } }"""
REPORT = (
    """query($id: ID!) { campaignReport(campaignId: $id) { deliveries { status count } resent errors { field } } }"""
)


async def setup(kith, people: int = 5) -> tuple[GraphQLClient, str]:
    """``people`` subscribed customers (one without an email address), a subscribed lead
    and a customer who never subscribed, a segment of the customers and a draft
    campaign to it; returns the client and the campaign id."""
    context = system_context(kith)
    for i in range(people):
        emails = [f"c{i}@example.com"] if i else []
        made = await make_contact(kith, first_name=f"C{i}", lifecycle_stage="customer", emails=emails)
        await subscribe(context, made["id"], "newsletter", source="test")
    lee = await make_contact(kith, first_name="Lee", lifecycle_stage="lead", emails=["lee@example.com"])
    await subscribe(context, lee["id"], "newsletter", source="test")
    # a customer who never subscribed is in the segment and gets nothing
    await make_contact(kith, first_name="Nia", lifecycle_stage="customer", emails=["nia@example.com"])
    gql = GraphQLClient(kith)
    segment = await system_context(kith).records.create(
        "segment", {"name": "Customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})}
    )
    created = await gql.query(
        CREATE,
        input={
            "name": "Spring news",
            "subject": "Hello {{ contact.first_name }}",
            "html": "<p>Dear {{ contact.first_name }},</p><p>spring is here.</p>",
            "segmentId": str(segment["id"]),
            "fromAddress": "News <news@acme.example>",
        },
    )
    assert created["createCampaign"]["errors"] == []
    return gql, created["createCampaign"]["campaign"]["id"]


async def test_a_campaign_reaches_each_member_once_rendered_for_them(make_kith):
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(enable=["marketing"], **smtp_settings(port))
        gql, campaign = await setup(kith)
        started = await gql.query(START, id=campaign)
        assert started["startCampaign"] == {"campaign": {"status": "sending"}, "errors": []}
        await run_worker_until_idle(kith)
    received = sorted(handler.received, key=lambda r: r.recipients)
    # not Lee (no customer), not C0 (no address), not Nia (never subscribed)
    assert [r.recipients for r in received] == [[f"c{i}@example.com"] for i in range(1, 5)]
    message = received[0].message
    assert message["Subject"] == "Hello C1" and message["From"] == "News <news@acme.example>"
    assert message["Precedence"] == "bulk"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # as mail programs read it: the raw header, not an RFC 2047 encoded word they would not decode
    assert b"\r\nList-Unsubscribe: <http" in received[0].data
    link = message["List-Unsubscribe"].strip("<>")
    assert "/marketing/unsubscribe/" in link and link in message.get_body(("html",)).get_content()  # and a footer
    assert "Dear C1," in message.get_body(("plain",)).get_content()  # the text part, made from the HTML
    assert "<p>Dear C1,</p>" in message.get_body(("html",)).get_content()
    report = await gql.query(REPORT, id=campaign)
    assert report["campaignReport"] == {"deliveries": [{"status": "sent", "count": 4}], "resent": 0, "errors": []}
    status = await gql.query("query($id: ID!) { campaign(id: $id) { status finishedAt } }", id=campaign)
    assert status["campaign"]["status"] == "sent" and status["campaign"]["finishedAt"]


async def test_a_sender_killed_mid_campaign_resends_only_what_was_in_flight(make_kith):
    """The worker died after handing two mails to SMTP and before recording them: the
    next run sends those two again with the same Message-ID, and nobody else twice."""
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(enable=["marketing"], **smtp_settings(port))
        gql, campaign = await setup(kith, people=7)
        await gql.query(START, id=campaign)
        context = system_context(kith)
        row = await context.system.get("campaign", int(campaign))
        # what a killed run leaves: two rows claimed and sent, their results never recorded
        claimed = await sender._claim(int(campaign), [])
        in_flight = claimed[:2]
        rest = [int(r["id"]) for r in claimed[2:]]
        await CampaignDelivery.update({CampaignDelivery.status: "queued", CampaignDelivery.attempts: 0}).where(
            CampaignDelivery.id.is_in(rest)
        )
        async with context.mail.bulk() as bulk:
            for delivery in in_flight:
                contact = await context.system.get("contact", delivery["contact"])
                templates = sender.rendering.compile_templates(row)
                mail = await sender._compose(context, row, templates, contact, delivery)
                await bulk.send(mail)
        await run_worker_until_idle(kith)
    by_recipient: dict[str, list[str]] = {}
    for received in handler.received:
        by_recipient.setdefault(received.recipients[0], []).append(received.message["Message-ID"])
    assert len(by_recipient) == 6  # everyone with an address got it
    twice = {address: ids for address, ids in by_recipient.items() if len(ids) > 1}
    assert len(twice) == 2 and all(len(set(ids)) == 1 for ids in twice.values())  # same Message-ID
    report = await gql.query(REPORT, id=campaign)
    assert report["campaignReport"]["resent"] == 2
    assert report["campaignReport"]["deliveries"] == [{"status": "sent", "count": 6}]


async def test_pause_stops_and_resume_goes_on(make_kith):
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(enable=["marketing"], **smtp_settings(port))
        gql, campaign = await setup(kith)
        await gql.query(START, id=campaign)
        paused = await gql.query(PAUSE, id=campaign)
        assert paused["pauseCampaign"]["campaign"] == {"status": "paused"}
        await run_worker_until_idle(kith)
        assert handler.received == []  # the queued slice found it paused
        again = await gql.query(PAUSE, id=campaign)
        assert again["pauseCampaign"]["errors"][0]["field"] == "status"
        await gql.query(RESUME, id=campaign)
        await run_worker_until_idle(kith)
    assert len(handler.received) == 4


async def test_a_broken_template_is_refused_before_anything_is_sent(make_kith):
    kith = await make_kith(enable=["marketing"])
    gql, campaign = await setup(kith)
    update = "mutation($id: ID!, $html: String) { updateCampaign(id: $id, input: {html: $html}) { errors { field } } }"
    await gql.query(update, id=campaign, html="{% if %}")
    refused = await gql.query(START, id=campaign)
    assert refused["startCampaign"]["errors"][0]["field"] == "html"
    assert await CampaignDelivery.count() == 0


async def test_the_status_is_moved_by_the_mutations_only(make_kith):
    kith = await make_kith(enable=["marketing"])
    gql, campaign = await setup(kith)
    moved = await gql.execute(
        'mutation($id: ID!) { updateCampaign(id: $id, input: {status: "sent"}) { errors { field } } }', {"id": campaign}
    )
    assert "unknown field 'status'" in moved["errors"][0]["message"]


async def test_one_click_unsubscribe_during_a_send_skips_the_rest_and_every_later_campaign(make_kith):
    """C2 unsubscribes with the link of a mail while the campaign is still sending: the
    GET shows a page and changes nothing, the one-click POST suppresses at once, the
    rest of this campaign skips C2 and so does the next campaign."""
    from kith.sdk.testing import web_client

    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(enable=["marketing"], **smtp_settings(port))
        gql, campaign = await setup(kith)
        await gql.query(START, id=campaign)
        context = system_context(kith)
        row = await context.system.get("campaign", int(campaign))
        c2 = await context.system.first("contact", {"firstName": {"eq": "C2"}})
        templates = sender.rendering.compile_templates(row)
        delivery = await context.system.first("campaign_delivery", {"contactId": {"eq": str(c2["id"])}})
        mail = await sender._compose(context, row, templates, c2, delivery)
        link = mail["List-Unsubscribe"].strip("<>").split("/marketing/", 1)[1]
        async with web_client(kith) as client:
            page = await client.get(f"/marketing/{link}")
            assert page.status_code == 200
            still = await client.post(f"/marketing/{link}", data={"List-Unsubscribe": "One-Click"})
            assert still.status_code == 200
        await run_worker_until_idle(kith)
        assert sorted(r.recipients[0] for r in handler.received) == [
            "c1@example.com",
            "c3@example.com",
            "c4@example.com",
        ]
        report = await gql.query(REPORT, id=campaign)
        assert report["campaignReport"]["deliveries"] == [
            {"status": "sent", "count": 3},
            {"status": "skipped", "count": 1},
        ]
        again = await gql.query(
            "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } } }",
            i={
                "name": "Summer",
                "subject": "Hi",
                "html": "<p>Hi</p>",
                "segmentId": row["segment"] and str(row["segment"]),
            },
        )
        second = again["createCampaign"]["campaign"]["id"]
        await gql.query(START, id=second)
        await run_worker_until_idle(kith)
    summer = [r.recipients[0] for r in handler.received if r.message["Subject"] == "Hi"]
    assert sorted(summer) == ["c1@example.com", "c3@example.com", "c4@example.com"]


async def test_a_persons_deliveries_and_memberships_are_in_their_export(make_kith):
    from kith.sdk.testing import export_personal_data

    async with smtp_server(CaptureHandler()) as port:
        kith = await make_kith(enable=["marketing"], **smtp_settings(port))
        gql, campaign = await setup(kith)
        await gql.query(START, id=campaign)
        await run_worker_until_idle(kith)
        c1 = await system_context(kith).system.first("contact", {"firstName": {"eq": "C1"}})
        exported = await export_personal_data(kith, int(c1["id"]))
    marketing = exported["plugins"]["marketing"]
    assert [d["status"] for d in marketing["campaign_deliveries"]] == ["sent"]
    assert len(marketing["segment_memberships"]) == 1 and len(marketing["topic_subscriptions"]) == 1


async def test_a_frequency_cap_skips_who_had_their_share(make_kith):
    """At most one campaign mail a week: the second campaign that week skips everyone
    the first one reached, and says why."""
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(enable=["marketing"], plugin={"marketing": {"max_per_week": 1}}, **smtp_settings(port))
        gql, campaign = await setup(kith)
        await gql.query(START, id=campaign)
        await run_worker_until_idle(kith)
        row = await system_context(kith).system.get("campaign", int(campaign))
        second = await gql.query(
            "mutation($i: CampaignCreateInput!) { createCampaign(input: $i) { campaign { id } } }",
            i={"name": "Again", "subject": "Again", "html": "<p>Again</p>", "segmentId": str(row["segment"])},
        )
        again = second["createCampaign"]["campaign"]["id"]
        await gql.query(START, id=again)
        await run_worker_until_idle(kith)
    assert [r.message["Subject"] for r in handler.received].count("Again") == 0
    report = await gql.query(REPORT, id=again)
    assert report["campaignReport"]["deliveries"] == [{"status": "skipped", "count": 4}]
    skipped = await system_context(kith).system.list("campaign_delivery", {"campaignId": {"eq": again}})
    assert {d["error"] for d in skipped} == {"frequency cap: 1 a week"}


async def test_a_send_window_holds_the_mail_until_it_opens(make_kith):
    """A campaign started outside its window sends nothing until the window opens."""
    import datetime as dt

    from kith.core.automations.worker import Worker

    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(enable=["marketing"], **smtp_settings(port))
        gql, campaign = await setup(kith)
        now = dt.datetime.now(dt.UTC)
        opening, closing = now + dt.timedelta(hours=2), now + dt.timedelta(hours=3)
        window = {"windowStart": opening.strftime("%H:%M"), "windowEnd": closing.strftime("%H:%M")}
        update = (
            "mutation($id: ID!, $i: CampaignUpdateInput!) { updateCampaign(id: $id, input: $i) { errors { field } } }"
        )
        assert (await gql.query(update, id=campaign, i=window))["updateCampaign"]["errors"] == []
        await gql.query(START, id=campaign)
        await run_worker_until_idle(kith)
        assert handler.received == []  # closed: nothing goes out
        worker = Worker(kith)
        worker.clock = lambda: now + dt.timedelta(hours=2, minutes=30)  # inside the window
        await worker.run_until_idle()
    assert len(handler.received) == 4


async def test_a_bad_send_window_is_refused_when_starting(make_kith):
    kith = await make_kith(enable=["marketing"])
    gql, campaign = await setup(kith)
    update = "mutation($id: ID!, $i: CampaignUpdateInput!) { updateCampaign(id: $id, input: $i) { errors { field } } }"
    await gql.query(
        update, id=campaign, i={"windowStart": "09:00", "windowEnd": "17:00", "windowTimezone": "Mars/Olympus"}
    )
    refused = await gql.query(START, id=campaign)
    assert refused["startCampaign"]["errors"][0]["field"] == "windowTimezone"
