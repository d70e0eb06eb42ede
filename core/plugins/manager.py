"""Which plugins exist, which are active, and calling their hooks safely.

Plugins are found through the ``kith.plugins`` entry-point group (built-ins declare
themselves the same way) plus ``extra_plugins`` import paths for development.  Only
enabled plugins are registered with pluggy, so a disabled plugin contributes nothing:
no schema, no hooks, no commands.

Every hook call goes through ``call`` / ``call_async``, which run implementations one
by one so that a plugin that raises is reported by name and does not take Kith down.
"""

from __future__ import annotations

import importlib
import inspect
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from kith.core import hookspecs
from kith.core.errors import PluginError, ValidationFailed
from kith.core.plugins import compatibility
from kith.core.plugins.manifest import Plugin

log = logging.getLogger("kith.plugins")

ENTRY_POINT_GROUP = "kith.plugins"


@dataclass(frozen=True)
class HookFailure:
    plugin: str
    hook: str
    error: str


def _load_object(path: str) -> Any:
    module_name, _, attribute = path.partition(":")
    module = importlib.import_module(module_name)
    return getattr(module, attribute or "plugin")


def discover(
    allow: list[str] | None, extra: Iterable[str] = (), registered: Iterable[Plugin] = ()
) -> tuple[dict[str, Plugin], dict[str, str]]:
    """Find every installed plugin; returns (plugins by name, load errors by name)."""
    found: dict[str, Plugin] = {}
    errors: dict[str, str] = {}
    sources: list[tuple[str, Any]] = [
        (f"entry point {ep.name}", ep.load) for ep in entry_points(group=ENTRY_POINT_GROUP)
    ]
    sources += [(path, lambda path=path: _load_object(path)) for path in extra]
    for label, load in sources:
        try:
            plugin = load()
        except Exception as exc:  # a broken package must not stop discovery
            log.exception("plugin %s failed to load", label)
            errors[label] = f"{type(exc).__name__}: {exc}"
            continue
        if not isinstance(plugin, Plugin):
            errors[label] = f"{label} is not a kith.sdk.Plugin manifest"
            continue
        plugin.source = plugin.source or label
        found[plugin.name] = plugin
    for plugin in registered:
        found[plugin.name] = plugin
    if allow is not None:
        found = {name: p for name, p in found.items() if name in allow or p.essential}
    return found, errors


def dependency_order(plugins: dict[str, Plugin], names: Iterable[str]) -> list[str]:
    """Names sorted so each plugin comes after what it depends on, and the essential ones first."""
    ordered: list[str] = []
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise PluginError(f"plugin {name}: circular dependency")
        visiting.add(name)
        for dep in plugins[name].depends if name in plugins else ():
            if dep in names:
                visit(dep)
        visiting.discard(name)
        ordered.append(name)

    # essential plugins (the core) come first, so no plugin can take their entity names
    for name in sorted(names, key=lambda n: (not (n in plugins and plugins[n].essential), n)):
        visit(name)
    return ordered


def _arguments(impl: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Only the arguments an implementation declares, as pluggy does: a hook can gain an
    argument without breaking the plugins written before it."""
    return {name: kwargs[name] for name in impl.argnames if name in kwargs}


class PluginManager:
    """The pluggy manager for the core and the enabled plugins of one running Kith."""

    def __init__(self, available: dict[str, Plugin], load_errors: dict[str, str] | None = None):
        self.available = available
        self.load_errors = dict(load_errors or {})
        self.failures: list[HookFailure] = []
        self.active: list[str] = []
        self.pm = self._new_pm()

    @staticmethod
    def _new_pm() -> pluggy.PluginManager:
        pm = pluggy.PluginManager("kith")
        pm.add_hookspecs(hookspecs)
        return pm

    def activate(self, enabled: Iterable[str]) -> None:
        """Register exactly the essential plugins plus ``enabled`` (in dependency order)."""
        names = {n for n in enabled if n in self.available}
        names |= {n for n, p in self.available.items() if p.essential}
        self.pm = self._new_pm()
        self.active = []
        self.failures = []
        for name in dependency_order(self.available, names):
            plugin = self.available[name]
            missing = [d for d in plugin.depends if d not in names]
            if missing:
                self._fail(name, "activate", f"depends on {', '.join(missing)}, which is not enabled")
                continue
            refusals = compatibility.problems(plugin, self.available)
            if refusals:  # e.g. Kith was upgraded past what an enabled plugin supports
                self._fail(name, "activate", "; ".join(refusals))
                continue
            try:
                self.pm.register(plugin.hook_object(), name=name)
            except Exception as exc:
                self._fail(name, "register", f"{type(exc).__name__}: {exc}")
                continue
            self.active.append(name)

    def _fail(self, plugin: str, hook: str, error: str) -> None:
        self.failures.append(HookFailure(plugin, hook, error))

    def deactivate_plugin(self, name: str) -> None:
        """Take a misbehaving plugin out of this process (its registration hook raised)."""
        obj = self.pm.get_plugin(name)
        if obj is not None:
            self.pm.unregister(obj, name=name)
        if name in self.active:
            self.active.remove(name)

    def _impls(self, hook_name: str) -> list[Any]:
        # pluggy calls the last registered first; keep registration order for predictability
        return list(getattr(self.pm.hook, hook_name).get_hookimpls())

    def call(self, hook_name: str, *, critical: bool = False, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a registration hook; a plugin that raises is logged, recorded and skipped.

        With ``critical=True`` the plugin is also taken out of this process, because the
        rest of it cannot work without what the hook failed to declare.
        """
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            try:
                result = impl.function(**_arguments(impl, kwargs))
            except Exception as exc:
                log.exception("plugin %s: hook %s raised", impl.plugin_name, hook_name)
                self._fail(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
                if critical:
                    self.deactivate_plugin(impl.plugin_name)
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    async def call_async(self, hook_name: str, *, refuse: bool, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a runtime hook, awaiting async implementations.

        With ``refuse=True`` (before-hooks) a ``ValidationFailed`` propagates and any
        other exception refuses the write with an error naming the plugin; otherwise
        (after-hooks) exceptions are logged with the plugin's name and swallowed.
        """
        results: list[tuple[str, Any]] = []
        for impl in self._impls(hook_name):
            try:
                result = impl.function(**_arguments(impl, kwargs))
                if inspect.isawaitable(result):
                    result = await result
            except ValidationFailed:
                if refuse:
                    raise
                log.exception("plugin %s: hook %s refused after commit", impl.plugin_name, hook_name)
                continue
            except Exception as exc:
                log.exception("plugin %s: hook %s raised", impl.plugin_name, hook_name)
                self._fail(impl.plugin_name, hook_name, f"{type(exc).__name__}: {exc}")
                if refuse:
                    raise ValidationFailed.single(
                        None, "plugin_error", f"plugin {impl.plugin_name} failed in {hook_name}: {exc}"
                    ) from exc
                continue
            if result is not None:
                results.append((impl.plugin_name, result))
        return results
