"""A plugin's own GraphQL field returns the generated entity types, masked.

A clinic plugin's ``upcomingAppointments`` returns ``[Appointment!]!`` — the type Kith
generates for its entity, with relations, custom fields (including ones added after
start) and the caller's visibility — built from the ``types`` its GraphQL hook gets.
"""

from __future__ import annotations

from typing import Any

import strawberry
from piccolo.columns import ForeignKey, Timestamptz, Varchar
from piccolo.table import Table
from strawberry.types import Info

from kith.sdk import (
    Contact,
    Entity,
    Grant,
    GraphQLTypes,
    RecordColumns,
    RoleDefinition,
    User,
    initial_migration,
    read_records,
)
from kith.sdk.testing import GraphQLClient, make_contact, make_user, throwaway_plugin


class Appointment(RecordColumns, Table, tablename="clinic_appointment"):
    contact = ForeignKey(references=Contact)
    owner = ForeignKey(references=User, null=True, default=None)
    starts_at = Timestamptz()
    room = Varchar(length=20, null=True, default=None)


def kith_entities() -> list[Entity]:
    return [Entity("appointment", Appointment, required=("contact", "starts_at"))]


def kith_roles() -> list[RoleDefinition]:
    own = Grant(actions=["read"], scope="own", hidden=["room"])
    return [RoleDefinition(name="sales_rep", grants={"appointment": own})]


def kith_graphql_queries(types: GraphQLTypes) -> list[type]:
    @strawberry.type
    class ClinicQueries:
        @strawberry.field(graphql_type=types.list_of("appointment"), description="Appointments from now on.")
        async def upcoming_appointments(self, info: Info, first: int = 20) -> Any:
            return await read_records(
                info, "appointment", {"startsAt": {"gte": "2020-01-01T00:00:00Z"}}, [{"startsAt": "ASC"}], first
            )

    return [ClinicQueries]


PLUGIN = throwaway_plugin(
    "clinic",
    kith_entities,
    kith_roles,
    kith_graphql_queries,
    tables=[Appointment],
    migrations=[initial_migration(Appointment)],
)
QUERY = "{ upcomingAppointments { startsAt room contact { firstName } customFields { reason } } }"


async def test_a_plugin_field_returns_generated_records_with_the_callers_visibility(make_kith):
    kith = await make_kith(plugins=[PLUGIN], enable=["clinic"])
    await kith.custom_fields.add("appointment", "reason", "text")  # after start: the schema is rebuilt
    theresa = await make_user(kith, email="theresa@example.com", roles=["sales_rep"])
    ann = await make_contact(kith, first_name="Ann", owner=theresa["id"])
    bob = await make_contact(kith, first_name="Bob")
    await kith.records.create(
        "appointment",
        {
            "contact": ann["id"],
            "owner": theresa["id"],
            "starts_at": "2030-01-02T09:00:00Z",
            "room": "2B",
            "custom": {"reason": "check-up"},
        },
    )
    await kith.records.create("appointment", {"contact": bob["id"], "starts_at": "2030-01-01T09:00:00Z", "room": "1A"})

    everything = await GraphQLClient(kith).query(QUERY)
    assert everything["upcomingAppointments"] == [
        {
            "startsAt": "2030-01-01T09:00:00+00:00",
            "room": "1A",
            "contact": {"firstName": "Bob"},
            "customFields": {"reason": None},
        },
        {
            "startsAt": "2030-01-02T09:00:00+00:00",
            "room": "2B",
            "contact": {"firstName": "Ann"},
            "customFields": {"reason": "check-up"},
        },
    ]
    as_theresa = await GraphQLClient.as_user(kith, theresa["id"])
    assert (await as_theresa.query(QUERY))["upcomingAppointments"] == [  # her own, the room hidden
        {
            "startsAt": "2030-01-02T09:00:00+00:00",
            "room": None,
            "contact": {"firstName": "Ann"},
            "customFields": {"reason": "check-up"},
        },
    ]
    stranger = await make_user(kith, email="nobody@example.com")
    refused = await (await GraphQLClient.as_user(kith, stranger["id"])).execute(QUERY)
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["errors"][0]["code"] == "forbidden"
