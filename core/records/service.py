"""The one write path.  Every create, update, delete and restore — from GraphQL, the CLI,
an import or an automation — goes through ``RecordService``:

    validate -> before-hooks (may change values or refuse) ->
    write + audit row + outbox event in one transaction -> after-commit hooks

so a write is all or nothing, always audited, and always announced.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core import money
from kith.core.entities import Entity, EntityRegistry, FieldKind
from kith.core.errors import FieldError, NotFound, ValidationFailed, VersionConflict
from kith.core.records.change import SYSTEM, Action, Actor, Change
from kith.core.records.encoding import decode_row, dumps, jsonable
from kith.core.records.field_names import CUSTOM, client_name
from kith.core.records.validation import check_needs_one_of, graphql_name, validate_input
from kith.core.storage.database import Database
from kith.core.storage.meta import USER_TABLE
from kith.core.storage.outbox import current_depth

if TYPE_CHECKING:
    from kith.core.customfields.store import CustomFieldStore
    from kith.core.plugins.manager import PluginManager

Record = dict[str, Any]

#: who may write read-only fields: code, not clients
TRUSTED_SOURCES = frozenset({"system", "plugin", "privacy", "demo"})
#: the actor source of personal-data erasure (``kith.core.privacy``)
ERASURE_SOURCE = "privacy"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


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
                await self._after_commit("kith_after_update", change)
        return record

    async def delete(
        self, entity_name: str, record_id: int, actor: Actor = SYSTEM, expected_version: int | None = None
    ) -> Record:
        """Soft delete: the record disappears from reads and can be restored."""
        return await self._set_deleted(entity_name, record_id, actor, "delete", expected_version)

    async def restore(self, entity_name: str, record_id: int, actor: Actor = SYSTEM) -> Record:
        return await self._set_deleted(entity_name, record_id, actor, "restore", None)

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

    async def _after_commit(self, hook: str, change: Change) -> None:
        async def call() -> None:
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

    async def _check_relations(
        self, entity: Entity, values: dict[str, Any], perms: Any = None, before: Record | None = None
    ) -> None:
        """Every referenced record must exist and not be deleted (one query per relation).

        Linking is a read of the other record: with ``perms`` (a user's write), a record
        they may not read is refused exactly as a missing one, so linking cannot be used
        to learn that it exists.  A link the record already had is not a new read, and
        every user may name themselves (a record's default owner).
        """
        errors: list[FieldError] = []
        checks: list[tuple[str, Any, Any, Any]] = []  # (field, target entity, id, the id it had)
        old = before or {}
        for spec in entity.relation_fields():
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
        for spec in entity.fields.values():
            old, new = before.get(spec.name), after.get(spec.name)
            if creating and new in (None, []):
                continue
            if old != new:
                changed[graphql_name(spec)] = (jsonable(old), jsonable(new))
        old_custom, new_custom = before.get("custom") or {}, after.get("custom") or {}
        for key in sorted(set(old_custom) | set(new_custom)):
            if old_custom.get(key) != new_custom.get(key):
                field = self.custom_fields.get(entity.name, key)
                path = field.path if field else f"customFields.{key}"
                changed[path] = (jsonable(old_custom.get(key)), jsonable(new_custom.get(key)))
        return changed

    async def _journal(self, entity: Entity, change: Change) -> None:
        """The audit row and the outbox event, in the caller's transaction (and, for a
        user, the auth version: a cached sign-in depends on the user's state and team)."""
        now = _now()
        assert change.record_id is not None
        if entity.tablename == USER_TABLE and self.kith is not None:
            await self.kith.auth.changed()
        await self.db.fetch(
            QueryString(
                "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
                "VALUES ({}, {}, {}, {}, {}, {}, {})",
                entity.name,
                change.record_id,
                change.action,
                change.actor.name,
                change.actor.source,
                dumps({k: list(v) for k, v in change.changed.items()}),
                now,
            )
        )
        payload = {
            "record": change.after,
            "changed": sorted(change.changed),
            "changes": {k: list(v) for k, v in change.changed.items()},
            "actor": change.actor.name,
        }
        await self.db.fetch(
            QueryString(
                "INSERT INTO kith_outbox (event, entity, record_id, payload, idempotency_key, "
                "created_at, available_at, attempts, status, depth) "
                "VALUES ({}, {}, {}, {}, {}, {}, {}, 0, 'pending', {})",
                change.event,
                entity.name,
                change.record_id,
                dumps(payload),
                uuid.uuid4().hex,
                now,
                now,
                current_depth() + (1 if change.actor.source == "automation" else 0),
            )
        )
