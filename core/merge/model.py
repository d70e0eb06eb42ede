"""A merge as callers see it: ``Merge``, its field choices, and the conflicts of an undo."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from kith.core.merge.fields import FieldChoice
from kith.core.records.encoding import loads

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions


@dataclass(frozen=True)
class Conflict:
    """A change undo left alone because the record changed since the merge: the value
    the merge left, and the one the record holds now (kept)."""

    entity: str
    record_id: int
    field: str  # client name (``title``, ``contactId``, ``customFields.tier``)
    value_at_merge: Any
    current_value: Any
    #: ``changed`` (the record holds another value now) or ``deleted`` (the record was
    #: deleted since, so it could not be written; restore it and set the field by hand)
    reason: str = "changed"

    def as_json(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "recordId": self.record_id,
            "field": self.field,
            "valueAtMerge": self.value_at_merge,
            "currentValue": self.current_value,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Conflict:
        return cls(
            data["entity"],
            int(data["recordId"]),
            data["field"],
            data["valueAtMerge"],
            data["currentValue"],
            data.get("reason", "changed"),
        )


@dataclass(frozen=True)
class Merge:
    """One merge: the survivor, the records merged into it, the rules asked for, the
    choice made for each field the records disagreed on, and, once undone, when, by
    whom and with which conflicts."""

    id: int
    entity: str
    survivor_id: int
    merged_ids: tuple[int, ...]
    rules: Mapping[str, Any]
    choices: tuple[FieldChoice, ...]
    actor: str
    created_at: dt.datetime | None
    undone_at: dt.datetime | None = None
    undone_by: str | None = None
    conflicts: tuple[Conflict, ...] = ()

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Merge:
        def parsed(name: str) -> Any:
            value = row[name]
            return loads(value) if isinstance(value, str) else value

        return cls(
            id=int(row["id"]),
            entity=str(row["entity"]),
            survivor_id=int(row["survivor_id"]),
            merged_ids=tuple(int(i) for i in parsed("merged_ids") or ()),
            rules=parsed("rules") or {},
            choices=tuple(FieldChoice.from_json(c) for c in parsed("choices") or ()),
            actor=str(row["actor"]),
            created_at=row["created_at"],
            undone_at=row["undone_at"],
            undone_by=row["undone_by"],
            conflicts=tuple(Conflict.from_json(c) for c in parsed("conflicts") or ()),
        )

    def as_seen_by(self, kith: Kith, viewer: Permissions | None) -> Merge:
        """The merge without what ``viewer`` may not see: choices and conflicts of fields
        hidden from them (the values, and that the records differed there)."""
        if viewer is None:
            return self
        entity = kith.entity(self.entity)

        def hidden(entity_name: str, name: str) -> bool:
            return entity_name not in kith.entities or viewer.is_hidden(kith.entity(entity_name), name)

        return replace(
            self,
            choices=tuple(c for c in self.choices if not viewer.is_hidden(entity, c.key)),
            conflicts=tuple(c for c in self.conflicts if not hidden(c.entity, c.field)),
        )
