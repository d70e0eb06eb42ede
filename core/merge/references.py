"""Everything that points at the merged-away records, found from the entity declarations.

Three kinds of pointer, in every entity of the core and of every enabled plugin:

- a relation column whose target is the merged entity (``deal.contact``,
  ``ticket.requester``, ``lead.converted_contact``);
- a custom relation field whose target is the merged entity (``customFields.referrer``);
- the timeline: a record of an entity with an ``attachment`` (an activity's
  ``subject_type``/``subject_id``) about one of the merged records.

Each live record found is moved to the survivor through ``RecordService.write_many``
(validation, hooks, audit and events as for any write), acting as the merge
(``source="merge"``) rather than as the merging user: the merge moves records the user
may not see as well, or they would be left on a deleted record.  Deleted records keep
pointing where they did.  The merged records themselves are left alone (a
merged-away contact's own ``referred_by``): they are the merge's subject, not its
references.  A move that would give the survivor a second row where a unique key
allows one is resolved by ``collisions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.entities import Entity
from kith.core.merge import collisions
from kith.core.merge.fields import as_input, value_of
from kith.core.merge.journal import Journal, JournalEntry, as_json
from kith.core.records.change import Actor
from kith.core.records.encoding import decode_row
from kith.core.records.field_names import CUSTOM
from kith.core.records.service import RecordWrite

if TYPE_CHECKING:
    from kith.core.runtime import Kith


@dataclass(frozen=True)
class Reference:
    """A column of ``entity`` that can point at a record of the merged entity."""

    entity: Entity
    key: str  # the column, or ``custom.<name>``
    type_column: str | None = None  # for a timeline attachment: the column naming the entity

    def values(self, target: Entity, survivor_id: int) -> dict[str, Any]:
        """What the record service writes to point a row at the survivor (a timeline
        item names its subject's entity too: the two columns are checked together)."""
        if self.type_column is not None:
            return {self.type_column: target.name, self.key: survivor_id}
        return as_input({self.key: survivor_id})


def references_to(kith: Kith, target: Entity) -> list[Reference]:
    """Every column of every entity that can point at a ``target`` record."""
    found: list[Reference] = []
    for entity in kith.entities:
        for spec in entity.relation_fields():
            if spec.target == target.name:
                found.append(Reference(entity, spec.name))
        if entity.customizable:
            for definition in kith.custom_fields.for_entity(entity.name):
                if definition.type == "relation" and definition.target == target.name:
                    found.append(Reference(entity, CUSTOM + definition.name))
        if target.timeline and entity.attachment is not None:
            type_column, id_column = entity.attachment
            found.append(Reference(entity, id_column, type_column))
    return found


async def pointing_at(kith: Kith, reference: Reference, target: Entity, ids: Sequence[int]) -> list[dict[str, Any]]:
    """The live records of ``reference.entity`` pointing at one of ``ids``, by id."""
    dialect = kith.db.dialect
    if reference.key.startswith(CUSTOM):
        column = dialect.json_value("t.custom", (reference.key.removeprefix(CUSTOM),), "int")
    else:
        column = f't."{reference.key}"'
    parts = [dialect.in_ids(column, ids), QueryString("t.deleted_at IS NULL")]
    if reference.type_column is not None:
        parts.append(QueryString(f't."{reference.type_column}" = {{}}', target.name))
    where = QueryString(" AND ".join("{}" for _ in parts), *parts)
    rows = await kith.db.fetch(
        QueryString(f'SELECT t.* FROM "{reference.entity.tablename}" t WHERE {{}} ORDER BY t.id', where)
    )
    return [decode_row(reference.entity, dict(row)) for row in rows]


async def move_references(
    kith: Kith, target: Entity, survivor_id: int, losers: Sequence[int], actor: Actor, journal: Journal
) -> int:
    """Point everything that points at ``losers`` at the survivor; returns how many records moved."""
    merged = {survivor_id, *losers}
    writes: list[RecordWrite] = []
    planned: list[tuple[Reference, dict[str, Any]]] = []
    for reference in references_to(kith, target):
        keys = await collisions.keys_for(kith, reference)
        # the survivor's own rows matter only where a unique key could collide
        found = await pointing_at(kith, reference, target, [survivor_id, *losers] if keys else list(losers))
        same = reference.entity.name == target.name
        rows = [row for row in found if not (same and int(row["id"]) in merged)]
        movers = await collisions.resolve(kith, reference, keys, survivor_id, rows, actor, journal)
        for row in movers:
            writes.append(
                RecordWrite(reference.entity.name, reference.values(target, survivor_id), actor, int(row["id"]))
            )
            planned.append((reference, row))
    written = await kith.records.write_many(writes)
    for (reference, row), record in zip(planned, written, strict=True):
        journal.add(
            JournalEntry(
                "field",
                reference.entity.tablename,
                int(row["id"]),
                reference.entity.name,
                reference.key,
                as_json(value_of(row, reference.key)),
                as_json(value_of(record, reference.key)),
            )
        )
    return len(writes)
