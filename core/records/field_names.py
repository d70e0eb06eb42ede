"""One answer to "which field is this?", whatever spelling a caller uses.

Clients, grants, rules and plugins name the same field in several ways: ``firstName``
and ``first_name``; ``organization``, ``organizationId`` and ``organization_id``;
``customFields.leadSource``, ``customFields.lead_source`` and ``custom.lead_source``.
A permission check that compares one spelling against another lets the rest through,
so every check resolves names here first and compares *keys*: the column name of a
built-in field, ``created_at`` / ``updated_at`` / ``id``, or ``custom.<name>`` for a
custom field.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from kith.core.customfields import CustomField
from kith.core.entities import Entity, FieldKind
from kith.core.records.validation import graphql_name

CUSTOM = "custom."
_BOOKKEEPING = {
    "id": "id",
    "createdAt": "created_at",
    "created_at": "created_at",
    "updatedAt": "updated_at",
    "updated_at": "updated_at",
}
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake(name: str) -> str:
    """``leadSource`` -> ``lead_source`` (already snake_case names are unchanged)."""
    return _CAMEL_BOUNDARY.sub(r"_\1", name).lower()


def custom_key(name: str) -> str:
    return CUSTOM + snake(name)


def field_key(entity: Entity, name: str, custom_fields: Iterable[CustomField] = ()) -> str | None:
    """The key of the field ``name`` means on ``entity``, or None if it means none.

    A ``customFields.``/``custom.`` name resolves even before the field is defined, so a
    grant that hides a custom field keeps hiding it once an admin creates it.
    """
    if name in _BOOKKEEPING:
        return _BOOKKEEPING[name]
    for prefix in ("customFields.", CUSTOM):
        if name.startswith(prefix):
            short = name.removeprefix(prefix)
            for definition in custom_fields:
                if short in (definition.name, definition.path.removeprefix("customFields.")):
                    return CUSTOM + definition.name
            return custom_key(short)
    if name in entity.fields:
        return name
    for spec in entity.fields.values():
        client = graphql_name(spec)
        if name == client or (spec.kind is FieldKind.RELATION and name == client.removesuffix("Id")):
            return spec.name
        if spec.kind is FieldKind.RELATION and name == f"{spec.name}_id":
            return spec.name
    for definition in custom_fields:  # a bare custom key (``lead_source``, ``leadSource``)
        if name in (definition.name, definition.path.removeprefix("customFields.")):
            return CUSTOM + definition.name
    return None


def client_name(entity: Entity, key: str, custom_fields: Iterable[CustomField] = ()) -> str:
    """The name a GraphQL client uses for the field with ``key`` (for messages)."""
    if key.startswith(CUSTOM):
        short = key.removeprefix(CUSTOM)
        for definition in custom_fields:
            if definition.name == short:
                return definition.path
        head, *rest = short.split("_")
        return "customFields." + head + "".join(part.title() for part in rest)
    if key in entity.fields:
        return graphql_name(entity.fields[key])
    return {"created_at": "createdAt", "updated_at": "updatedAt"}.get(key, key)
