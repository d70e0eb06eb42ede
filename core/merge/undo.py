"""Undoing a merge, once, from its journal, in one transaction.

The merged-away records are restored (they were only soft-deleted, so they come back
as they were), then every journaled change is reverted, newest first: references
pointed back, rows deleted to keep a unique key restored, consents and duplicate pairs
put back, and the survivor's fields set to what they were before the merge.  A change
is reverted only where the row still holds what the merge wrote: a field changed since
(a deal moved to another contact, a title corrected on the survivor) keeps its new
value and is reported as a conflict, with the value the merge left and the one it
holds now, because that later change was someone's decision and the merge's was not.

Everything is written through the record service (the survivor's fields and the
restores as the caller, the references as the merge), so undo is audited like any
change; what the write path always sets differs from before the merge: each record
written has a higher ``version`` and a new ``updated_at``.  Versions only grow, so a
client holding a version from before the merge cannot overwrite the undone record
unknowingly, and ``updated_at`` tells when the record last changed: the undo.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import NotFound, ValidationFailed
from kith.core.merge import access, core_rows, journal, listing
from kith.core.merge.fields import as_input, value_of
from kith.core.merge.journal import MERGES, JournalEntry, as_json
from kith.core.merge.merge_records import entity_of, merge_actor
from kith.core.merge.model import Conflict, Merge
from kith.core.records.change import SYSTEM, Actor
from kith.core.records.encoding import decode_row, dumps
from kith.core.records.field_names import client_name
from kith.core.records.service import RecordWrite

if TYPE_CHECKING:
    from kith.core.entities import Entity
    from kith.core.runtime import Kith

#: the journal's mark on a merged-away record (restored first, not reverted as a change)
MERGED_INTO = "merged_into"


async def undo_merge(kith: Kith, merge_id: int, actor: Actor = SYSTEM) -> Merge:
    """Undo merge ``merge_id`` (see the module docstring); returns it, undone, with its
    conflicts.  A merge is undone once: a second undo is refused."""
    viewer = actor.permissions
    merge = await listing.get_merge(kith, merge_id, viewer=viewer)  # not found unless they may read it
    entity = entity_of(kith, merge.entity)
    async with kith.db.write_transaction():
        claimed = await kith.db.fetch_one(
            QueryString(
                f"UPDATE {MERGES} SET undone_at = {{}}, undone_by = {{}} WHERE id = {{}} AND undone_at IS NULL "
                "RETURNING id",
                journal.now(),
                actor.name,
                merge_id,
            )
        )
        if claimed is None:
            raise ValidationFailed.single(
                "id", "already_undone", f"merge {merge_id} was undone already (by {merge.undone_by}); undo works once"
            )
        await _check_survivor(kith, entity, merge)
        deleted = await _still_deleted(kith, entity, merge.merged_ids)
        await access.check_allowed(kith, entity, merge.survivor_id, deleted, viewer, undoing=True)
        for record_id in deleted:
            await kith.records.restore(entity.name, record_id, actor)
        changes = [e for e in reversed(await journal.entries(kith, merge_id)) if e.column != MERGED_INTO]
        conflicts = await _revert(kith, changes, merge_actor(actor))
        conflicts += await _restore_survivor(kith, entity, merge_id, actor)
        await kith.db.fetch(
            QueryString(
                f"UPDATE {MERGES} SET conflicts = {{}} WHERE id = {{}}",
                dumps([c.as_json() for c in conflicts]),
                merge_id,
            )
        )
        summary = {
            "id": merge_id,
            "undone": True,
            "restoredIds": list(merge.merged_ids),
            "conflicts": [{"entity": c.entity, "recordId": c.record_id, "field": c.field} for c in conflicts],
        }
        await journal.audit(kith, entity.name, merge.survivor_id, "unmerge", actor, {"@merge": summary})
    return await listing.get_merge(kith, merge_id)


async def _check_survivor(kith: Kith, entity: Entity, merge: Merge) -> None:
    try:
        await kith.records.get(entity.name, merge.survivor_id)
    except NotFound:
        raise ValidationFailed.single(
            "id",
            "survivor_deleted",
            f"the survivor, {entity.name} {merge.survivor_id}, was deleted since the merge "
            "(or merged into another record): restore it, or undo that merge, first",
        ) from None


async def _still_deleted(kith: Kith, entity: Entity, ids: Sequence[int]) -> list[int]:
    """Which merged-away records are still deleted (one restored by hand stays as it is)."""
    rows = await kith.db.fetch(
        QueryString(
            f'SELECT t.id FROM "{entity.tablename}" t WHERE t.deleted_at IS NOT NULL AND {{}}',
            kith.db.dialect.in_ids("t.id", ids),
        )
    )
    found = {int(row["id"]) for row in rows}
    return [i for i in ids if i in found]


async def _revert(kith: Kith, changes: Sequence[JournalEntry], mover: Actor) -> list[Conflict]:
    """Revert each change that still holds; the rest are conflicts."""
    conflicts: list[Conflict] = []
    current = await _current_rows(kith, [c for c in changes if c.kind in ("field", "delete")])
    writes: dict[tuple[str, int], dict[str, Any]] = defaultdict(dict)
    for change in changes:
        if change.kind == "row":
            reverted, now = await core_rows.revert(kith, change)
            if not reverted:
                name = change.table.removeprefix("kith_")
                conflicts.append(Conflict(name, change.row_id, _camel(str(change.column)), change.new, now))
            continue
        assert change.entity is not None
        entity = kith.entity(change.entity)
        row = current.get((change.entity, change.row_id))
        if change.kind == "delete":
            if row is not None and row["deleted_at"] is not None:
                await kith.records.restore(entity.name, change.row_id, mover)
            continue
        field = client_name(entity, str(change.column), kith.custom_fields.for_entity(entity.name))
        if row is None or row["deleted_at"] is not None:
            conflicts.append(Conflict(entity.name, change.row_id, field, change.new, None, "deleted"))
            continue
        now_value = as_json(value_of(row, str(change.column)))
        if now_value != change.new:
            conflicts.append(Conflict(entity.name, change.row_id, field, change.new, now_value))
            continue
        values = writes[(entity.name, change.row_id)]
        values[str(change.column)] = change.old
        if entity.attachment is not None and change.column == entity.attachment[1]:
            values[entity.attachment[0]] = row[entity.attachment[0]]  # checked together with the id
    await kith.records.write_many(
        [RecordWrite(name, as_input(values), mover, row_id) for (name, row_id), values in writes.items()]
    )
    return conflicts


async def _current_rows(kith: Kith, changes: Sequence[JournalEntry]) -> dict[tuple[str, int], dict[str, Any]]:
    """The rows the changes touched, as stored now (deleted ones included), by (entity, id)."""
    ids: dict[str, set[int]] = defaultdict(set)
    for change in changes:
        if change.entity in kith.entities:
            ids[str(change.entity)].add(change.row_id)
    out: dict[tuple[str, int], dict[str, Any]] = {}
    for name, wanted in ids.items():
        entity = kith.entity(name)
        rows = await kith.db.fetch(
            QueryString(
                f'SELECT * FROM "{entity.tablename}" t WHERE {{}}', kith.db.dialect.in_ids("t.id", sorted(wanted))
            )
        )
        for row in rows:
            out[(name, int(row["id"]))] = decode_row(entity, dict(row))
    return out


async def _restore_survivor(kith: Kith, entity: Entity, merge_id: int, actor: Actor) -> list[Conflict]:
    """The survivor's fields back to their values before the merge, except those changed since."""
    row = await kith.db.fetch_one(
        QueryString(f"SELECT survivor_id, survivor_before, survivor_after FROM {MERGES} WHERE id = {{}}", merge_id)
    )
    assert row is not None
    before, after = (journal.parse(row[name]) or {} for name in ("survivor_before", "survivor_after"))
    survivor_id = int(row["survivor_id"])
    survivor = await kith.records.get(entity.name, survivor_id)
    custom = kith.custom_fields.for_entity(entity.name)
    conflicts: list[Conflict] = []
    back: dict[str, Any] = {}
    for key, old in before.items():
        now_value = as_json(value_of(survivor, key))
        if now_value == after.get(key):
            back[key] = old
        else:
            conflicts.append(
                Conflict(entity.name, survivor_id, client_name(entity, key, custom), after.get(key), now_value)
            )
    if back:
        await kith.records.update(entity.name, survivor_id, as_input(back), actor)
    return conflicts


def _camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)
