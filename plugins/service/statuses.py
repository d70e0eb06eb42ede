"""Ticket statuses: the shipped set, and what a status means for a ticket."""

from __future__ import annotations

from typing import Any

from kith.plugins.service.models import TicketStatus

#: (name, category, pauses the SLA clocks) in the order agents see them
DEFAULT_STATUSES = (
    ("New", "new", False),
    ("Open", "open", False),
    ("Waiting on customer", "waiting_on_customer", True),
    ("Waiting on third party", "waiting_on_third_party", True),
    ("Solved", "solved", False),
    ("Closed", "closed", False),
)

_COLUMNS = (TicketStatus.id, TicketStatus.name, TicketStatus.category, TicketStatus.pauses_sla)


async def get(status_id: Any) -> dict[str, Any] | None:
    if status_id is None:
        return None
    row: dict[str, Any] | None = (
        await TicketStatus.select(*_COLUMNS)
        .where((TicketStatus.id == int(status_id)) & TicketStatus.deleted_at.is_null())
        .first()
    )
    return row


async def first_of(category: str) -> dict[str, Any] | None:
    """The first status (by position) of ``category``: where a ticket goes when the
    plugin moves it (a new ticket, a customer's reply to a solved one)."""
    row: dict[str, Any] | None = (
        await TicketStatus.select(*_COLUMNS)
        .where((TicketStatus.category == category) & TicketStatus.deleted_at.is_null())
        .order_by(TicketStatus.position, TicketStatus.id)
        .first()
    )
    return row


async def named(name: str) -> dict[str, Any] | None:
    row: dict[str, Any] | None = (
        await TicketStatus.select(*_COLUMNS)
        .where((TicketStatus.name == name) & TicketStatus.deleted_at.is_null())
        .first()
    )
    return row
