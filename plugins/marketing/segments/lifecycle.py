"""A segment's own writes: its definition checked when saved, its members brought up
to date when it changes, and the periodic refresh of definitions relative to now."""

from __future__ import annotations

import datetime as dt
import math

from kith.plugins.marketing.models import Segment, SegmentMembership
from kith.plugins.marketing.segments import definition as definitions
from kith.plugins.marketing.segments import engine
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import Change, FieldError, JobRun, PluginContext, ValidationFailed

REFRESH_JOB = "marketing.segments_refresh"


async def check(change: Change) -> None:
    """Before a segment is saved: its definition compiles (a bad field is refused by
    name), names only segments that exist, and leads to no cycle."""
    values = {**(change.before or {}), **change.values}
    if values.get("kind", "dynamic") != "dynamic":
        change.values["time_relative"] = False
        return
    definition = definitions.parse(values.get("definition"))
    change.context.db.check_filter("contact", definition, path="definition")  # raises naming the field
    change.values["time_relative"] = definitions.uses_relative_time(definition)
    named = definitions.referenced(definition)
    if change.record_id is not None and change.record_id in named:
        raise ValidationFailed([FieldError("definition", "invalid", "a segment cannot refer to itself")])
    rows = await Segment.select(Segment.id, Segment.name, Segment.definition).where(Segment.deleted_at.is_null())
    missing = named - {int(r["id"]) for r in rows}
    if missing:
        raise ValidationFailed(
            [FieldError("definition", "unknown", f"no segment with id {', '.join(map(str, sorted(missing)))}")]
        )
    proposed = [r for r in rows if int(r["id"]) != change.record_id]
    proposed.append({"id": change.record_id or 0, "name": values.get("name"), "definition": values.get("definition")})
    definitions.ordered(proposed)  # raises on a cycle


async def written(change: Change) -> None:
    """After a segment is saved or deleted: its members follow, and so do the segments
    that read its members."""
    context = change.context
    after = change.after or {}
    segment_id = int(after.get("id") or change.record_id or 0)
    if change.action == "delete":
        await SegmentMembership.delete().where(SegmentMembership.segment == segment_id)
    elif after.get("kind") == "dynamic" and (change.action != "update" or {"definition", "kind"} & set(change.changed)):
        await engine.bring_up_to_date(context, after)
    else:
        return
    for segment in await engine.dynamic_segments(context):
        if segment_id in definitions.referenced(definitions.parse(segment["definition"])):
            await engine.bring_up_to_date(context, segment)
    if after.get("time_relative"):
        await schedule_refresh(context)


async def schedule_refresh(context: PluginContext, after: dt.datetime | None = None) -> None:
    """The next whole refresh of the segments relative to now, once per period
    (the key is the period's slot, so saving many segments queues it once)."""
    period = marketing_settings(context).segment_refresh_seconds
    now = (after or dt.datetime.now(dt.UTC)).timestamp()
    slot = math.floor(now / period) + 1
    at = dt.datetime.fromtimestamp(slot * period, dt.UTC)
    await context.schedule(REFRESH_JOB, key=f"{REFRESH_JOB}:{slot}", at=at)


async def run_refresh(context: PluginContext, run: JobRun) -> None:
    """The job: bring the segments relative to now up to date, then queue the next
    run while any such segment is left."""
    await engine.refresh_all(context, only_time_relative=True)
    moving = await Segment.count().where(Segment.time_relative.eq(True) & Segment.deleted_at.is_null())
    if moving:
        await schedule_refresh(context, run.due_at)
