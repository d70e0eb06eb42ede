"""Which plugins exist, which are active, and calling their hooks safely.

Plugins are found through the ``kith.plugins`` entry-point group (built-ins declare
themselves the same way) plus ``extra_plugins`` import paths for development.  Only
enabled plugins are registered with pluggy, so a disabled plugin contributes nothing:
no schema, no hooks, no commands.

Every hook call goes through ``call`` / ``call_async``, which call pluggy's hook caller
(``pm.hook.<name>``), so pluggy's order and wrappers apply; each implementation is
guarded (``dispatch``) so a plugin that raises is reported by name and does not take
Kith down.  Plugins are registered in reverse dependency order: pluggy calls the last
registered first, so the core is called first and each plugin after those it depends on.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from kith.core import hookspecs
from kith.core.errors import PluginError, ValidationFailed
from kith.core.plugins import compatibility, dispatch
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


class PluginManager:
    """The pluggy manager for the core and the enabled plugins of one running Kith."""

    def __init__(self, available: dict[str, Plugin], load_errors: dict[str, str] | None = None):
        self.available = available
        self.load_errors = dict(load_errors or {})
        self.failures: list[HookFailure] = []
        self.active: list[str] = []
        #: the extension hooks the enabled plugins offer (``Plugin.hookspecs``)
        self.extensions: set[str] = set()
        self._calls: list[dispatch.CallRecord] = []
        self.pm = self._new_pm()

    @staticmethod
    def _new_pm() -> pluggy.PluginManager:
        pm = pluggy.PluginManager("kith")
        pm.add_hookspecs(hookspecs)
        return pm

    def activate(self, enabled: Iterable[str]) -> None:
        """Register exactly the essential plugins plus ``enabled``.

        They are checked in dependency order and registered in the reverse of it, because
        pluggy calls the last registered implementation first: so, among implementations
        without ``tryfirst``/``trylast``, the core runs first and a plugin after the
        plugins it depends on.
        """
        names = {n for n in enabled if n in self.available}
        names |= {n for n, p in self.available.items() if p.essential}
        self.pm = self._new_pm()
        self.active = []
        self.failures = []
        accepted: list[str] = []
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
            accepted.append(name)
        self.extensions = set()
        for name in accepted:  # every extension hook is known before any plugin implementing one registers
            module = self.available[name].spec_module()
            if module is not None:
                self.pm.add_hookspecs(module)
                self.extensions |= set(compatibility.extension_specs(self.available[name]))
        for name in reversed(accepted):
            try:
                self.pm.register(self._stand_in(name), name=name)
            except Exception as exc:
                self._fail(name, "register", f"{type(exc).__name__}: {exc}")
                continue
            self.active.insert(0, name)

    def _stand_in(self, name: str) -> object:
        return dispatch.guard(
            self.available[name].hook_object(),
            name,
            self.pm.parse_hookimpl_opts,  # type: ignore[arg-type]
            lambda hook: hook in compatibility.RUNTIME_HOOKS,
            self._report,
            self._record,
        )

    def _record(self) -> dispatch.CallRecord:
        # a guard called outside ``call`` (pluggy used directly) records into a throwaway
        return self._calls[-1] if self._calls else dispatch.CallRecord()

    def _report(self, plugin: str, hook: str, error: BaseException | str) -> None:
        if isinstance(error, BaseException):
            log.error(
                "plugin %s: hook %s raised\n%s", plugin, hook, "".join(traceback.format_exception(error)).rstrip()
            )
            error = f"{type(error).__name__}: {error}"
        else:
            log.error("plugin %s: hook %s: %s", plugin, hook, error)
        self._fail(plugin, hook, error)

    def _fail(self, plugin: str, hook: str, error: str) -> None:
        self.failures.append(HookFailure(plugin, hook, error))

    def deactivate_plugin(self, name: str) -> None:
        """Take a misbehaving plugin out of this process (its registration hook raised)."""
        obj = self.pm.get_plugin(name)
        if obj is not None:
            self.pm.unregister(obj, name=name)
        if name in self.active:
            self.active.remove(name)

    def call(self, hook_name: str, *, critical: bool = False, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a registration hook through pluggy; returns (plugin name, result) pairs in
        pluggy's order, after any wrapper changed the result.

        A plugin that raises is logged, recorded and skipped.  With ``critical=True`` it is
        also taken out of this process, because the rest of it cannot work without what
        the hook failed to declare.
        """
        if hook_name not in compatibility.REGISTRATION_HOOKS:
            raise PluginError(f"{hook_name} is a runtime hook: call it with call_async")
        record = dispatch.CallRecord()
        self._calls.append(record)
        try:
            results = getattr(self.pm.hook, hook_name)(**kwargs)
        finally:
            self._calls.pop()
        if critical:
            for plugin in dict.fromkeys(record.failed):
                self.deactivate_plugin(plugin)
        return record.pairs(results)

    def call_extension(self, hook_name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call an extension hook an enabled plugin offers (``Plugin.hookspecs``), as
        ``call`` does a registration hook: (plugin name, result) pairs, a plugin that
        raises logged, recorded and skipped.  A hook no enabled plugin offers is an error
        (a misspelt name would otherwise quietly return nothing)."""
        if hook_name not in self.extensions:
            raise PluginError(f"{hook_name} is not an extension hook of an enabled plugin")
        record = dispatch.CallRecord()
        self._calls.append(record)
        try:
            results = getattr(self.pm.hook, hook_name)(**kwargs)
        finally:
            self._calls.pop()
        return record.pairs(results)

    def pending(self, hook_name: str, **kwargs: Any) -> list[dispatch.Pending]:
        """A runtime hook's implementations as calls not made yet, in pluggy's order, for
        a caller that runs each itself (``kith_mail_received`` runs each in a savepoint of
        its own and stops at the first claim); it reports a failure with ``report``."""
        if hook_name not in compatibility.RUNTIME_HOOKS:
            raise PluginError(f"{hook_name} is a registration hook: call it with call")
        calls: list[dispatch.Pending] = getattr(self.pm.hook, hook_name)(**kwargs)
        return calls

    def report(self, plugin: str, hook: str, error: BaseException | str) -> None:
        """Log a plugin's failure in a hook with its name (and traceback) and record it."""
        self._report(plugin, hook, error)

    async def call_async(self, hook_name: str, *, refuse: bool, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call a runtime hook through pluggy, then run and await its implementations here,
        one at a time in pluggy's order: the one place Kith awaits hook results.

        With ``refuse=True`` (before-hooks) a ``ValidationFailed`` propagates and any
        other exception refuses the write with an error naming the plugin; either way the
        implementations after it are not called.  Otherwise (after-hooks) exceptions are
        logged with the plugin's name and the next implementation runs.
        """
        if hook_name not in compatibility.RUNTIME_HOOKS:
            raise PluginError(f"{hook_name} is a registration hook: call it with call")
        pending: list[dispatch.Pending] = getattr(self.pm.hook, hook_name)(**kwargs)
        results: list[tuple[str, Any]] = []
        for call in pending:
            try:
                result = call.run()
                if inspect.isawaitable(result):
                    result = await result
            except ValidationFailed:
                if refuse:
                    raise
                log.exception("plugin %s: hook %s refused after commit", call.plugin, hook_name)
                continue
            except Exception as exc:
                log.exception("plugin %s: hook %s raised", call.plugin, hook_name)
                self._fail(call.plugin, hook_name, f"{type(exc).__name__}: {exc}")
                if refuse:
                    raise ValidationFailed.single(
                        None, "plugin_error", f"plugin {call.plugin} failed in {hook_name}: {exc}"
                    ) from exc
                continue
            if result is not None:
                results.append((call.plugin, result))
        return results
