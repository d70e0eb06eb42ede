"""Social to ticket, end to end against the local Mastodon server: a known customer's
angry mention is fetched, scored, made a ticket that the service plugin routes to an
agent, and the agent's reply appears on the platform in the same thread."""

from __future__ import annotations

from mastodon_server import mastodon_server
from social_helpers import social_kith

from kith.core.automations import service as automations
from kith.sdk.testing import GraphQLClient, make_contact, make_user, run_worker_until_idle, system_context

CONNECT = """mutation($url: String!, $token: String!) {
  connectSocialAccount(platform: "mastodon", baseUrl: $url, credentials: {access_token: $token}) {
    account { id handle displayName } errors { field message } } }"""


async def test_an_angry_customer_mention_becomes_a_routed_ticket_and_the_reply_goes_back_in_thread(make_kith):
    async with mastodon_server() as server:
        kith = await social_kith(make_kith, enable=("social", "service"), outbound_allow=["127.0.0.1"])
        assert "social.service" in kith.plugins.active  # the glue follows the two plugins
        context = system_context(kith)
        team = await context.records.create("team", {"name": "Social care"})
        await context.records.create("team_queue", {"team": team["id"], "strategy": "round_robin"})
        agent = await make_user(kith, email="agent@acme.example", roles=["agent"])
        await context.records.create("agent_profile", {"user": agent["id"], "teams": ["Social care"], "capacity": 5})
        shipped = {r.name for r in await automations.list_rules(kith)}
        assert {"social.negative-mention-to-ticket", "social.direct-message-to-ticket"} <= shipped
        # an admin edits the shipped rule: its tickets go to the social care team, urgent-ish
        await automations.apply_rule(kith, {
            "name": "social.negative-mention-to-ticket", "enabled": True,
            "trigger": {"event": "social.negative_mention"},
            "actions": [{"create_social_ticket": {"team": "Social care", "priority": "high"}}],
        })  # fmt: skip
        ann = await make_contact(kith, first_name="Ann", last_name="Lee", emails=["ann@example.com"])
        made = (await GraphQLClient(kith).query(CONNECT, url=server.url, token=server.token))["connectSocialAccount"]
        assert made["errors"] == [] and made["account"]["handle"] == "kith"
        # an agent links Ann's handle to her contact (the single customer view)
        await context.records.create(
            "social_identity", {"platform": "mastodon", "handle": "@Ann@example.social", "contact": ann["id"],
                                "matched_by": "agent"},
        )  # fmt: skip
        angry = server.mention(from_acct="ann@example.social", display_name="Ann Lee",
                               text="my order is two weeks late and nobody answers. This is terrible!")  # fmt: skip
        server.mention(from_acct="zed@example.social", text="what a lovely new shop, great job!")
        await run_worker_until_idle(kith)
        mentions = await context.records.list("social_mention", order_by=[{"id": "ASC"}])
        assert [(m["author_handle"], m["sentiment_label"]) for m in mentions] == [
            ("ann@example.social", "negative"), ("zed@example.social", "positive")
        ]  # fmt: skip
        assert (
            mentions[0]["contact"] == ann["id"] and mentions[0]["ticket"] is not None and mentions[1]["ticket"] is None
        )
        ticket = await context.records.get("ticket", mentions[0]["ticket"])
        assert (ticket["channel"], ticket["requester"], ticket["priority"]) == ("social", ann["id"], "high")
        assert ticket["assignee"] == agent["id"]  # routed by the service plugin's queue
        assert ticket["sla_policy"] is None or ticket["sla_due_at"] is not None
        # the agent answers on the ticket: it goes out as a reply to Ann's status
        as_agent = await GraphQLClient.as_user(kith, agent["id"])
        answered = await as_agent.execute(
            'mutation($t: ID!) { createTicketMessage(input: {ticketId: $t, body: "So sorry, Ann! We are on it."}) '
            "{ errors { field message } } }",
            {"t": str(ticket["id"])},
        )
        assert answered["data"]["createTicketMessage"]["errors"] == [], answered
        await run_worker_until_idle(kith)
    (reply,) = server.statuses
    assert reply.in_reply_to_id == angry.id
    assert reply.text == "@ann@example.social So sorry, Ann! We are on it."
    (target,) = await context.records.list("social_post_target")
    assert (target["status"], target["platform_id"]) == ("published", reply.id)
    times = await GraphQLClient(kith).query(
        "{ socialListening { tickets { tickets solved averageFirstResponseSeconds } } }"
    )
    assert times["socialListening"]["tickets"]["tickets"] == 1  # response times on social tickets


TICKET = """mutation($m: ID!, $team: String) { ticketFromSocialMention(mentionId: $m, team: $team) {
  ticket { id subject channel requester { firstName } } created errors { field message } } }"""


async def test_an_agent_makes_a_ticket_of_a_mention_the_rules_left_alone_once(make_kith):
    from social_helpers import item, signed

    from kith.sdk.testing import web_client

    kith = await social_kith(make_kith, enable=("social", "service"))
    gql = GraphQLClient(kith)
    made = (await gql.query('mutation { connectSocialAccount(platform: "webhook", handle: "acme") '
                            "{ account { id } signingSecret } }"))["connectSocialAccount"]  # fmt: skip
    payload = {"items": [item("q-1", "@acme does the spring plan include invoices?", handle="bo", name="Bo Berg"),
                         item("q-2", "@bo it does, page 3", handle="cy", inReplyTo="q-1")]}  # fmt: skip
    body, headers = signed(made["signingSecret"], payload)
    async with web_client(kith) as client:
        assert (
            await client.post(f"/social/webhooks/{made['account']['id']}", content=body, headers=headers)
        ).is_success
    await run_worker_until_idle(kith)
    question, answer = await system_context(kith).records.list("social_mention", order_by=[{"id": "ASC"}])
    assert question["ticket"] is None  # neutral: no rule made a ticket of it

    # a social care agent: the service plugin's agent who also reads the social inbox
    agent = await make_user(kith, email="agent@acme.example", roles=["agent", "social_media_manager"])
    as_agent = await GraphQLClient.as_user(kith, agent["id"])
    unknown_team = await as_agent.query(TICKET, m=str(question["id"]), team="Nobody")
    assert unknown_team["ticketFromSocialMention"]["errors"][0]["field"] == "team"
    first = (await as_agent.query(TICKET, m=str(question["id"])))["ticketFromSocialMention"]
    assert first["errors"] == [] and first["created"] is True
    assert first["ticket"]["channel"] == "social" and first["ticket"]["requester"] == {"firstName": "Bo"}
    assert first["ticket"]["subject"] == "@bo on webhook: @acme does the spring plan include invoices?"
    again = (await as_agent.query(TICKET, m=str(answer["id"])))["ticketFromSocialMention"]
    assert (again["ticket"]["id"], again["created"]) == (first["ticket"]["id"], False)  # its thread's ticket
    assert await system_context(kith).records.count("ticket") == 1

    outsider = await make_user(kith, email="sales@acme.example", roles=["sales_rep"])
    refused = await (await GraphQLClient.as_user(kith, outsider["id"])).query(TICKET, m=str(question["id"]))
    assert refused["ticketFromSocialMention"]["errors"][0]["field"] == "mentionId"  # they cannot see mentions
