"""The set of entities known to a running Kith (core plus enabled plugins)."""

from __future__ import annotations

from collections.abc import Iterator

from piccolo.table import Table

from kith.core.entities.declaration import Entity


class EntityRegistry:
    """Entities by name, in declaration order."""

    def __init__(self) -> None:
        self._entities: dict[str, Entity] = {}

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
