"""The rules the clinic ships, and the action behind the nightly no-show tag.

Both are ordinary rules once the plugin is enabled: admins see them in
``kith automations list``, may change them (the due date of the task, the hour of the
tagger, how many missed appointments make a risk) or disable them.
"""

from __future__ import annotations

from typing import Any

from kith.sdk import ActionContext, ActionType, Params
from pydantic import Field

NO_SHOW_RISK = "no-show-risk"

#: a client missed an appointment: their therapist calls them the next day
NO_SHOW_FOLLOW_UP: dict[str, Any] = {
    "name": "clinic.no-show-follow-up",
    "description": "When an appointment is marked no-show, give its therapist a task to call the client.",
    "enabled": True,
    "trigger": {"event": "appointment.updated", "changed": "status", "to": "no_show"},
    "actions": [
        {
            "create_record": {
                "entity": "activity",
                "values": {
                    "kind": "task",
                    "subject": "Missed appointment: call to rebook",
                    "subjectType": "contact",
                    "subjectId": "{{ record.contact }}",
                    "assigneeId": "{{ record.therapist }}",
                    "dueAt": "{{ in_days(1) }}",
                    "status": "open",
                },
            }
        }
    ],
}

#: every night, tag the clients who missed two appointments or more.  The conditions
#: (the filter language) narrow the run to clients with any no-show; how many is
#: counted by the action, as the filter language has no count of related records
NO_SHOW_TAGGER: dict[str, Any] = {
    "name": "clinic.tag-no-show-risk",
    "description": "Every night, tag clients with two no-shows or more as no-show-risk.",
    "enabled": True,
    "trigger": {"schedule": "0 2 * * *", "entity": "contact"},
    "conditions": {"appointments": {"some": {"status": {"eq": "no_show"}}}},
    "actions": [{"clinic.tag_no_show_risk": {"at_least": 2, "tag": NO_SHOW_RISK}}],
}


def rules() -> list[dict[str, Any]]:
    return [NO_SHOW_FOLLOW_UP, NO_SHOW_TAGGER]


class NoShowRisk(Params):
    at_least: int = Field(2, ge=1, description="How many no-shows make a client a risk.")
    tag: str = Field(NO_SHOW_RISK, min_length=1, max_length=80)


async def tag_no_show_risk(ctx: ActionContext, params: NoShowRisk) -> dict[str, Any]:
    """Tag the contact the rule runs on when they missed ``at_least`` appointments."""
    records = ctx.context.records  # as the rule's actor: the system, or its run_as user
    contact = await records.get("contact", (ctx.record or {})["id"])  # as it is now
    if contact is None:
        return {"tagged": False}
    missed = await records.count("appointment", {"contactId": {"eq": contact["id"]}, "status": {"eq": "no_show"}})
    if missed < params.at_least or params.tag in contact["tags"]:
        return {"no_shows": missed, "tagged": False}
    await records.update("contact", contact["id"], {"tags": [*contact["tags"], params.tag]})
    return {"no_shows": missed, "tagged": True}


def actions() -> list[ActionType]:
    return [
        ActionType(
            "clinic.tag_no_show_risk",
            NoShowRisk,
            tag_no_show_risk,
            lambda ctx, p: f"tag contact {(ctx.record or {}).get('id')} {p.tag!r} if it has {p.at_least}+ no-shows",
            "Tag a contact who missed a number of appointments.",
        )
    ]
