"""Batch loading: one query for all the records a request needs of one kind."""

from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.records.encoding import decode_row

if TYPE_CHECKING:
    from kith.core.runtime import Kith


async def load_columns(kith: "Kith", entity: Any, ids: list[int], columns: set[str] | None) -> list[dict[str, Any]]:
    """Records of ``entity`` with these ids (not deleted), only ``columns`` (None: all)."""
    if not ids:
        return []
    select = "*" if columns is None else ", ".join(f'"{c}"' for c in sorted({"id", *columns}))
    placeholders = ", ".join("{}" for _ in ids)
    rows = await kith.db.fetch(
        QueryString(
            f'SELECT {select} FROM "{entity.tablename}" WHERE id IN ({placeholders}) AND deleted_at IS NULL',
            *ids,
        )
    )
    return [decode_row(entity, row) for row in rows]


async def load_records(kith: "Kith", entity_name: str, ids: list[int]) -> list[dict[str, Any] | None]:
    entity = kith.entities.get(entity_name)
    wanted = [int(i) for i in ids]
    placeholders = ", ".join("{}" for _ in wanted)
    rows = await kith.db.fetch(
        QueryString(
            f'SELECT * FROM "{entity.tablename}" WHERE id IN ({placeholders}) AND deleted_at IS NULL',
            *wanted,
        )
    )
    by_id = {row["id"]: decode_row(entity, row) for row in rows}
    return [by_id.get(i) for i in wanted]


async def load_timelines(kith: "Kith", entity_name: str, ids: list[int], limit: int) -> list[list[dict[str, Any]]]:
    """The newest ``limit`` activities of each record, in one window-function query."""
    activity = kith.entities.get("activity")
    wanted = [int(i) for i in ids]
    placeholders = ", ".join("{}" for _ in wanted)
    rows = await kith.db.fetch(
        QueryString(
            "SELECT * FROM (SELECT a.*, ROW_NUMBER() OVER (PARTITION BY a.subject_id "
            "ORDER BY a.occurred_at DESC NULLS LAST, a.id DESC) AS _rn FROM activity a "
            f"WHERE a.subject_type = {{}} AND a.subject_id IN ({placeholders}) "
            "AND a.deleted_at IS NULL) ranked "
            f"WHERE _rn <= {int(limit)} ORDER BY subject_id, _rn",
            entity_name,
            *wanted,
        )
    )
    grouped: dict[int, list[dict[str, Any]]] = {i: [] for i in wanted}
    for row in rows:
        record = decode_row(activity, {k: v for k, v in dict(row).items() if k != "_rn"})
        grouped.setdefault(record["subject_id"], []).append(record)
    return [grouped[i] for i in wanted]
