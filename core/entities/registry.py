"""The set of entities known to a running Kith (core plus enabled plugins)."""

from __future__ import annotations

from collections.abc import Iterator

from piccolo.table import Table

from kith.core.entities.declaration import Entity
from kith.core.entities.reverse import ReverseList, ReverseProblem, resolve_reverse_lists
from kith.core.errors import ValidationFailed


class EntityRegistry:
    """Entities by name, in declaration order."""

    def __init__(self) -> None:
        self._entities: dict[str, Entity] = {}
        #: the reverse lists, resolved for the entities (by identity) they were made from
        self._reverse: tuple[tuple[int, ...], dict[str, dict[str, ReverseList]], list[ReverseProblem]] | None = None

    def add(self, entity: Entity) -> None:
        if entity.name in self._entities:
            owner = self._entities[entity.name].plugin or "core"
            raise ValueError(f"entity {entity.name!r} is already declared by {owner}")
        self._entities[entity.name] = entity

    def get(self, name: str) -> Entity:
        try:
            return self._entities[name]
        except KeyError:
            known = ", ".join(sorted(self._entities))
            raise KeyError(f"unknown entity {name!r} (known: {known})") from None

    def named(self, name: str | None, path: str = "entity") -> Entity:
        """The entity a person named (in a request, a file, a report), or a
        ``ValidationFailed`` at ``path``: what every surface that takes an entity's name
        from outside answers alike."""
        if name and name in self._entities:
            return self._entities[name]
        raise ValidationFailed.single(path, "unknown", f"no entity named {name!r}")

    def __contains__(self, name: object) -> bool:
        return name in self._entities

    def __iter__(self) -> Iterator[Entity]:
        return iter(self._entities.values())

    def __len__(self) -> int:
        return len(self._entities)

    def by_table(self, table: type[Table]) -> Entity | None:
        for entity in self._entities.values():
            if entity.table is table:
                return entity
        return None

    def tables(self) -> list[type[Table]]:
        return [entity.table for entity in self._entities.values()]

    def _resolved(self) -> tuple[dict[str, dict[str, ReverseList]], list[ReverseProblem]]:
        # keyed on the entities themselves: the registry is rebuilt (and an entity
        # replaced) on reload, and the names must follow
        key = tuple(id(entity) for entity in self._entities.values())
        if self._reverse is None or self._reverse[0] != key:
            lists, problems = resolve_reverse_lists(self._entities.values())
            by_target: dict[str, dict[str, ReverseList]] = {}
            for item in lists:
                by_target.setdefault(item.target, {})[item.name] = item
            self._reverse = (key, by_target, problems)
        return self._reverse[1], self._reverse[2]

    def reverse_lists(self, target: str | None = None) -> list[ReverseList]:
        """The reverse lists on ``target`` (every entity's when None), by the rule of
        ``kith.core.entities.reverse``: ``Organization.contacts``, ``Organization.deals``…"""
        by_target = self._resolved()[0]
        if target is not None:
            return list(by_target.get(target, {}).values())
        return [item for lists in by_target.values() for item in lists.values()]

    def reverse_list(self, target: str, name: str) -> ReverseList | None:
        """The reverse list ``name`` (its GraphQL name) on ``target``, if there is one."""
        return self._resolved()[0].get(target, {}).get(name)

    def reverse_problems(self) -> list[ReverseProblem]:
        """Relations that got no list because the name was taken (``fatal``: a declared name)."""
        return list(self._resolved()[1])

    def remove(self, name: str) -> None:
        del self._entities[name]
