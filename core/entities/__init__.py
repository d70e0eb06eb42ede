"""Entity declarations: a Piccolo table plus the few facts Piccolo cannot hold."""

from kith.core.entities.declaration import Entity, FieldKind, FieldSpec
from kith.core.entities.registry import EntityRegistry

__all__ = ["Entity", "EntityRegistry", "FieldKind", "FieldSpec"]
