"""Custom fields plugins declare on entities they do not own (``kith_custom_fields``).

A clinic plugin needs an insurance number on contacts without owning the contact
entity, and without asking admins to add it by hand.  The field is an ordinary custom
field — typed in GraphQL, filterable, validated, exported and erased like any other —
that remembers which plugin declared it: enabling creates it, disabling keeps it and
its values (an admin may rely on them), purging the plugin removes both.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from kith.core.errors import PluginError, ValidationFailed

if TYPE_CHECKING:
    from kith.core.runtime import Kith


async def declare(kith: Kith, name: str) -> list[str]:
    """Create the custom fields plugin ``name`` declares that do not exist yet; returns
    them as ``entity.field``.  A field that exists with another type is refused: the
    plugin would read values it does not understand."""
    created = []
    for plugin, specs in kith.plugins.call("kith_custom_fields"):
        if plugin != name:
            continue
        for spec in specs or []:
            existing = kith.custom_fields.get(spec.entity, spec.name)
            if existing is not None:
                if existing.type != spec.type:
                    raise PluginError(
                        f"plugin {name} declares {spec.entity}.{spec.name} as {spec.type}, but that custom "
                        f"field exists as {existing.type}: rename or remove it (kith fields …) first"
                    )
                continue
            try:
                await kith.custom_fields.add(
                    spec.entity,
                    spec.name,
                    spec.type,
                    label=spec.label,
                    required=spec.required,
                    default=spec.default,
                    choices=spec.choices,
                    indexed=spec.indexed,
                    personal=spec.personal,
                    target=spec.target,
                    plugin=name,
                )
            except ValidationFailed as exc:
                reasons = "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
                raise PluginError(f"plugin {name}: custom field {spec.entity}.{spec.name}: {reasons}") from None
            created.append(f"{spec.entity}.{spec.name}")
    return created


async def remove(kith: Kith, name: str) -> list[str]:
    """Remove the custom fields plugin ``name`` declared, with their values (purge)."""
    removed = []
    for field in kith.custom_fields.all():
        if field.plugin == name:
            await kith.custom_fields.remove(field.entity, field.name)
            removed.append(f"{field.entity}.{field.name}")
    return removed


async def stored_values(kith: Kith, name: str) -> dict[str, dict[str, Any]]:
    """The values of the fields plugin ``name`` declared (``entity.field`` -> record id ->
    value), for the export a purge writes before it removes them."""
    out: dict[str, dict[str, Any]] = {}
    for field in kith.custom_fields.all():
        if field.plugin != name:
            continue
        table = kith.entity(field.entity).tablename
        values = {}
        for row in await kith.db.execute(f'SELECT id, custom FROM "{table}" ORDER BY id'):
            custom = json.loads(row["custom"]) if isinstance(row["custom"], str) else row["custom"] or {}
            if custom.get(field.name) is not None:
                values[str(row["id"])] = custom[field.name]
        out[f"{field.entity}.{field.name}"] = values
    return out
