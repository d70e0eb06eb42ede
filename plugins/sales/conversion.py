"""Leads: duplicates refused on create, and conversion into a contact, an organization
(or the existing ones with that email or domain) and optionally a deal — atomically,
the lead's timeline moving with it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.plugins.sales.models import Lead
from kith.sdk import Change, FieldError, PluginContext, ValidationFailed


async def refuse_duplicates(change: Change) -> None:
    """A lead who is already a lead or a contact is refused, naming which: the same email,
    or the same name at the same company domain (``ann@acme.com`` and ``a.lee@acme.com``).

    Duplicates are looked for among every lead and contact, not only those the writer
    may read (the refusal names only the id)."""
    email = change.values.get("email")
    everyone = change.context.system
    open_leads = Lead.deleted_at.is_null() & (Lead.status != "converted")
    if email:
        lead = await Lead.select(Lead.id).where((Lead.email == email) & open_leads).first()
        if lead is not None:
            raise ValidationFailed.single("email", "duplicate", f"lead {lead['id']} already has this email")
        contact = await everyone.first("contact", {"emails": {"contains": email}})
        if contact is not None:
            raise ValidationFailed.single("email", "duplicate", f"contact {contact['id']} already has this email")
    first, last, domain = (change.values.get(k) for k in ("first_name", "last_name", "domain"))
    if not (first and last and domain):
        return

    def same_person(row: dict[str, Any]) -> bool:
        names = ((row.get("first_name") or "").lower(), (row.get("last_name") or "").lower())
        return names == (first.lower(), last.lower())

    at_domain = Lead.select(Lead.id, Lead.first_name, Lead.last_name).where((Lead.domain == domain) & open_leads)
    same = next((row for row in await at_domain.order_by(Lead.id) if same_person(row)), None)
    found = ("lead", same["id"]) if same is not None else None
    if found is None:
        async for contact in everyone.each(
            "contact", {"organization": {"domain": {"eq": domain}}}, order_by=[{"id": "ASC"}]
        ):
            if same_person(contact):
                found = ("contact", contact["id"])
                break
    if found is not None:
        raise ValidationFailed.single(
            "domain", "duplicate", f"{found[0]} {found[1]} is {first} {last} at {domain} already"
        )


async def convert(
    context: PluginContext, lead_id: int, deal_name: str | None = None, amount: dict[str, Any] | None = None
) -> dict[str, int | None]:
    """Turn a qualified lead into contact + organization (+ deal) as the context's caller;
    all or nothing.  The lead's conversion fields and its moved timeline are written by
    the plugin on the caller's behalf (their grants still apply)."""
    trusted = context.as_plugin(keep_permissions=True).records
    records = context.records
    async with context.db.transaction():
        lead = await records.get("lead", lead_id)
        if lead is None:
            raise ValidationFailed.single("id", "not_found", f"lead {lead_id} does not exist")
        if lead["status"] != "qualified":
            raise ValidationFailed.single(
                "id", "invalid", f"only qualified leads convert (this one is {lead['status']})"
            )
        organization_id = None
        if lead.get("domain") or lead.get("company"):
            # an organization with the lead's domain is reused, whoever owns it
            existing = (
                await context.system.first("organization", {"domain": {"eq": lead["domain"]}}, order_by=[{"id": "ASC"}])
                if lead.get("domain")
                else None
            )
            if existing is not None:
                organization_id = existing["id"]
            else:
                organization = await records.create(
                    "organization", {"name": lead.get("company") or lead["domain"], "domain": lead.get("domain")}
                )
                organization_id = organization["id"]
        contact_id = None
        if lead.get("email"):
            found = await context.system.first("contact", {"emails": {"contains": lead["email"]}})
            contact_id = found["id"] if found is not None else None
        if contact_id is None:
            contact = await records.create(
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
            )
            contact_id = contact["id"]
        deal_id = None
        if deal_name:
            deal = await records.create(
                "deal",
                {
                    "name": deal_name,
                    "amount": amount or lead.get("budget"),
                    "organization": organization_id,
                    "contact": contact_id,
                    "owner": lead.get("owner"),
                },
            )
            deal_id = deal["id"]
        timeline = {"subjectType": {"eq": "lead"}, "subjectId": {"eq": lead_id}}
        activities = [row["id"] async for row in context.system.each("activity", timeline)]
        for activity_id in activities:  # the lead's timeline becomes the contact's
            await trusted.update("activity", activity_id, {"subject_type": "contact", "subject_id": contact_id})
        await trusted.update(
            "lead",
            lead_id,
            {
                "status": "converted",
                "converted_contact": contact_id,
                "converted_organization": organization_id,
                "converted_deal": deal_id,
                "converted_at": dt.datetime.now(dt.UTC),
            },
        )
    return {"contact": contact_id, "organization": organization_id, "deal": deal_id, "activities": len(activities)}


def refuse_manual_conversion(change: Change) -> None:
    if change.values.get("status") == "converted" and change.actor.source not in ("plugin", "system"):
        raise ValidationFailed([FieldError("status", "invalid", "use convertLead to convert a lead")])
