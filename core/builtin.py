"""The core's own plugin: the essential one that declares the core entities.

Declaring the core entities through the same hook plugins use keeps one path for
every entity, and proves the hook is enough.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from kith.core.entities.builtin import core_entities
from kith.core.hookspecs import hookimpl
from kith.core.plugins.manifest import Plugin

if TYPE_CHECKING:
    from kith.core.entities import Entity
    from kith.core.records.change import Change


@hookimpl
def kith_entities() -> list[Entity]:
    return core_entities()


@hookimpl
async def kith_before_create(change: Change) -> None:
    """An activity without a time happened now, so the timeline can order it; a contact
    whose email belongs to an erased person is flagged for review."""
    if change.entity == "activity" and change.values.get("occurred_at") is None:
        change.values["occurred_at"] = dt.datetime.now(dt.UTC)
    if change.entity == "contact" and change.values.get("emails") and change.runtime is not None:
        from kith.core.privacy.service import PREVIOUSLY_ERASED_TAG, previously_erased

        if await previously_erased(change.runtime, change.values["emails"]):
            tags = list(change.values.get("tags") or [])
            change.values["tags"] = [*tags, PREVIOUSLY_ERASED_TAG] if PREVIOUSLY_ERASED_TAG not in tags else tags


plugin = Plugin(
    name="core",
    version="0.1.0",
    summary="Contacts, organizations, the timeline, users, teams and tags.",
    hooks=__name__,
    essential=True,
    source="kith.core",
)
