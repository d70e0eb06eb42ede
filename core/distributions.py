"""Distributions: an industry CRM shipped as one installable product.

A vendor bundles the plugins to enable, the custom fields, the roles, the automation
rules and the starting records (a pipeline and its stages, say) in a ``Distribution``,
exposes it through the ``kith.distributions`` entry-point group, and a customer sets a
new database up with ``kith init --distribution NAME``.

Installing is idempotent: fields, roles and rules are created when missing and are the
admins' after that (as the rules a plugin ships), and starting records are created once
(the database remembers which distribution it was set up from), so running it again
after an upgrade adds what the new version brings without undoing an admin's changes.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from kith.core.errors import FieldError, KithError, ValidationFailed
from kith.core.records.change import Actor
from kith.core.storage.meta import get_meta, set_meta

if TYPE_CHECKING:
    from kith.core.plugins.context import PluginContext
    from kith.core.runtime import Kith
    from kith.core.security.roles import RoleDefinition

log = logging.getLogger("kith.distributions")
ENTRY_POINT_GROUP = "kith.distributions"
INSTALLER = Actor(name="distribution", source="system")


@dataclass(frozen=True)
class Distribution:
    """Everything a vertical CRM sets up, as data.

    ``custom_fields`` are dicts of ``entity``, ``name``, ``type`` and the options of
    ``kith fields add`` (``label``, ``choices``, ``required``, ``indexed``, ``personal``,
    ``target``).  ``records`` are dicts of ``entity`` and ``values`` (column names) and
    an optional ``key``; a value ``"@key"`` stands for the id of the record created
    with that key before it (a stage's pipeline).  ``setup`` is an async function of
    the running Kith for anything else, run last.
    """

    name: str
    version: str
    summary: str = ""
    plugins: tuple[str, ...] = ()
    custom_fields: tuple[dict[str, Any], ...] = ()
    roles: tuple[RoleDefinition, ...] = ()
    rules: tuple[dict[str, Any], ...] = ()
    records: tuple[dict[str, Any], ...] = ()
    setup: Callable[[PluginContext], Awaitable[Any]] | None = None
    requires_kith: str = ""
    source: str = field(default="", compare=False)


def discover(extra: list[str] | tuple[str, ...] = ()) -> tuple[dict[str, Distribution], dict[str, str]]:
    """Installed distributions by name (entry points, plus ``module:attribute`` paths from
    the ``extra_distributions`` setting), and the ones that failed to load."""
    found: dict[str, Distribution] = {}
    errors: dict[str, str] = {}
    sources: list[tuple[str, Callable[[], Any]]] = [(p.name, p.load) for p in entry_points(group=ENTRY_POINT_GROUP)]
    sources += [(path, functools.partial(_load_path, path)) for path in extra]
    for label, load in sources:
        try:
            loaded = load()
        except Exception as exc:
            errors[label] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(loaded, Distribution):
            errors[label] = f"{label} is not a kith.sdk.Distribution"
            continue
        found[loaded.name] = loaded
    return found, errors


def _load_path(path: str) -> Any:
    import importlib

    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute or "distribution")


def find(name: str, extra: list[str] | tuple[str, ...] = ()) -> Distribution:
    found, errors = discover(extra)
    if name in found:
        return found[name]
    if name in errors:
        raise KithError(f"distribution {name} cannot be loaded: {errors[name]}")
    known = ", ".join(sorted(found)) or "none is installed"
    raise KithError(f"no distribution named {name!r} ({known}); pip install the vendor's package first")


async def install(kith: Kith, distribution: Distribution) -> dict[str, int]:
    """Set the database up from ``distribution``; returns how many of each thing changed."""
    from kith.core.automations.service import apply_rule
    from kith.core.plugins import lifecycle
    from kith.core.plugins.compatibility import version_problem
    from kith.core.plugins.manifest import Plugin
    from kith.core.security.roles import save_role

    problem = version_problem(Plugin(name=distribution.name, version="", requires_kith=distribution.requires_kith))
    if problem:
        raise KithError(f"distribution {distribution.name} {problem}")
    counts = {"plugins": 0, "custom fields": 0, "roles": 0, "rules": 0, "records": 0}
    enabled = set(await kith.enabled_plugins())
    for plugin in distribution.plugins:
        if plugin not in enabled:
            await lifecycle.enable(kith, plugin)
            counts["plugins"] += 1
    for spec in distribution.custom_fields:
        options = {k: v for k, v in spec.items() if k not in ("entity", "name", "type")}
        if kith.custom_fields.get(spec["entity"], spec["name"]) is None:
            await kith.custom_fields.add(spec["entity"], spec["name"], spec["type"], **options)
            counts["custom fields"] += 1
    roles = {row["name"] for row in await kith.db.execute("SELECT name FROM kith_role")}
    for role in distribution.roles:
        if role.name not in roles:
            await save_role(kith, role, source=f"distribution:{distribution.name}")
            counts["roles"] += 1
    rules = {row["name"] for row in await kith.db.execute("SELECT name FROM kith_automation_rule")}
    for rule in distribution.rules:
        if rule.get("name") not in rules:
            await apply_rule(kith, rule, source=f"distribution:{distribution.name}")
            counts["rules"] += 1
    marker = f"distribution.records:{distribution.name}"
    if distribution.records and not await get_meta(kith.db, marker):
        async with kith.db.write_transaction():
            counts["records"] = await _create_records(kith, distribution.records)
            await set_meta(kith.db, marker, distribution.version)
    if distribution.setup is not None:
        from kith.core.plugins.context import PluginContext

        await distribution.setup(PluginContext(kith, INSTALLER))
    await set_meta(kith.db, "distribution", f"{distribution.name} {distribution.version}")
    return counts


async def _create_records(kith: Kith, records: tuple[dict[str, Any], ...]) -> int:
    ids: dict[str, int] = {}
    for index, spec in enumerate(records):
        values = {}
        for column, value in spec["values"].items():
            if isinstance(value, str) and value.startswith("@"):
                if value[1:] not in ids:
                    raise ValidationFailed(
                        [
                            FieldError(
                                f"records[{index}].{column}", "unknown", f"no earlier record has key {value[1:]!r}"
                            )
                        ]
                    )
                value = ids[value[1:]]
            values[column] = value
        record = await kith.records.create(spec["entity"], values, INSTALLER)
        if spec.get("key"):
            ids[str(spec["key"])] = int(record["id"])
    return len(records)


async def installed(kith: Kith) -> str | None:
    """The distribution (and version) this database was set up from, if any."""
    return await get_meta(kith.db, "distribution")
