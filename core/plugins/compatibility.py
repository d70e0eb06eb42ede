"""Whether a plugin can run on this Kith, said before it is enabled, in words that tell
its author or its installer what to fix: the Kith versions it supports, the plugins it
depends on, its Python imports, and its hooks (names, arguments, sync or async).

Checking at enable time, rather than letting pluggy or a first request fail later,
means a bad plugin never becomes half-enabled.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import Version

from kith.core import __version__, hookspecs
from kith.core.plugins.manifest import Plugin

#: hooks called while the registry is built: they must return at once, not a coroutine
REGISTRATION_HOOKS = frozenset(
    {
        "kith_entities",
        "kith_activity_kinds",
        "kith_graphql_queries",
        "kith_graphql_mutations",
        "kith_cli_commands",
        "kith_routes",
        "kith_roles",
        "kith_automation_actions",
        "kith_automation_events",
        "kith_automation_functions",
        "kith_automation_rules",
    }
)
IMPL_MARK = "kith_impl"  # set by kith.sdk.hookimpl (pluggy's marker for project "kith")


def _spec_arguments() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(function).parameters)
        for name, function in vars(hookspecs).items()
        if name.startswith("kith_") and callable(function)
    }


SPECS = _spec_arguments()


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


def hook_problems(hooks: Any) -> list[str]:
    """Hooks that Kith would never call, or would call wrongly."""
    problems = []
    for attribute in sorted(dir(hooks)):
        if not attribute.startswith("kith_"):
            continue
        function = getattr(hooks, attribute)
        if not callable(function):
            continue
        marked = getattr(function, IMPL_MARK, None) is not None
        if attribute not in SPECS:
            if marked:
                near = difflib.get_close_matches(attribute, SPECS, n=1)
                hint = f"; did you mean {near[0]}?" if near else " (see docs/hooks.md for the hooks)"
                problems.append(f"{attribute} is not a Kith hook{hint}")
            continue
        if not marked:
            problems.append(f"{attribute} is not marked @hookimpl (from kith.sdk), so Kith would never call it")
            continue
        wanted = SPECS[attribute]
        try:
            parameters = [
                p
                for p in inspect.signature(function).parameters.values()
                if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            ]
        except (TypeError, ValueError):
            continue
        unknown = [p.name for p in parameters if p.name not in wanted and p.default is p.empty]
        if unknown:
            takes = ", ".join(wanted) or "no arguments"
            problems.append(
                f"{attribute}({', '.join(p.name for p in parameters)}): unknown argument "
                f"{', '.join(repr(u) for u in unknown)}; this hook passes ({takes}), take any of them by name"
            )
        if attribute in REGISTRATION_HOOKS and inspect.iscoroutinefunction(function):
            problems.append(f"{attribute} must be a plain function, not async: it is called while Kith starts")
    return problems


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
    return found + hook_problems(hooks)
