"""Reading the audit trail: a record's history and a person's actions.

Rows are written by the record service (every change, in the change's transaction)
and by authentication (sign-ins, refusals, keys, roles).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

if TYPE_CHECKING:
    from kith.core.runtime import Kith


async def entries(
    kith: Kith,
    *,
    entity: str | None = None,
    record_id: int | None = None,
    actor: str | None = None,
    source: str | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Audit rows, newest first, narrowed by any of the arguments."""
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("entity", entity), ("record_id", record_id), ("source", source)):
        if value is not None:
            clauses.append(f"{column} = {{}}")
            args.append(value)
    if actor is not None:
        clauses.append("actor LIKE {}")
        args.append(actor + "%")
    where = " AND ".join(clauses) or "1 = 1"
    rows = await kith.db.fetch(
        QueryString(f"SELECT * FROM kith_audit WHERE {where} ORDER BY id DESC LIMIT {{}}", *args, max(1, limit))
    )
    out = []
    for row in rows:
        item = dict(row)
        item["changes"] = json.loads(item["changes"]) if isinstance(item["changes"], str) else item["changes"]
        out.append(item)
    return out
