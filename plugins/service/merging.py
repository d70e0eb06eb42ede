"""Merging duplicate tickets, undoing a merge, and splitting a ticket in two.

A merge closes each merged ticket with a pointer to the survivor and copies its public
replies and notes onto the survivor (marked with where they came from), so the agent
reads one conversation; later mail to a merged ticket lands on the survivor (the mail
threading follows ``merged_into``).  Nothing is deleted, so a merge is undone from the
ticket's own history: the copies are removed, the pointer cleared and the ticket is
open again.  A split moves chosen messages of a ticket to a new ticket that remembers
where it came from.  Each runs in one transaction, as the caller (their grants apply).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kith.plugins.service import statuses
from kith.sdk import PluginContext, ValidationFailed

_COPIED = ("kind", "direction", "author", "author_contact", "body", "full_body", "message_id")


async def _ticket(context: PluginContext, ticket_id: int, field: str) -> dict[str, Any]:
    ticket = await context.records.get("ticket", ticket_id)
    if ticket is None:
        raise ValidationFailed.single(field, "not_found", f"ticket {ticket_id} does not exist")
    return ticket


async def _note(context: PluginContext, ticket_id: int, text: str) -> None:
    await context.as_plugin(keep_permissions=False).system.create(
        "ticket_message", {"ticket": ticket_id, "kind": "note", "body": text}
    )


async def merge(context: PluginContext, source_ids: Sequence[int], target_id: int) -> dict[str, Any]:
    """Merge ``source_ids`` into ``target_id``; returns the survivor."""
    trusted = context.as_plugin(keep_permissions=True).records
    plugin = context.as_plugin(keep_permissions=False).system
    async with context.db.transaction():
        target = await _ticket(context, target_id, "targetId")
        if target.get("merged_into") is not None:
            raise ValidationFailed.single("targetId", "invalid", f"{target['number']} was itself merged")
        closed = await statuses.first_of("closed")
        if closed is None:
            raise ValidationFailed.single("sourceIds", "invalid", "a merge needs a status in the category 'closed'")
        for source_id in dict.fromkeys(source_ids):
            if source_id == target_id:
                raise ValidationFailed.single("sourceIds", "invalid", "a ticket cannot be merged into itself")
            source = await _ticket(context, source_id, "sourceIds")
            if source.get("merged_into") is not None:
                raise ValidationFailed.single("sourceIds", "invalid", f"{source['number']} is merged already")
            async for message in plugin.each(
                "ticket_message", {"ticketId": {"eq": source_id}}, order_by=[{"id": "ASC"}]
            ):
                copy = {k: message.get(k) for k in _COPIED}
                made = await plugin.create("ticket_message", {**copy, "ticket": target_id, "origin_ticket": source_id})
                for attachment in await plugin.list("ticket_attachment", {"messageId": {"eq": message["id"]}}):
                    kept = {k: attachment[k] for k in ("file", "name", "content_type", "size", "inline")}
                    await plugin.create("ticket_attachment", {**kept, "message": made["id"]})
            await _note(context, source_id, f"Merged into {target['number']}.")
            await trusted.update("ticket", source_id, {"merged_into": target_id, "status": closed["id"]})
            await _note(context, target_id, f"{source['number']} was merged into this ticket.")
        return await _ticket(context, target_id, "targetId")


async def unmerge(context: PluginContext, ticket_id: int) -> dict[str, Any]:
    """Undo the merge of ``ticket_id``: its copies leave the survivor, it is open again."""
    trusted = context.as_plugin(keep_permissions=True).records
    plugin = context.as_plugin(keep_permissions=False).system
    async with context.db.transaction():
        ticket = await _ticket(context, ticket_id, "id")
        target_id = ticket.get("merged_into")
        if target_id is None:
            raise ValidationFailed.single("id", "invalid", f"{ticket['number']} is not merged")
        copies = await plugin.list(
            "ticket_message", {"ticketId": {"eq": target_id}, "originTicketId": {"eq": ticket_id}}, first=1000
        )
        for copy in copies:
            await plugin.delete("ticket_message", copy["id"])
        opened = await statuses.first_of("open")
        values: dict[str, Any] = {"merged_into": None}
        if opened is not None:
            values["status"] = opened["id"]
        await trusted.update("ticket", ticket_id, values)
        target = await plugin.get("ticket", int(target_id))
        survivor = target["number"] if target else f"ticket {target_id}"
        await _note(context, ticket_id, f"Unmerged from {survivor}.")
        await _note(context, int(target_id), f"{ticket['number']} was unmerged from this ticket.")
        return await _ticket(context, ticket_id, "id")


async def split(
    context: PluginContext, ticket_id: int, message_ids: Sequence[int], subject: str | None = None
) -> dict[str, Any]:
    """Move ``message_ids`` of ``ticket_id`` to a new ticket; returns the new ticket."""
    plugin = context.as_plugin(keep_permissions=False).system
    async with context.db.transaction():
        ticket = await _ticket(context, ticket_id, "id")
        if not message_ids:
            raise ValidationFailed.single("messageIds", "required", "choose the messages that go to the new ticket")
        messages = await plugin.list("ticket_message", {"id": {"in": list(message_ids)}}, first=1000)
        foreign = sorted(set(message_ids) - {m["id"] for m in messages if m["ticket"] == ticket_id})
        if foreign:
            raise ValidationFailed.single("messageIds", "invalid", f"messages {foreign} are not on {ticket['number']}")
        values = {
            k: ticket.get(k) for k in ("requester", "organization", "channel", "priority", "type", "team", "tags")
        }
        created = await context.records.create("ticket", {**values, "subject": subject or ticket["subject"]})
        await context.as_plugin(keep_permissions=True).records.update(
            "ticket", created["id"], {"split_from": ticket_id}
        )
        for message in messages:
            await plugin.update("ticket_message", message["id"], {"ticket": created["id"]})
        await _note(context, ticket_id, f"{len(messages)} message(s) split off to {created['number']}.")
        await _note(context, created["id"], f"Split off from {ticket['number']}.")
        return await _ticket(context, created["id"], "id")
