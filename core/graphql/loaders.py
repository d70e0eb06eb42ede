"""Batch loading: one query for all the records a request needs of one kind.

Every loader takes the caller's ``scope`` (the SQL predicate of what the principal may
read), so a relation never reveals a record that a list would not show.
"""

from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.records.encoding import decode_row

if TYPE_CHECKING:
    from kith.core.runtime import Kith


def _scoped(scope: QueryString | None) -> tuple[str, list[Any]]:
    return ("", []) if scope is None else (" AND {}", [scope])


async def load_columns(
    kith: "Kith", entity: Any, ids: list[int], columns: set[str] | None, scope: QueryString | None = None
) -> list[dict[str, Any]]:
    """Records of ``entity`` with these ids (not deleted, within ``scope``), only ``columns``."""
    if not ids:
        return []
    select = "t.*" if columns is None else ", ".join(f't."{c}"' for c in sorted({"id", *columns}))
    placeholders = ", ".join("{}" for _ in ids)
    extra, args = _scoped(scope)
    rows = await kith.db.fetch(
        QueryString(
            f'SELECT {select} FROM "{entity.tablename}" t WHERE t.id IN ({placeholders}) '
            f"AND t.deleted_at IS NULL{extra}",
            *ids,
            *args,
        )
    )
    return [decode_row(entity, row) for row in rows]


async def load_records(
    kith: "Kith", entity_name: str, ids: list[int], scope: QueryString | None = None
) -> list[dict[str, Any] | None]:
    entity = kith.entities.get(entity_name)
    wanted = [int(i) for i in ids]
    by_id = {record["id"]: record for record in await load_columns(kith, entity, wanted, None, scope)}
    return [by_id.get(i) for i in wanted]


async def load_timelines(
    kith: "Kith", entity_name: str, ids: list[int], limit: int, scope: QueryString | None = None
) -> list[list[dict[str, Any]]]:
    """The newest ``limit`` activities of each record, in one window-function query."""
    activity = kith.entities.get("activity")
    wanted = [int(i) for i in ids]
    placeholders = ", ".join("{}" for _ in wanted)
    extra, args = _scoped(scope)
    rows = await kith.db.fetch(
        QueryString(
            "SELECT * FROM (SELECT t.*, ROW_NUMBER() OVER (PARTITION BY t.subject_id "
            "ORDER BY t.occurred_at DESC NULLS LAST, t.id DESC) AS _rn FROM activity t "
            f"WHERE t.subject_type = {{}} AND t.subject_id IN ({placeholders}) "
            f"AND t.deleted_at IS NULL{extra}) ranked "
            f"WHERE _rn <= {int(limit)} ORDER BY subject_id, _rn",
            entity_name,
            *wanted,
            *args,
        )
    )
    grouped: dict[int, list[dict[str, Any]]] = {i: [] for i in wanted}
    for row in rows:
        record = decode_row(activity, {k: v for k, v in dict(row).items() if k != "_rn"})
        grouped.setdefault(record["subject_id"], []).append(record)
    return [grouped[i] for i in wanted]
