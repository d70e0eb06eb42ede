"""The web forms' lifecycle hooks; ``kith.plugins.marketing.hooks`` imports them so
pluggy registers them with the plugin's other hooks."""

from __future__ import annotations

from kith.plugins.marketing.consent import forms
from kith.sdk import Change, entity_hook


@entity_hook("kith_before_create", "marketing_form")
async def marketing_form_before_create(change: Change) -> None:
    await forms.before_write(change)


@entity_hook("kith_before_update", "marketing_form")
async def marketing_form_before_update(change: Change) -> None:
    await forms.before_write(change)
