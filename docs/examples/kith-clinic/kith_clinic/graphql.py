"""``upcomingAppointments``: the next appointments, as the generated ``Appointment`` type."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from kith.sdk import GraphQLTypes, read_records
from strawberry.types import Info


def queries(types: GraphQLTypes) -> list[type]:
    """Built per schema: ``types`` holds this schema's generated types (with the custom
    fields and relations of the moment)."""

    @strawberry.type
    class ClinicQueries:
        @strawberry.field(
            graphql_type=types.list_of("appointment"),
            description="Scheduled appointments from now on, soonest first; a therapist gets their own.",
        )
        async def upcoming_appointments(self, info: Info, first: int = 20) -> Any:
            now = dt.datetime.now(dt.UTC).isoformat()
            upcoming = {"startsAt": {"gte": now}, "status": {"eq": "scheduled"}}
            # as the caller: their scope (a therapist's own) and hidden fields apply
            return await read_records(info, "appointment", upcoming, [{"startsAt": "ASC"}], first)

    return [ClinicQueries]
