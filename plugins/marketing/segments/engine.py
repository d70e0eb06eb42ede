"""Keeping a segment's members equal to what its definition matches.

The work is ``context.db.keep_selection``: two set-wise statements that add the
contacts the definition matches and are not members, and remove the members that no
longer match, with no contact passing through Python.  ``within`` (a contact filter)
narrows both to some contacts, which is how a write to one contact (or to its
organization, a deal of it, an activity on its timeline) is followed without touching
the other members.  Segments that read other segments' members go after them
(``definition.ordered``).  Definitions relative to now (``withinLast``) are brought up
to date as a whole every ``segment_refresh_seconds`` (``lifecycle``), so people drop
out as time passes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from kith.plugins.marketing.models import Segment, SegmentMembership
from kith.plugins.marketing.segments import definition as definitions
from kith.sdk import PluginContext, Selected


async def dynamic_segments(context: PluginContext) -> list[dict[str, Any]]:
    """Live dynamic segments, each after the segments its definition reads."""
    rows = await Segment.select(Segment.id, Segment.name, Segment.definition).where(
        (Segment.kind == "dynamic") & Segment.deleted_at.is_null()
    )
    return definitions.ordered(rows)


async def bring_up_to_date(
    context: PluginContext, segment: Mapping[str, Any], within: Mapping[str, Any] | None = None
) -> Selected:
    """Make ``segment``'s members (among the contacts ``within`` matches, when given)
    exactly the contacts its definition matches now; members added by hand stay."""
    segment_id = int(segment["id"])
    changed = await context.db.keep_selection(
        SegmentMembership,
        fixed={"segment": segment_id},
        member="contact",
        values={"source": "rule"},
        entity="contact",
        filter_=definitions.parse(segment.get("definition")),
        within=within,
        path="definition",
    )
    if within is None:
        await Segment.update({Segment.refreshed_at: dt.datetime.now(dt.UTC)}).where(Segment.id == segment_id)
    if changed.added:  # journeys that start in this segment take the newcomers in
        from kith.plugins.marketing.journeys import lifecycle as journeys

        await journeys.segment_joined(context, segment_id, changed.added)
    return changed


async def follow_contacts(context: PluginContext, within: Mapping[str, Any]) -> None:
    """After a write that may change some contacts' answers: every dynamic segment, in
    order, brought up to date for those contacts only."""
    for segment in await dynamic_segments(context):
        await bring_up_to_date(context, segment, within)


def contact_ids(ids: Sequence[int]) -> dict[str, Any]:
    """``within`` for known contacts."""
    return {"id": {"in": [str(int(i)) for i in ids]}}


async def refresh_all(context: PluginContext, *, only_time_relative: bool = False) -> dict[str, Selected]:
    """Every dynamic segment (or those relative to now) brought up to date as a whole."""
    segments = await dynamic_segments(context)
    if only_time_relative:
        relative = Segment.time_relative.eq(True) & Segment.deleted_at.is_null()
        moving = {int(r["id"]) for r in await Segment.select(Segment.id).where(relative)}
        for segment in segments:  # in order: a segment reading a moving one moves with it
            if definitions.referenced(definitions.parse(segment["definition"])) & moving:
                moving.add(int(segment["id"]))
        segments = [s for s in segments if int(s["id"]) in moving]
    return {str(segment["name"]): await bring_up_to_date(context, segment) for segment in segments}
