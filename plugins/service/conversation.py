"""The conversation of a ticket: who wrote a message, and what it does to the ticket.

A message written by a signed-in user is theirs and outbound; inbound messages (the
requester's mail) are written by the plugin's mail handling, as the system.  A public
reply is a response for the SLA clocks and appears on the requester's timeline; an
internal note is neither.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.plugins.service import mailroom, tickets
from kith.plugins.service.models import TicketMessage
from kith.plugins.service.sla import engine
from kith.sdk import Change, ValidationFailed

TIMELINE_KIND = "ticket_message"


async def before_create(change: Change) -> None:
    values = change.values
    context = change.context
    if not (values.get("body") or "").strip() and values.get("direction") != "inbound":
        raise ValidationFailed.single("body", "required", "write something")
    ticket = await context.records.get("ticket", int(values["ticket"]))
    if ticket is None:
        raise ValidationFailed.single("ticketId", "not_found", "no such ticket")
    if ticket.get("merged_into") is not None:
        raise ValidationFailed.single(
            "ticketId", "invalid", f"ticket {ticket['number']} was merged; write on the ticket it was merged into"
        )
    if values.get("seen_message") is not None:
        await _refuse_collision(change, ticket, int(values["seen_message"]))
    if change.actor.user_id is not None:
        values["author"] = change.actor.user_id
        values["direction"] = "outbound"
    values.setdefault("direction", "outbound")
    values.setdefault("kind", "reply")
    if values["kind"] == "note" and values["direction"] == "inbound":
        raise ValidationFailed.single("kind", "invalid", "a note is written by an agent, not received")
    if values["kind"] == "auto" and change.actor.user_id is not None:
        raise ValidationFailed.single(
            "kind", "invalid", "automatic messages are the plugin's own; write a reply or a note"
        )


async def _refuse_collision(change: Change, ticket: dict[str, Any], seen: int) -> None:
    """Someone else wrote on the ticket since the newest message the writer had seen:
    refuse, naming who, so they read it before they send (send again with that one)."""
    newer = await (
        TicketMessage.select(TicketMessage.id, TicketMessage.author)
        .where(
            (TicketMessage.ticket == ticket["id"])
            & (TicketMessage.id > seen)
            & TicketMessage.kind.is_in(["reply", "note"])
            & TicketMessage.deleted_at.is_null()
        )
        .order_by(TicketMessage.id)
    )
    others = [m for m in newer if m["author"] is None or m["author"] != change.actor.user_id]
    if not others:
        return
    who = []
    for message in others:
        if message.get("author") is not None:
            user = await change.context.system.get("user", int(message["author"]))
            who.append((user or {}).get("name") or "an agent")
        else:
            who.append("the customer")
    names = ", ".join(dict.fromkeys(who))
    raise ValidationFailed.single(
        "seenMessageId",
        "collision",
        f"{len(others)} new message(s) on {ticket['number']} since you started writing, from {names}: "
        f"read them, then send again with seenMessageId {others[-1]['id']}",
    )


async def after_write(change: Change) -> None:
    """A new message moves its ticket: response times, reopening, the timeline."""
    if change.action != "create":
        return
    message = change.after or {}
    if message.get("kind") in ("note", "auto") or message.get("origin_ticket") is not None:
        return  # notes and acknowledgements answer nobody; a merge's copies were counted on their own ticket
    context = change.context.as_plugin(keep_permissions=False)
    ticket = await context.system.get("ticket", int(message["ticket"]))
    if ticket is None:
        return
    at: dt.datetime = message["created_at"]
    kind = "agent_reply" if message["direction"] == "outbound" else "customer_message"
    await engine.record_event("ticket", ticket["id"], kind, at)
    if message["direction"] == "outbound":
        update: dict[str, Any] = {"last_agent_reply_at": at}
        if ticket.get("first_response_at") is None:
            update["first_response_at"] = at
        if ticket["status_category"] == "new":
            opened = await tickets.statuses.first_of("open")
            if opened is not None:
                update["status"] = opened["id"]
        await context.records.update("ticket", ticket["id"], update)
        if message.get("message_id") is None:  # written here, not a copy of mail sent elsewhere
            await mailroom.mail_reply(change.context, message, ticket)
    else:
        await context.records.update("ticket", ticket["id"], {"last_customer_message_at": at})
        await tickets.reopen_for_customer(context, ticket)
    if ticket.get("requester") is not None:
        await context.system.create(
            "activity",
            {
                "kind": TIMELINE_KIND,
                "subject": f"[{ticket['number']}] {ticket['subject']}"[:300],
                "body": message.get("body") or "",
                "subject_type": "contact",
                "subject_id": ticket["requester"],
                "occurred_at": at,
            },
        )
