"""Scheduling a viewing: one ``viewing`` activity on the buyer's timeline and one on the
listing's, written together or not at all.

Both timelines carry it because both people look there: the buyer's agent opens the
buyer, the listing's agent opens the listing.  They are written through
``kith.records`` (validation, hooks, audit and events apply) inside one
``write_transaction``, so a refusal of the second — by a role or another plugin's
hook — leaves no half-booked viewing behind.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from kith.sdk import Actor, FieldError, Kith, NotFound, ValidationFailed

from kith_realestate.models import VIEWABLE

KIND = "viewing"


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


async def _readable(kith: Kith, entity: str, record_id: int, field: str, permissions: Any) -> dict[str, Any]:
    """The record, if it exists and the caller may read it (else "not found" on ``field``)."""
    try:
        if permissions is not None:
            await permissions.check_record(kith.entity(entity), record_id, "read")
        return await kith.records.get(entity, record_id)
    except NotFound:
        raise ValidationFailed.single(field, "not_found", f"{entity} {record_id} does not exist") from None


def _name(contact: dict[str, Any]) -> str:
    return " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p) or f"contact {contact['id']}"


async def _address(kith: Kith, listing: dict[str, Any]) -> str:
    if listing["property"] is None:  # its property was purged
        return f"listing {listing['id']}"
    place = await kith.records.get("property", listing["property"], include_deleted=True)
    return f"{place['address']}, {place['city']}"


async def schedule_viewing(
    kith: Kith, listing_id: Any, contact_id: Any, at: dt.datetime, actor: Actor, note: str | None = None
) -> Viewing:
    """Book a viewing of a listing by a buyer at ``at``; raises ``ValidationFailed``."""
    errors: list[FieldError] = []
    if at.tzinfo is None:
        errors.append(FieldError("at", "invalid", "must include a time zone, like 2026-05-01T10:00:00Z"))
    elif at <= dt.datetime.now(dt.UTC):
        errors.append(FieldError("at", "invalid", "must be in the future"))
    if errors:
        raise ValidationFailed(errors)
    permissions = actor.permissions
    listing = await _readable(kith, "listing", _id(listing_id, "listingId"), "listingId", permissions)
    if listing["status"] not in VIEWABLE:
        raise ValidationFailed.single(
            "listingId", "invalid", f"the listing is {listing['status']}; only active or under-offer listings are shown"
        )
    contact = await _readable(kith, "contact", _id(contact_id, "contactId"), "contactId", permissions)
    where = await _address(kith, listing)
    common = {"kind": KIND, "status": "open", "occurred_at": at, "due_at": at, "body": note}
    async with kith.db.write_transaction():
        on_contact = await kith.records.create(
            "activity",
            {**common, "subject": f"Viewing: {where}"[:300], "subject_type": "contact", "subject_id": contact["id"]},
            actor,
        )
        on_listing = await kith.records.create(
            "activity",
            {
                **common,
                "subject": f"Viewing with {_name(contact)}"[:300],
                "subject_type": "listing",
                "subject_id": listing["id"],
            },
            actor,
        )
    return Viewing(on_contact, on_listing)
