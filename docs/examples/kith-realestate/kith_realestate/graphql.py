"""The plugin's own GraphQL: ``scheduleViewing``.  Properties and listings need no code:
their queries and create/update/delete mutations are generated from the entities."""

from __future__ import annotations

import datetime as dt

import strawberry
from kith.sdk import UserError, ValidationFailed, context_from
from strawberry.types import Info

from kith_realestate.viewings import schedule_viewing


@strawberry.type(description="A booked viewing: its activity on each timeline.")
class ScheduleViewingPayload:
    contact_activity_id: strawberry.ID | None = strawberry.field(description="The viewing on the buyer's timeline.")
    listing_activity_id: strawberry.ID | None = strawberry.field(description="The viewing on the listing's timeline.")
    errors: list[UserError]


@strawberry.type
class RealEstateMutations:
    @strawberry.mutation(
        description="Book a viewing of a listing (active or under offer) by a buyer: a `viewing` activity on "
        "the buyer's timeline and one on the listing's, both or neither."
    )
    async def schedule_viewing(
        self,
        info: Info,
        listing_id: strawberry.ID,
        contact_id: strawberry.ID,
        at: dt.datetime,
        note: str | None = None,
    ) -> ScheduleViewingPayload:
        try:
            # as the caller: what they may read and write, audited as theirs
            viewing = await schedule_viewing(context_from(info), listing_id, contact_id, at, note)
        except ValidationFailed as exc:
            errors = [UserError.from_error(e) for e in exc.errors]
            return ScheduleViewingPayload(contact_activity_id=None, listing_activity_id=None, errors=errors)
        return ScheduleViewingPayload(
            contact_activity_id=strawberry.ID(str(viewing.on_contact["id"])),
            listing_activity_id=strawberry.ID(str(viewing.on_listing["id"])),
            errors=[],
        )
