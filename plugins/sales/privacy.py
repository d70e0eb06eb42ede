"""What the sales plugin holds about a person, for ``kith gdpr export|erase``.

The person's own records: the leads that are them (converted into this contact, or with
one of its emails), their roles on deals, and those leads' score lines.  Shared records
that involve them: the deals where they are the contact or play a role, and those
deals' quotes, quote lines and stage history.  The core exports and erases them all
from these ids (see ``PersonalRecords``): nothing here writes a row.

The ids are read from the plugin's own tables with Piccolo, deleted rows included (they
still hold the person's data); the core decides who may run an export or erasure.
"""

from __future__ import annotations

from typing import Any

from piccolo.columns import Column
from piccolo.table import Table

from kith.plugins.sales.models import Deal, DealContact, Lead, LeadScoreItem, Quote, QuoteLine, StageChange
from kith.sdk import PersonalRecords, PluginContext


async def _ids(table: type[Table], where: Any) -> list[int]:
    return [int(row["id"]) for row in await table.select(table._meta.primary_key).where(where)]


async def _where_in(table: type[Table], column: Column, ids: list[int]) -> list[int]:
    return await _ids(table, column.is_in(ids)) if ids else []


async def leads_of(contact: dict[str, Any]) -> list[int]:
    """The leads that are this person: converted into them, or with one of their emails
    (deleted ones too: they still hold the person's data)."""
    emails = [e for e in contact.get("emails") or [] if e]
    who = Lead.converted_contact == contact["id"]
    return await _ids(Lead, who | Lead.email.is_in(emails) if emails else who)


async def personal_records(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    leads = await leads_of(contact)
    roles = await _ids(DealContact, DealContact.contact == contact["id"])
    role_deals = (
        [row["deal"] for row in await DealContact.select(DealContact.deal).where(DealContact.id.is_in(roles))]
        if roles
        else []
    )
    deals = set(await _ids(Deal, Deal.contact == contact["id"])) | {int(d) for d in role_deals if d is not None}
    if leads:
        rows = await Lead.select(Lead.converted_deal).where(Lead.id.is_in(leads) & Lead.converted_deal.is_not_null())
        deals |= {int(row["converted_deal"]) for row in rows}
    deal_ids = sorted(deals)
    quotes = await _where_in(Quote, Quote.deal, deal_ids)
    if not (leads or roles or deal_ids):
        return None
    return PersonalRecords(
        erase={
            "lead": leads,
            "deal_contact": roles,
            "lead_score_item": await _where_in(LeadScoreItem, LeadScoreItem.lead, leads),
        },
        scrub={
            "deal": deal_ids,
            "stage_change": await _where_in(StageChange, StageChange.deal, deal_ids),
            "quote": quotes,
            "quote_line": await _where_in(QuoteLine, QuoteLine.quote, quotes),
        },
    )
