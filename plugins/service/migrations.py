"""The service plugin's schema steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.plugins.service.models import (
    ROUTING_TABLES,
    SLA_TABLES,
    TICKET_TABLES,
    TOOL_TABLES,
    KbArticle,
    SlaEvent,
    SlaStatus,
    TicketStatus,
)
from kith.plugins.service.statuses import DEFAULT_STATUSES
from kith.sdk import Migration, fulltext_index, initial_migration


async def _default_statuses(db: Any) -> None:
    """The statuses a helpdesk starts with, one per category; admins add their own."""
    db.bind([TicketStatus])
    now = dt.datetime.now(dt.UTC)
    await TicketStatus.insert(
        *(
            TicketStatus(
                name=name, category=category, pauses_sla=pauses, position=position, created_at=now, updated_at=now
            )
            for position, (name, category, pauses) in enumerate(DEFAULT_STATUSES)
        )
    )


async def _indexes(db: Any) -> None:
    """An index on every relation column (reverse lists, relation filters and owner
    scopes look records up by it), and on what queues, clocks and threading look up."""
    tables = [*TICKET_TABLES, *ROUTING_TABLES, *SLA_TABLES, *TOOL_TABLES]
    db.bind(tables)
    for table in tables:
        for column in table._meta.foreign_key_columns:
            await table.create_index([column, table._meta.primary_key], if_not_exists=True)
    from kith.plugins.service.models import Ticket

    await Ticket.create_index([Ticket.status_category, Ticket.team, Ticket.assignee], if_not_exists=True)
    await SlaEvent.create_index([SlaEvent.entity, SlaEvent.record_id, SlaEvent.at], if_not_exists=True)
    await SlaStatus.create_index([SlaStatus.entity, SlaStatus.record_id], if_not_exists=True)


MIGRATIONS = [
    initial_migration(*TICKET_TABLES, *ROUTING_TABLES, *SLA_TABLES, *TOOL_TABLES),
    Migration("0002_default_statuses", _default_statuses, "the ticket statuses a helpdesk starts with"),
    Migration("0003_indexes", _indexes, "indexes on relations, queues, clocks"),
    fulltext_index("0004_article_search", KbArticle, "title", "body"),
]
