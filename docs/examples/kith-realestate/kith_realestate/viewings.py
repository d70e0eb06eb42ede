"""Scheduling a viewing: one ``viewing`` activity on the buyer's timeline and one on the
listing's, written together or not at all.

Both timelines carry it because both people look there: the buyer's agent opens the
buyer, the listing's agent opens the listing.  They are written through
``context.records`` as the caller (validation, their roles, hooks, audit and events
apply) inside one ``context.db.transaction()``, so a refusal of the second — by a role
or another plugin's hook — leaves no half-booked viewing behind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kith.sdk import FieldError, PluginContext, ValidationFailed

from kith_realestate.models import VIEWABLE, Property

KIND = "viewing"
SUBJECT_LIMIT = 300  # activity.subject is a Varchar(300)


@dataclass(frozen=True)
class Viewing:
    """The two activities of one viewing."""

    on_contact: dict[str, Any]
    on_listing: dict[str, Any]


def _id(value: Any, field: str) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = 0
    if number <= 0:
        raise ValidationFailed.single(field, "invalid", "must be the id of a record")
    return number


async def _readable(context: PluginContext, entity: str, record_id: int, field: str) -> dict[str, Any]:
    """The record, if it exists and the caller may read it (else "not found" on ``field``:
    a record out of their sight is one they cannot tell exists)."""
    record = await context.records.get(entity, record_id)
    if record is None:
        raise ValidationFailed.single(field, "not_found", f"{entity} {record_id} does not exist")
    return record


def _name(contact: dict[str, Any]) -> str:
    return " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p) or f"contact {contact['id']}"


async def _address(listing: dict[str, Any]) -> str:
    """Where the viewing is: the listing's property, read from the plugin's own table
    with Piccolo, so a property deleted since (the listing still names it) keeps its
    address; ``listing N`` once it was purged."""
    if listing["property"] is not None:
        place = await Property.select(Property.address, Property.city).where(Property.id == listing["property"]).first()
        if place is not None:
            return f"{place['address']}, {place['city']}"
    return f"listing {listing['id']}"


async def schedule_viewing(
    context: PluginContext, listing_id: Any, contact_id: Any, at: dt.datetime, note: str | None = None
) -> Viewing:
    """Book a viewing of a listing by a buyer at ``at``, as ``context``'s actor (the
    caller of ``scheduleViewing``); raises ``ValidationFailed``."""
    errors: list[FieldError] = []
    if at.tzinfo is None:
        errors.append(FieldError("at", "invalid", "must include a time zone, like 2026-05-01T10:00:00Z"))
    elif at <= dt.datetime.now(dt.UTC):
        errors.append(FieldError("at", "invalid", "must be in the future"))
    if errors:
        raise ValidationFailed(errors)
    listing = await _readable(context, "listing", _id(listing_id, "listingId"), "listingId")
    if listing["status"] not in VIEWABLE:
        raise ValidationFailed.single(
            "listingId", "invalid", f"the listing is {listing['status']}; only active or under-offer listings are shown"
        )
    contact = await _readable(context, "contact", _id(contact_id, "contactId"), "contactId")
    where = await _address(listing)
    common = {"kind": KIND, "status": "open", "occurred_at": at, "due_at": at, "body": note}
    async with context.db.transaction():
        on_contact = await context.records.create(
            "activity",
            {
                **common,
                "subject": f"Viewing: {where}"[:SUBJECT_LIMIT],
                "subject_type": "contact",
                "subject_id": contact["id"],
            },
        )
        on_listing = await context.records.create(
            "activity",
            {
                **common,
                "subject": f"Viewing with {_name(contact)}"[:SUBJECT_LIMIT],
                "subject_type": "listing",
                "subject_id": listing["id"],
            },
        )
    return Viewing(on_contact, on_listing)
