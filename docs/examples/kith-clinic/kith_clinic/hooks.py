"""Everything the plugin hands Kith, and the rule it keeps on appointment writes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.sdk import (
    ActionType,
    Change,
    CustomerViewSection,
    CustomFieldSpec,
    Entity,
    GraphQLTypes,
    PersonalRecords,
    PluginContext,
    RoleDefinition,
    entity_hook,
    hookimpl,
)

from kith_clinic import automations, graphql, roles
from kith_clinic.kinds import SESSION_NOTE
from kith_clinic.models import appointment_entity
from kith_clinic.settings import ClinicSettings


@hookimpl
def kith_entities() -> list[Entity]:
    return [appointment_entity()]


@hookimpl
def kith_activity_kinds() -> list[str]:
    return [SESSION_NOTE]


@hookimpl
def kith_custom_fields() -> list[CustomFieldSpec]:
    # personal: erased with the client; hidden from therapists (roles.py)
    return [CustomFieldSpec("contact", "insurance_number", "text", label="Insurance number", personal=True)]


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return roles.roles()


@hookimpl
def kith_graphql_queries(types: GraphQLTypes) -> list[type]:
    return graphql.queries(types)


@hookimpl
def kith_automation_actions() -> list[ActionType]:
    return automations.actions()


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    return automations.rules()


# -- the appointment's end, kept on every write -----------------------------------------


def _ends_at(starts_at: dt.datetime | str, minutes: int) -> dt.datetime:
    start = dt.datetime.fromisoformat(starts_at) if isinstance(starts_at, str) else starts_at
    return start + dt.timedelta(minutes=minutes)


@entity_hook("kith_before_create", "appointment")
def book(change: Change) -> None:
    """An appointment booked without a duration lasts the practice's default."""
    values = change.values
    if values.get("duration_minutes") is None:
        values["duration_minutes"] = change.context.settings(ClinicSettings).default_duration_minutes
    values["ends_at"] = _ends_at(values["starts_at"], values["duration_minutes"])


@entity_hook("kith_before_update", "appointment")
def move(change: Change) -> None:
    """Moving or shortening an appointment moves its end."""
    if change.action != "update" or not {"starts_at", "duration_minutes"} & set(change.values):
        return
    before = change.before or {}
    starts_at = change.values.get("starts_at") or before["starts_at"]  # required: never emptied
    minutes = change.values.get("duration_minutes", before.get("duration_minutes"))
    if minutes is None:
        minutes = change.context.settings(ClinicSettings).default_duration_minutes
        change.values["duration_minutes"] = minutes
    change.values["ends_at"] = _ends_at(starts_at, minutes)


# -- the customer view: a client's next appointments ------------------------------------


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection | None:
    now = dt.datetime.now(dt.UTC).isoformat()
    upcoming = {"contactId": {"eq": contact["id"]}, "startsAt": {"gte": now}, "status": {"eq": "scheduled"}}
    # as the viewer: a therapist sees their own appointments with this client only
    rows = await context.records.list("appointment", upcoming, order_by=[{"startsAt": "ASC"}], first=5)
    if not rows:
        return None
    items = [{"id": r["id"], "startsAt": r["starts_at"].isoformat(), "therapistId": r["therapist"]} for r in rows]
    return CustomerViewSection("Next appointments", items, entity="appointment")


# -- personal data: a client's appointments are theirs ----------------------------------


@hookimpl
async def kith_personal_data(context: PluginContext, contact: dict[str, Any]) -> PersonalRecords | None:
    """Every appointment of the person, deleted ones included (they still hold their
    notes): exported in full; on erasure their notes (``personal``) are cleared and the
    person's values cut out of the rest, while the appointment itself stays, so the
    practice's counts still add up.  ``context`` acts as the system here: every one."""
    theirs = {"contactId": {"eq": contact["id"]}}
    ids = [a["id"] async for a in context.records.each("appointment", theirs, include_deleted=True)]
    return PersonalRecords(erase={"appointment": ids}) if ids else None
