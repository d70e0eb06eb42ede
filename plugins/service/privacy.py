"""What the service plugin holds about a person, for ``kith gdpr export|erase``.

Their own records: the tickets they asked (as requester), every message on those
tickets and the messages they wrote anywhere, those messages' attachments, and their
satisfaction surveys.  The core exports them and erases them from these ids (see
``PersonalRecords``); the files behind the attachments are emptied by the core's
erasure of the file store (``Erasure.erase_files``).
"""

from __future__ import annotations

from typing import Any

from piccolo.table import Table

from kith.plugins.service.models import Survey, Ticket, TicketAttachment, TicketMessage
from kith.sdk import Erasure, PersonalRecords, PluginContext


async def _ids(table: type[Table], where: Any) -> list[int]:
    return [int(row["id"]) for row in await table.select(table._meta.primary_key).where(where)]


async def footprint(contact: dict[str, Any]) -> dict[str, list[int]]:
    tickets = await _ids(Ticket, Ticket.requester == contact["id"])
    on_tickets = await _ids(TicketMessage, TicketMessage.ticket.is_in(tickets)) if tickets else []
    written = await _ids(TicketMessage, TicketMessage.author_contact == contact["id"])
    messages = sorted(set(on_tickets) | set(written))
    attachments = await _ids(TicketAttachment, TicketAttachment.message.is_in(messages)) if messages else []
    return {
        "ticket": tickets,
        "ticket_message": messages,
        "ticket_attachment": attachments,
        "survey": await _ids(Survey, Survey.contact == contact["id"]),
    }


async def personal_records(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    found = await footprint(contact)
    if not any(found.values()):
        return None
    return PersonalRecords(erase=found)


async def erase(context: PluginContext, contact: dict[str, Any], erasure: Erasure) -> None:
    """The attachments' bytes live in the core's file store: empty those files too."""
    found = await footprint(contact)
    if found["ticket_attachment"]:
        rows = await TicketAttachment.select(TicketAttachment.file).where(
            TicketAttachment.id.is_in(found["ticket_attachment"])
        )
        await erasure.erase_files([int(row["file"]) for row in rows])
