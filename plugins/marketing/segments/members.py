"""Reading a segment as a person sees it, and changing a static list's members.

Counts and previews are read through ``context.records`` as the caller, so a marketer
restricted to some contacts counts only those (the stored members are everyone's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kith.plugins.marketing.models import Segment, SegmentMembership
from kith.plugins.marketing.segments import definition as definitions
from kith.plugins.marketing.segments import engine
from kith.plugins.marketing.segments.engine import bring_up_to_date
from kith.sdk import PluginContext, ValidationFailed


def members_filter(segment_id: int) -> dict[str, Any]:
    """The contact filter "is a member of this segment" (what a definition writes to
    read another segment's members)."""
    return {definitions.MEMBERSHIPS: {"some": {"segmentId": {"eq": str(segment_id)}}}}


@dataclass(frozen=True)
class Preview:
    count: int
    contacts: list[dict[str, Any]]


async def segment(context: PluginContext, segment_id: int) -> dict[str, Any]:
    """The segment, read as the caller; missing or not theirs: an error on ``segmentId``."""
    found = await context.records.get("segment", segment_id)
    if found is None:
        raise ValidationFailed.single("segmentId", "not_found", f"no segment with id {segment_id}")
    return found


async def preview(context: PluginContext, definition: Mapping[str, Any], first: int = 20) -> Preview:
    """What a definition matches now, as the caller sees it: how many, and the first
    few by name.  A bad field is refused naming it under ``definition``."""
    context.db.check_filter("contact", definition, path="definition")  # the field-named error, before reading
    order = [{"lastName": "ASC"}, {"firstName": "ASC"}]
    contacts = await context.records.list("contact", dict(definition), order_by=order, first=first) if first > 0 else []
    return Preview(await context.records.count("contact", dict(definition)), list(contacts))


async def members(context: PluginContext, segment_id: int, first: int = 20) -> Preview:
    """The segment's current members, as the caller sees them."""
    await segment(context, segment_id)
    return await preview(context, members_filter(segment_id), first)


async def refresh(context: PluginContext, segment_id: int) -> dict[str, Any]:
    """Bring a dynamic segment up to date now (after edits the writes do not reach)."""
    found = await segment(context, segment_id)
    await context.require("segment", "update", segment_id)
    if found.get("kind") == "dynamic":
        await bring_up_to_date(context, found)
    return found


async def change_list(context: PluginContext, segment_id: int, contact_ids: Sequence[int], *, add: bool) -> int:
    """Add contacts to a static segment (or remove them): only contacts the caller may
    read; returns how many memberships changed."""
    found = await segment(context, segment_id)
    await context.require("segment", "update", segment_id)
    if found.get("kind") != "static":
        raise ValidationFailed.single("segmentId", "invalid", "only a static segment's members are added by hand")
    wanted = sorted({int(i) for i in contact_ids})
    if not wanted:
        return 0
    visible = await context.records.list("contact", engine.contact_ids(wanted), first=len(wanted))
    missing = sorted(set(wanted) - {int(c["id"]) for c in visible})
    if missing:
        raise ValidationFailed.single("contactIds", "not_found", f"no contacts with ids {missing}")
    ours = (SegmentMembership.segment == segment_id) & SegmentMembership.contact.is_in(wanted)
    async with context.db.transaction():
        present = {int(r["contact"]) for r in await SegmentMembership.select(SegmentMembership.contact).where(ours)}
        now = dt.datetime.now(dt.UTC)
        if add:
            new = [i for i in wanted if i not in present]
            if new:
                await SegmentMembership.insert(
                    *(
                        SegmentMembership(
                            segment=segment_id, contact=i, source="manual", created_at=now, updated_at=now
                        )
                        for i in new
                    )
                )
            changed = len(new)
        else:
            await SegmentMembership.delete().where(ours)
            changed = len(present)
        await Segment.update({Segment.refreshed_at: now}).where(Segment.id == segment_id)
        await engine.follow_contacts(context, engine.contact_ids(wanted))  # segments reading this list
    return changed
