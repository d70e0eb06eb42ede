"""The one write path.  Every create, update, delete and restore — from GraphQL, the CLI,
an import or an automation — goes through ``RecordService``:

    validate -> before-hooks (may change values or refuse) ->
    write + audit row + outbox event in one transaction -> after-commit hooks

so a write is all or nothing, always audited, and always announced.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core import money
from kith.core.entities import Entity, EntityRegistry, FieldKind, FieldSpec
from kith.core.errors import FieldError, NotFound, ValidationFailed, VersionConflict
from kith.core.records.change import SYSTEM, Action, Actor, Change
from kith.core.records.encoding import decode_row, dumps, jsonable
from kith.core.records.field_names import CUSTOM, client_name
from kith.core.records.validation import check_needs_one_of, graphql_name, validate_input
from kith.core.storage.database import Database
from kith.core.storage.meta import USER_TABLE
from kith.core.storage.outbox import QUEUE_COLUMNS, automation_depth, current_depth

if TYPE_CHECKING:
    from kith.core.customfields.store import CustomFieldStore
    from kith.core.plugins.manager import PluginManager

Record = dict[str, Any]

#: who may write read-only fields: code, not clients (``merge``: a merge moving what
#: points at a merged-away record, a converted lead's contact included)
TRUSTED_SOURCES = frozenset({"system", "plugin", "privacy", "demo", "merge"})
#: the actor source of personal-data erasure (``kith.core.privacy``)
ERASURE_SOURCE = "privacy"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RecordWrite:
    """One write of ``RecordService.write_many``: a create (no ``record_id``) or an update.

    An update's ``values`` may be a function of the record as it is stored, read inside
    the write's transaction (``{"tags": [*record["tags"], "vip"]}``); it returns the
    values to write, or None to write nothing.  ``depth`` is the automation depth the
    write's event is announced with (default: the depth of the code running now).
    """

    entity: str
    values: Mapping[str, Any] | Callable[[Record], Mapping[str, Any] | None]
    actor: Actor = SYSTEM
    record_id: int | None = None
    depth: int | None = None
    #: a create's ``values`` are already ``validate_input``'s output for this actor (an
    #: import validated each row to report it by line): not validated a second time;
    #: permissions, read-only fields, hooks and the database's checks still apply
    checked: bool = False


#: (entity, id) of every record written through the service, while ``track_writes`` is on
_written: contextvars.ContextVar[set[tuple[str, int]] | None] = contextvars.ContextVar(
    "kith_written_records", default=None
)


@contextmanager
def track_writes() -> Iterator[set[tuple[str, int]]]:
    """Collect the (entity, id) of every record the service creates or changes inside
    the block, including writes made by hooks (the automation worker uses it to know
    which records it has read are no longer as it read them)."""
    written: set[tuple[str, int]] = set()
    token = _written.set(written)
    try:
        yield written
    finally:
        _written.reset(token)


def _note_write(entity: str, record_id: int) -> None:
    written = _written.get()
    if written is not None:
        written.add((entity, int(record_id)))


#: columns of the journal tables, with their SQL types (for bulk inserts)
AUDIT_COLUMNS = (
    ("entity", "VARCHAR"),
    ("record_id", "BIGINT"),
    ("action", "VARCHAR"),
    ("actor", "VARCHAR"),
    ("source", "VARCHAR"),
    ("changes", "JSON"),
    ("at", "TIMESTAMPTZ"),
)


class RecordService:
    """Writes records of any entity.  Stateless apart from its collaborators."""

    def __init__(
        self,
        db: Database,
        entities: EntityRegistry,
        custom_fields: CustomFieldStore,
        plugins: PluginManager,
        region: str = "US",
    ) -> None:
        self.db = db
        self.entities = entities
        self.custom_fields = custom_fields
        self.plugins = plugins
        self.region = region
        self.kith: Any = None  # set by Kith; handed to hooks on every Change
        self._types: dict[str, dict[str, str]] = {}
        self._shapes: dict[int, _Shape] = {}

    # -- reads used by writers -----------------------------------------------------

    async def get(self, entity_name: str, record_id: int, *, include_deleted: bool = False) -> Record:
        entity = self.entities.get(entity_name)
        deleted = "" if include_deleted else " AND deleted_at IS NULL"
        row = await self.db.fetch_one(
            QueryString(f'SELECT * FROM "{entity.tablename}" WHERE id = {{}}{deleted}', int(record_id))
        )
        if row is None:
            raise NotFound(entity.name, record_id)
        return decode_row(entity, row)

    # -- writes --------------------------------------------------------------------

    async def create(self, entity_name: str, data: Mapping[str, Any], actor: Actor = SYSTEM) -> Record:
        entity = self.entities.get(entity_name)
        perms = actor.permissions
        if perms is not None:
            perms.require(entity.name, "create")
            self._refuse_read_only(entity, perms, data)
            data = self._default_owner(entity, perms, data)
        values = self._validate(entity, data, creating=True, actor=actor)
        change = Change(entity.name, "create", values, actor, runtime=self.kith)
        async with self.db.write_transaction():
            # inside the transaction, like the update and delete hooks: what a hook writes
            # through the record service commits or rolls back with this record
            await self.plugins.call_async("kith_before_create", refuse=True, change=change)
            await self._check_relations(entity, change.values, perms)
            await self._check_unique(entity, change.values)
            check_needs_one_of(entity, change.values)
            now = _now()
            row_values = {
                **self._columns(entity, change.values),
                "custom": dumps(change.values.get("custom") or {}),
                "created_at": now,
                "updated_at": now,
                "version": 1,
            }
            columns = ", ".join(f'"{c}"' for c in row_values)
            placeholders = ", ".join("{}" for _ in row_values)
            row = await self.db.fetch_one(
                QueryString(
                    f'INSERT INTO "{entity.tablename}" ({columns}) VALUES ({placeholders}) RETURNING *',
                    *row_values.values(),
                )
            )
            assert row is not None
            record = decode_row(entity, row)
            if perms is not None:  # the new record must be one this actor may create
                await perms.check_record(entity, record["id"], "create")
            change.record_id = record["id"]
            change.after = record
            change.changed = self._diff(entity, {}, record, creating=True)
            await self._journal(entity, change)
            await self._after_write(change)
            await self._after_commit("kith_after_create", change)
        return record

    async def update(
        self,
        entity_name: str,
        record_id: int,
        data: Mapping[str, Any],
        actor: Actor = SYSTEM,
        expected_version: int | None = None,
    ) -> Record:
        entity = self.entities.get(entity_name)
        perms = actor.permissions
        if perms is not None:
            self._refuse_read_only(entity, perms, data)
        values = self._validate(entity, data, creating=False, actor=actor)
        async with self.db.write_transaction():
            if perms is not None:
                await perms.check_record(entity, int(record_id), "update")
            before = await self._load_for_write(entity, record_id, expected_version)
            change = Change(
                entity.name, "update", values, actor, record_id=before["id"], before=before, runtime=self.kith
            )
            await self.plugins.call_async("kith_before_update", refuse=True, change=change)
            await self._check_relations(entity, change.values, perms, before)
            await self._check_unique(entity, change.values, before["id"])
            if actor.source != ERASURE_SOURCE:  # erasure empties a person's record on purpose
                check_needs_one_of(entity, {**before, **change.values}, change.values)
            assignments = self._columns(entity, change.values)
            if "custom" in change.values:
                merged = dict(before.get("custom") or {})
                for key, value in change.values["custom"].items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                assignments["custom"] = dumps(merged)
            if not self._differs(entity, before, change.values):
                return before  # nothing changes: no new version, no audit row, no event
            record = await self._write(entity, before, assignments)
            change.after = record
            change.changed = self._diff(entity, before, record)
            if change.changed:
                await self._journal(entity, change)
                await self._after_write(change)
                await self._after_commit("kith_after_update", change)
        return record

    async def delete(
        self, entity_name: str, record_id: int, actor: Actor = SYSTEM, expected_version: int | None = None
    ) -> Record:
        """Soft delete: the record disappears from reads and can be restored."""
        return await self._set_deleted(entity_name, record_id, actor, "delete", expected_version)

    async def restore(self, entity_name: str, record_id: int, actor: Actor = SYSTEM) -> Record:
        return await self._set_deleted(entity_name, record_id, actor, "restore", None)

    async def write_many(self, writes: Sequence[RecordWrite]) -> list[Record]:
        """Creates and updates of any entities in bulk, with every step of ``create`` and
        ``update``: validation, permission checks, before-hooks (which may change values
        or refuse), relation and unique checks, the rows, an audit row and an outbox
        event for each change, after-commit hooks — in one transaction, all or nothing.

        The statements do not grow with the writes: the records to update are read and
        locked with one statement per entity; links are checked with one per target
        entity and unique values with one per field (for writes made as a user, links
        are checked one at a time, as ``create`` does); rows are inserted and updated
        with one statement per entity and set of columns; all audit rows and all outbox
        events with one each.  Before-hooks of every write run before any row of the
        batch is written.  Writes to the same record apply in order, each seeing the
        one before.  Raises what ``create`` or ``update`` would raise for the first
        write refused, and then nothing is written.

        Returns the records as written, in the order of ``writes`` (an update that
        changes nothing returns the record as stored, as ``update`` does).
        """
        results: list[Record | None] = [None] * len(writes)
        if not writes:
            return []
        async with self.db.write_transaction():
            todo = list(range(len(writes)))
            while todo:  # each pass takes at most one write per record
                seen: set[tuple[str, int]] = set()
                current: list[int] = []
                later: list[int] = []
                for index in todo:
                    write = writes[index]
                    name = self.entities.get(write.entity).name
                    key = None if write.record_id is None else (name, int(write.record_id))
                    if key is not None and key in seen:
                        later.append(index)
                        continue
                    if key is not None:
                        seen.add(key)
                    current.append(index)
                await self._write_pass(writes, current, results)
                todo = later
        out: list[Record] = []
        for record in results:
            assert record is not None
            out.append(record)
        return out

    async def _write_pass(
        self, writes: Sequence[RecordWrite], indexes: list[int], results: list[Record | None]
    ) -> None:
        dialect = self.db.dialect
        ids: dict[str, list[int]] = {}
        for index in indexes:
            write = writes[index]
            if write.record_id is not None:
                ids.setdefault(self.entities.get(write.entity).name, []).append(int(write.record_id))
        stored: dict[tuple[str, int], Record] = {}
        for name, record_ids in ids.items():  # read and lock the records to update
            entity = self.entities.get(name)
            rows = await self.db.fetch(
                QueryString(
                    f'SELECT * FROM "{entity.tablename}" t WHERE {{}}{dialect.lock_rows()}',
                    dialect.in_ids("t.id", record_ids),
                )
            )
            for row in rows:
                stored[(name, int(row["id"]))] = decode_row(entity, dict(row))

        pending: list[_Pending] = []
        for index in indexes:
            write = writes[index]
            entity = self.entities.get(write.entity)
            actor = write.actor
            perms = actor.permissions
            if write.record_id is None:
                if callable(write.values):
                    raise TypeError("a create's values must be a mapping")
                data: Mapping[str, Any] = write.values
                if perms is not None:
                    perms.require(entity.name, "create")
                    self._refuse_read_only(entity, perms, data)
                    data = self._default_owner(entity, perms, data)
                values = dict(data) if write.checked else self._validate(entity, data, creating=True, actor=actor)
                change = Change(entity.name, "create", values, actor, runtime=self.kith)
                with _at_depth(write.depth):
                    await self.plugins.call_async("kith_before_create", refuse=True, change=change)
                pending.append(_Pending(index, entity, change, write.depth))
                continue
            record_id = int(write.record_id)
            if perms is not None:
                await perms.check_record(entity, record_id, "update")
            before = stored.get((entity.name, record_id))
            if before is None or before["deleted_at"] is not None:
                raise NotFound(entity.name, record_id)
            given = write.values(before) if callable(write.values) else write.values
            if given is None:  # the function found nothing to change
                results[index] = before
                continue
            if perms is not None:
                self._refuse_read_only(entity, perms, given)
            values = self._validate(entity, given, creating=False, actor=actor)
            change = Change(entity.name, "update", values, actor, record_id=record_id, before=before, runtime=self.kith)
            with _at_depth(write.depth):
                await self.plugins.call_async("kith_before_update", refuse=True, change=change)
            pending.append(_Pending(index, entity, change, write.depth, before))

        await self._check_many(pending)
        now = _now()
        creates: dict[tuple[str, tuple[str, ...]], list[_Pending]] = {}
        updates: dict[tuple[str, tuple[str, ...]], list[_Pending]] = {}
        for item in pending:
            entity, change = item.entity, item.change
            if item.before is None:
                item.row = {
                    **self._columns(entity, change.values),
                    "custom": dumps(change.values.get("custom") or {}),
                    "created_at": now,
                    "updated_at": now,
                    "version": 1,
                }
                creates.setdefault((entity.name, tuple(item.row)), []).append(item)
                continue
            before = item.before
            assignments = self._columns(entity, change.values)
            if "custom" in change.values:
                merged = dict(before.get("custom") or {})
                for key, value in change.values["custom"].items():
                    if value is None:
                        merged.pop(key, None)
                    else:
                        merged[key] = value
                assignments["custom"] = dumps(merged)
            if not self._differs(entity, before, change.values):
                results[item.index] = before  # nothing changes: no new version, no audit row, no event
                continue
            item.row = {**assignments, "updated_at": now}
            updates.setdefault((entity.name, tuple(item.row)), []).append(item)

        for (name, columns), group in creates.items():
            entity = self.entities.get(name)
            types = self._column_types(entity)
            rows = await self.db.insert_rows(
                entity.tablename,
                [(column, types[column]) for column in columns],
                [tuple(item.row[column] for column in columns) for item in group],
                " RETURNING *",
            )
            for item, row in zip(group, sorted(rows, key=lambda r: int(r["id"])), strict=True):
                record = decode_row(entity, dict(row))
                if item.change.actor.permissions is not None:  # the new record must be one this actor may create
                    await item.change.actor.permissions.check_record(entity, record["id"], "create")
                item.change.record_id = record["id"]
                item.change.after = record
                item.change.changed = self._diff(entity, {}, record, creating=True)
                results[item.index] = record

        for (name, columns), group in updates.items():
            entity = self.entities.get(name)
            types = self._column_types(entity)
            sets = ", ".join(f'"{column}" = v."{column}"' for column in columns)
            rows = await self.db.fetch(
                dialect.update_rows(
                    entity.tablename,
                    [("id", "BIGINT"), ("version", "INTEGER"), *((column, types[column]) for column in columns)],
                    [(i.before["id"], i.before["version"], *(i.row[c] for c in columns)) for i in group if i.before],
                    f"{sets}, version = t.version + 1",
                    't.id = v."id" AND t.version = v."version"',
                )
            )
            by_id = {int(row["id"]): row for row in rows}
            for item in group:
                assert item.before is not None
                updated = by_id.get(int(item.before["id"]))
                if updated is None:  # someone else wrote between our read and our write
                    current = await self.get(entity.name, item.before["id"], include_deleted=True)
                    raise VersionConflict(entity.name, item.before["id"], item.before["version"], current["version"])
                _note_write(entity.name, item.before["id"])
                record = decode_row(entity, dict(updated))
                item.change.after = record
                item.change.changed = self._diff(entity, item.before, record)
                results[item.index] = record

        audits: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        announced: list[_Pending] = []
        for item in sorted(pending, key=lambda p: p.index):  # journal rows in the order of the writes
            if item.change.after is None or (item.before is not None and not item.change.changed):
                continue
            audit, event = self._journal_rows(item.entity, item.change, now, item.depth)
            audits.append(audit)
            events.append(event)
            announced.append(item)
        if self.kith is not None and any(item.entity.tablename == USER_TABLE for item in announced):
            await self.kith.auth.changed()  # as _journal does: cached sign-ins depend on users
        await self.db.copy_rows("kith_audit", AUDIT_COLUMNS, audits)
        await self.db.copy_rows("kith_outbox", QUEUE_COLUMNS, events)
        for item in announced:
            with _at_depth(item.depth):
                await self._after_write(item.change)
            hook = "kith_after_create" if item.before is None else "kith_after_update"
            await self._after_commit(hook, item.change, item.depth)

    async def _check_many(self, pending: list[_Pending]) -> None:
        """Links, unique values and needed fields of a pass's writes, refusing the first
        write (in order) that fails, with the errors ``create``/``update`` would give."""
        links: list[tuple[list[FieldError], list[tuple[str, str, Any, Any]]]] = []
        wanted: dict[str, set[int]] = {}
        for item in pending:
            errors, checks = self._relation_checks(item.entity, item.change.values, item.before)
            links.append((errors, checks))
            if item.change.actor.permissions is None:
                for _path, target, record_id, _had in checks:
                    if _as_id(record_id) is not None:
                        wanted.setdefault(target, set()).add(_as_id(record_id))  # type: ignore[arg-type]
        found: dict[str, set[int]] = {}
        for target, record_ids in wanted.items():
            entity = self.entities.get(target)
            rows = await self.db.fetch(
                QueryString(
                    f'SELECT t.id FROM "{entity.tablename}" t WHERE t.deleted_at IS NULL AND {{}}',
                    self.db.dialect.in_ids("t.id", sorted(record_ids)),
                )
            )
            found[target] = {int(row["id"]) for row in rows}
        taken = await self._taken_many(pending)
        for position, item in enumerate(pending):
            change = item.change
            if change.actor.permissions is not None:
                await self._check_relations(item.entity, change.values, change.actor.permissions, item.before)
            else:
                errors, checks = links[position]
                errors = errors + [
                    FieldError(path, "not_found", f"{target} {record_id} does not exist")
                    for path, target, record_id, _had in checks
                    if _as_id(record_id) not in found.get(target, set())
                ]
                if errors:
                    raise ValidationFailed(errors)
            if position in taken:
                raise taken[position]
            if item.before is None:
                check_needs_one_of(item.entity, change.values)
            elif change.actor.source != ERASURE_SOURCE:
                check_needs_one_of(item.entity, {**item.before, **change.values}, change.values)

    async def _taken_many(self, pending: list[_Pending]) -> dict[int, ValidationFailed]:
        """For each write (by position) setting a UNIQUE column to a value another record
        holds, or an earlier write of the pass sets: the error ``_check_unique`` gives."""
        wanted: dict[tuple[str, str], list[tuple[int, Any, int | None]]] = {}
        for position, item in enumerate(pending):
            for spec in self._shape(item.entity).unique:
                value = item.change.values.get(spec.name)
                if value is not None:
                    wanted.setdefault((item.entity.name, spec.name), []).append(
                        (position, value, item.change.record_id)
                    )
        out: dict[int, ValidationFailed] = {}
        for (name, column), items in wanted.items():
            entity = self.entities.get(name)
            values = list(dict.fromkeys(value for _position, value, _id in items))
            rows = await self.db.fetch(
                QueryString(
                    f'SELECT id, "{column}" AS value, deleted_at FROM "{entity.tablename}" '
                    f'WHERE "{column}" IN ({", ".join("{}" for _ in values)})',
                    *values,
                )
            )
            holders: dict[Any, list[Any]] = {}
            for row in rows:
                holders.setdefault(row["value"], []).append(row)
            claimed: dict[Any, int | None] = {}
            label = graphql_name(entity.fields[column])
            for position, value, record_id in items:
                others = [r for r in holders.get(value, []) if record_id is None or int(r["id"]) != int(record_id)]
                earlier = value in claimed and (record_id is None or claimed[value] != record_id)
                if others or earlier:
                    deleted = " (deleted: restore it, or choose another)" if others and others[0]["deleted_at"] else ""
                    message = f"another {entity.name} has this {label} already{deleted}"
                    out.setdefault(position, ValidationFailed.single(label, "taken", message))
                claimed.setdefault(value, record_id)
        return out

    def _column_types(self, entity: Entity) -> dict[str, str]:
        """SQL types of the entity's columns, for bulk statements (cached per table)."""
        types = self._types.get(entity.tablename)
        if types is None:
            types = {c._meta.name: self.db.dialect.column_type(c) for c in entity.table._meta.columns}
            self._types[entity.tablename] = types
        return types

    # -- internals -----------------------------------------------------------------

    @staticmethod
    def _differs(entity: Entity, before: Record, values: dict[str, Any]) -> bool:
        for key, value in values.items():
            if key == "custom":
                stored = before.get("custom") or {}
                if any(stored.get(k) != v for k, v in value.items()):
                    return True
            elif before.get(key) != value:
                return True
        return False

    def _refuse_read_only(self, entity: Entity, perms: Any, data: Mapping[str, Any]) -> None:
        fixed = perms.read_only_keys(entity)
        if not fixed:
            return
        given = [k for k in data if k in entity.fields] + [CUSTOM + k for k in (data.get("custom") or {})]
        custom = self.custom_fields.for_entity(entity.name)
        blocked = sorted(client_name(entity, key, custom) for key in given if key in fixed)
        if blocked:
            raise ValidationFailed([FieldError(name, "read_only", "you may not change this field") for name in blocked])

    def _default_owner(self, entity: Entity, perms: Any, data: Mapping[str, Any]) -> Mapping[str, Any]:
        """Someone who may only create their own records owns what they create: the
        entity's first owner field (``Entity.owners``; by default ``owner``)."""
        user_id = perms.principal.user_id
        field = entity.default_owner
        if user_id is not None and field is not None and data.get(field) is None:
            return {**data, field: user_id}
        return data

    async def _after_write(self, change: Change) -> None:
        """``kith_after_write``, inside the write's transaction (a refusal rolls it back)."""
        if self._listened("kith_after_write"):
            await self.plugins.call_async("kith_after_write", refuse=True, change=change)

    async def _after_commit(self, hook: str, change: Change, depth: int | None = None) -> None:
        if not self._listened(hook):
            return  # no plugin implements it: nothing to call after the commit

        async def call() -> None:
            with _at_depth(depth):  # events the hook writes carry its write's depth
                await self.plugins.call_async(hook, refuse=False, change=change)

        await self.db.after_commit(call)

    def _validate(
        self, entity: Entity, data: Mapping[str, Any], *, creating: bool, actor: Actor = SYSTEM
    ) -> dict[str, Any]:
        return validate_input(
            entity,
            self.custom_fields.for_entity(entity.name),
            data,
            creating=creating,
            region=self.region,
            trusted=actor.source in TRUSTED_SOURCES,
        )

    async def _set_deleted(
        self, entity_name: str, record_id: int, actor: Actor, action: Action, expected_version: int | None
    ) -> Record:
        entity = self.entities.get(entity_name)
        deleting = action == "delete"
        async with self.db.write_transaction():
            if actor.permissions is not None:
                await actor.permissions.check_record(entity, int(record_id), action)
            before = await self._load_for_write(entity, record_id, expected_version, deleted=not deleting)
            change = Change(entity.name, action, {}, actor, record_id=before["id"], before=before, runtime=self.kith)
            hook = "kith_before_delete" if deleting else "kith_before_update"
            await self.plugins.call_async(hook, refuse=True, change=change)
            record = await self._write(entity, before, {"deleted_at": _now() if deleting else None})
            change.after = record
            change.changed = {"deletedAt": (jsonable(before["deleted_at"]), jsonable(record["deleted_at"]))}
            await self._journal(entity, change)
            await self._after_write(change)
            await self._after_commit("kith_after_delete" if deleting else "kith_after_update", change)
        return record

    async def _load_for_write(
        self, entity: Entity, record_id: int, expected_version: int | None, *, deleted: bool = False
    ) -> Record:
        lock = self.db.dialect.skip_locked().replace(" SKIP LOCKED", "")
        row = await self.db.fetch_one(
            QueryString(f'SELECT * FROM "{entity.tablename}" WHERE id = {{}}{lock}', int(record_id))
        )
        if row is None or (row["deleted_at"] is not None) != deleted:
            if row is not None and deleted:
                raise ValidationFailed.single("id", "not_deleted", f"{entity.name} {record_id} is not deleted")
            raise NotFound(entity.name, record_id)
        if expected_version is not None and row["version"] != expected_version:
            raise VersionConflict(entity.name, record_id, expected_version, row["version"])
        return decode_row(entity, row)

    async def _write(self, entity: Entity, before: Record, assignments: dict[str, Any]) -> Record:
        _note_write(entity.name, before["id"])
        assignments = {**assignments, "updated_at": _now()}
        sets = ", ".join(f'"{column}" = {{}}' for column in assignments)
        row = await self.db.fetch_one(
            QueryString(
                f'UPDATE "{entity.tablename}" SET {sets}, version = version + 1 '
                "WHERE id = {} AND version = {} RETURNING *",
                *assignments.values(),
                before["id"],
                before["version"],
            )
        )
        if row is None:  # someone else wrote between our read and our write
            current = await self.get(entity.name, before["id"], include_deleted=True)
            raise VersionConflict(entity.name, before["id"], before["version"], current["version"])
        return decode_row(entity, row)

    def _columns(self, entity: Entity, values: Mapping[str, Any]) -> dict[str, Any]:
        """Validated values as column values (money spans two columns)."""
        out: dict[str, Any] = {}
        for key, value in values.items():
            if key == "custom":
                continue
            spec = entity.fields[key]
            if spec.kind is FieldKind.MONEY and spec.currency_column:
                out[key] = None if value is None else money.to_minor(value["amount"], value["currency"])
                out[spec.currency_column] = None if value is None else value["currency"]
            else:
                out[key] = self._to_db(entity, key, value)
        return out

    def _to_db(self, entity: Entity, column: str, value: Any) -> Any:
        if entity.fields[column].kind is FieldKind.STRING_LIST:
            return dumps(value or [])
        return value

    async def _check_unique(self, entity: Entity, values: dict[str, Any], record_id: int | None = None) -> None:
        """A value of a UNIQUE column another record holds (a deleted one too) is refused
        naming the field, rather than failing in the database as an internal error."""
        for spec in entity.fields.values():
            value = values.get(spec.name)
            if not spec.unique or value is None:
                continue
            other = "" if record_id is None else " AND id <> {}"
            row = await self.db.fetch_one(
                QueryString(
                    f'SELECT id, deleted_at FROM "{entity.tablename}" WHERE "{spec.name}" = {{}}{other} LIMIT 1',
                    value,
                    *([] if record_id is None else [record_id]),
                )
            )
            if row is not None:
                name = graphql_name(spec)
                deleted = " (deleted: restore it, or choose another)" if row["deleted_at"] is not None else ""
                # no id: the other record may be one the writer cannot read
                message = f"another {entity.name} has this {name} already{deleted}"
                raise ValidationFailed.single(name, "taken", message)

    def _relation_checks(
        self, entity: Entity, values: dict[str, Any], before: Record | None = None
    ) -> tuple[list[FieldError], list[tuple[str, str, Any, Any]]]:
        """The links ``values`` make, as (field, target entity, id, the id it had), and
        the errors found without reading anything (a timeline type that is not one)."""
        errors: list[FieldError] = []
        checks: list[tuple[str, str, Any, Any]] = []
        old = before or {}
        for spec in self._shape(entity).relations:
            if values.get(spec.name) is not None and spec.target:
                checks.append((graphql_name(spec), spec.target, values[spec.name], old.get(spec.name)))
        for name, value in (values.get("custom") or {}).items():
            field = self.custom_fields.get(entity.name, name)
            if field and field.type == "relation" and value is not None and field.target:
                checks.append((field.path, field.target, value, (old.get("custom") or {}).get(name)))
        if entity.attachment:
            type_field, id_field = entity.attachment
            target = values.get(type_field)
            if target is not None or values.get(id_field) is not None:
                if not isinstance(target, str) or target not in self.entities or not self.entities.get(target).timeline:
                    timelines = ", ".join(e.name for e in self.entities if e.timeline)
                    errors.append(
                        FieldError(
                            graphql_name(entity.fields[type_field]),
                            "invalid",
                            f"must be one of: {timelines}",
                        )
                    )
                elif values.get(id_field) is not None:
                    had = old.get(id_field) if old.get(type_field) == target else None
                    checks.append((graphql_name(entity.fields[id_field]), target, values[id_field], had))
        return errors, checks

    async def _check_relations(
        self, entity: Entity, values: dict[str, Any], perms: Any = None, before: Record | None = None
    ) -> None:
        """Every referenced record must exist and not be deleted (one query per relation).

        Linking is a read of the other record: with ``perms`` (a user's write), a record
        they may not read is refused exactly as a missing one, so linking cannot be used
        to learn that it exists.  A link the record already had is not a new read, and
        every user may name themselves (a record's default owner).
        """
        errors, checks = self._relation_checks(entity, values, before)
        for path, target, record_id, had in checks:
            target_entity = self.entities.get(target)
            scope = None
            yourself = target == "user" and perms is not None and str(record_id) == str(perms.principal.user_id)
            if perms is not None and str(had) != str(record_id) and not yourself:
                scope = perms.predicate(target_entity, "read")
            found = await self.db.fetch_value(
                QueryString(
                    f'SELECT COUNT(*) AS n FROM "{target_entity.tablename}" t '
                    f"WHERE t.id = {{}} AND t.deleted_at IS NULL AND {{}}",
                    record_id,
                    scope if scope is not None else QueryString("1 = 1"),
                )
            )
            if not found:
                errors.append(FieldError(path, "not_found", f"{target} {record_id} does not exist"))
        if errors:
            raise ValidationFailed(errors)

    def _diff(
        self, entity: Entity, before: Record, after: Record, *, creating: bool = False
    ) -> dict[str, tuple[Any, Any]]:
        """Changed fields by client-facing name, old and new value JSON-ready."""
        changed: dict[str, tuple[Any, Any]] = {}
        get_old, get_new = before.get, after.get
        for name, client in self._field_names(entity):
            old, new = get_old(name), get_new(name)
            if creating and (new is None or new == []):
                continue
            if old != new:
                changed[client] = (None if old is None else jsonable(old), None if new is None else jsonable(new))
        old_custom, new_custom = before.get("custom") or {}, after.get("custom") or {}
        for key in sorted(set(old_custom) | set(new_custom)):
            if old_custom.get(key) != new_custom.get(key):
                field = self.custom_fields.get(entity.name, key)
                path = field.path if field else f"customFields.{key}"
                changed[path] = (jsonable(old_custom.get(key)), jsonable(new_custom.get(key)))
        return changed

    def _listened(self, hook: str) -> bool:
        caller = getattr(self.plugins.pm.hook, hook, None)
        return caller is None or bool(caller.get_hookimpls())

    def _field_names(self, entity: Entity) -> list[tuple[str, str]]:
        """(column, client-facing name) of each built-in field."""
        return self._shape(entity).names

    def _shape(self, entity: Entity) -> _Shape:
        """What every write of ``entity`` looks up, worked out once per entity."""
        cached = self._shapes.get(id(entity))
        if cached is None or cached.entity is not entity:
            cached = _Shape(
                entity,
                [(spec.name, graphql_name(spec)) for spec in entity.fields.values()],
                entity.relation_fields(),
                [spec for spec in entity.fields.values() if spec.unique],
            )
            self._shapes[id(entity)] = cached
        return cached

    def _journal_rows(
        self, entity: Entity, change: Change, now: dt.datetime, depth: int | None = None
    ) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """The audit row and the outbox row of a change (``AUDIT_COLUMNS``, the outbox's ``QUEUE_COLUMNS``)."""
        assert change.record_id is not None
        _note_write(entity.name, change.record_id)
        changes = {k: list(v) for k, v in change.changed.items()}
        audit = (
            entity.name,
            change.record_id,
            change.action,
            change.actor.name,
            change.actor.source,
            dumps(changes),
            now,
        )
        payload = {
            "record": change.after,
            "changed": sorted(change.changed),
            "changes": changes,
            "actor": change.actor.name,
        }
        base = current_depth() if depth is None else depth
        outbox = (
            change.event,
            entity.name,
            change.record_id,
            dumps(payload),
            secrets.token_hex(16),  # a third of uuid4().hex's cost, which bulk writes paid per row
            now,
            now,
            0,
            "pending",
            base + (1 if change.actor.source == "automation" else 0),
        )
        return audit, outbox

    async def _journal(self, entity: Entity, change: Change) -> None:
        """The audit row and the outbox event, in the caller's transaction (and, for a
        user, the auth version: a cached sign-in depends on the user's state and team)."""
        if entity.tablename == USER_TABLE and self.kith is not None:
            await self.kith.auth.changed()
        audit, outbox = self._journal_rows(entity, change, _now())
        audit_insert = (
            "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
            "VALUES ({}, {}, {}, {}, {}, {}, {})"
        )
        outbox_insert = (
            "INSERT INTO kith_outbox (event, entity, record_id, payload, idempotency_key, "
            "created_at, available_at, attempts, status, depth) "
            "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
        )
        if self.db.dialect.is_postgres:
            # one round trip for both: a data-modifying WITH always runs to completion
            await self.db.fetch(QueryString(f"WITH audit AS ({audit_insert}) {outbox_insert}", *audit, *outbox))
        else:  # SQLite has no INSERT inside WITH; its statements cost no round trip anyway
            await self.db.fetch(QueryString(audit_insert, *audit))
            await self.db.fetch(QueryString(outbox_insert, *outbox))


@dataclass
class _Shape:
    """Facts about an entity's fields that every write looks up."""

    entity: Entity
    names: list[tuple[str, str]]  # (column, client-facing name)
    relations: list[FieldSpec]
    unique: list[FieldSpec]


@dataclass
class _Pending:
    """A write of ``write_many`` on its way: validated and through its before-hooks."""

    index: int
    entity: Entity
    change: Change
    depth: int | None
    before: Record | None = None
    row: dict[str, Any] = dataclass_field(default_factory=dict)


@contextmanager
def _at_depth(depth: int | None) -> Iterator[None]:
    """Run at automation ``depth`` (None: leave the current one)."""
    if depth is None or depth == current_depth():
        yield
        return
    with automation_depth(depth):
        yield


def _as_id(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
