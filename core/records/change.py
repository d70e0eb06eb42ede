"""What a lifecycle hook is told about a write."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from kith.core.plugins.context import PluginContext

Action = Literal["create", "update", "delete", "restore"]
Source = Literal["graphql", "cli", "import", "automation", "api", "system", "demo", "plugin"]


@dataclass(frozen=True)
class Actor:
    """Who makes a change and through what surface; recorded in the audit row."""

    name: str = "system"
    source: str = "system"
    user_id: int | None = None
    #: what this actor may do (a ``Permissions``); None: the system itself, unrestricted
    permissions: Any = field(default=None, compare=False, repr=False)


SYSTEM = Actor()


@dataclass
class Change:
    """One write on its way through the record service.

    ``values`` holds the validated values being written (built-in fields by column name,
    custom fields under ``"custom"`` as a dict); before-hooks may change it.  ``before``
    is the stored record (update, delete, restore); ``after`` is set once committed.
    """

    entity: str
    action: Action
    values: dict[str, Any]
    actor: Actor = SYSTEM
    record_id: int | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    changed: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: the running Kith (the core's; plugins use ``context``)
    runtime: Any = field(default=None, repr=False)

    @cached_property
    def context(self) -> PluginContext:
        """What a hook reads, writes and emits events with, acting as this change's actor."""
        from kith.core.plugins.context import PluginContext

        return PluginContext(self.runtime, self.actor)

    @property
    def event(self) -> str:
        """The fixed event name, e.g. ``contact.created``."""
        return f"{self.entity}.{self.action}d"
