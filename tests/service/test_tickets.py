"""Tickets and their conversation, through the API a helpdesk user has."""

from __future__ import annotations

import pytest

from kith.sdk.testing import GraphQLClient, acting_as, make_contact, make_user, system_context

CREATE = """mutation($input: TicketCreateInput!) { createTicket(input: $input) {
  ticket { id number subject priority channel statusCategory status { name category } requester { firstName }
           organization { name } solvedAt }
  errors { field code message } } }"""
REPLY = """mutation($input: TicketMessageCreateInput!) { createTicketMessage(input: $input) {
  ticketMessage { id kind direction body author { email } } errors { field code message } } }"""
TICKET = """query($id: ID!) { ticket(id: $id) { number statusCategory status { name } firstResponseAt
  lastAgentReplyAt lastCustomerMessageAt solvedAt closedAt messages { kind direction body } } }"""


@pytest.fixture
async def service(make_kith):
    return await make_kith(enable=["service"])


async def status_id(kith, name: str) -> str:
    rows = await kith.db.execute("SELECT id FROM service_ticket_status WHERE name = {}", name)
    return str(rows[0]["id"])


async def test_a_ticket_is_numbered_starts_new_and_takes_its_requesters_organization(service):
    gql = GraphQLClient(service)
    records = system_context(service).records
    acme = await records.create("organization", {"name": "Acme"})
    ann = await make_contact(service, first_name="Ann", organization=acme["id"])
    first = await gql.query(CREATE, input={"subject": "Printer on fire", "requesterId": str(ann["id"])})
    second = await gql.query(CREATE, input={"subject": "Second", "priority": "urgent", "channel": "web"})
    assert first["createTicket"]["errors"] == [] and second["createTicket"]["errors"] == []
    ticket = first["createTicket"]["ticket"]
    assert ticket["number"] == "T-00001" and second["createTicket"]["ticket"]["number"] == "T-00002"
    assert ticket["status"] == {"name": "New", "category": "new"} and ticket["statusCategory"] == "new"
    assert ticket["requester"] == {"firstName": "Ann"} and ticket["organization"] == {"name": "Acme"}
    assert ticket["priority"] == "normal" and ticket["channel"] == "api"


async def test_bad_input_names_the_field(service):
    gql = GraphQLClient(service)
    bad = await gql.query(CREATE, input={"subject": "x", "priority": "whenever"})
    assert [e["field"] for e in bad["createTicket"]["errors"]] == ["priority"]
    read_only = await gql.execute(CREATE, {"input": {"subject": "x", "number": "T-99999"}})
    assert "unknown field 'number'" in read_only["errors"][0]["message"]  # kept by the plugin, not written
    empty = await gql.query(REPLY, input={"ticketId": "999999", "body": "hi"})
    assert empty["createTicketMessage"]["errors"][0]["field"] == "ticketId"


async def test_an_agent_reply_is_the_first_response_and_opens_the_ticket(service):
    agent = await make_user(service, email="agent@example.com", roles=["agent"])
    as_agent = await GraphQLClient.as_user(service, agent["id"])
    created = await as_agent.query(CREATE, input={"subject": "Help"})
    ticket_id = created["createTicket"]["ticket"]["id"]
    note = await as_agent.query(REPLY, input={"ticketId": ticket_id, "body": "checking logs", "kind": "note"})
    assert note["createTicketMessage"]["ticketMessage"]["direction"] == "outbound"
    after_note = (await as_agent.query(TICKET, id=ticket_id))["ticket"]
    assert after_note["firstResponseAt"] is None and after_note["statusCategory"] == "new"  # a note answers nobody
    reply = await as_agent.query(REPLY, input={"ticketId": ticket_id, "body": "Fixed it"})
    assert reply["createTicketMessage"]["ticketMessage"]["author"] == {"email": "agent@example.com"}
    ticket = (await as_agent.query(TICKET, id=ticket_id))["ticket"]
    assert ticket["firstResponseAt"] is not None and ticket["firstResponseAt"] == ticket["lastAgentReplyAt"]
    assert ticket["status"] == {"name": "Open"}
    assert [m["kind"] for m in ticket["messages"]] == ["note", "reply"]


async def test_solving_stamps_the_time_and_a_customer_reply_reopens(service):
    gql = GraphQLClient(service)
    ann = await make_contact(service, first_name="Ann")
    created = await gql.query(CREATE, input={"subject": "Help", "requesterId": str(ann["id"])})
    ticket_id = created["createTicket"]["ticket"]["id"]
    solve = "mutation($id: ID!, $s: ID!) { updateTicket(id: $id, input: {statusId: $s}) { errors { field } } }"
    assert (await gql.query(solve, id=ticket_id, s=await status_id(service, "Solved")))["updateTicket"]["errors"] == []
    solved = (await gql.query(TICKET, id=ticket_id))["ticket"]
    assert solved["solvedAt"] is not None and solved["closedAt"] is None
    records = system_context(service).as_plugin(keep_permissions=False).records
    await records.create("ticket_message", {"ticket": int(ticket_id), "body": "still broken", "direction": "inbound"})
    reopened = (await gql.query(TICKET, id=ticket_id))["ticket"]
    assert reopened["status"] == {"name": "Open"} and reopened["solvedAt"] is None
    assert reopened["lastCustomerMessageAt"] is not None
    timeline = await system_context(service).records.list(
        "activity", {"subjectType": {"eq": "contact"}, "subjectId": {"eq": ann["id"]}}
    )
    assert [(a["kind"], a["body"]) for a in timeline] == [("ticket_message", "still broken")]


async def test_an_agent_sees_tickets_but_cannot_change_the_setup(service):
    agent = await make_user(service, email="agent@example.com", roles=["agent"])
    context = await acting_as(service, agent["id"])
    assert [s["name"] for s in await context.records.list("ticket_status", order_by=[{"position": "ASC"}])] == [
        "New",
        "Open",
        "Waiting on customer",
        "Waiting on third party",
        "Solved",
        "Closed",
    ]
    gql = await GraphQLClient.as_user(service, agent["id"])
    refused = await gql.execute(
        'mutation { createTicketStatus(input: {name: "Escalated", category: "open"}) { errors { code } } }'
    )
    assert refused["data"]["createTicketStatus"]["errors"] == [{"code": "forbidden"}]
    assert await system_context(service).records.count("ticket_status") == 6


MERGE = """mutation($sources: [ID!]!, $target: ID!) { mergeTickets(sourceIds: $sources, targetId: $target) {
  ticket { number messages { body originTicket { number } } } errors { field code message } } }"""
UNMERGE = """mutation($id: ID!) { unmergeTicket(id: $id) { ticket { number statusCategory mergedInto { number } }
  errors { field message } } }"""
SPLIT = """mutation($id: ID!, $messages: [ID!]!) { splitTicket(id: $id, messageIds: $messages, subject: "Second issue") {
  ticket { number subject splitFrom { number } requester { firstName } messages { body } } errors { field message } } }"""


async def new_ticket(gql, subject: str, **values) -> str:
    created = await gql.query(CREATE, input={"subject": subject, **values})
    return created["createTicket"]["ticket"]["id"]


async def test_merge_forwards_the_conversation_and_can_be_undone(service):
    gql = GraphQLClient(service)
    survivor = await new_ticket(gql, "Printer")
    duplicate = await new_ticket(gql, "Printer again")
    await gql.query(REPLY, input={"ticketId": duplicate, "body": "same printer, 2nd floor"})
    merged = (await gql.query(MERGE, sources=[duplicate], target=survivor))["mergeTickets"]
    assert merged["errors"] == []
    bodies = [(m["body"], (m["originTicket"] or {}).get("number")) for m in merged["ticket"]["messages"]]
    assert ("same printer, 2nd floor", "T-00002") in bodies
    assert ("T-00002 was merged into this ticket.", None) in bodies
    source = (await gql.query(TICKET, id=duplicate))["ticket"]
    assert source["statusCategory"] == "closed"
    refused = await gql.query(REPLY, input={"ticketId": duplicate, "body": "hello?"})
    assert refused["createTicketMessage"]["errors"][0]["field"] == "ticketId"
    again = (await gql.query(MERGE, sources=[duplicate], target=survivor))["mergeTickets"]
    assert again["errors"][0]["message"] == "T-00002 is merged already"
    undone = (await gql.query(UNMERGE, id=duplicate))["unmergeTicket"]
    assert undone["ticket"] == {"number": "T-00002", "statusCategory": "open", "mergedInto": None}
    left = (await gql.query(TICKET, id=survivor))["ticket"]["messages"]
    assert "same printer, 2nd floor" not in [m["body"] for m in left]
    self_merge = (await gql.query(MERGE, sources=[survivor], target=survivor))["mergeTickets"]
    assert self_merge["errors"][0]["field"] == "sourceIds"


async def test_split_moves_chosen_messages_to_a_new_ticket(service):
    gql = GraphQLClient(service)
    ann = await make_contact(service, first_name="Ann")
    ticket = await new_ticket(gql, "Two problems", requesterId=str(ann["id"]))
    first = await gql.query(REPLY, input={"ticketId": ticket, "body": "about the invoice"})
    await gql.query(REPLY, input={"ticketId": ticket, "body": "about the login"})
    moved = first["createTicketMessage"]["ticketMessage"]["id"]
    split = (await gql.query(SPLIT, id=ticket, messages=[moved]))["splitTicket"]
    assert split["errors"] == []
    new = split["ticket"]
    assert new["subject"] == "Second issue" and new["splitFrom"] == {"number": "T-00001"}
    assert new["requester"] == {"firstName": "Ann"}
    assert [m["body"] for m in new["messages"]] == ["about the invoice", "Split off from T-00001."]
    foreign = (await gql.query(SPLIT, id=ticket, messages=[moved]))["splitTicket"]
    assert foreign["errors"][0]["field"] == "messageIds"


async def test_a_reply_is_marked_unmailed_where_outgoing_mail_is_not_set_up(service):
    """Without ``mail_from`` a reply cannot reach the requester: the message says so to
    the agent instead of pretending it was sent."""
    ann = await make_contact(service, first_name="Ann", emails=["ann@example.com"])
    gql = GraphQLClient(service)
    created = await gql.query(CREATE, input={"subject": "Help", "requesterId": str(ann["id"])})
    ticket_id = created["createTicket"]["ticket"]["id"]
    await gql.query(REPLY, input={"ticketId": ticket_id, "body": "On it"})
    await gql.query(REPLY, input={"ticketId": ticket_id, "body": "just a note", "kind": "note"})
    ticket = await gql.query("query($id: ID!) { ticket(id: $id) { messages { kind delivery } } }", id=ticket_id)
    assert ticket["ticket"]["messages"] == [
        {"kind": "reply", "delivery": "unconfigured"},
        {"kind": "note", "delivery": None},
    ]
