"""Finding records by what a file calls them: an organization by its domain or name,
an owner by their e-mail, a contact by any of their e-mails.

Look-ups are read as the importer (``ListRequest`` with their permissions), so a file
cannot link to, update or learn of a record they may not read: the one visibility
model, not a second one.  One query per chunk of values and field, never one per row.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from kith.core.entities.declaration import Entity, FieldKind
from kith.core.records.query import ALIAS, ListRequest
from kith.core.records.validation import graphql_name, normalise_value

if TYPE_CHECKING:
    from kith.core.runtime import Kith

#: the fields people name records of these entities by, tried in order
NATURAL_KEYS: dict[str, tuple[str, ...]] = {
    "organization": ("domain", "name"),
    "user": ("email",),
    "contact": ("emails",),
    "team": ("name",),
    "tag": ("name",),
}
#: values looked up per query
BATCH = 500
#: values of a list field (e-mails) looked up per query
LIST_BATCH = 25


def natural_keys(entity: Entity) -> tuple[str, ...]:
    """How records of ``entity`` are named in a file: the known keys, else its unique
    fields, else a name-like field."""
    if entity.natural_keys:
        return entity.natural_keys
    if entity.name in NATURAL_KEYS:
        return NATURAL_KEYS[entity.name]
    unique = tuple(spec.name for spec in entity.fields.values() if spec.unique)
    if unique:
        return unique
    return tuple(name for name in ("name", "title", "number", "email", "subject") if name in entity.fields)[:1]


def normalised(kith: Kith, entity: Entity, field: str, text: str) -> str | None:
    """``text`` as ``field`` stores it (lower-cased e-mail, bare domain), or None when it
    cannot be one (then nothing can match it)."""
    if field == "id":
        return text if text.isdigit() else None
    spec = entity.fields[field]
    try:
        if spec.kind is FieldKind.STRING_LIST:
            value = normalise_value(spec, [text], kith.records.region)
            return str(value[0]) if value else None
        return str(normalise_value(spec, text, kith.records.region))
    except (ValueError, TypeError):
        return None


async def find(kith: Kith, viewer: Any, entity: Entity, field: str, values: Collection[str]) -> dict[str, list[int]]:
    """The ids of the records (as ``viewer`` may read them; None: all) whose ``field``
    is each of ``values`` (already normalised), by value.  A list field (e-mails)
    matches when any of its items is the value."""
    wanted = sorted(set(values))
    found: dict[str, list[int]] = {value: [] for value in wanted}
    if not wanted or (viewer is not None and field != "id" and viewer.is_hidden(entity, field)):
        return found  # a field hidden from the importer finds nothing: matching must not reveal it
    spec = None if field == "id" else entity.fields[field]
    name = "id" if spec is None else graphql_name(spec)
    listed = spec is not None and spec.kind is FieldKind.STRING_LIST
    batch = BATCH
    if listed:
        flush = kith.db.dialect.gin_flush(f"{entity.tablename}_{field}_gin")
        if flush is not None:
            await kith.db.execute(flush)
        # PostgreSQL costs a many-valued ?| as if it were cheap per row, and scans the table
        # instead of the GIN index above a few dozen values; and once a custom plan costs
        # more than the generic one (a walk of the primary key, fine for one value, a
        # full scan for a chunk's) it keeps the generic plan: ask a few at a time
        batch = LIST_BATCH
    for start in range(0, len(wanted), batch):
        part = wanted[start : start + batch]
        extra = []
        condition: dict[str, Any] | None
        if listed:
            condition = None  # "contains" per value would be one OR per value: one set test instead
            extra.append(kith.db.dialect.json_array_holds_any(f'{ALIAS}."{field}"', part))
        elif spec is None:
            condition = {"id": {"in": [int(v) for v in part]}}
        else:
            condition = {name: {"in": part}}
        after = None
        while True:
            request = ListRequest(
                entity, condition, first=BATCH, after=after, viewer=viewer, columns={"id", field}, extra_where=extra
            )
            page = await kith.query.list(kith.db, request)
            for row in page.rows:
                stored = row["id"] if spec is None else row.get(field)
                items = stored if isinstance(stored, list) else [stored]
                for item in items:
                    key = str(item)
                    if key in found:
                        found[key].append(int(row["id"]))
            if not page.has_next_page:
                break
            after = page.end_cursor
    return found
