"""The duplicate review queue learns of the merge: pairs among the merged records are ``merged``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from piccolo.querystring import QueryString

from kith.core.duplicates.store import TABLE, DuplicateCandidateRow
from kith.core.entities import Entity
from kith.core.merge import core_rows
from kith.core.merge.journal import Journal, now

if TYPE_CHECKING:
    from kith.core.runtime import Kith


async def mark_merged(kith: Kith, entity: Entity, ids: Sequence[int], decided_by: str, journal: Journal) -> int:
    """Decide every queued pair of two of ``ids`` as ``merged``; returns how many."""
    among = kith.db.dialect.in_ids
    rows = await kith.db.fetch(
        QueryString(
            f"SELECT * FROM {TABLE} WHERE entity = {{}} AND {{}} AND {{}} AND status <> 'merged' ORDER BY id",
            entity.name,
            among("record_a", ids),
            among("record_b", ids),
        )
    )
    at = now()
    for row in rows:
        pair = dict(row)
        for column, value in (("status", "merged"), ("decided_by", decided_by), ("decided_at", at)):
            await core_rows.change(kith, DuplicateCandidateRow, pair, column, value, journal)
    return len(rows)
