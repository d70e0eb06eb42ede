"""The consent part's lifecycle hooks; ``kith.plugins.marketing.hooks`` imports them so
pluggy registers them with the plugin's other hooks."""

from __future__ import annotations

from kith.plugins.marketing.consent import suppression
from kith.sdk import Change, entity_hook


@entity_hook("kith_before_create", "suppression")
async def suppression_before_create(change: Change) -> None:
    await suppression.before_write(change)


@entity_hook("kith_before_update", "suppression")
async def suppression_before_update(change: Change) -> None:
    await suppression.before_write(change)


@entity_hook("kith_after_write", "suppression")
async def suppression_after_write(change: Change) -> None:
    await suppression.after_write(change)


@entity_hook("kith_after_write", "contact")
async def contact_suppressions_after_write(change: Change) -> None:
    """A contact with a suppressed address (even an erased one) is suppressed too."""
    await suppression.follow_contact(change)
