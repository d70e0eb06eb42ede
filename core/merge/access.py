"""Who may merge, and undo a merge: the records' own permissions, in the caller's scope.

Merging changes the survivor and removes the others, so it needs ``update`` on the
survivor and ``delete`` on each merged-away record; undoing needs ``update`` on the
survivor and ``restore`` on each.  A record the caller may not read is "not found",
exactly as anywhere else (a merge cannot be used to learn that a record exists); one
they may read but not change is "forbidden".  Each error names the input
(``survivorId`` or ``ids``) and the record.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from piccolo.querystring import QueryString

from kith.core.entities import Entity
from kith.core.errors import FieldError, ValidationFailed

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


async def _ids(kith: Kith, entity: Entity, ids: Sequence[int], where: QueryString | None, deleted: bool) -> set[int]:
    """Which of ``ids`` are live (or deleted, with ``deleted``) and match ``where``."""
    state = "t.deleted_at IS NOT NULL" if deleted else "t.deleted_at IS NULL"
    rows = await kith.db.fetch(
        QueryString(
            f'SELECT t.id FROM "{entity.tablename}" t WHERE {state} AND {{}} AND {{}}',
            kith.db.dialect.in_ids("t.id", ids),
            where if where is not None else QueryString("1 = 1"),
        )
    )
    return {int(row["id"]) for row in rows}


async def check_allowed(
    kith: Kith,
    entity: Entity,
    survivor_id: int,
    others: Sequence[int],
    viewer: Permissions | None,
    *,
    undoing: bool = False,
) -> None:
    """Refuse, naming each record, unless ``viewer`` may merge (or, ``undoing``, unmerge)
    ``others`` into ``survivor_id``: every problem at once."""
    action = "restore" if undoing else "delete"
    checks = (("survivorId", [survivor_id], "update", False), ("ids", list(others), action, undoing))
    errors: list[FieldError] = []
    for field, ids, verb, deleted in checks:
        scope = None if viewer is None else viewer.predicate(entity, "read")
        readable = await _ids(kith, entity, ids, scope, deleted)
        allowed = readable
        if viewer is not None and not viewer.allows(entity.name, verb):
            allowed = set()
        elif viewer is not None:
            allowed = await _ids(kith, entity, ids, viewer.predicate(entity, verb), deleted)
        for record_id in ids:
            if record_id not in readable:
                state = "no deleted" if deleted else "no"
                errors.append(FieldError(field, "not_found", f"there is {state} {entity.name} {record_id}"))
            elif record_id not in allowed:
                errors.append(FieldError(field, "forbidden", f"you may not {verb} {entity.name} {record_id}"))
    if errors:
        raise ValidationFailed(errors)
