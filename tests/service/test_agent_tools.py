"""Agent tools: macros run as the agent, canned replies from templates, scopes, and the
collision notice when two agents answer at once."""

from __future__ import annotations

import pytest

from kith.sdk.testing import GraphQLClient, make_contact, make_user, system_context

APPLY = """mutation($m: ID!, $t: ID!) { applyMacro(macroId: $m, ticketId: $t) {
  ticket { status { name } priority tags assignee { email } messages { kind body } } errors { field code message } } }"""
RENDER = (
    """mutation($id: ID!, $t: ID!) { renderCannedReply(id: $id, ticketId: $t) { text errors { field message } } }"""
)
REPLY = """mutation($input: TicketMessageCreateInput!) { createTicketMessage(input: $input) {
  ticketMessage { id } errors { field code message } } }"""


@pytest.fixture
async def service(make_kith):
    return await make_kith(enable=["service"])


async def test_a_macro_runs_its_steps_as_the_agent_all_or_nothing(service):
    records = system_context(service).records
    agent = await make_user(service, email="sam@acme.example", name="Sam", roles=["agent"])
    ann = await make_contact(service, first_name="Ann")
    ticket = await records.create("ticket", {"subject": "Refund", "requester": ann["id"]})
    macro = await records.create(
        "macro",
        {
            "name": "Refund done",
            "actions": [
                {
                    "reply": "Hi {{ requester.first_name }}, your refund for {{ ticket.number }} is on its way. {{ agent.name }}"
                },
                {"status": "Solved"},
                {"priority": "low"},
                {"assign": "me"},
                {"add_tags": ["refund"]},
            ],
        },
    )
    gql = await GraphQLClient.as_user(service, agent["id"])
    done = (await gql.query(APPLY, m=str(macro["id"]), t=str(ticket["id"])))["applyMacro"]
    assert done["errors"] == []
    result = done["ticket"]
    assert result["status"] == {"name": "Solved"} and result["priority"] == "low" and result["tags"] == ["refund"]
    assert result["assignee"] == {"email": "sam@acme.example"}
    assert result["messages"] == [{"kind": "reply", "body": "Hi Ann, your refund for T-00001 is on its way. Sam"}]
    broken = await records.create("macro", {"name": "Broken", "actions": [{"reply": "x"}, {"status": "Nowhere"}]})
    failed = (await gql.query(APPLY, m=str(broken["id"]), t=str(ticket["id"])))["applyMacro"]
    assert failed["errors"][0]["field"] == "actions[1].status"
    assert len(await records.list("ticket_message", {"ticketId": {"eq": ticket["id"]}})) == 1  # nothing half-done


async def test_bad_macros_and_templates_are_refused_by_field(service):
    gql = GraphQLClient(service)
    bad = await gql.query(
        'mutation { createMacro(input: {name: "x", actions: "[{\\"explode\\": 1}]"}) { errors { field message } } }'
    )
    assert bad["createMacro"]["errors"][0]["field"] == "actions[0]"
    template = await gql.query(
        'mutation { createCannedReply(input: {name: "x", body: "Hi {{ requester.first_name"}) { errors { field } } }'
    )
    assert template["createCannedReply"]["errors"] == [{"field": "body"}]
    team_less = await gql.query(
        'mutation { createCannedReply(input: {name: "x", body: "hi", scope: "team"}) { errors { field } } }'
    )
    assert team_less["createCannedReply"]["errors"] == [{"field": "teamId"}]


async def test_canned_replies_render_for_the_agent_within_their_scope(service):
    records = system_context(service).records
    billing = await records.create("team", {"name": "Billing"})
    sam = await make_user(service, name="Sam", roles=["agent"], team=billing["id"])
    kim = await make_user(service, name="Kim", roles=["agent"])
    ann = await make_contact(service, first_name="Ann")
    ticket = await records.create("ticket", {"subject": "Invoice", "requester": ann["id"]})
    team_reply = await records.create(
        "canned_reply",
        {
            "name": "Invoice",
            "scope": "team",
            "team": billing["id"],
            "body": "Dear {{ requester.first_name }}, see {{ ticket.number }}.",
        },
    )
    as_sam = await GraphQLClient.as_user(service, sam["id"])
    as_kim = await GraphQLClient.as_user(service, kim["id"])
    rendered = (await as_sam.query(RENDER, id=str(team_reply["id"]), t=str(ticket["id"])))["renderCannedReply"]
    assert rendered == {"text": "Dear Ann, see T-00001.", "errors": []}
    other = (await as_kim.query(RENDER, id=str(team_reply["id"]), t=str(ticket["id"])))["renderCannedReply"]
    assert other["text"] is None and other["errors"][0]["field"] == "id"


async def test_two_agents_replying_at_once_get_a_collision_notice(service):
    records = system_context(service).records
    sam = await make_user(service, name="Sam", roles=["agent"])
    kim = await make_user(service, name="Kim", roles=["agent"])
    ticket = await records.create("ticket", {"subject": "Help"})
    first = await records.create("ticket_message", {"ticket": ticket["id"], "body": "hello", "direction": "inbound"})
    as_sam = await GraphQLClient.as_user(service, sam["id"])
    as_kim = await GraphQLClient.as_user(service, kim["id"])
    seen = str(first["id"])
    sent = await as_sam.query(REPLY, input={"ticketId": str(ticket["id"]), "body": "Sam here", "seenMessageId": seen})
    assert sent["createTicketMessage"]["errors"] == []
    late = await as_kim.query(REPLY, input={"ticketId": str(ticket["id"]), "body": "Kim here", "seenMessageId": seen})
    (error,) = late["createTicketMessage"]["errors"]
    assert error["code"] == "collision" and "from Sam" in error["message"]
    newest = sent["createTicketMessage"]["ticketMessage"]["id"]
    again = await as_kim.query(REPLY, input={"ticketId": str(ticket["id"]), "body": "Kim too", "seenMessageId": newest})
    assert again["createTicketMessage"]["errors"] == []
