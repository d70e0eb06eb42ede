"""The service plugin's hooks: what it declares to the core, and the lifecycle hooks
that keep tickets, their conversation and their clocks consistent.

Lifecycle hooks are scoped to their entity with ``entity_hook``; the work is done in
``tickets`` and ``conversation``.
"""

from __future__ import annotations

from kith.plugins.service import conversation, tickets
from kith.plugins.service import entities as declarations
from kith.sdk import Change, Entity, RoleDefinition, entity_hook, hookimpl


@hookimpl
def kith_entities() -> list[Entity]:
    return declarations.entities()


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return declarations.roles()


@hookimpl
def kith_activity_kinds() -> list[str]:
    return [conversation.TIMELINE_KIND]


@entity_hook("kith_before_create", "ticket")
async def ticket_before_create(change: Change) -> None:
    await tickets.before_create(change)


@entity_hook("kith_before_update", "ticket")
async def ticket_before_update(change: Change) -> None:
    await tickets.before_update(change)


@entity_hook("kith_before_create", "ticket_message")
async def message_before_create(change: Change) -> None:
    await conversation.before_create(change)


@entity_hook("kith_after_write", "ticket_message")
async def message_after_write(change: Change) -> None:
    await conversation.after_write(change)
