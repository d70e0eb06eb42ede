"""Throwaway plugins: a few hook functions turned into a plugin for one test."""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

from kith.core.hookspecs import hookimpl
from kith.core.plugins.manifest import Plugin


def throwaway_plugin(name: str, *hooks: Callable[..., Any], **manifest: Any) -> Plugin:
    """A plugin named ``name`` whose hooks are these functions (named after the hooks,
    ``kith_before_create`` and so on; ``@hookimpl`` is optional here), to pass to
    ``make_kith(plugins=[...], enable=[name])``.  ``manifest`` takes the other
    ``Plugin`` fields (``tables``, ``migrations``, ``depends``…).

    Enabling it goes through the same checks as a real plugin, so a misspelt hook name
    or a wrong argument is refused with the same message.
    """
    namespace = types.SimpleNamespace()
    for function in hooks:
        if getattr(function, "kith_impl", None) is None:
            function = hookimpl(function)
        setattr(namespace, function.__name__, function)
    return Plugin(name=name, version=manifest.pop("version", "0.0.0"), hooks=namespace, **manifest)
