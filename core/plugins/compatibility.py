"""Whether a plugin can run on this Kith, said before it is enabled, in words that tell
its author or its installer what to fix: the Kith versions it supports, the plugins it
depends on, its Python imports, and its hooks (names, arguments, sync or async, and
pluggy options Kith cannot honour: async wrappers, wrappers around runtime hooks).

Checking at enable time, rather than letting pluggy or a first request fail later,
means a bad plugin never becomes half-enabled.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Mapping
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from kith.core import __version__, hookspecs
from kith.core.plugins.dispatch import IMPL_MARK, LIFECYCLE_HOOKS, SCOPE_MARK
from kith.core.plugins.manifest import Plugin

#: hooks called while the registry is built: they must return at once, not a coroutine
REGISTRATION_HOOKS = frozenset(
    {
        "kith_entities",
        "kith_activity_kinds",
        "kith_custom_fields",
        "kith_graphql_queries",
        "kith_graphql_mutations",
        "kith_cli_commands",
        "kith_routes",
        "kith_roles",
        "kith_duplicate_rules",
        "kith_automation_actions",
        "kith_automation_events",
        "kith_automation_functions",
        "kith_automation_rules",
        "kith_jobs",
        "kith_report_sources",
    }
)
#: hooks called while Kith serves (writes, views, privacy, demo data): they may be async,
#: and the plugin manager runs and awaits them one at a time (a test checks that every
#: hook is in exactly one of the two sets)
RUNTIME_HOOKS = LIFECYCLE_HOOKS | {
    "kith_personal_data",
    "kith_erase_personal_data",
    "kith_demo_data",
    "kith_customer_view",
    "kith_mail_received",
}


def _spec_arguments() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in vars(hookspecs).items()
        if name.startswith("kith_") and callable(function)
    }


SPECS = _spec_arguments()
#: the marker pluggy's ``HookspecMarker("kith")`` puts on a hookspec function
SPEC_MARK = "kith_spec"


def extension_specs(plugin: Plugin) -> dict[str, list[str]]:
    """The extension hooks ``plugin`` offers (``hookspecs``), by name, with their
    arguments: only functions marked ``@hookspec``."""
    module = plugin.spec_module()
    if module is None:
        return {}
    found = {}
    for name in dir(module):
        function = getattr(module, name, None)
        if inspect.isroutine(function) and hasattr(function, SPEC_MARK):
            found[name] = list(inspect.signature(function).parameters)
    return found


def extension_problems(plugin: Plugin) -> list[str]:
    """An extension hook must carry its plugin's name (``social_connectors``), so two
    plugins cannot offer one hook name and a Kith hook name is never shadowed."""
    try:
        names = extension_specs(plugin)
    except ImportError as exc:
        return [f"its hookspecs module cannot be imported ({type(exc).__name__}: {exc})"]
    return [
        f"extension hook {name} must be named {plugin.name}_…, after the plugin that offers it"
        for name in names
        if not name.startswith(f"{plugin.name}_")
    ]


def offered_to(plugin: Plugin, available: Mapping[str, Plugin]) -> dict[str, list[str]]:
    """The extension hooks ``plugin`` may implement: its own and those of the plugins it
    depends on (a hook of a plugin it does not depend on might never be there)."""
    found: dict[str, list[str]] = {}
    for name in (plugin.name, *plugin.depends):
        owner = plugin if name == plugin.name else available.get(name)
        if owner is not None:
            try:
                found.update(extension_specs(owner))
            except ImportError:
                continue  # reported when that plugin is checked
    return found


def version_problem(plugin: Plugin, kith_version: str = __version__) -> str | None:
    """Why ``plugin`` does not support this Kith version (None: it does, or says nothing)."""
    if not plugin.requires_kith:
        return None
    try:
        supported = SpecifierSet(plugin.requires_kith)
    except InvalidSpecifier:
        return (
            f"requires_kith={plugin.requires_kith!r} is not a version range: write it like '>=0.1,<1' "
            "(PEP 440 specifiers)"
        )
    if not supported.contains(Version(kith_version), prereleases=True):
        return (
            f"supports Kith {plugin.requires_kith}, but this is Kith {kith_version}: install a version of "
            f"{plugin.name} made for Kith {kith_version}, or a Kith it supports"
        )
    return None


def dependency_problems(plugin: Plugin, available: Mapping[str, Plugin]) -> list[str]:
    return [
        f"depends on plugin {dep!r}, which is not installed: install the package that provides it "
        f"(kith plugins list shows what is installed)"
        for dep in plugin.depends
        if dep != "core" and dep not in available
    ]


def hook_problems(hooks: Any, extensions: Mapping[str, list[str]] | None = None) -> list[str]:
    """Hooks that Kith would never call, or would call wrongly; ``extensions``: the
    plugins' extension hooks the plugin may implement (``offered_to``)."""
    specs = {**SPECS, **(extensions or {})}
    problems = []
    for attribute in sorted(dir(hooks)):
        function = getattr(hooks, attribute, None)
        if not callable(function):
            continue
        # pluggy looks only at functions and methods; reading a mark off any other object
        # (a client, the Kith a docs example made) could run its code
        opts = getattr(function, IMPL_MARK, None) if inspect.isroutine(function) else None
        marked = isinstance(opts, dict)
        if not marked and not attribute.startswith("kith_"):
            continue
        hook = (opts or {}).get("specname") or attribute
        label = attribute if hook == attribute else f"{attribute} (for {hook})"
        if hook not in specs:
            if marked:
                near = difflib.get_close_matches(hook, specs, n=1)
                hint = f"; did you mean {near[0]}?" if near else " (see docs/hooks.md for the hooks)"
                problems.append(f"{label} is not a Kith hook{hint}")
            continue
        if not marked:
            problems.append(f"{attribute} is not marked @hookimpl (from kith.sdk), so Kith would never call it")
            continue
        problems += _argument_problems(label, hook, function, specs[hook])
        problems += _marker_problems(label, hook, function, opts or {})
    return problems


def _argument_problems(label: str, hook: str, function: Any, wanted: list[str]) -> list[str]:
    try:
        parameters = [
            p
            for p in inspect.signature(function).parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        ]
    except (TypeError, ValueError):
        return []
    problems = []
    unknown = [p.name for p in parameters if p.name not in wanted and p.default is p.empty]
    if unknown:
        takes = ", ".join(wanted) or "no arguments"
        problems.append(
            f"{label}({', '.join(p.name for p in parameters)}): unknown argument "
            f"{', '.join(repr(u) for u in unknown)}; this hook passes ({takes}), take any of them by name"
        )
    if hook in REGISTRATION_HOOKS and inspect.iscoroutinefunction(function):
        problems.append(f"{label} must be a plain function, not async: it is called while Kith starts")
    return problems


def _marker_problems(label: str, hook: str, function: Any, opts: dict[str, Any]) -> list[str]:
    """pluggy options Kith cannot honour, refused here rather than misbehaving later."""
    problems = []
    wrapper = "wrapper=True" if opts.get("wrapper") else "hookwrapper=True" if opts.get("hookwrapper") else ""
    if opts.get("wrapper") and opts.get("hookwrapper"):
        problems.append(f"{label}: use wrapper=True or hookwrapper=True, not both (wrapper=True is pluggy's current)")
    if wrapper and (inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function)):
        problems.append(
            f"{label}: an async wrapper ({wrapper} on an async def) is not supported: pluggy runs a wrapper as a "
            "plain generator and cannot await it; write it as a plain generator with one `yield`"
        )
    elif wrapper and hook in RUNTIME_HOOKS:
        problems.append(
            f"{label}: {wrapper} is not supported on {hook}, a runtime hook: its implementations may be async and "
            "run after pluggy returns, so a wrapper could see neither their results nor their time; use "
            "tryfirst=True or trylast=True to run before or after the others"
        )
    elif wrapper and not inspect.isgeneratorfunction(function):
        problems.append(f"{label}: {wrapper} needs a generator function: yield once, where the other hooks run")
    scope = getattr(function, SCOPE_MARK, None)
    if scope is not None and hook not in LIFECYCLE_HOOKS:
        problems.append(
            f"{label}: entity scope {sorted(scope)} on {hook}; only the lifecycle hooks "
            f"({', '.join(sorted(LIFECYCLE_HOOKS))}) can be scoped to entities"
        )
    return problems


def scope_problems(hooks: Any, entities: Iterable[str]) -> list[str]:
    """Entity scopes (``entity_hook``) naming no entity of the running Kith: a misspelt
    name would never be called, silently.  Checked once the entities are known."""
    known = sorted(set(entities))
    found = []
    for attribute in sorted(dir(hooks)):
        function = getattr(hooks, attribute, None)
        scope = getattr(function, SCOPE_MARK, None) if inspect.isroutine(function) else None
        for name in sorted(set(scope or ()) - set(known)):
            near = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else f" (entities: {', '.join(known)})"
            found.append(f"{attribute}: entity_hook names {name!r}, which is no entity here{hint}")
    return found


def problems(plugin: Plugin, available: Mapping[str, Plugin], kith_version: str = __version__) -> list[str]:
    """Everything that keeps ``plugin`` from being enabled on this Kith, or []."""
    found = []
    version = version_problem(plugin, kith_version)
    if version:
        found.append(version)
    found += dependency_problems(plugin, available)
    try:
        hooks = plugin.hook_object()
    except ImportError as exc:
        found.append(
            f"its hooks module cannot be imported ({type(exc).__name__}: {exc}): install the plugin's "
            "dependencies (pip install the plugin's package again)"
        )
        return found
    except Exception as exc:
        found.append(f"its hooks module fails to import: {type(exc).__name__}: {exc}")
        return found
    return found + extension_problems(plugin) + hook_problems(hooks, offered_to(plugin, available))
