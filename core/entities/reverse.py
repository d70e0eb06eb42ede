"""Reverse lists: for every many-to-one relation, the list going back.

Every relation column of every entity (``deal.organization``) gives its target a list
of the records pointing at it (``Organization.deals``), named by one rule that the
GraphQL types, the filter compiler and the query cost all read from here:

1. ``Entity.reverse[column]`` when the child declares it: a name (``"lines"``), or
   ``None`` for no list at all.  A declared name that is already a field of the target
   (or another declared list there) is refused, naming both.
2. Otherwise the child's plural in camelCase (``deals``, ``stageChanges``) when the
   child has one relation to that target, and ``<plural>As<Column>`` when it has
   several (``activitiesAsOwner``, ``activitiesAsAssignee``; ``stageChangesAsToStage``).
3. An automatic name that is already taken (a field of the target, a declared list, or
   an earlier automatic one) falls back to ``<plural>As<Column>``; if that is taken too
   the relation gets no list, and a warning names both (declare a name to get one).

Declared names are claimed before automatic ones, and entities are taken in registry
order (the core's first, then the plugins'), so the same set of entities always gives
the same names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from kith.core.entities.declaration import Entity, FieldKind

#: fields every record type has, besides its columns
_RECORD_FIELDS = frozenset({"id", "version", "createdAt", "updatedAt", "deletedAt", "customFields", "timeline"})
#: names a filter input reserves for combining conditions
_FILTER_WORDS = frozenset({"and", "or", "not"})


@dataclass(frozen=True)
class ReverseList:
    """``target.<name>``: the ``child`` records whose ``column`` points at a target record."""

    target: str
    name: str
    child: Entity
    column: str
    declared: bool  # named by ``Entity.reverse`` (else by the automatic rule)


@dataclass(frozen=True)
class ReverseProblem:
    """A relation that got no list: ``fatal`` when a declaration must be refused."""

    child: Entity
    column: str
    message: str
    fatal: bool


def _camel(column: str) -> str:
    head, *rest = column.split("_")
    return head + "".join(part.title() for part in rest)


def own_field_names(entity: Entity) -> set[str]:
    """The GraphQL names an entity's record type and filter input use for its own fields."""
    names = set(_RECORD_FIELDS | _FILTER_WORDS)
    for spec in entity.fields.values():
        camel = _camel(spec.name)
        names.add(camel)
        if spec.kind is FieldKind.RELATION:
            names.add(camel + "Id")
    return names


def qualified_name(child: Entity, column: str) -> str:
    """``<plural>As<Column>``: the name of a list when the child has several relations to
    the target (``activitiesAsOwner``)."""
    camel = _camel(column)
    return f"{child.plural_field}As{camel[:1].upper()}{camel[1:]}"


def resolve_reverse_lists(entities: Iterable[Entity]) -> tuple[list[ReverseList], list[ReverseProblem]]:
    """Every reverse list of these entities (see the module's rule), and the relations
    that got none because their name was taken."""
    registry = {entity.name: entity for entity in entities}
    taken: dict[str, dict[str, str]] = {name: {} for name in registry}  # target -> name -> what holds it
    for name, entity in registry.items():
        taken[name] = {field: f"a field of {entity.type_name}" for field in own_field_names(entity)}
    lists: list[ReverseList] = []
    problems: list[ReverseProblem] = []
    automatic: list[tuple[Entity, str, str]] = []
    for child in registry.values():
        by_target: dict[str, list[str]] = {}
        for spec in child.relation_fields():
            if spec.target in registry:
                by_target.setdefault(spec.target, []).append(spec.name)
        for target, columns in by_target.items():
            for column in columns:
                if column in child.reverse:
                    declared = child.reverse[column]
                    if declared is None:
                        continue
                    holder = taken[target].get(declared)
                    if holder is not None:
                        problems.append(
                            ReverseProblem(
                                child,
                                column,
                                f"entity {child.name}: reverse={{{column!r}: {declared!r}}} names "
                                f"{registry[target].type_name}.{declared}, which is already {holder}; "
                                "declare another name (or None for no list)",
                                fatal=True,
                            )
                        )
                        continue
                    taken[target][declared] = f"the list of {child.name}.{column}"
                    lists.append(ReverseList(target, declared, child, column, declared=True))
                else:
                    base = child.plural_field if len(columns) == 1 else qualified_name(child, column)
                    automatic.append((child, column, base))
    for child, column, base in automatic:
        target = str(child.fields[column].target)
        for candidate in dict.fromkeys((base, qualified_name(child, column))):
            if candidate not in taken[target]:
                taken[target][candidate] = f"the list of {child.name}.{column}"
                lists.append(ReverseList(target, candidate, child, column, declared=False))
                break
        else:
            holder = taken[target][qualified_name(child, column)]
            problems.append(
                ReverseProblem(
                    child,
                    column,
                    f"entity {child.name}: the list of {column!r} would be "
                    f"{registry[target].type_name}.{qualified_name(child, column)}, which is already {holder}; "
                    f"it has no list (name one with reverse={{{column!r}: ...}})",
                    fatal=False,
                )
            )
    return lists, problems
