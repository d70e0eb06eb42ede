"""Which fields a merge takes values for, under which rule, and what it takes.

Every writable field of the entity takes part, custom fields included, except:

- fields Kith or a plugin keeps (read-only in the declaration: a lead's score) and
  UNIQUE fields (the merged-away record, deleted, still holds its value, so the
  survivor could not take it; it stays the survivor's);
- fields the merging user may not read or may not change (hidden or read-only for
  their roles): the survivor keeps its value, so a merge never copies a hidden value
  into a field, nor tells the user what it held.  Naming such a field in the rules is
  refused, naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kith.core.entities import Entity, FieldKind
from kith.core.errors import FieldError, ValidationFailed
from kith.core.merge.journal import as_json
from kith.core.merge.rules import TRUSTED_SOURCE, UNION, Candidate, MergeRules, choose, union
from kith.core.records.field_names import CUSTOM, client_name, field_key

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

#: custom field types whose values are lists (``union`` applies, and is their default)
_LIST_TYPES = frozenset({"multi_select"})


@dataclass(frozen=True)
class MergeField:
    """A field the merge decides: its key (column, or ``custom.<name>``), client name, rule."""

    key: str
    name: str
    rule: str


@dataclass(frozen=True)
class FieldChoice:
    """What the merge decided for one field the records disagreed on."""

    field: str  # client name (``firstName``, ``customFields.tier``)
    key: str
    rule: str
    from_id: int | None  # the record the value came from (None: several, by union)
    before: Any  # the survivor's value before, JSON-ready
    value: Any  # the value the survivor has after, JSON-ready

    @property
    def changed(self) -> bool:
        return self.before != self.value

    def as_json(self) -> dict[str, Any]:
        return {"field": self.field, "key": self.key, "rule": self.rule, "from": self.from_id,
                "before": self.before, "value": self.value}  # fmt: skip

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldChoice:
        return cls(data["field"], data["key"], data["rule"], data["from"], data["before"], data["value"])


def plan_fields(kith: Kith, entity: Entity, rules: MergeRules, viewer: Permissions | None) -> list[MergeField]:
    """The fields of ``entity`` the merge decides, each with its rule; refuses rules naming
    a field that does not exist, that no merge takes, or that ``viewer`` may not change."""
    custom = kith.custom_fields.for_entity(entity.name)
    lists: set[str] = set()
    keys: list[str] = []
    for spec in entity.fields.values():
        if spec.writable and not spec.unique:
            keys.append(spec.name)
            if spec.kind is FieldKind.STRING_LIST:
                lists.add(spec.name)
    for definition in custom:
        keys.append(CUSTOM + definition.name)
        if definition.type in _LIST_TYPES:
            lists.add(CUSTOM + definition.name)
    blocked = set()
    if viewer is not None:
        blocked = set(viewer.hidden_keys(entity)) | set(viewer.read_only_keys(entity))

    overrides: dict[str, str] = {}
    errors: list[FieldError] = []
    for name, rule in rules.fields.items():
        key = field_key(entity, name, custom)
        path = f"rules.{name}"
        if key is None or (key not in keys and key not in entity.fields):
            errors.append(FieldError(path, "unknown", f"{entity.name} has no field {name!r}"))
        elif key not in keys:
            why = "unique: it stays the survivor's" if entity.fields[key].unique else "kept by Kith or its plugin"
            errors.append(FieldError(path, "invalid", f"a merge does not take this field ({why})"))
        elif key in blocked:
            errors.append(FieldError(path, "forbidden", "you may not change this field"))
        elif rule == UNION and key not in lists:
            errors.append(FieldError(path, "invalid", "union is for list fields (tags, emails, multi-selects)"))
        else:
            overrides[key] = rule
    if errors:
        raise ValidationFailed(errors)
    planned = []
    for key in keys:
        if key in blocked:
            continue
        rule = overrides.get(key) or (UNION if key in lists else rules.default)
        planned.append(MergeField(key, client_name(entity, key, custom), rule))
    return planned


def value_of(record: Mapping[str, Any], key: str) -> Any:
    if key.startswith(CUSTOM):
        return (record.get("custom") or {}).get(key.removeprefix(CUSTOM))
    return record.get(key)


def decide(
    fields: Sequence[MergeField],
    records: Sequence[Mapping[str, Any]],
    survivor_id: int,
    rules: MergeRules,
    sources: Mapping[tuple[int, str], str] | None = None,
) -> tuple[list[FieldChoice], dict[str, Any]]:
    """The choice for each field the records disagree on, and the values to write on the
    survivor (key -> value as the record service takes it) for those that change."""
    choices: list[FieldChoice] = []
    writes: dict[str, Any] = {}
    survivor = next(r for r in records if int(r["id"]) == survivor_id)
    for merge_field in fields:
        key = merge_field.key
        candidates = [
            Candidate(
                int(r["id"]),
                value_of(r, key),
                r.get("updated_at"),
                int(r["id"]) == survivor_id,
                (sources or {}).get((int(r["id"]), key)),
            )
            for r in records
        ]
        if len({repr(as_json(c.value)) for c in candidates}) == 1:
            continue  # the records agree: nothing to decide
        before = value_of(survivor, key)
        if merge_field.rule == UNION:
            value, from_id = union(candidates), None
        else:
            chosen = choose(
                merge_field.rule, candidates, rules.trusted_sources if merge_field.rule == TRUSTED_SOURCE else ()
            )
            value, from_id = (chosen.value, chosen.record_id) if chosen else (before, survivor_id)
        choice = FieldChoice(merge_field.name, key, merge_field.rule, from_id, as_json(before), as_json(value))
        choices.append(choice)
        if choice.changed:
            writes[key] = value
    return choices, writes


def as_input(values: Mapping[str, Any]) -> dict[str, Any]:
    """Field key -> value as the record service's input (custom fields under ``custom``)."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key.startswith(CUSTOM):
            out.setdefault("custom", {})[key.removeprefix(CUSTOM)] = value
        else:
            out[key] = value
    return out
