"""Tickets from email, and replies back out by email, threaded both ways.

Inbound (``kith_mail_received``): a message joins a ticket when it answers one of the
ticket's messages (``In-Reply-To``/``References``), when it carries the ticket's secret
marker (the footer of every mail the ticket sent, which survives providers that rewrite
Message-IDs), or when its subject names the ticket (``[T-00042]``) and it comes from
the requester; a merged ticket's mail goes to the survivor, and mail to a closed ticket
opens a follow-up.  Anything else opens a ticket for the sender (a contact, matched by
email or created).  The text above the quote is the message; the whole text and the
attachments are kept.  A new ticket is acknowledged automatically, under RFC 3834's
rules (``context.mail``): never to automatic mail, no-reply addresses or beyond the caps.

Outbound: an agent's public reply on a ticket with a requester who has an email address
is mailed to them, ``Re: [T-00042] <subject>``, threaded on the ticket's messages.
"""

from __future__ import annotations

import re
from typing import Any

from kith.plugins.service.models import TicketAttachment, TicketMessage
from kith.plugins.service.settings import service_settings
from kith.sdk import InboundMail, OutboundMail, PluginContext

SUBJECT_TAG = re.compile(r"\[(T-\d{5,})\]")
MARKER = re.compile(r"kith-ticket:([0-9a-f]{24})")
#: where a ticket's mail says which ticket it is, for mail clients that drop headers
FOOTER = "\n\n--\nTicket {number} · please keep this line when replying · kith-ticket:{token}\n"


def footer(ticket: dict[str, Any]) -> str:
    return FOOTER.format(number=ticket["number"], token=ticket["thread_token"])


def _addressed_to_us(context: PluginContext, message: InboundMail) -> bool:
    wanted = {a.lower() for a in service_settings(context).addresses}
    if not wanted:
        return True
    seen = {a.address.lower() for a in (*message.to, *message.cc)} | {a.lower() for a in message.envelope_to or ()}
    return bool(wanted & seen)


async def _by_message_ids(ids: list[str]) -> int | None:
    if not ids:
        return None
    row = await (
        TicketMessage.select(TicketMessage.ticket)
        .where(TicketMessage.message_id.is_in(ids) & TicketMessage.deleted_at.is_null())
        .order_by(TicketMessage.id, ascending=False)
        .first()
    )
    return None if row is None else int(row["ticket"])


async def find_ticket(context: PluginContext, message: InboundMail, sender: str | None) -> dict[str, Any] | None:
    """The ticket ``message`` continues, following merges; None for a new conversation."""
    records = context.system
    ticket_id = await _by_message_ids([i for i in (message.in_reply_to, *reversed(message.references)) if i])
    ticket = await records.get("ticket", ticket_id) if ticket_id else None
    if ticket is None:
        marker = MARKER.search(f"{message.text or ''}\n{message.html or ''}")
        if marker:
            ticket = await records.first("ticket", {"threadToken": {"eq": marker.group(1)}})
    if ticket is None:
        tag = SUBJECT_TAG.search(message.subject or "")
        if tag and sender:
            tagged = await records.first("ticket", {"number": {"eq": tag.group(1)}})
            requester = await records.get("contact", tagged["requester"]) if tagged and tagged["requester"] else None
            if requester is not None and sender in (requester.get("emails") or []):
                ticket = tagged  # the subject alone is guessable: only the requester threads by it
    seen: set[int] = set()
    while ticket is not None and ticket.get("merged_into") is not None and ticket["id"] not in seen:
        seen.add(ticket["id"])
        ticket = await records.get("ticket", int(ticket["merged_into"]))
    return ticket


async def requester_for(context: PluginContext, message: InboundMail) -> dict[str, Any] | None:
    sender = message.from_address
    if sender is None:
        return None
    address = sender.address.lower()
    contact = await context.system.first("contact", {"emails": {"contains": address}}, order_by=[{"id": "ASC"}])
    if contact is None:
        name = (sender.name or "").strip()
        first, _, last = name.partition(" ")
        values: dict[str, Any] = {"emails": [address]}
        if first:
            values.update(first_name=first[:100], last_name=(last or None) and last[:100])
        contact = await context.system.create("contact", values)
    return contact


def _lines(text: str | None) -> str:
    """Mail text with the line ends people and databases expect (``\n``), trimmed."""
    return (text or "").replace("\r\n", "\n").strip()


async def _keep_attachments(context: PluginContext, message_id: int, message: InboundMail) -> None:
    writer = context.as_plugin(keep_permissions=False, name="mail").system
    for attachment in message.attachments:
        if attachment.file_id is not None:
            await writer.create(
                "ticket_attachment",
                {
                    "message": message_id,
                    "file": attachment.file_id,
                    "name": (attachment.filename or "")[:255],
                    "content_type": attachment.content_type[:120],
                    "size": attachment.size,
                    "inline": attachment.inline,
                },
            )


async def received(context: PluginContext, message: InboundMail) -> str | None:
    """Claim ``message`` for a ticket (``"ticket:<id>"``), or leave it (None)."""
    if message.bounce is not None or message.complaint is not None:
        return await _bounced(context, message)
    if not _addressed_to_us(context, message):
        return None
    requester = await requester_for(context, message)
    sender = message.from_address.address.lower() if message.from_address else None
    ticket = await find_ticket(context, message, sender)
    follow_up_of = None
    if ticket is not None and ticket["status_category"] == "closed":
        follow_up_of, ticket = ticket, None
    plugin = context.as_plugin(keep_permissions=False, name="mail").system
    if ticket is not None and message.is_automatic:
        # an out-of-office answer on a ticket: kept, but it neither reopens it nor starts a clock
        await plugin.create(
            "ticket_message",
            {
                "ticket": ticket["id"],
                "kind": "auto",
                "direction": "inbound",
                "body": _lines(message.text),
                "message_id": message.message_id,
                "author_contact": requester["id"] if requester else None,
            },
        )
        return f"ticket:{ticket['id']}"
    created = ticket is None
    if ticket is None:
        settings = service_settings(context)
        team = await context.system.first("team", {"name": {"eq": settings.mail_team}}) if settings.mail_team else None
        ticket = await plugin.create(
            "ticket",
            {
                "subject": (message.subject or "(no subject)")[:300],
                "channel": "email",
                "requester": requester["id"] if requester else None,
                "team": team["id"] if team else None,
            },
        )
    stored = await plugin.create(
        "ticket_message",
        {
            "ticket": ticket["id"],
            "kind": "reply",
            "direction": "inbound",
            "author_contact": requester["id"] if requester else None,
            "body": _lines((message.text if created else message.reply_text) or message.text),
            "full_body": _lines(message.text),
            "message_id": message.message_id,
        },
    )
    await _keep_attachments(context, stored["id"], message)
    if follow_up_of is not None:
        await plugin.create(
            "ticket_message",
            {
                "ticket": ticket["id"],
                "kind": "note",
                "body": f"A follow-up of {follow_up_of['number']}, which is closed.",
            },
        )
    if created and service_settings(context).acknowledge and context.mail.configured:
        await _acknowledge(context, message, await context.system.get("ticket", ticket["id"]) or ticket)
    return f"ticket:{ticket['id']}"


async def _acknowledge(context: PluginContext, message: InboundMail, ticket: dict[str, Any]) -> None:
    text = service_settings(context).acknowledgement.format(number=ticket["number"], subject=ticket["subject"])
    ack = OutboundMail.reply(message, text + footer(ticket), subject=f"[{ticket['number']}] {ticket['subject']}")
    sent = await context.mail.send(ack, automatic=True, loop_keys=[f"ticket:{ticket['id']}"], replying_to=message)
    await context.as_plugin(keep_permissions=False, name="mail").system.create(
        "ticket_message",
        {
            "ticket": ticket["id"],
            "kind": "auto",
            "body": text,
            "message_id": sent.message_id,
            "delivery": sent.status,
        },
    )


async def _bounced(context: PluginContext, message: InboundMail) -> str | None:
    """A bounce of a ticket's mail becomes a note on that ticket; other reports are left."""
    report = message.bounce or message.complaint
    original = getattr(report, "original_message_id", None)
    ticket_id = await _by_message_ids([original]) if original else None
    if ticket_id is None:
        return None
    addresses = ", ".join(getattr(message.bounce, "addresses", []) or [])
    what = f"Mail to {addresses} could not be delivered" if message.bounce else "A recipient reported our mail as spam"
    await context.as_plugin(keep_permissions=False, name="mail").system.create(
        "ticket_message", {"ticket": ticket_id, "kind": "note", "body": f"{what} ({message.subject})."}
    )
    return f"ticket:{ticket_id}"


async def _files_of(message_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await TicketAttachment.select(TicketAttachment.file).where(
        (TicketAttachment.message == message_id) & TicketAttachment.deleted_at.is_null()
    )
    return rows


async def mail_reply(context: PluginContext, message: dict[str, Any], ticket: dict[str, Any]) -> None:
    """Mail an agent's public reply to the requester, threaded on the ticket's messages."""
    if ticket.get("requester") is None:
        return
    if not context.mail.configured:
        # Marked on the message, where the agent sees it, rather than logged per reply.
        await context.as_plugin(keep_permissions=False, name="mail").system.update(
            "ticket_message", message["id"], {"delivery": "unconfigured"}
        )
        return
    requester = await context.system.get("contact", int(ticket["requester"]))
    emails = (requester or {}).get("emails") or []
    if not emails:
        return
    thread = [
        row["message_id"]
        for row in await TicketMessage.select(TicketMessage.message_id)
        .where(
            (TicketMessage.ticket == ticket["id"])
            & TicketMessage.message_id.is_not_null()
            & TicketMessage.deleted_at.is_null()
        )
        .order_by(TicketMessage.id)
    ]
    name = " ".join(p for p in ((requester or {}).get("first_name"), (requester or {}).get("last_name")) if p)
    outgoing = OutboundMail(
        to=f"{name} <{emails[0]}>" if name else emails[0],
        subject=f"Re: [{ticket['number']}] {ticket['subject']}",
        text=(message.get("body") or "") + footer(ticket),
        in_reply_to=thread[-1] if thread else None,
        references=thread[-20:],
        attachments=[int(row["file"]) for row in await _files_of(int(message["id"]))],
    )
    sent = await context.mail.send(outgoing)
    await context.as_plugin(keep_permissions=False, name="mail").system.update(
        "ticket_message", message["id"], {"message_id": sent.message_id, "delivery": sent.status}
    )
