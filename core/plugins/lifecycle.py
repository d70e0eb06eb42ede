"""Enable, disable and purge plugins.  State lives in ``kith_plugin`` so every process
agrees; each change bumps the schema version so running servers rebuild their schema.

- enable: dependencies must be enabled; the plugin's migrations run; its API appears.
- disable: its API, hooks and commands disappear; its tables and data stay.
- purge: only a disabled plugin; its rows are exported to a JSON file first, then its
  tables are dropped and its migration history forgotten.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import KithError, PluginError
from kith.core.plugins import compatibility, fields
from kith.core.records.encoding import jsonable
from kith.core.storage.meta import bump_schema_version
from kith.core.storage.migrations import forget, migrate

log = logging.getLogger("kith.plugins")

if TYPE_CHECKING:
    from kith.core.plugins.manifest import Plugin
    from kith.core.runtime import Kith


@dataclass(frozen=True)
class PluginStatus:
    name: str
    version: str
    summary: str
    depends: tuple[str, ...]
    enabled: bool
    essential: bool
    source: str
    problems: tuple[str, ...]


async def _set_state(kith: Kith, plugin: Plugin, enabled: bool) -> None:
    now = dt.datetime.now(dt.UTC)
    exists = await kith.db.fetch_value(
        QueryString("SELECT COUNT(*) AS n FROM kith_plugin WHERE name = {}", plugin.name)
    )
    if exists:
        await kith.db.fetch(
            QueryString(
                "UPDATE kith_plugin SET enabled = {}, version = {}, changed_at = {} WHERE name = {}",
                enabled,
                plugin.version,
                now,
                plugin.name,
            )
        )
    else:
        await kith.db.fetch(
            QueryString(
                "INSERT INTO kith_plugin (name, enabled, version, changed_at) VALUES ({}, {}, {}, {})",
                plugin.name,
                enabled,
                plugin.version,
                now,
            )
        )


def require(kith: Kith, name: str) -> Plugin:
    plugin = kith.plugins.available.get(name)
    if plugin is None:
        known = ", ".join(sorted(kith.plugins.available)) or "none"
        raise PluginError(f"no plugin named {name!r} is installed (installed: {known})")
    return plugin


async def statuses(kith: Kith) -> list[PluginStatus]:
    enabled = set(await kith.enabled_plugins())
    problems: dict[str, list[str]] = {}
    for failure in kith.plugins.failures:
        problems.setdefault(failure.plugin, []).append(f"{failure.hook}: {failure.error}")
    out = [
        PluginStatus(
            p.name,
            p.version,
            p.summary,
            tuple(p.depends),
            p.essential or p.name in enabled,
            p.essential,
            p.source,
            tuple(problems.get(p.name, ())),
        )
        for p in sorted(kith.plugins.available.values(), key=lambda p: (not p.essential, p.name))
    ]
    for label, error in kith.plugins.load_errors.items():
        out.append(PluginStatus(label, "?", "failed to load", (), False, False, label, (error,)))
    return out


async def enable(kith: Kith, name: str) -> list[str]:
    """Enable ``name``; returns the migration steps that ran."""
    plugin = require(kith, name)
    if plugin.essential:
        raise PluginError(f"plugin {name} is essential and always enabled")
    refusals = compatibility.problems(plugin, kith.plugins.available)
    if refusals:
        raise PluginError(f"plugin {name} cannot be enabled: " + "; ".join(refusals))
    if plugin.settings is not None:  # the manifest's promise: a bad value refuses the enable
        try:
            kith.settings.for_plugin(name, plugin.settings)
        except KithError as exc:
            raise PluginError(f"plugin {name} cannot be enabled: {exc}") from None
    enabled = set(await kith.enabled_plugins())
    missing = [dep for dep in plugin.depends if dep not in enabled and dep != "core"]
    if missing:
        raise PluginError(
            f"plugin {name} depends on {', '.join(missing)}: enable "
            f"{'it' if len(missing) == 1 else 'them'} first (kith plugins enable {missing[0]})"
        )
    ran = await migrate(kith.db, name, plugin.migrations)
    async with kith.db.write_transaction():
        await _set_state(kith, plugin, True)
        await bump_schema_version(kith.db)
    await kith.reload()
    failed = [f for f in kith.plugins.failures if f.plugin == name]
    if name not in kith.plugins.active and failed:
        raise PluginError(f"plugin {name} was enabled but failed to start: {failed[-1].error}")
    scopes = compatibility.scope_problems(plugin.hook_object(), (entity.name for entity in kith.entities))
    if scopes:
        await disable(kith, name)  # its scoped hooks would never be called
        raise PluginError(f"plugin {name} cannot be enabled: " + "; ".join(scopes))
    try:
        await fields.declare(kith, name)
    except PluginError:
        await disable(kith, name)  # a plugin whose fields cannot exist is not left half-enabled
        raise
    await kith.sync_plugin_rules()
    await kith.automations.rules_changed()  # its rules run again, in every process
    await _enable_glue(kith, name)
    return ran


async def _enable_glue(kith: Kith, name: str) -> None:
    """Enable the glue plugins that ``name`` completes: those depending on it whose other
    dependencies are enabled too.  Glue that cannot start is reported, and the plugin
    the admin asked for stays enabled: it works without the glue."""
    enabled = set(await kith.enabled_plugins())
    for glue_name, glue in sorted(kith.plugins.available.items()):
        if not glue.glue or glue_name in enabled or name not in glue.depends:
            continue
        if all(dep in enabled or dep == "core" for dep in glue.depends):
            try:
                await enable(kith, glue_name)
            except PluginError as exc:
                log.error("glue plugin %s was not enabled with %s: %s", glue_name, name, exc)
                kith.plugins._fail(glue_name, "enable", str(exc))


async def disable(kith: Kith, name: str) -> None:
    plugin = require(kith, name)
    if plugin.essential:
        raise PluginError(f"plugin {name} is essential and cannot be disabled")
    enabled = set(await kith.enabled_plugins())
    if name not in enabled:
        raise PluginError(f"plugin {name} is not enabled")
    dependants = sorted(other for other in enabled if name in kith.plugins.available[other].depends)
    for glue_name in [d for d in dependants if kith.plugins.available[d].glue]:
        await disable(kith, glue_name)  # glue follows the plugins it joins
    dependants = [d for d in dependants if not kith.plugins.available[d].glue]
    if dependants:
        raise PluginError(f"plugin {name} is needed by {', '.join(dependants)}: disable those first")
    async with kith.db.write_transaction():
        await _set_state(kith, plugin, False)
        await bump_schema_version(kith.db)
    await kith.reload()
    await kith.automations.rules_changed()  # its rules rest, in every process


async def purge(kith: Kith, name: str, export_dir: Path) -> Path:
    """Export then drop a disabled plugin's tables; returns the export file."""
    plugin = require(kith, name)
    if plugin.essential:
        raise PluginError(f"plugin {name} is essential and cannot be purged")
    if name in set(await kith.enabled_plugins()):
        raise PluginError(f"plugin {name} is enabled: disable it before purging")
    existing = await kith.db.table_names()
    export: dict[str, Any] = {
        "plugin": name,
        "version": plugin.version,
        "exported_at": dt.datetime.now(dt.UTC).isoformat(),
        "tables": {},
    }
    tables = [t for t in plugin.tables if t._meta.tablename in existing]
    for table in tables:
        rows = await kith.db.execute(f'SELECT * FROM "{table._meta.tablename}" ORDER BY 1')
        export["tables"][table._meta.tablename] = [jsonable(dict(r)) for r in rows]
    export["custom_fields"] = await fields.stored_values(kith, name)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = export_dir / f"{name}-{stamp}.json"
    _write_export(path, export)
    await fields.remove(kith, name)  # the fields it declared on other entities, and their values
    async with kith.db.write_transaction():
        for table in reversed(tables):
            await kith.db.run_ddl(f'DROP TABLE IF EXISTS "{table._meta.tablename}"')
        await forget(kith.db, name)
        await kith.db.fetch(QueryString("DELETE FROM kith_plugin WHERE name = {}", name))
        await kith.db.fetch(
            QueryString(
                "DELETE FROM kith_custom_field WHERE entity IN ({})".format(
                    ", ".join("{}" for _ in plugin.tables) or "NULL"
                ),
                *[_entity_name(t) for t in plugin.tables],
            )
        )
        await bump_schema_version(kith.db)
    await kith.reload()
    return path


def _write_export(path: Path, export: dict[str, Any]) -> None:
    """Written before anything is dropped; a failure here stops the purge."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(export, indent=2, default=str))


def _entity_name(table: Any) -> str:
    return str(getattr(table, "_kith_entity", table._meta.tablename))
