"""Reading the merge journal through the one visibility model.

A merge is visible to a reader who may read its survivor (live, in their read scope:
``RecordQuery.where`` with them as viewer, the predicate every list and look-up of the
entity uses); what they see of it leaves out the fields hidden from them, and the
conflicts of an undo on records they may not read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from piccolo.querystring import QueryString

from kith.core.duplicates.store import check_entity
from kith.core.errors import NotFound
from kith.core.merge.journal import CHANGES, MERGES
from kith.core.merge.model import Conflict, Merge
from kith.core.records.query import CursorCodec

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


@dataclass(frozen=True)
class MergePage:
    merges: list[Merge]
    has_next_page: bool
    end_cursor: str | None


def _survivor_visible(kith: Kith, entity: str, viewer: Permissions | None) -> QueryString:
    declared = kith.entity(entity)
    readable = kith.query.where(declared, None, viewer=viewer)
    return QueryString(f'm.survivor_id IN (SELECT t.id FROM "{declared.tablename}" t WHERE {{}})', readable)


async def list_merges(
    kith: Kith,
    entity: str,
    *,
    viewer: Permissions | None = None,
    record_id: int | None = None,
    first: int = 50,
    after: str | None = None,
) -> MergePage:
    """The merges of ``entity`` whose survivor ``viewer`` may read, newest first; with
    ``record_id``, those it took part in (as the survivor or merged into it)."""
    check_entity(kith, entity, viewer)
    first = max(0, min(first, kith.settings.max_page_size))
    identity = viewer.cursor_identity if viewer is not None else "system"
    codec = CursorCodec(lambda: kith.secret, f"merges:{entity}:{record_id}:{identity}")
    parts = [QueryString("m.entity = {}", entity), _survivor_visible(kith, entity, viewer)]
    if record_id is not None:
        parts.append(
            QueryString(
                f"(m.survivor_id = {{}} OR m.id IN (SELECT c.merge_id FROM {CHANGES} c "
                "WHERE c.kind = 'delete' AND c.entity = {} AND c.row_id = {} AND c.column_name = 'merged_into'))",
                record_id,
                entity,
                record_id,
            )
        )
    if after:
        (last_id,) = codec.decode(after)
        parts.append(QueryString("m.id < {}", int(last_id)))
    where = QueryString(" AND ".join("{}" for _ in parts), *parts)
    rows = await kith.db.fetch(
        QueryString(f"SELECT m.* FROM {MERGES} m WHERE {{}} ORDER BY m.id DESC LIMIT {first + 1}", where)
    )
    merges = [await seen(kith, Merge.from_row(row), viewer) for row in rows[:first]]
    end = codec.encode([merges[-1].id]) if merges else None
    return MergePage(merges, len(rows) > first, end)


async def get_merge(kith: Kith, merge_id: int, *, viewer: Permissions | None = None) -> Merge:
    """One merge, if ``viewer`` may read its survivor (else not found, like a record)."""
    row = await kith.db.fetch_one(QueryString(f"SELECT m.entity FROM {MERGES} m WHERE m.id = {{}}", merge_id))
    if row is None or str(row["entity"]) not in kith.entities:
        raise NotFound("merge", merge_id)
    entity = str(row["entity"])
    if viewer is not None and not viewer.allows(entity, "read"):
        raise NotFound("merge", merge_id)
    found = await kith.db.fetch_one(
        QueryString(
            f"SELECT m.* FROM {MERGES} m WHERE m.id = {{}} AND {{}}", merge_id, _survivor_visible(kith, entity, viewer)
        )
    )
    if found is None:
        raise NotFound("merge", merge_id)
    return await seen(kith, Merge.from_row(found), viewer)


async def seen(kith: Kith, merge: Merge, viewer: Permissions | None) -> Merge:
    """``merge`` as ``viewer`` may see it: no hidden fields, no conflicts on records
    they may not read."""
    if viewer is None:
        return merge
    merge = merge.as_seen_by(kith, viewer)
    kept: list[Conflict] = []
    for conflict in merge.conflicts:
        if await viewer.can_see(kith.entity(conflict.entity), conflict.record_id):
            kept.append(conflict)
    return replace(merge, conflicts=tuple(kept))
