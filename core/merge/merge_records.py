"""Merging records of one entity into a survivor, in one transaction.

1. check the caller may (``access``), lock and read the records;
2. decide each field by its rule (``fields``, ``rules``) and write the survivor through
   the record service, as the caller;
3. move everything pointing at the others to the survivor (``references``, with
   ``collisions``), their consents (``consents``, contacts only) and their queued
   duplicate pairs (``candidates``);
4. soft-delete the others, as the caller, each marked as merged into the survivor;
5. journal all of it (``journal``) and write one audit entry for the merge.

Any refusal on the way rolls everything back: nothing is half-merged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import FieldError, ValidationFailed
from kith.core.merge import access, candidates, consents, journal, listing, references
from kith.core.merge.fields import as_input, decide, plan_fields, value_of
from kith.core.merge.journal import Journal, JournalEntry, as_json
from kith.core.merge.model import Merge
from kith.core.merge.rules import TRUSTED_SOURCE, MergeRules, check_rules
from kith.core.merge.sources import value_sources
from kith.core.records.change import SYSTEM, Actor
from kith.core.records.encoding import decode_row

if TYPE_CHECKING:
    from kith.core.entities import Entity
    from kith.core.runtime import Kith

#: how many records one merge takes at most (the survivor included)
MAX_RECORDS = 20
#: the actor ``source`` of what a merge moves (``kith.core.records.service.TRUSTED_SOURCES``)
MERGE_SOURCE = "merge"


def merge_actor(actor: Actor) -> Actor:
    """Who moves the references: the merge itself, on behalf of ``actor`` (named in the
    audit), unrestricted so that records the caller cannot see move too."""
    return Actor(name=actor.name, source=MERGE_SOURCE, user_id=actor.user_id)


def entity_of(kith: Kith, name: str) -> Entity:
    return kith.entities.named(name)


def _others(survivor_id: int, ids: Sequence[int]) -> list[int]:
    others = list(dict.fromkeys(int(i) for i in ids))
    if not others:
        raise ValidationFailed.single("ids", "required", "name at least one record to merge into the survivor")
    if survivor_id in others:
        raise ValidationFailed.single(
            "ids", "invalid", f"{survivor_id} is the survivor; it cannot be merged into itself"
        )
    if len(others) + 1 > MAX_RECORDS:
        raise ValidationFailed.single("ids", "too_many", f"a merge takes at most {MAX_RECORDS} records")
    return others


async def _load(kith: Kith, entity: Entity, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The live records, locked until the merge commits (PostgreSQL; SQLite's writer holds the file)."""
    rows = await kith.db.fetch(
        QueryString(
            f'SELECT * FROM "{entity.tablename}" t WHERE t.deleted_at IS NULL AND {{}}{kith.db.dialect.lock_rows()}',
            kith.db.dialect.in_ids("t.id", ids),
        )
    )
    records = {int(row["id"]): decode_row(entity, dict(row)) for row in rows}
    missing = [FieldError("ids", "not_found", f"there is no {entity.name} {i}") for i in ids if i not in records]
    if missing:
        raise ValidationFailed(missing)
    return [records[i] for i in ids]


async def merge_records(
    kith: Kith,
    entity: str,
    survivor_id: int,
    ids: Sequence[int],
    rules: MergeRules | None = None,
    actor: Actor = SYSTEM,
) -> Merge:
    """Merge the records ``ids`` of ``entity`` into ``survivor_id`` (see the module
    docstring); returns the merge as the journal keeps it.  ``actor.permissions`` (a
    user's) must allow updating the survivor and deleting the others; fields hidden
    from them or read-only for them keep the survivor's value."""
    declared = entity_of(kith, entity)
    survivor_id = int(survivor_id)
    others = _others(survivor_id, ids)
    rules = rules or MergeRules()
    check_rules(rules)
    viewer = actor.permissions
    fields = plan_fields(kith, declared, rules, viewer)
    mover = merge_actor(actor)
    changes = Journal()
    async with kith.db.write_transaction():
        await access.check_allowed(kith, declared, survivor_id, others, viewer)
        records = await _load(kith, declared, [survivor_id, *others])
        sources = None
        if any(f.rule == TRUSTED_SOURCE for f in fields):
            sources = await value_sources(kith, declared, [survivor_id, *others], [f.key for f in fields])
        choices, writes = decide(fields, records, survivor_id, rules, sources)
        survivor = records[0]
        if writes:
            survivor = await kith.records.update(declared.name, survivor_id, as_input(writes), actor)
        await references.move_references(kith, declared, survivor_id, others, mover, changes)
        if declared.name == "contact":
            await consents.move_consents(kith, survivor_id, others, changes)
        await candidates.mark_merged(kith, declared, [survivor_id, *others], actor.name, changes)
        for record_id in others:
            await kith.records.delete(declared.name, record_id, actor)
            changes.add(
                JournalEntry("delete", declared.tablename, record_id, declared.name, "merged_into", None, survivor_id)
            )
        merge_id = await journal.save(
            kith,
            {
                "entity": declared.name,
                "survivor_id": survivor_id,
                "merged_ids": others,
                "rules": rules.as_json(),
                "choices": [c.as_json() for c in choices],
                "survivor_before": {k: as_json(value_of(records[0], k)) for k in writes},
                "survivor_after": {k: as_json(value_of(survivor, k)) for k in writes},
                "records": {str(r["id"]): as_json(r) for r in records[1:]},
                "actor": actor.name,
                "user_id": actor.user_id,
                "created_at": journal.now(),
            },
            changes,
        )
        summary = {
            "id": merge_id,
            "survivorId": survivor_id,
            "mergedIds": others,
            "rules": rules.as_json(),
            "choices": {c.field: {"rule": c.rule, "from": c.from_id} for c in choices},
            "moved": changes.count("field"),
        }
        field_changes = {c.field: [c.before, c.value] for c in choices if c.changed}
        await journal.audit(kith, declared.name, survivor_id, "merge", actor, {"@merge": summary, **field_changes})
    return await listing.get_merge(kith, merge_id)
