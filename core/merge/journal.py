"""The merge journal: each merge, and every change it made, kept exactly as needed to undo it.

``kith_merge`` holds one row per merge: who, which records, the rules asked for, the
choice made for each field the records disagreed on, the survivor's values before and
after for the fields the merge changed, and the merged-away records as they were.
``kith_merge_change`` holds every other change, in the order made, one row per column:

``field``   a column of an entity record, written through the record service (a deal's
            ``contact``, an activity's ``subject_id``, ``custom.<name>``): old and new value;
``delete``  an entity record the merge soft-deleted: a merged-away record (``new_value``
            names the survivor: this is how a record is marked as merged into another), or
            a record that would have broken a unique key (a second subscription to a topic);
``row``     a column of a core table that is not an entity (a consent, a duplicate pair),
            written directly: old and new value.

Undo reads the changes back in reverse order and reverts each one whose row still holds
the value the merge left (``new_value``); any other is a conflict, reported and kept.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from piccolo.columns import JSON, BigInt, Serial, Timestamptz, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table

from kith.core.records.encoding import dumps, jsonable, loads

if TYPE_CHECKING:
    from kith.core.runtime import Kith

MERGES = "kith_merge"
CHANGES = "kith_merge_change"
Kind = Literal["field", "delete", "row"]


class MergeRow(Table, tablename=MERGES):
    """One merge of records of one entity into a survivor."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    entity = Varchar(length=60)
    survivor_id = BigInt()
    merged_ids = JSON(default="[]")
    rules = JSON(default="{}")  # as asked: default, fields, trustedSources
    choices = JSON(default="[]")  # per field the records disagreed on: field, rule, from, before, value
    survivor_before = JSON(default="{}")  # field key -> the survivor's value before (fields the merge changed)
    survivor_after = JSON(default="{}")  # field key -> the value the merge wrote
    records = JSON(default="{}")  # merged-away record id -> the record as it was
    actor = Varchar(length=200)
    user_id = BigInt(null=True, default=None)
    created_at = Timestamptz(null=True, default=None)
    undone_at = Timestamptz(null=True, default=None)
    undone_by = Varchar(length=200, null=True, default=None)
    conflicts = JSON(null=True, default=None)  # what undo kept: entity, recordId, field, valueAtMerge, currentValue


class MergeChangeRow(Table, tablename=CHANGES):
    """One change a merge made besides the survivor's fields (see the module docstring)."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    merge_id = BigInt()
    kind = Varchar(length=12)
    entity = Varchar(length=60, null=True, default=None)  # the entity of the row (field, delete)
    table_name = Varchar(length=100)
    row_id = BigInt()
    column_name = Varchar(length=100, null=True, default=None)
    old_value = JSON(null=True, default=None)
    new_value = JSON(null=True, default=None)


MERGE_TABLES: tuple[type[Table], ...] = (MergeRow, MergeChangeRow)

_CHANGE_COLUMNS = (
    ("merge_id", "BIGINT"),
    ("kind", "VARCHAR"),
    ("entity", "VARCHAR"),
    ("table_name", "VARCHAR"),
    ("row_id", "BIGINT"),
    ("column_name", "VARCHAR"),
    ("old_value", "JSON"),
    ("new_value", "JSON"),
)


@dataclass(frozen=True)
class JournalEntry:
    """One change, as ``kith_merge_change`` keeps it (values JSON-ready)."""

    kind: Kind
    table: str
    row_id: int
    entity: str | None = None
    column: str | None = None
    old: Any = None
    new: Any = None


@dataclass
class Journal:
    """The changes of one merge, collected while it runs and saved with it."""

    entries: list[JournalEntry] = field(default_factory=list)

    def add(self, entry: JournalEntry) -> None:
        self.entries.append(entry)

    def count(self, kind: Kind) -> int:
        return sum(1 for entry in self.entries if entry.kind == kind)


async def save(kith: Kith, row: dict[str, Any], journal: Journal) -> int:
    """Store the merge and its changes (inside the merge's transaction); returns its id."""
    columns = list(row)
    values = [dumps(v) if isinstance(v, (dict, list)) else v for v in row.values()]
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("{}" for _ in columns)
    saved = await kith.db.fetch_one(
        QueryString(f"INSERT INTO {MERGES} ({names}) VALUES ({marks}) RETURNING id", *values)
    )
    assert saved is not None
    merge_id = int(saved["id"])
    rows = [
        (merge_id, e.kind, e.entity, e.table, e.row_id, e.column, dumps(e.old), dumps(e.new)) for e in journal.entries
    ]
    await kith.db.insert_rows(CHANGES, _CHANGE_COLUMNS, rows)
    return merge_id


async def entries(kith: Kith, merge_id: int) -> list[JournalEntry]:
    """The changes of a merge, in the order they were made."""
    rows = await kith.db.fetch(QueryString(f"SELECT * FROM {CHANGES} WHERE merge_id = {{}} ORDER BY id", merge_id))
    return [
        JournalEntry(
            kind=row["kind"],
            table=str(row["table_name"]),
            row_id=int(row["row_id"]),
            entity=row["entity"],
            column=row["column_name"],
            old=parse(row["old_value"]),
            new=parse(row["new_value"]),
        )
        for row in rows
    ]


def parse(value: Any) -> Any:
    """A JSON column's value as data (PostgreSQL's driver hands JSON over as text)."""
    return loads(value) if isinstance(value, str) else value


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def as_json(value: Any) -> Any:
    """A value as the journal keeps and compares it (dates as ISO text, decimals as text)."""
    return jsonable(value)


async def audit(kith: Kith, entity: str, record_id: int, action: str, actor: Any, changes: dict[str, Any]) -> None:
    """One entry in the audit trail for the merge (or its undo) as a whole, on the
    survivor; every record the merge wrote has its own entry from the record service."""
    await kith.db.fetch(
        QueryString(
            "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {})",
            entity,
            record_id,
            action,
            actor.name,
            actor.source,
            dumps(changes),
            now(),
        )
    )
