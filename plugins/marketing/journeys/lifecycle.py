"""A journey's own writes and what sets contacts moving: its steps and goal checked when
saved, its segment's members enrolled when it is activated, contacts joining its
segment enrolled, paused contacts queued again on resume, and the goal checked whenever
a contact changes (so a contact leaves as soon as it is met, not at its next step)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from kith.plugins.marketing.journeys import definition, engine
from kith.plugins.marketing.journeys.models import Journey, JourneyEnrollment
from kith.plugins.marketing.segments.members import members_filter
from kith.sdk import Change, PluginContext, ValidationFailed


async def check(change: Change) -> None:
    values = {**(change.before or {}), **change.values}
    steps = definition.check_steps(change.context, definition.parse(values.get("steps")))
    if values.get("status") == "active" and not steps:
        raise ValidationFailed.single("steps", "required", "an active journey needs at least one step")
    goal = json.loads(values["goal"]) if values.get("goal") else None
    if goal:
        change.context.db.check_filter("contact", goal, path="goal")


async def written(change: Change) -> None:
    """Activated: the segment's members enter; resumed: the waiting contacts go on."""
    after = change.after or {}
    before = change.before or {}
    if after.get("status") != "active" or before.get("status") == "active":
        return
    context = change.context
    if before.get("status") == "paused":
        await _requeue(context, int(after["id"]))
    if after.get("segment"):
        members = await context.system.list("contact", members_filter(int(after["segment"])), first=1000)
        await engine.enroll(context, after, [int(m["id"]) for m in members])
        while len(members) == 1000:  # larger segments enter a thousand at a time
            members = await context.system.list(
                "contact", {"and": [members_filter(int(after["segment"])), {"id": {"gt": str(members[-1]["id"])}}]},
                order_by=[{"id": "ASC"}], first=1000,
            )  # fmt: skip
            await engine.enroll(context, after, [int(m["id"]) for m in members])


async def _requeue(context: PluginContext, journey_id: int) -> None:
    rows = await JourneyEnrollment.select(JourneyEnrollment.id, JourneyEnrollment.taken).where(
        (JourneyEnrollment.journey == journey_id) & (JourneyEnrollment.status == "active")
    )
    for row in rows:
        await context.schedule(engine.STEP_JOB, key=f"{engine.STEP_JOB}:{row['id']}:{row['taken']}:resumed",
                               payload={"taken": row["taken"]}, entity="journey_enrollment",
                               record_id=int(row["id"]))  # fmt: skip


async def segment_joined(context: PluginContext, segment_id: int, contact_ids: Sequence[int]) -> None:
    """Contacts just joined a segment: active journeys starting there take them in."""
    if not contact_ids:
        return
    for journey in await Journey.select().where((Journey.segment == segment_id) & (Journey.status == "active")):
        await engine.enroll(context, journey, contact_ids)


async def contact_changed(context: PluginContext, contact_ids: Sequence[int]) -> None:
    """Active enrollments of these contacts whose journey's goal they now meet end."""
    if not contact_ids:
        return
    rows = await JourneyEnrollment.select(JourneyEnrollment.id, JourneyEnrollment.journey, JourneyEnrollment.contact,
                                          JourneyEnrollment.path, JourneyEnrollment.taken,
                                          JourneyEnrollment.waiting_for).where(
        JourneyEnrollment.contact.is_in(list(contact_ids)) & (JourneyEnrollment.status == "active")
    )  # fmt: skip
    for row in rows:
        journey = await Journey.select().where(Journey.id == row["journey"]).first()
        if journey is not None and await engine.goal_met(context, journey, int(row["contact"])):
            await engine.leave_for_goal(row)
        elif row["waiting_for"] and await engine.matches(context, int(row["contact"]), json.loads(row["waiting_for"])):
            await engine.condition_met(context, row)
