"""Calling hooks through pluggy's own hook caller, with each implementation isolated.

pluggy decides the order (wrappers around everything; ``tryfirst`` before the others,
``trylast`` after; among equals the last registered first) and runs wrappers.  Kith
only registers, for each plugin, a stand-in object whose functions *guard* the plugin's
own ones, with the same pluggy options (``functools.wraps`` keeps the ``kith_impl``
marker and, through ``__wrapped__``, the argument names pluggy passes):

- a registration hook's guard calls the function at once; if it raises, the failure is
  reported with the plugin's name and the guard returns ``None``, so pluggy goes on with
  the next implementation, as if this one had nothing to say;
- a runtime hook's guard does not call it: it returns a ``Pending`` call carrying the
  plugin's name, which the plugin manager runs and awaits, one at a time, in the order
  pluggy returned them (the one place async results are awaited).  So sync and async
  implementations run strictly in pluggy's order, and a before-hook that refuses stops
  the ones after it, as a raising implementation does in pluggy;
- an entity-scoped lifecycle implementation (``entity_hook``) is skipped by its guard
  when ``change.entity`` is not one of its entities.

Wrapping each implementation, rather than iterating ``get_hookimpls()`` ourselves,
leaves pluggy's calling (ordering, wrappers, the result list) untouched; only an
implementation's exception is kept from reaching the others.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from kith.core.errors import PluginError
from kith.core.hookspecs import hookimpl

IMPL_MARK = "kith_impl"  # pluggy's marker attribute for project "kith"
SCOPE_MARK = "kith_entity_scope"  # set by entity_hook: the entities an implementation is for

#: the record lifecycle hooks, the only ones an implementation can scope to entities
LIFECYCLE_HOOKS = frozenset(
    {
        "kith_before_create",
        "kith_before_update",
        "kith_before_delete",
        "kith_after_create",
        "kith_after_update",
        "kith_after_delete",
        "kith_after_write",
    }
)

#: (plugin, hook, error) -> None: how a guard reports an implementation that raised
Report = Callable[[str, str, BaseException | str], None]


def entity_hook(
    hook: str, *entities: str, tryfirst: bool = False, trylast: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function as a lifecycle hook implementation for some entities only.

    ``@entity_hook("kith_before_update", "deal")`` above a function (named as you like,
    taking ``change``) means "before a deal is updated": Kith calls it only for writes
    of those entities, so it need not test ``change.entity``.  A plugin may have several
    for one hook.  It is pluggy's ``hookimpl(specname=hook, tryfirst=…, trylast=…)``
    plus the scope, so pluggy's order applies unchanged.
    """
    if hook not in LIFECYCLE_HOOKS:
        raise PluginError(
            f"entity_hook({hook!r}): only the lifecycle hooks can be scoped to entities "
            f"({', '.join(sorted(LIFECYCLE_HOOKS))})"
        )
    if not entities or not all(isinstance(e, str) and e for e in entities):
        raise PluginError(f"entity_hook({hook!r}): name at least one entity, e.g. entity_hook({hook!r}, 'deal')")

    def mark(function: Callable[..., Any]) -> Callable[..., Any]:
        if "change" not in _parameters(function):
            raise PluginError(f"entity_hook({hook!r}) on {function.__name__}: the function must take `change`")
        setattr(function, SCOPE_MARK, frozenset(entities))
        marked: Callable[..., Any] = hookimpl(specname=hook, tryfirst=tryfirst, trylast=trylast)(function)
        return marked

    return mark


def _parameters(function: Callable[..., Any]) -> list[str]:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return []


@dataclass
class Pending:
    """One runtime implementation's call, made when the plugin manager runs it."""

    plugin: str
    hook: str
    run: Callable[[], Any]


@dataclass
class CallRecord:
    """What one registration hook call's implementations returned, by plugin, so the
    manager can hand back (plugin, result) pairs for pluggy's result list."""

    contributions: list[tuple[str, Any]] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    changed_by: str | None = None

    def pairs(self, results: Iterable[Any]) -> list[tuple[str, Any]]:
        """Attribute each item of pluggy's (possibly wrapper-changed) result list: to the
        implementation that returned that very object, else to the wrapper that put it there."""
        unclaimed = list(self.contributions)
        attributed = []
        for item in results:
            for index, (contributor, value) in enumerate(unclaimed):
                if value is item:
                    plugin = contributor
                    del unclaimed[index]
                    break
            else:
                plugin = self.changed_by or "?"
            attributed.append((plugin, item))
        return attributed


def guard(
    hooks: object,
    plugin: str,
    opts_of: Callable[[object, str], dict[str, Any] | None],
    runtime: Callable[[str], bool],
    report: Report,
    record: Callable[[], CallRecord],
) -> object:
    """The stand-in registered with pluggy for ``plugin``'s hook object ``hooks``."""
    stand_in = types.SimpleNamespace()
    for attribute in dir(hooks):
        opts = opts_of(hooks, attribute)
        if opts is None:
            continue
        function = getattr(hooks, attribute)
        hook = opts.get("specname") or attribute
        if opts.get("wrapper") or opts.get("hookwrapper"):
            if runtime(hook):  # compatibility refuses this before registration
                raise PluginError(f"{attribute}: a wrapper on the runtime hook {hook} is not supported")
            wrapped = _guard_wrapper(function, plugin, hook, bool(opts.get("hookwrapper")), report, record)
        elif runtime(hook):
            wrapped = _guard_runtime(function, plugin, hook)
        else:
            wrapped = _guard_plain(function, plugin, hook, report, record)
        setattr(stand_in, attribute, wrapped)
    return stand_in


def _guard_plain(
    function: Callable[..., Any], plugin: str, hook: str, report: Report, record: Callable[[], CallRecord]
) -> Callable[..., Any]:
    @functools.wraps(function)
    def call_now(*args: Any, **kwargs: Any) -> Any:
        try:
            result = function(*args, **kwargs)
        except Exception as exc:
            report(plugin, hook, exc)
            record().failed.append(plugin)
            return None
        if result is not None:
            record().contributions.append((plugin, result))
        return result

    return call_now


def _guard_runtime(function: Callable[..., Any], plugin: str, hook: str) -> Callable[..., Any]:
    scope: frozenset[str] | None = getattr(function, SCOPE_MARK, None)
    parameters = _parameters(function)
    position = parameters.index("change") if scope is not None else -1

    @functools.wraps(function)
    def call_later(*args: Any, **kwargs: Any) -> Pending | None:
        if scope is not None:
            change = args[position] if position < len(args) else kwargs["change"]
            if change.entity not in scope:
                return None  # pluggy leaves None out of the results: not called at all
        return Pending(plugin, hook, lambda: function(*args, **kwargs))

    return call_later


def _guard_wrapper(
    function: Callable[..., Any],
    plugin: str,
    hook: str,
    old_style: bool,
    report: Report,
    record: Callable[[], CallRecord],
) -> Callable[..., Any]:
    """A generator around the plugin's wrapper: pluggy drives it exactly as it would
    the plugin's (one ``yield``; the result, or the old-style ``Result``, sent back),
    and the guard forwards to the plugin's generator.  A wrapper that raises, yields
    twice or never is reported by name and the result goes on unchanged."""

    @functools.wraps(function)
    def around(*args: Any, **kwargs: Any) -> Any:
        try:
            inner = function(*args, **kwargs)
            next(inner)
        except StopIteration:
            report(plugin, hook, "the wrapper returned without yielding")
            return (yield)
        except Exception as exc:
            report(plugin, hook, exc)
            return (yield)
        try:
            received = yield
        except BaseException:  # implementations are isolated: only an interrupt gets here
            inner.close()
            raise
        before = list(received.get_result() if old_style else received)
        try:
            inner.send(received)
        except StopIteration as stop:
            result = received.get_result() if old_style else stop.value
        except Exception as exc:
            report(plugin, hook, exc)
            if old_style:
                received.force_result(before)
            return before
        else:
            inner.close()
            report(plugin, hook, "the wrapper yielded more than once")
            return before
        kept = {id(item) for item in before}
        added = [item for item in result or () if id(item) not in kept]
        record().contributions += [(plugin, item) for item in added]
        if added or len(result or ()) != len(before):
            record().changed_by = plugin
        return result

    return around
