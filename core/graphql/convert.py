"""Turning strawberry inputs into the plain dicts the record and query services take."""

from enum import Enum
from typing import Any

from strawberry.types.base import has_object_definition
from strawberry.types.unset import UNSET
from strawberry.utils.str_converters import to_camel_case


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
