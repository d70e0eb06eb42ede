"""The generated GraphQL types of one schema, for plugins' own fields.

Entity types (``Contact``, ``Appointment``, their connections, filters and orders) are
made when the schema is built — and made again when a custom field changes, since
their ``customFields`` change — so a plugin cannot import them.  The GraphQL hooks
(``kith_graphql_queries``, ``kith_graphql_mutations``) receive them instead, and a
plugin builds its classes from them in the hook, for that schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kith.core.graphql.entity_types import EntityTypes


@dataclass(frozen=True)
class GraphQLTypes:
    """The generated types of the schema being built, by entity name: ``node``
    (``Appointment``), ``connection`` (``AppointmentConnection``, what lists return),
    ``filter`` and ``order`` (inputs, for a plugin field's arguments)."""

    by_entity: Mapping[str, EntityTypes]

    def _of(self, entity: str) -> EntityTypes:
        if entity not in self.by_entity:
            known = ", ".join(sorted(self.by_entity))
            raise LookupError(f"no entity named {entity!r} in this schema (is its plugin enabled?); known: {known}")
        return self.by_entity[entity]

    def node(self, entity: str) -> Any:
        """The record type (``Appointment``): resolve it to a record dict (read with
        ``read_records``, so the caller's visibility applies), or None."""
        return self._of(entity).node

    def list_of(self, entity: str) -> Any:
        """``[Appointment!]!``: a field returning a list of records."""
        return list.__class_getitem__(self._of(entity).node)  # list[Appointment], made at run time

    def connection(self, entity: str) -> Any:
        """The connection type (``AppointmentConnection``) the generated lists return."""
        return self._of(entity).connection

    def filter(self, entity: str) -> Any:
        """The filter input (``AppointmentFilter``), for a field that takes one."""
        return self._of(entity).filter

    def order(self, entity: str) -> Any:
        """The order input (``AppointmentOrderBy``), for a field that takes one."""
        return self._of(entity).order
