"""One erasure: the person's values, the rows tied to them, and the report of what changed.

Everything is scoped to rows tied to the person (their records, the records about them
and the journal rows of exactly those records): nothing is searched for across whole
tables, so another person who shares a first name, an organization or a number keeps
every byte of their rows.  Every change is reported as (table, record id, field).

Records are written here directly rather than through the record service: an erasure
must succeed whatever state a record is in (a sent quote is frozen for users, a
required custom field cannot be emptied by users, "[erased]" is no valid email), and
lifecycle hooks would hand the old values to plugins.  Each changed record still gets
a new version, an audit row and an ``<entity>.updated`` event (with the values marked
erased), so concurrent editors, integrations and rules see that it changed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.entities import Entity, FieldKind
from kith.core.privacy.scrub import (
    ERASED,
    NOT_SEARCHED_TYPES,
    PersonalKeys,
    Scrubber,
    marked,
    phone_spellings,
    searchable_strings,
)
from kith.core.privacy.ties import Footprint, chunks, marks
from kith.core.records.encoding import decode_row, dumps, jsonable
from kith.core.records.validation import graphql_name
from kith.core.storage.dialect import escape_like
from kith.core.storage.meta import USER_TABLE
from kith.core.storage.outbox import enqueue

if TYPE_CHECKING:
    from kith.core.runtime import Kith

ACTOR = "privacy"
#: custom field types whose stored value is free text, scrubbed of the person's values
TEXT_TYPES = frozenset({"text", "long_text", "email", "phone", "url"})
_E164 = re.compile(r"^\+\d{6,15}$")


@dataclass(frozen=True)
class Scrubbed:
    """One field of one row that the erasure changed: ``field`` is the column, or
    ``custom.<key>`` for a custom field."""

    table: str
    record_id: int
    field: str


@dataclass
class ErasureReport:
    """What an erasure changed, row by row and field by field."""

    contact_id: int
    scrubbed: list[Scrubbed] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Rows changed, by table."""
        rows: dict[str, set[int]] = {}
        for entry in self.scrubbed:
            rows.setdefault(entry.table, set()).add(entry.record_id)
        return {table: len(ids) for table, ids in sorted(rows.items())}

    def as_json(self) -> dict[str, Any]:
        return {
            "contactId": self.contact_id,
            "rows": self.counts(),
            "scrubbed": [{"table": s.table, "recordId": s.record_id, "field": s.field} for s in self.scrubbed],
        }


def _parse(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


#: what an erased file keeps: its row, so references to it still resolve, and nothing else
ERASED_FILE: dict[str, Any] = {"data": b"", "size": 0, "name": "[erased]", "sha256": hashlib.sha256(b"").hexdigest()}


class Erasure:
    """The erasure of one person, as a plugin's ``kith_erase_personal_data`` sees it.

    ``values`` are the person's searchable values; ``scrub_text``/``scrub_json`` cut
    them out; ``scrub_rows`` and ``clear_rows`` do it to rows of a plugin's own tables
    and report every change; ``report`` records a change made some other way.
    """

    def __init__(self, kith: Kith, contact: dict[str, Any], found: Footprint) -> None:
        self.kith = kith
        self.contact = contact
        self.footprint = found
        self.scrubber = Scrubber()
        self.result = ErasureReport(int(contact["id"]))
        self._seen: set[Scrubbed] = set()

    @property
    def values(self) -> list[str]:
        return list(self.scrubber.values)

    def scrub_text(self, text: str) -> str:
        return self.scrubber.text(text)

    def scrub_json(self, value: Any) -> Any:
        return self.scrubber.json(value)

    def report(self, table: str, record_id: int, field_name: str) -> None:
        entry = Scrubbed(table, int(record_id), field_name)
        if entry not in self._seen:
            self._seen.add(entry)
            self.result.scrubbed.append(entry)

    async def scrub_rows(
        self, table: str, ids: Iterable[int], text: Iterable[str] = (), json_columns: Iterable[str] = ()
    ) -> int:
        """Cut the person's values out of the ``text`` and ``json_columns`` of rows ``ids``
        of ``table``; returns how many rows changed (each change is reported)."""
        text, json_columns = list(text), list(json_columns)
        changed = 0
        for chunk in chunks(sorted({int(i) for i in ids})):
            columns = ", ".join(f'"{c}"' for c in ("id", *text, *json_columns))
            rows = await self.kith.db.execute(f'SELECT {columns} FROM "{table}" WHERE id IN ({marks(chunk)})', *chunk)
            for row in rows:
                sets: dict[str, Any] = {}
                for column in text:
                    if isinstance(row[column], str) and self.scrubber.found_in(row[column]):
                        sets[column] = self.scrubber.text(row[column])
                for column in json_columns:
                    parsed = _parse(row[column])
                    cleaned = self.scrubber.json(parsed)
                    if cleaned != parsed:
                        sets[column] = dumps(cleaned)
                if sets:
                    await self.write_row(table, int(row["id"]), sets)
                    changed += 1
        return changed

    async def clear_rows(self, table: str, ids: Iterable[int], columns: Iterable[str]) -> int:
        """Set ``columns`` of rows ``ids`` of ``table`` to NULL where they hold a value."""
        columns = list(columns)
        changed = 0
        for chunk in chunks(sorted({int(i) for i in ids})):
            names = ", ".join(f'"{c}"' for c in ("id", *columns))
            rows = await self.kith.db.execute(f'SELECT {names} FROM "{table}" WHERE id IN ({marks(chunk)})', *chunk)
            for row in rows:
                sets = {c: None for c in columns if row[c] is not None}
                if sets:
                    await self.write_row(table, int(row["id"]), sets)
                    changed += 1
        return changed

    async def erase_files(self, ids: Iterable[int]) -> int:
        """Empty files of the core's file store (an attachment the person sent or got):
        the bytes, the name and the hash go, the row stays so references still resolve."""
        changed = 0
        for chunk in chunks(sorted({int(i) for i in ids})):
            rows = await self.kith.db.execute(f"SELECT id, size FROM kith_file WHERE id IN ({marks(chunk)})", *chunk)
            for row in rows:
                if row["size"]:
                    await self.write_row("kith_file", int(row["id"]), ERASED_FILE)
                    changed += 1
        return changed

    async def write_row(self, table: str, record_id: int, sets: dict[str, Any]) -> None:
        """Set columns of one row (values as stored: JSON as text) and report each."""
        assignments = ", ".join(f'"{c}" = {{}}' for c in sets)
        await self.kith.db.fetch(
            QueryString(f'UPDATE "{table}" SET {assignments} WHERE id = {{}}', *sets.values(), record_id)
        )
        if table == USER_TABLE:  # a cached sign-in may show the old name or email
            await self.kith.auth.changed()
        for column in sets:
            self.report(table, record_id, column)

    # -- the person's values ---------------------------------------------------------

    def personal_keys(self, entity: Entity) -> PersonalKeys:
        specs = [s for s in entity.fields.values() if s.personal]
        custom = [f for f in self.kith.custom_fields.for_entity(entity.name) if f.personal]
        columns = {s.name for s in specs} | {s.currency_column for s in specs if s.currency_column}
        return PersonalKeys(
            columns=frozenset(columns),
            list_columns=frozenset(s.name for s in specs if s.kind is FieldKind.STRING_LIST),
            client_names=frozenset({graphql_name(s) for s in specs} | {f.path for f in custom}),
            custom=frozenset(f.name for f in custom),
        )

    def learn(self, entity: Entity, record: dict[str, Any]) -> None:
        """Add the personal values of one of the person's own records to what is searched for."""
        found: list[str] = []
        for spec in entity.fields.values():
            if spec.personal and spec.kind not in (FieldKind.BOOL, FieldKind.RELATION, FieldKind.ID):
                found += searchable_strings(record.get(spec.name))
        custom = record.get("custom") or {}
        for definition in self.kith.custom_fields.for_entity(entity.name):
            if definition.personal and definition.type not in NOT_SEARCHED_TYPES:
                found += searchable_strings(custom.get(definition.name))
        for value in list(found):
            if _E164.match(value):
                found += phone_spellings(value, self.kith.records.region)
        self.scrubber.add(found)


# -- records ---------------------------------------------------------------------------


async def load(kith: Kith, entity: Entity, ids: Iterable[int]) -> list[dict[str, Any]]:
    """Records by id (deleted ones too: they still hold data), decoded, in id order."""
    out: list[dict[str, Any]] = []
    for chunk in chunks(sorted(ids)):
        rows = await kith.db.execute(
            f'SELECT * FROM "{entity.tablename}" WHERE id IN ({marks(chunk)}) ORDER BY id', *chunk
        )
        out += [decode_row(entity, dict(r)) for r in rows]
    return out


async def learn_values(erasure: Erasure) -> dict[str, list[dict[str, Any]]]:
    """Read every tied record once; learn the values of the person's own ones."""
    kith = erasure.kith
    loaded: dict[str, list[dict[str, Any]]] = {}
    for name, ids in sorted(erasure.footprint.records().items()):
        entity = kith.entities.get(name)
        loaded[name] = await load(kith, entity, ids)
        for record in loaded[name]:
            if erasure.footprint.erased(name, record["id"]):
                erasure.learn(entity, record)
    return loaded


async def erase_records(erasure: Erasure, loaded: dict[str, list[dict[str, Any]]]) -> None:
    """Clear the personal fields of the person's own records and scrub the text of every
    tied record; each changed record gets a new version, an audit row and an event."""
    kith = erasure.kith
    for name, records in loaded.items():
        entity = kith.entities.get(name)
        keys = erasure.personal_keys(entity)
        for record in records:
            erased = erasure.footprint.erased(name, record["id"])
            columns, changes = _record_changes(erasure, entity, record, keys if erased else None)
            if columns:
                await _write(erasure, entity, record, columns, changes)


def _record_changes(
    erasure: Erasure, entity: Entity, record: dict[str, Any], keys: PersonalKeys | None
) -> tuple[dict[str, Any], dict[str, list[Any]]]:
    """The column values to write and the audit changes, for one record."""
    scrub = erasure.scrubber
    columns: dict[str, Any] = {}
    changes: dict[str, list[Any]] = {}
    for spec in entity.fields.values():
        value = record.get(spec.name)
        if keys is not None and spec.personal:
            new = _emptied(spec, value)
        elif spec.kind in (FieldKind.STRING, FieldKind.TEXT) and not spec.choices and isinstance(value, str):
            new = scrub.text(value)
        elif spec.kind is FieldKind.STRING_LIST and isinstance(value, list):
            new = scrub.json(value)
        else:
            continue
        if new == value:
            continue
        changes[graphql_name(spec)] = [marked(value), jsonable(new)]
        if spec.kind is FieldKind.MONEY:
            columns[spec.name] = None
            if spec.currency_column:
                columns[spec.currency_column] = None
        elif spec.kind is FieldKind.STRING_LIST:
            columns[spec.name] = dumps(new)
        else:
            columns[spec.name] = new
    stored = record.get("custom") or {}
    custom = dict(stored)
    for key, value in stored.items():
        definition = erasure.kith.custom_fields.get(entity.name, key)
        path = definition.path if definition else f"customFields.{key}"
        if keys is not None and key in keys.custom:
            del custom[key]
            changes[path] = [marked(value), None]
        elif definition is None or definition.type in TEXT_TYPES:
            custom[key] = scrub.json(value)
            if custom[key] != value:
                changes[path] = [marked(value), custom[key]]
    if custom != stored:
        columns["custom"] = dumps(custom)
        for key in set(stored) | set(custom):
            if stored.get(key) != custom.get(key):
                erasure.report(entity.tablename, record["id"], f"custom.{key}")
    return columns, changes


def _emptied(spec: Any, value: Any) -> Any:
    """A personal field's value once erased: empty, or "[erased]" where empty is not allowed."""
    if value in (None, []):
        return value
    if spec.kind is FieldKind.STRING_LIST:
        return []
    if spec.nullable or spec.kind is FieldKind.MONEY:
        return None
    return ERASED if spec.kind in (FieldKind.STRING, FieldKind.TEXT) else value


async def _write(
    erasure: Erasure, entity: Entity, record: dict[str, Any], columns: dict[str, Any], changes: dict[str, list[Any]]
) -> None:
    kith = erasure.kith
    now = dt.datetime.now(dt.UTC)
    if entity.tablename == USER_TABLE:  # a cached sign-in may show the old name or email
        await kith.auth.changed()
    sets = ", ".join(f'"{c}" = {{}}' for c in columns)
    row = await kith.db.fetch_one(
        QueryString(
            f'UPDATE "{entity.tablename}" SET {sets}, version = version + 1, updated_at = {{}} '
            "WHERE id = {} RETURNING *",
            *columns.values(),
            now,
            record["id"],
        )
    )
    assert row is not None
    for column in columns:
        if column != "custom":
            erasure.report(entity.tablename, record["id"], column)
    after = decode_row(entity, dict(row))
    await kith.db.fetch(
        QueryString(
            "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
            "VALUES ({}, {}, 'update', {}, {}, {}, {})",
            entity.name,
            record["id"],
            ACTOR,
            ACTOR,
            dumps(changes),
            now,
        )
    )
    payload = {"record": after, "changed": sorted(changes), "changes": changes, "actor": ACTOR}
    await enqueue(kith.db, f"{entity.name}.updated", entity=entity.name, record_id=record["id"], payload=payload)


# -- journals ----------------------------------------------------------------------------


async def scrub_journals(erasure: Erasure) -> None:
    """The audit rows, queued events (webhook deliveries and rule jobs among them),
    automation runs and action effects of exactly the tied records."""
    kith = erasure.kith
    scrub = erasure.scrubber
    event_ids: set[int] = set()
    event_keys: set[str] = set()
    for name, ids in sorted(erasure.footprint.records().items()):
        entity = kith.entities.get(name)
        keys = erasure.personal_keys(entity)
        for chunk in chunks(sorted(ids)):
            audit = await kith.db.execute(
                f"SELECT id, record_id, changes FROM kith_audit WHERE entity = {{}} AND record_id IN ({marks(chunk)})",
                name,
                *chunk,
            )
            for row in audit:
                own = erasure.footprint.erased(name, int(row["record_id"]))
                parsed = _parse(row["changes"])
                cleaned = keys.erase_changes(parsed) if own and isinstance(parsed, dict) else parsed
                await _store_json(erasure, "kith_audit", row["id"], "changes", parsed, scrub.json(cleaned))
            events = await kith.db.execute(
                "SELECT id, record_id, payload, last_error, idempotency_key FROM kith_outbox "
                f"WHERE entity = {{}} AND record_id IN ({marks(chunk)})",
                name,
                *chunk,
            )
            for row in events:
                own = erasure.footprint.erased(name, int(row["record_id"]))
                parsed = _parse(row["payload"])
                cleaned = keys.erase_payload(parsed) if own else parsed
                await _store_json(erasure, "kith_outbox", row["id"], "payload", parsed, scrub.json(cleaned))
                await _store_text(erasure, "kith_outbox", row["id"], "last_error", row["last_error"])
                event_ids.add(int(row["id"]))
                event_keys.add(str(row["idempotency_key"]))
                if isinstance(parsed, dict) and isinstance(parsed.get("key"), str):
                    event_keys.add(parsed["key"])  # a job: its effects are keyed by its event's key
            runs = await kith.db.execute(
                "SELECT id, actions, error FROM kith_automation_run "
                f"WHERE entity = {{}} AND record_id IN ({marks(chunk)})",
                name,
                *chunk,
            )
            await _scrub_runs(erasure, runs)
    for chunk in chunks(sorted(event_ids)):
        runs = await kith.db.execute(
            f"SELECT id, actions, error FROM kith_automation_run WHERE event_id IN ({marks(chunk)})", *chunk
        )
        await _scrub_runs(erasure, runs)
    for chunk in chunks(sorted(event_keys), 100):
        likes = " OR ".join("key LIKE {} ESCAPE '\\'" for _ in chunk)
        effects = await kith.db.execute(
            f"SELECT id, result FROM kith_action_effect WHERE {likes}", *(escape_like(k) + ":%" for k in chunk)
        )
        for row in effects:
            parsed = _parse(row["result"])
            await _store_json(erasure, "kith_action_effect", row["id"], "result", parsed, scrub.json(parsed))


async def _scrub_runs(erasure: Erasure, runs: list[Any]) -> None:
    for row in runs:
        parsed = _parse(row["actions"])
        await _store_json(erasure, "kith_automation_run", row["id"], "actions", parsed, erasure.scrub_json(parsed))
        await _store_text(erasure, "kith_automation_run", row["id"], "error", row["error"])


async def _store_json(erasure: Erasure, table: str, row_id: int, column: str, before: Any, after: Any) -> None:
    if after != before:
        await erasure.write_row(table, int(row_id), {column: dumps(after)})


async def _store_text(erasure: Erasure, table: str, row_id: int, column: str, value: Any) -> None:
    if isinstance(value, str) and erasure.scrubber.found_in(value):
        await erasure.write_row(table, int(row_id), {column: erasure.scrub_text(value)})
