"""Which contacts a write can move in or out of a segment.

A definition reads the contact's own fields, records it points at (its organization),
records pointing at it (its deals, tickets) and its timeline.  So a write to a contact
moves that contact; a write to a record pointing at contacts moves the contacts it
pointed at before and after; a write to a record contacts point at moves every contact
pointing at it; an activity moves the contact it is about.  Anything further away (a
deal stage renamed) is caught by ``refreshSegment`` or the next whole refresh.
"""

from __future__ import annotations

from typing import Any

from kith.plugins.marketing.segments.engine import contact_ids
from kith.sdk import Change


def _relation_id_key(column: str) -> str:
    """The filter's name for a relation's id (``organization`` -> ``organizationId``)."""
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest) + "Id"


def affected(change: Change) -> dict[str, Any] | None:
    """A contact filter for the contacts ``change`` may have moved, or None."""
    if change.entity in ("segment", "segment_membership"):
        return None  # a segment's own writes bring it up to date (``lifecycle``)
    records = [r for r in (change.before, change.after) if r]
    if change.entity == "contact":
        return contact_ids([change.record_id or records[0]["id"]])
    if change.entity == "activity":
        ids = {int(r["subject_id"]) for r in records if r.get("subject_type") == "contact" and r.get("subject_id")}
        return contact_ids(sorted(ids)) if ids else None
    context = change.context
    pointing = [name for name, target in context.relations(change.entity).items() if target == "contact"]
    ids = {int(r[name]) for r in records for name in pointing if r.get(name)}
    ors: list[dict[str, Any]] = [contact_ids(sorted(ids))] if ids else []
    if change.record_id is not None:
        ors += [
            {_relation_id_key(name): {"eq": str(change.record_id)}}
            for name, target in context.relations("contact").items()
            if target == change.entity
        ]
    if not ors:
        return None
    return ors[0] if len(ors) == 1 else {"or": ors}


def direct_contacts(change: Change) -> list[int]:
    """The contacts a write is directly about: the contact itself, an activity's subject,
    the contacts a record points at (before and after)."""
    records = [r for r in (change.before, change.after) if r]
    if change.entity == "contact":
        return [int(change.record_id or records[0]["id"])]
    if change.entity == "activity":
        return sorted(
            {int(r["subject_id"]) for r in records if r.get("subject_type") == "contact" and r.get("subject_id")}
        )
    if change.entity in ("journey_enrollment", "segment_membership"):
        return []
    pointing = [name for name, target in change.context.relations(change.entity).items() if target == "contact"]
    return sorted({int(r[name]) for r in records for name in pointing if r.get(name)})
