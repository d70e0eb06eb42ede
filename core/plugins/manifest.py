"""The manifest a plugin exposes through the ``kith.plugins`` entry-point group."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class Migration:
    """One schema step of a plugin (or the core): ``forwards(db)`` runs once per database."""

    name: str
    forwards: Any  # async (Database) -> None
    description: str = ""


@dataclass
class Plugin:
    """A plugin's manifest.

    ``hooks`` is the module (or import path) holding its ``@hookimpl`` functions;
    ``migrations`` the ordered steps that create and evolve its tables; ``tables`` the
    Piccolo tables it owns (purge exports and drops exactly these); ``depends`` the
    plugins it needs enabled first; ``requires_kith`` the Kith versions it supports, as
    a PEP 440 range (``">=0.1,<1"``): another Kith refuses to enable it, saying why;
    ``settings`` the pydantic model of its settings; ``glue`` marks a plugin that only
    joins the plugins it depends on, so it follows them: enabled when they all are,
    disabled before any of them is; ``hookspecs`` the module (or import path) of the
    hooks this plugin offers to plugins that depend on it (its extension points,
    ``@hookspec`` functions named ``<plugin>_…``), called with ``context.extensions``.
    """

    name: str
    version: str
    summary: str = ""
    depends: tuple[str, ...] = ()
    requires_kith: str = ""
    hooks: ModuleType | str | object | None = None
    migrations: list[Migration] = field(default_factory=list)
    tables: list[Any] = field(default_factory=list)
    essential: bool = False
    source: str = ""
    #: the pydantic model of the plugin's ``[plugin.<name>]`` settings, read with
    #: ``context.settings(model)`` and checked when the plugin is enabled
    settings: type[BaseModel] | None = None
    #: glue between the plugins it ``depends`` on: enabled as soon as all of them are,
    #: disabled first when one of them is disabled
    glue: bool = False
    #: the hooks this plugin offers to the plugins that depend on it (see docs/hooks.md)
    hookspecs: ModuleType | type | str | None = None

    def spec_module(self) -> ModuleType | type | None:
        """The module (or class) of this plugin's extension hookspecs, imported on first use."""
        if isinstance(self.hookspecs, str):
            self.hookspecs = importlib.import_module(self.hookspecs)
        return self.hookspecs

    def hook_object(self) -> object:
        """The object registered with pluggy (imported lazily, so listing is cheap)."""
        if isinstance(self.hooks, str):
            self.hooks = importlib.import_module(self.hooks)
        return self.hooks if self.hooks is not None else self
