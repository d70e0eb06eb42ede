"""Changes to rows of core tables that are not entities (consents, duplicate pairs).

They have no record service to go through (their own modules write them directly),
so a merge writes them the same way, one column at a time, and journals each change
as a ``row`` entry that undo reverts only while the column still holds what the merge
wrote.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from piccolo.columns import Timestamptz
from piccolo.querystring import QueryString
from piccolo.table import Table

from kith.core.duplicates.store import DuplicateCandidateRow
from kith.core.merge.journal import Journal, JournalEntry, as_json
from kith.core.privacy.models import Consent

if TYPE_CHECKING:
    from kith.core.runtime import Kith

#: the core tables a merge changes rows of, by name (undo reads the column types here)
TABLES: dict[str, type[Table]] = {table._meta.tablename: table for table in (Consent, DuplicateCandidateRow)}


async def change(
    kith: Kith, table: type[Table], row: dict[str, Any], column: str, value: Any, journal: Journal
) -> None:
    """Set ``column`` of ``row`` to ``value`` and journal it."""
    name = table._meta.tablename
    await kith.db.fetch(QueryString(f'UPDATE "{name}" SET "{column}" = {{}} WHERE id = {{}}', value, int(row["id"])))
    journal.add(JournalEntry("row", name, int(row["id"]), None, column, as_json(row[column]), as_json(value)))


async def revert(kith: Kith, entry: JournalEntry) -> tuple[bool, Any]:
    """Put back what ``entry`` changed, if the row still holds what the merge wrote.
    Returns whether it did, and the value the row holds now."""
    table = TABLES[entry.table]
    column = str(entry.column)
    row = await kith.db.fetch_one(
        QueryString(f'SELECT "{column}" AS value FROM "{entry.table}" WHERE id = {{}}', entry.row_id)
    )
    current = None if row is None else as_json(row["value"])
    if row is None or current != entry.new:
        return False, current
    await kith.db.fetch(
        QueryString(
            f'UPDATE "{entry.table}" SET "{column}" = {{}} WHERE id = {{}}',
            _parameter(table, column, entry.old),
            entry.row_id,
        )
    )
    return True, entry.old


def _parameter(table: type[Table], column: str, value: Any) -> Any:
    """A journaled (JSON) value as the column takes it: times back to datetimes."""
    if isinstance(value, str) and isinstance(table._meta.get_column_by_name(column), Timestamptz):
        return dt.datetime.fromisoformat(value)
    return value
