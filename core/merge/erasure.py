"""Erasing a person erases the records merged into them, and the merge journal's copies.

A merge keeps the merged-away records (soft-deleted, so undo can bring them back) and
copies of values in its journal (the records as they were, each field's value before
and after).  They are the same person's data: ``kith gdpr erase`` of the survivor also
erases every contact merged into it (``merged_into``, followed through merges of
merges), and cuts the person's values out of the journal of every merge their records
took part in, as it does for the audit trail.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from piccolo.querystring import QueryString

from kith.core.merge.journal import CHANGES, MERGES, parse

if TYPE_CHECKING:
    from kith.core.privacy.erasure import Erasure
    from kith.core.runtime import Kith

#: the journal columns that can hold a person's values
_MERGE_COLUMNS = ("choices", "survivor_before", "survivor_after", "records", "conflicts")


async def merged_into(kith: Kith, entity: str, record_id: int) -> list[int]:
    """The records merged into ``record_id`` by merges not undone."""
    rows = await kith.db.fetch(
        QueryString(
            f"SELECT merged_ids FROM {MERGES} WHERE entity = {{}} AND survivor_id = {{}} AND undone_at IS NULL "
            "ORDER BY id",
            entity,
            record_id,
        )
    )
    return [int(i) for row in rows for i in parse(row["merged_ids"]) or ()]


async def scrub_merge_journal(erasure: Erasure) -> None:
    """Cut the person's values out of the journal of every merge their records took part in."""
    kith = erasure.kith
    ids_in = kith.db.dialect.in_ids
    merges: set[int] = set()
    changes: set[int] = set()
    for name, ids in erasure.footprint.records().items():
        rows = await kith.db.fetch(
            QueryString(
                f"SELECT id FROM {MERGES} m WHERE m.entity = {{}} AND {{}} "
                f"UNION SELECT c.merge_id AS id FROM {CHANGES} c "
                "WHERE c.entity = {} AND c.column_name = 'merged_into' AND {}",
                name,
                ids_in("m.survivor_id", sorted(ids)),
                name,
                ids_in("c.row_id", sorted(ids)),
            )
        )
        merges.update(int(row["id"]) for row in rows)
        rows = await kith.db.fetch(
            QueryString(
                f"SELECT id FROM {CHANGES} c WHERE c.entity = {{}} AND {{}}", name, ids_in("c.row_id", sorted(ids))
            )
        )
        changes.update(int(row["id"]) for row in rows)
    await erasure.scrub_rows(MERGES, merges, json_columns=_MERGE_COLUMNS)
    await erasure.scrub_rows(CHANGES, changes, json_columns=("old_value", "new_value"))
