"""What the sales plugin holds about a person, for ``kith gdpr export|erase``.

The person's own records: the leads that are them (converted into this contact, or with
one of its emails), their roles on deals, and those leads' score lines.  Shared records
that involve them: the deals where they are the contact or play a role, and those
deals' quotes, quote lines and stage history.  The core exports and erases them all
from these ids (see ``PersonalRecords``): nothing here writes a row.
"""

from __future__ import annotations

from typing import Any

from kith.sdk import Kith, PersonalRecords


def _marks(values: list[Any]) -> str:
    return ", ".join("{}" for _ in values)


async def _ids(kith: Kith, sql: str, *args: Any) -> list[int]:
    return [int(row["id"]) for row in await kith.db.execute(sql, *args)]


async def _where_in(kith: Kith, table: str, column: str, ids: list[int]) -> list[int]:
    if not ids:
        return []
    return await _ids(kith, f"SELECT id FROM {table} WHERE {column} IN ({_marks(ids)})", *ids)


async def leads_of(kith: Kith, contact: dict[str, Any]) -> list[int]:
    """The leads that are this person: converted into them, or with one of their emails
    (deleted ones too: they still hold the person's data)."""
    emails = [e for e in contact.get("emails") or [] if e]
    by_email = f" OR email IN ({_marks(emails)})" if emails else ""
    return await _ids(
        kith, f"SELECT id FROM sales_lead WHERE converted_contact = {{}}{by_email}", contact["id"], *emails
    )


async def personal_records(kith: Kith, contact: dict[str, Any]) -> PersonalRecords | None:
    leads = await leads_of(kith, contact)
    roles = await _ids(kith, "SELECT id FROM sales_deal_contact WHERE contact = {}", contact["id"])
    deals = set(
        await _ids(
            kith,
            "SELECT id FROM sales_deal WHERE contact = {} "
            "OR id IN (SELECT deal FROM sales_deal_contact WHERE contact = {})",
            contact["id"],
            contact["id"],
        )
    )
    if leads:
        rows = await kith.db.execute(
            f"SELECT converted_deal FROM sales_lead WHERE id IN ({_marks(leads)}) AND converted_deal IS NOT NULL",
            *leads,
        )
        deals |= {int(row["converted_deal"]) for row in rows}
    deal_ids = sorted(deals)
    quotes = await _where_in(kith, "sales_quote", "deal", deal_ids)
    if not (leads or roles or deal_ids):
        return None
    return PersonalRecords(
        erase={
            "lead": leads,
            "deal_contact": roles,
            "lead_score_item": await _where_in(kith, "sales_lead_score_item", "lead", leads),
        },
        scrub={
            "deal": deal_ids,
            "stage_change": await _where_in(kith, "sales_stage_change", "deal", deal_ids),
            "quote": quotes,
            "quote_line": await _where_in(kith, "sales_quote_line", "quote", quotes),
        },
    )
