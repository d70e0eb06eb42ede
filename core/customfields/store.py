"""Adding, renaming and removing custom fields, and the in-memory copy every request reads.

A definition change, its index and the schema version bump are committed together;
every process notices the new version and rebuilds its GraphQL schema, so the running
server serves the new field without a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from piccolo.querystring import QueryString

from kith.core.customfields.definition import CustomField
from kith.core.customfields.sql import index_name, index_statement
from kith.core.customfields.types import FIELD_TYPES
from kith.core.entities import EntityRegistry
from kith.core.errors import FieldError, ValidationFailed
from kith.core.storage.database import Database
from kith.core.storage.meta import bump_schema_version

NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,50}$")
RESERVED = {"id", "custom", "custom_fields", "version", "and", "or", "not"}
LONG_TEXT_UNINDEXED = (
    "a long_text field cannot be indexed (a long value is too big for an index entry); use a text field"
)


class CustomFieldStore:
    """Definitions by entity, loaded from the database and kept in step with it."""

    def __init__(self, db: Database, entities: EntityRegistry, region: str = "US") -> None:
        self.db = db
        self.entities = entities
        self.region = region
        self._by_entity: dict[str, dict[str, CustomField]] = {}

    async def load(self) -> None:
        rows = await self.db.execute("SELECT * FROM kith_custom_field ORDER BY entity, position, id")
        by_entity: dict[str, dict[str, CustomField]] = {}
        for row in rows:
            field = CustomField.from_row(row)
            by_entity.setdefault(field.entity, {})[field.name] = field
        self._by_entity = by_entity

    def for_entity(self, entity: str) -> list[CustomField]:
        return list(self._by_entity.get(entity, {}).values())

    def get(self, entity: str, name: str) -> CustomField | None:
        return self._by_entity.get(entity, {}).get(name)

    def all(self) -> list[CustomField]:
        return [f for fields in self._by_entity.values() for f in fields.values()]

    # -- changes ----------------------------------------------------------------------

    async def add(
        self,
        entity: str,
        name: str,
        type: str,
        *,
        label: str | None = None,
        required: bool = False,
        default: Any = None,
        choices: list[str] | tuple[str, ...] = (),
        indexed: bool = False,
        personal: bool = False,
        target: str | None = None,
        plugin: str | None = None,
    ) -> CustomField:
        """Define a new field; refuses with errors naming each bad argument.  ``plugin``
        names the plugin that declared it (``kith_custom_fields``): purging the plugin
        removes the field."""
        errors: list[FieldError] = []
        entity_obj = None
        if entity not in self.entities:
            errors.append(FieldError("entity", "unknown", f"unknown entity {entity!r}"))
        else:
            entity_obj = self.entities.get(entity)
            if not entity_obj.customizable:
                errors.append(FieldError("entity", "invalid", f"{entity} has no custom fields"))
        if not NAME_PATTERN.match(name or ""):
            errors.append(
                FieldError(
                    "name",
                    "invalid",
                    "must start with a lowercase letter and use only a-z, 0-9 and _ (at most 51 characters)",
                )
            )
        elif name in RESERVED or (entity_obj and name in entity_obj.fields):
            errors.append(FieldError("name", "taken", f"{name!r} is a built-in field of {entity}"))
        elif self.get(entity, name):
            errors.append(FieldError("name", "taken", f"{entity} already has a field {name!r}"))
        if type not in FIELD_TYPES:
            errors.append(FieldError("type", "unknown", f"unknown type {type!r}; one of: {', '.join(FIELD_TYPES)}"))
        choices = tuple(choices)
        if type in ("single_select", "multi_select"):
            if not choices:
                errors.append(FieldError("choices", "required", f"a {type} field needs choices"))
            elif len(set(choices)) != len(choices) or not all(isinstance(c, str) and c.strip() for c in choices):
                errors.append(FieldError("choices", "invalid", "choices must be distinct, non-empty text"))
        elif choices:
            errors.append(FieldError("choices", "invalid", f"a {type} field takes no choices"))
        if type == "relation":
            if not target or target not in self.entities:
                errors.append(FieldError("target", "invalid", "a relation needs the name of an existing entity"))
        elif target:
            errors.append(FieldError("target", "invalid", "only relation fields take a target"))
        if indexed and type == "long_text":
            errors.append(FieldError("indexed", "invalid", LONG_TEXT_UNINDEXED))
        if errors:
            raise ValidationFailed(errors)

        field = CustomField(
            entity=entity,
            name=name,
            type=type,
            label=label or name.replace("_", " ").capitalize(),
            required=required,
            default=None,
            choices=choices,
            indexed=indexed,
            personal=personal,
            target=target,
            position=len(self.for_entity(entity)),
            plugin=plugin,
        )
        if default is not None:
            try:
                default = FIELD_TYPES[type].coerce(default, field, self.region)
            except ValueError as exc:
                raise ValidationFailed.single("default", "invalid", f"default {exc}") from None
        field = CustomField(**{**field.__dict__, "default": default})

        async with self.db.transaction():
            await self.db.fetch(
                QueryString(
                    "INSERT INTO kith_custom_field (entity, name, type, label, required, "
                    '"default", choices, indexed, personal, target, position, created_at, plugin) '
                    "VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                    field.entity,
                    field.name,
                    field.type,
                    field.label,
                    field.required,
                    json.dumps(field.default) if field.default is not None else None,
                    json.dumps(list(field.choices)),
                    field.indexed,
                    field.personal,
                    field.target,
                    field.position,
                    dt.datetime.now(dt.UTC),
                    field.plugin,
                )
            )
            if field.indexed:
                await self._create_index(field)
            await bump_schema_version(self.db)
        await self.load()
        return field

    async def remove(self, entity: str, name: str) -> int:
        """Delete a definition and its stored values; returns how many records had a value."""
        field = self._require(entity, name)
        table = self.entities.get(entity).tablename
        has_value = self._has_value_sql(field)
        async with self.db.transaction():
            count = await self.db.fetch_value(QueryString(f'SELECT COUNT(*) AS n FROM "{table}" WHERE {has_value}'))
            await self.db.fetch(
                QueryString(f'UPDATE "{table}" SET custom = {self._without_key_sql(field.name)} WHERE {has_value}')
            )
            await self.db.fetch(
                QueryString("DELETE FROM kith_custom_field WHERE entity = {} AND name = {}", entity, name)
            )
            await self.db.run_ddl(f'DROP INDEX IF EXISTS "{self._index_name(field)}"')
            await bump_schema_version(self.db)
        await self.load()
        return int(count or 0)

    async def rename(self, entity: str, name: str, new_name: str) -> CustomField:
        """Rename a field, moving every stored value to the new key in the same transaction."""
        field = self._require(entity, name)
        entity_obj = self.entities.get(entity)
        if not NAME_PATTERN.match(new_name or "") or new_name in RESERVED:
            raise ValidationFailed.single(
                "newName", "invalid", "must start with a lowercase letter and use only a-z, 0-9 and _"
            )
        if new_name in entity_obj.fields or self.get(entity, new_name):
            raise ValidationFailed.single("newName", "taken", f"{entity} already has a field {new_name!r}")
        table = entity_obj.tablename
        renamed = CustomField(**{**field.__dict__, "name": new_name})
        async with self.db.transaction():
            if self.db.dialect.is_postgres:
                move = f"(custom - '{name}') || jsonb_build_object('{new_name}', custom->'{name}')"
            else:
                move = f"json_set(json_remove(custom, '$.{name}'), '$.{new_name}', json(custom -> '$.{name}'))"
            await self.db.fetch(QueryString(f'UPDATE "{table}" SET custom = {move} WHERE {self._has_value_sql(field)}'))
            await self.db.fetch(
                QueryString(
                    "UPDATE kith_custom_field SET name = {} WHERE entity = {} AND name = {}",
                    new_name,
                    entity,
                    name,
                )
            )
            if field.indexed:
                await self.db.run_ddl(f'DROP INDEX IF EXISTS "{self._index_name(field)}"')
                await self._create_index(renamed)
            await bump_schema_version(self.db)
        await self.load()
        return renamed

    async def set_indexed(self, entity: str, name: str, indexed: bool = True) -> CustomField:
        """Index a field that exists already (``kith fields index``), or drop its index
        (``indexed=False``).  The index is built over the values already stored, in the
        same transaction as the definition change; on PostgreSQL, writes to the table wait
        while it is built."""
        field = self._require(entity, name)
        if indexed and field.type == "long_text":
            raise ValidationFailed.single("indexed", "invalid", LONG_TEXT_UNINDEXED)
        changed = CustomField(**{**field.__dict__, "indexed": indexed})
        async with self.db.transaction():
            await self.db.fetch(
                QueryString(
                    "UPDATE kith_custom_field SET indexed = {} WHERE entity = {} AND name = {}", indexed, entity, name
                )
            )
            if indexed:
                await self._create_index(changed)
            else:
                await self.db.run_ddl(f'DROP INDEX IF EXISTS "{self._index_name(field)}"')
            await bump_schema_version(self.db)
        await self.load()
        return changed

    # -- helpers ----------------------------------------------------------------------

    def _require(self, entity: str, name: str) -> CustomField:
        field = self.get(entity, name)
        if field is None:
            raise ValidationFailed.single("name", "not_found", f"{entity} has no custom field {name!r}")
        return field

    def _has_value_sql(self, field: CustomField) -> str:
        if self.db.dialect.is_postgres:
            return f"custom ? '{field.name}'"
        return f"json_type(custom, '$.{field.name}') IS NOT NULL"

    def _without_key_sql(self, name: str) -> str:
        if self.db.dialect.is_postgres:
            return f"custom - '{name}'"
        return f"json_remove(custom, '$.{name}')"

    def _index_name(self, field: CustomField) -> str:
        return index_name(self.entities.get(field.entity).tablename, field.name)

    async def _create_index(self, field: CustomField) -> None:
        """Index the exact expression the filter compiler emits, so the planner uses it."""
        table = self.entities.get(field.entity).tablename
        statement = index_statement(field, table, self._index_name(field), self.db.dialect)
        if statement is not None:
            await self.db.run_ddl(statement)
