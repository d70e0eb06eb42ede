"""Turning strawberry inputs into the plain dicts the record and query services take."""

from enum import Enum
from typing import Any

from strawberry.types.base import has_object_definition
from strawberry.types.unset import UNSET
from strawberry.utils.str_converters import to_camel_case

from kith.core.entities import Entity, FieldKind
from kith.core.errors import ValidationFailed


def plain(value: Any) -> Any:
    """A filter or order input as a dict keyed by client-facing names; unset and null are dropped."""
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if not has_object_definition(value):
        return value
    out: dict[str, Any] = {}
    for field in value.__strawberry_definition__.fields:
        item = getattr(value, field.python_name)
        if item is UNSET or item is None:
            continue
        out[field.graphql_name or to_camel_case(field.python_name)] = plain(item)
    return out


def set_fields(value: Any) -> dict[str, Any]:
    """The fields a client gave in a mutation input, by Python name; ``null`` is kept
    (it clears the field), unset fields are left out (they stay as they are)."""
    out: dict[str, Any] = {}
    for field in value.__strawberry_definition__.fields:
        item = getattr(value, field.python_name)
        if item is UNSET:
            continue
        if has_object_definition(item):
            item = set_fields(item)
        elif isinstance(item, Enum):
            item = item.value
        out[field.python_name] = item
    return out


def record_values(entity: Entity, given: dict[str, Any]) -> dict[str, Any]:
    """Mutation input (Python names) -> record service input (column names, ``custom``)."""
    values: dict[str, Any] = {}
    for key, value in given.items():
        if key == "custom_fields":
            values["custom"] = value or {}
        elif key.endswith("_id") and key[:-3] in entity.fields and entity.fields[key[:-3]].kind is FieldKind.RELATION:
            values[key[:-3]] = value
        else:
            values[key] = value
    return values


def record_id(value: Any) -> int:
    """A mutation's ``id`` argument as a record id; refused (naming ``id``) when it is none."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationFailed.single("id", "invalid", f"{value!r} is not a record id") from None
