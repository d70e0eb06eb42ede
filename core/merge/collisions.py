"""Moves that would break a unique key: the most recent decision wins.

A contact is in a segment once (``segment`` + ``contact`` unique), subscribed to a topic
by a channel once (``contact`` + ``topic`` + ``channel``).  When the survivor and a
merged-away record both have such a row, or two merged-away records do, moving them all
would break the key, so of each group of rows that would share a key the one updated
most recently wins: its values end up in the row that stays on the survivor (the
survivor's own row if it has one, else the winner, moved), and every other row of the
group is soft-deleted where it is, still pointing at its merged-away record, so undo
only has to restore it.  Unique keys are read from the database itself
(``Database.unique_keys``), whether a column's ``unique=True`` or a plugin's
``add_index(..., unique=True)`` made them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kith.core.merge.fields import as_input, value_of
from kith.core.merge.journal import Journal, JournalEntry, as_json
from kith.core.records.change import Actor
from kith.core.records.field_names import CUSTOM

if TYPE_CHECKING:
    from kith.core.merge.references import Reference
    from kith.core.runtime import Kith

_OLDEST = dt.datetime.min.replace(tzinfo=dt.UTC)


async def keys_for(kith: Kith, reference: Reference) -> list[tuple[str, ...]]:
    """The unique keys of the reference's table that hold its column."""
    if reference.key.startswith(CUSTOM):
        return []  # a value inside the JSON column: no unique index holds it
    keys = await kith.db.unique_keys(reference.entity.tablename)
    return [key for key in keys if reference.key in key]


async def resolve(
    kith: Kith,
    reference: Reference,
    keys: Sequence[tuple[str, ...]],
    survivor_id: int,
    rows: Sequence[dict[str, Any]],
    actor: Actor,
    journal: Journal,
) -> list[dict[str, Any]]:
    """Of ``rows`` (pointing at the survivor or the merged-away records), the ones to move
    to the survivor, after settling every group of rows that would share a unique key."""
    dropped: set[int] = set()
    for key in keys:
        shared_columns = [c for c in key if c not in (reference.key, reference.type_column)]
        groups: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            shared = [row.get(c) for c in shared_columns]
            if int(row["id"]) not in dropped and None not in shared:  # NULLs never collide
                groups.setdefault(repr(as_json(shared)), []).append(row)
        for group in groups.values():
            if len(group) > 1:
                dropped |= await _settle(kith, reference, key, survivor_id, group, actor, journal)
    return [r for r in rows if int(r["id"]) not in dropped and value_of(r, reference.key) != survivor_id]


async def _settle(
    kith: Kith,
    reference: Reference,
    key: tuple[str, ...],
    survivor_id: int,
    group: list[dict[str, Any]],
    actor: Actor,
    journal: Journal,
) -> set[int]:
    """Keep one row of ``group`` with the winner's values; delete the others. Returns
    the ids of the rows deleted (which then do not move)."""
    entity = reference.entity
    winner = max(group, key=lambda r: (r.get("updated_at") or _OLDEST, int(r["id"])))
    kept = next((r for r in group if value_of(r, reference.key) == survivor_id), winner)
    if kept is not winner:
        copied = {
            name: winner.get(name)
            for name, spec in entity.fields.items()
            if spec.writable and not spec.unique and name not in key
            if as_json(winner.get(name)) != as_json(kept.get(name))
        }
        if copied:
            after = await kith.records.update(entity.name, int(kept["id"]), as_input(copied), actor)
            for name in copied:
                journal.add(
                    JournalEntry("field", entity.tablename, int(kept["id"]), entity.name, name,
                                 as_json(kept.get(name)), as_json(after.get(name)))
                )  # fmt: skip
    deleted: set[int] = set()
    for row in group:
        if row is kept:
            continue
        record = await kith.records.delete(entity.name, int(row["id"]), actor)
        journal.add(JournalEntry("delete", entity.tablename, int(row["id"]), entity.name, "deleted_at", None,
                                 as_json(record["deleted_at"])))  # fmt: skip
        deleted.add(int(row["id"]))
    return deleted
