"""Who may do what in the practice.

A **therapist** sees and books only their own appointments (the entity's owner is the
``therapist`` field), reads every client (a colleague's client may call them), writes
session notes on the timeline, and does not see the client's insurance number: billing
is reception's business, not the therapy's.

**Reception** books and moves every therapist's appointments and keeps the client
files, insurance number included, but never reads clinical notes: neither an
appointment's ``notes`` nor the ``session_note`` entries of the timeline.
"""

from __future__ import annotations

from kith.sdk import Grant, RoleDefinition

from kith_clinic.kinds import SESSION_NOTE

INSURANCE = "customFields.insuranceNumber"
READ = Grant(actions=["read"])

THERAPIST = RoleDefinition(
    name="therapist",
    description="Sees and books their own appointments; reads clients (without insurance numbers).",
    grants={
        "appointment": Grant(actions=["read", "create", "update"], scope="own"),
        "contact": Grant(actions=["read"], hidden=[INSURANCE]),
        # their session notes and the tasks given to them
        "activity": Grant(actions=["read", "create", "update"], scope="own"),
        "user": READ,
    },
)

RECEPTIONIST = RoleDefinition(
    name="receptionist",
    description="Books every therapist's appointments and keeps client files; never reads clinical notes.",
    grants={
        "appointment": Grant(actions=["read", "create", "update", "delete", "restore"], hidden=["notes"]),
        "contact": Grant(actions=["read", "create", "update"]),
        "activity": Grant(actions=["read", "create", "update"], filter={"kind": {"ne": SESSION_NOTE}}),
        "user": READ,
        "tag": READ,
    },
)


def roles() -> list[RoleDefinition]:
    return [THERAPIST, RECEPTIONIST]
