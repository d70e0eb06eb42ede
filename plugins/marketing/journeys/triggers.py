"""Ways into a journey besides its segment: by hand (``enrollInJourney``) and from any
automation rule (the action ``enroll_in_journey``), so every event the automation engine
knows (a form posted, a deal won, a ticket solved, a date reached by a schedule rule)
can start one, without the journey engine knowing events itself."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kith.plugins.marketing.journeys import engine
from kith.sdk import ActionContext, FieldError, Params, PluginContext, ValidationFailed


async def _journey(context: PluginContext, name_or_id: str, field: str) -> dict[str, Any]:
    found = None
    if name_or_id.isdigit():
        found = await context.records.get("journey", int(name_or_id))
    if found is None:
        found = await context.records.first("journey", {"name": {"eq": name_or_id}})
    if found is None:
        raise ValidationFailed.single(field, "not_found", f"no journey {name_or_id!r}")
    return dict(found)


async def enroll_by_hand(context: PluginContext, journey_id: int, contact_ids: Sequence[int]) -> int:
    """Put contacts the caller may read on an active journey; returns how many entered
    (those already on it, or through it with no re-entry, are left)."""
    journey = await _journey(context, str(journey_id), "journeyId")
    await context.require("journey", "update", journey_id)
    if journey["status"] != "active":
        raise ValidationFailed.single("journeyId", "invalid", "only an active journey takes contacts in")
    wanted = sorted({int(i) for i in contact_ids})
    visible = await context.records.list("contact", {"id": {"in": [str(i) for i in wanted]}}, first=len(wanted) or 1)
    missing = sorted(set(wanted) - {int(c["id"]) for c in visible})
    if missing:
        raise ValidationFailed.single("contactIds", "not_found", f"no contacts with ids {missing}")
    return await engine.enroll(context, journey, wanted)


class EnrollInJourney(Params):
    #: the journey, by name (or id)
    journey: str


async def run_enroll(ctx: ActionContext, params: EnrollInJourney) -> dict[str, Any]:
    """The rule's contact (the record itself, or a record's ``contact``) enters."""
    record = ctx.record or {}
    contact_id = record.get("id") if ctx.entity and ctx.entity.name == "contact" else record.get("contact")
    if not contact_id:
        return {"entered": 0, "reason": "no contact on this record"}
    journey = await _journey(ctx.context.as_system(), await ctx.render(params.journey), "journey")
    entered = await engine.enroll(ctx.context.as_system(), journey, [int(contact_id)])
    return {"journey": journey["name"], "contact": int(contact_id), "entered": entered}


def describe_enroll(ctx: ActionContext, params: EnrollInJourney) -> str:
    return f"put the contact on the journey {params.journey!r}"


def check_enroll(context: PluginContext, entity: Any, params: EnrollInJourney) -> list[FieldError]:
    """When the rule is saved: its records have a contact (the journey is found when it
    runs; one missing then fails the run, named)."""
    name = str(getattr(entity, "name", entity))
    if name != "contact" and "contact" not in context.relations(name).values():
        return [FieldError("journey", "invalid", f"a {name} has no contact to put on a journey")]
    return []
