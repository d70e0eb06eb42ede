"""Leads: duplicates refused on create, and conversion into a contact, an organization
(or the existing ones with that email or domain) and optionally a deal — atomically,
the lead's timeline moving with it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.sdk import Actor, Change, FieldError, Kith, ValidationFailed


async def refuse_duplicates(change: Change) -> None:
    """A lead who is already a lead or a contact is refused, naming which: the same email,
    or the same name at the same company domain (``ann@acme.com`` and ``a.lee@acme.com``)."""
    email = change.values.get("email")
    kith = change.context._kith
    if email:
        leads = await kith.db.execute(
            "SELECT id FROM sales_lead WHERE email = {} AND deleted_at IS NULL AND status <> 'converted'", email
        )
        if leads:
            raise ValidationFailed.single("email", "duplicate", f"lead {leads[0]['id']} already has this email")
        contacts = await kith.query.list(kith.db, _by_email(kith, email))
        if contacts.rows:
            raise ValidationFailed.single(
                "email", "duplicate", f"contact {contacts.rows[0]['id']} already has this email"
            )
    first, last, domain = (change.values.get(k) for k in ("first_name", "last_name", "domain"))
    if not (first and last and domain):
        return
    same = await kith.db.execute(
        "SELECT 'lead' AS kind, id FROM sales_lead WHERE domain = {} AND LOWER(first_name) = LOWER({}) "
        "AND LOWER(last_name) = LOWER({}) AND deleted_at IS NULL AND status <> 'converted' "
        "UNION ALL SELECT 'contact' AS kind, c.id FROM contact c JOIN organization o ON o.id = c.organization "
        "WHERE o.domain = {} AND LOWER(c.first_name) = LOWER({}) AND LOWER(c.last_name) = LOWER({}) "
        "AND c.deleted_at IS NULL",
        domain,
        first,
        last,
        domain,
        first,
        last,
    )
    if same:
        found = same[0]
        raise ValidationFailed.single(
            "domain", "duplicate", f"{found['kind']} {found['id']} is {first} {last} at {domain} already"
        )


def _by_email(kith: Kith, email: str) -> Any:
    from kith.sdk import ListRequest

    return ListRequest(kith.entity("contact"), {"emails": {"contains": email}}, first=1)


async def convert(
    kith: Kith, lead_id: int, actor: Actor, deal_name: str | None = None, amount: dict[str, Any] | None = None
) -> dict[str, int | None]:
    """Turn a qualified lead into contact + organization (+ deal); all or nothing."""
    trusted = Actor(actor.name, "plugin", actor.user_id, actor.permissions)
    async with kith.db.write_transaction():
        lead = await kith.records.get("lead", lead_id)
        if lead["status"] != "qualified":
            raise ValidationFailed.single(
                "id", "invalid", f"only qualified leads convert (this one is {lead['status']})"
            )
        organization_id = None
        if lead.get("domain") or lead.get("company"):
            rows = (
                await kith.db.execute(
                    "SELECT id FROM organization WHERE domain = {} AND deleted_at IS NULL ORDER BY id LIMIT 1",
                    lead.get("domain"),
                )
                if lead.get("domain")
                else []
            )
            if rows:
                organization_id = rows[0]["id"]
            else:
                organization = await kith.records.create(
                    "organization", {"name": lead.get("company") or lead["domain"], "domain": lead.get("domain")}, actor
                )
                organization_id = organization["id"]
        contact_id = None
        if lead.get("email"):
            found = await kith.query.list(kith.db, _by_email(kith, lead["email"]))
            contact_id = found.rows[0]["id"] if found.rows else None
        if contact_id is None:
            contact = await kith.records.create(
                "contact",
                {
                    "first_name": lead.get("first_name"),
                    "last_name": lead.get("last_name"),
                    "emails": [lead["email"]] if lead.get("email") else [],
                    "phones": [lead["phone"]] if lead.get("phone") else [],
                    "title": lead.get("title"),
                    "organization": organization_id,
                    "owner": lead.get("owner"),
                    "lifecycle_stage": "opportunity" if deal_name else "lead",
                },
                actor,
            )
            contact_id = contact["id"]
        deal_id = None
        if deal_name:
            deal = await kith.records.create(
                "deal",
                {
                    "name": deal_name,
                    "amount": amount or lead.get("budget"),
                    "organization": organization_id,
                    "contact": contact_id,
                    "owner": lead.get("owner"),
                },
                actor,
            )
            deal_id = deal["id"]
        activities = await kith.db.execute(
            "SELECT id FROM activity WHERE subject_type = 'lead' AND subject_id = {} AND deleted_at IS NULL", lead_id
        )
        for activity in activities:  # the lead's timeline becomes the contact's
            await kith.records.update(
                "activity", activity["id"], {"subject_type": "contact", "subject_id": contact_id}, trusted
            )
        await kith.records.update(
            "lead",
            lead_id,
            {
                "status": "converted",
                "converted_contact": contact_id,
                "converted_organization": organization_id,
                "converted_deal": deal_id,
                "converted_at": dt.datetime.now(dt.UTC),
            },
            trusted,
        )
    return {"contact": contact_id, "organization": organization_id, "deal": deal_id, "activities": len(activities)}


def refuse_manual_conversion(change: Change) -> None:
    if change.values.get("status") == "converted" and change.actor.source not in ("plugin", "system"):
        raise ValidationFailed([FieldError("status", "invalid", "use convertLead to convert a lead")])
