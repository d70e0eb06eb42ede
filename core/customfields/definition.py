"""A custom field definition as the rest of Kith sees it (a row of ``kith_custom_field``)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CustomField:
    """One custom field definition (an admin's from ``kith fields add``, or a plugin's
    from ``kith_custom_fields``): its ``type`` is a key of ``FIELD_TYPES``; ``path`` is
    how GraphQL, filters and errors name it."""

    entity: str
    name: str
    type: str
    label: str
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    indexed: bool = False
    personal: bool = False
    target: str | None = None
    position: int = 0
    plugin: str | None = None  # the plugin that declared it (kith_custom_fields), if any

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CustomField:
        default = row["default"]
        choices = row["choices"]
        return cls(
            entity=row["entity"],
            name=row["name"],
            type=row["type"],
            label=row["label"],
            required=bool(row["required"]),
            default=json.loads(default) if isinstance(default, str) else default,
            choices=tuple(json.loads(choices) if isinstance(choices, str) else choices or ()),
            indexed=bool(row["indexed"]),
            personal=bool(row["personal"]),
            target=row["target"],
            position=int(row["position"] or 0),
            plugin=row.get("plugin"),
        )

    @property
    def path(self) -> str:
        """How errors and filters name this field (``customFields.tier``)."""
        head, *rest = self.name.split("_")
        return "customFields." + head + "".join(part.title() for part in rest)


@dataclass(frozen=True)
class CustomFieldSpec:
    """A custom field a plugin declares on an entity it does not own (an insurance
    number on contacts), returned from ``kith_custom_fields``.  Enabling the plugin
    creates it (unless it exists with the same type); disabling keeps it and its values;
    purging the plugin removes both.  The arguments are those of ``kith fields add``."""

    entity: str
    name: str
    type: str
    label: str | None = None
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    indexed: bool = False
    personal: bool = False
    target: str | None = None
