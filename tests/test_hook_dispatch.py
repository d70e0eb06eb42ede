"""Hooks are called by pluggy: its documented order (wrappers around all; ``tryfirst``,
then the others, then ``trylast``; among equals the last registered first), wrappers
that see and change the result, async implementations awaited in that same order, each
implementation isolated, markers Kith cannot honour refused at enable, and lifecycle
implementations scoped to an entity."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from kith.core.errors import PluginError
from kith.core.plugins import lifecycle
from kith.sdk import ValidationFailed, entity_hook, hookimpl
from kith.sdk.testing import enable_plugin, make_activity, make_contact, make_organization, throwaway_plugin

CORE_KINDS = ["note", "call", "email", "meeting", "task"]


def kinds_plugin(name: str, **options: Any):  # type: ignore[no-untyped-def]
    """A plugin adding the activity kind ``name``, with pluggy's hookimpl ``options``."""

    def kith_activity_kinds() -> list[str]:
        return [name]

    return throwaway_plugin(name, hookimpl(**options)(kith_activity_kinds))


def kinds(kith: Any) -> list[str]:
    return list(kith.entity("activity").choices["kind"])


async def test_registration_hooks_run_in_pluggys_documented_order(make_kith):
    plugins = [
        kinds_plugin("last", trylast=True),
        kinds_plugin("beta"),
        kinds_plugin("alpha"),
        kinds_plugin("first", tryfirst=True),
    ]
    kith = await make_kith(plugins=plugins, enable=["last", "beta", "alpha", "first"])
    # tryfirst, then the others (Kith registers in reverse dependency/name order, so
    # pluggy's "last registered first" calls alpha before beta), then trylast
    assert kinds(kith) == [*CORE_KINDS, "first", "alpha", "beta", "last"]
    pluggy_order = [i.plugin_name for i in reversed(kith.plugins.pm.hook.kith_activity_kinds.get_hookimpls())]
    assert pluggy_order == ["first", "alpha", "beta", "last"]
    assert kith.plugins.call("kith_activity_kinds") == [
        ("first", ["first"]),
        ("alpha", ["alpha"]),
        ("beta", ["beta"]),
        ("last", ["last"]),
    ]


async def test_among_equals_a_plugin_runs_after_the_plugins_it_depends_on(make_kith):
    def kith_activity_kinds() -> list[str]:
        return ["aardvark"]

    # by name "aardvark" would come first; it depends on zulu, so it runs after it
    dependent = throwaway_plugin("aardvark", kith_activity_kinds, depends=("zulu",))
    kith = await make_kith(plugins=[kinds_plugin("zulu"), dependent], enable=["zulu", "aardvark"])
    assert kinds(kith) == [*CORE_KINDS, "zulu", "aardvark"]


async def test_a_wrapper_sees_the_result_of_the_others_and_can_change_it(make_kith):
    seen: list[Any] = []

    @hookimpl(wrapper=True)
    def kith_activity_kinds() -> Any:
        result = yield
        seen.append(list(result))
        return [kinds for kinds in result if kinds != ["beta"]] + [["edited"]]

    editor = throwaway_plugin("editor", kith_activity_kinds)
    kith = await make_kith(plugins=[kinds_plugin("alpha"), kinds_plugin("beta"), editor])
    for name in ("alpha", "beta", "editor"):
        await lifecycle.enable(kith, name)
    assert kinds(kith) == [*CORE_KINDS, "alpha", "edited"]
    assert seen[-1] == [["alpha"], ["beta"]]
    # what the wrapper put there is the wrapper's plugin's contribution
    assert kith.plugins.call("kith_activity_kinds") == [("alpha", ["alpha"]), ("editor", ["edited"])]


async def test_an_old_style_hookwrapper_can_force_the_result(make_kith):
    @hookimpl(hookwrapper=True)
    def kith_activity_kinds() -> Any:
        outcome = yield
        outcome.force_result([*outcome.get_result(), ["forced"]])

    kith = await make_kith(
        plugins=[kinds_plugin("alpha"), throwaway_plugin("forcer", kith_activity_kinds)], enable=["alpha", "forcer"]
    )
    assert kinds(kith) == [*CORE_KINDS, "alpha", "forced"]


async def test_sync_and_async_implementations_run_one_at_a_time_in_pluggys_order(make_kith):
    def adds(name: str, asynchronous: bool, **options: Any):  # type: ignore[no-untyped-def]
        if asynchronous:

            async def kith_before_create(change: Any) -> None:
                await asyncio.sleep(0)  # another implementation must not run meanwhile
                change.values["title"] = f"{change.values.get('title') or ''}>{name}"

            return throwaway_plugin(name, hookimpl(**options)(kith_before_create))

        def kith_before_create(change: Any) -> None:  # type: ignore[misc]
            change.values["title"] = f"{change.values.get('title') or ''}>{name}"

        return throwaway_plugin(name, hookimpl(**options)(kith_before_create))

    plugins = [
        adds("last", True, trylast=True),
        adds("beta", False),
        adds("alpha", True),
        adds("first", False, tryfirst=True),
    ]
    kith = await make_kith(plugins=plugins, enable=["last", "beta", "alpha", "first"])
    contact = await kith.records.create("contact", {"first_name": "Ann"})
    assert contact["title"] == ">first>alpha>beta>last"


async def test_a_refusing_before_hook_stops_the_ones_after_it_and_is_named(make_kith):
    called: list[str] = []

    @hookimpl(tryfirst=True)
    def kith_before_create(change: Any) -> None:
        called.append("head")

    @hookimpl
    async def kith_before_create_gate(change: Any) -> None:
        raise RuntimeError("gate is shut")

    kith_before_create_gate.__name__ = "kith_before_create"

    @hookimpl(trylast=True)
    def kith_before_create_tail(change: Any) -> None:
        called.append("tail")

    kith_before_create_tail.__name__ = "kith_before_create"
    plugins = [
        throwaway_plugin("head", kith_before_create),
        throwaway_plugin("gate", kith_before_create_gate),
        throwaway_plugin("tail", kith_before_create_tail),
    ]
    kith = await make_kith(plugins=plugins, enable=["head", "gate", "tail"])
    with pytest.raises(ValidationFailed) as refused:
        await kith.records.create("contact", {"first_name": "Ann"})
    assert refused.value.errors[0].code == "plugin_error"
    assert refused.value.errors[0].message == "plugin gate failed in kith_before_create: gate is shut"
    assert called == ["head"]
    assert await kith.count("contact") == 0


async def test_a_raising_registration_hook_or_wrapper_is_isolated_and_reported(make_kith):
    def kith_activity_kinds() -> list[str]:
        raise RuntimeError("no kinds today")

    @hookimpl(wrapper=True)
    def kith_activity_kinds_wrapper() -> Any:
        yield
        raise RuntimeError("wrapper broke")

    kith_activity_kinds_wrapper.__name__ = "kith_activity_kinds"
    plugins = [
        kinds_plugin("alpha"),
        throwaway_plugin("broken", kith_activity_kinds),
        throwaway_plugin("badwrap", kith_activity_kinds_wrapper),
        kinds_plugin("zulu"),
    ]
    kith = await make_kith(plugins=plugins, enable=["alpha", "broken", "badwrap", "zulu"])
    assert kinds(kith) == [*CORE_KINDS, "alpha", "zulu"]
    problems = {s.name: s.problems for s in await lifecycle.statuses(kith)}
    assert "kith_activity_kinds: RuntimeError: no kinds today" in problems["broken"]
    assert "kith_activity_kinds: RuntimeError: wrapper broke" in problems["badwrap"]
    assert not problems["alpha"] and not problems["zulu"]


def _async_wrapper() -> Any:
    @hookimpl(wrapper=True)
    async def kith_activity_kinds() -> Any:
        yield

    return kith_activity_kinds


def _runtime_wrapper() -> Any:
    @hookimpl(wrapper=True)
    def kith_before_update(change: Any) -> Any:
        return (yield)

    return kith_before_update


def _old_style_runtime_wrapper() -> Any:
    @hookimpl(hookwrapper=True)
    def kith_after_create(change: Any) -> Any:
        yield

    return kith_after_create


def _not_a_generator() -> Any:
    @hookimpl(wrapper=True)
    def kith_routes() -> Any:
        return []

    return kith_routes


def _misspelt_specname() -> Any:
    @hookimpl(specname="kith_before_craete")
    def check(change: Any) -> None:
        return None

    return check


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        (_async_wrapper, "kith_activity_kinds: an async wrapper (wrapper=True on an async def) is not supported"),
        (
            _runtime_wrapper,
            "kith_before_update: wrapper=True is not supported on kith_before_update, a runtime hook: its "
            "implementations may be async",
        ),
        (_old_style_runtime_wrapper, "kith_after_create: hookwrapper=True is not supported on kith_after_create"),
        (_not_a_generator, "kith_routes: wrapper=True needs a generator function"),
        (_misspelt_specname, "check (for kith_before_craete) is not a Kith hook; did you mean kith_before_create?"),
    ],
    ids=["async-wrapper", "runtime-wrapper", "runtime-hookwrapper", "not-a-generator", "misspelt-specname"],
)
async def test_a_marker_kith_cannot_honour_is_refused_at_enable(make_kith, hook, message):
    kith = await make_kith(plugins=[throwaway_plugin("odd", hook())])
    with pytest.raises(PluginError) as refused:
        await lifecycle.enable(kith, "odd")
    assert message in str(refused.value)
    assert "odd" not in kith.plugins.active


def test_entity_hook_says_what_is_wrong_when_declared():
    with pytest.raises(PluginError, match="only the lifecycle hooks can be scoped to entities"):
        entity_hook("kith_entities", "deal")
    with pytest.raises(PluginError, match="name at least one entity"):
        entity_hook("kith_before_update")
    with pytest.raises(PluginError, match="on tidy: the function must take `change`"):

        @entity_hook("kith_before_update", "contact")
        def tidy() -> None:
            return None


async def test_entity_scoped_lifecycle_hooks_are_called_only_for_their_entity(make_kith):
    calls: list[tuple[str, str]] = []

    @entity_hook("kith_before_create", "organization")
    def organization_created(change: Any) -> None:
        calls.append(("before_create", change.entity))
        change.values["name"] = change.values["name"].upper()

    @entity_hook("kith_after_update", "contact", "organization")
    async def updated(change: Any) -> None:
        calls.append(("after_update", change.entity))

    kith = await make_kith(plugins=[throwaway_plugin("scoped", organization_created, updated)], enable=["scoped"])
    ann = await make_contact(kith, first_name="Ann")
    acme = await make_organization(kith, name="acme")
    assert acme["name"] == "ACME"
    await kith.records.update("contact", ann["id"], {"title": "CEO"})
    await kith.records.update("organization", acme["id"], {"website": "https://acme.example"})
    await make_activity(kith, ann)
    assert calls == [("before_create", "organization"), ("after_update", "contact"), ("after_update", "organization")]


async def test_an_entity_scope_naming_no_entity_refuses_the_enable(make_kith):
    """A misspelt entity would never be called: enabling says so, and leaves it disabled."""

    @entity_hook("kith_before_update", "contacts")
    def tidy(change: Any) -> None:
        return None

    kith = await make_kith(plugins=[throwaway_plugin("typo", tidy)])
    with pytest.raises(
        PluginError, match="tidy: entity_hook names 'contacts', which is no entity here; did you mean 'contact'"
    ):
        await enable_plugin(kith, "typo")
    assert "typo" not in await kith.enabled_plugins()


def test_no_kith_hook_is_firstresult_or_historic():
    """What the dispatcher assumes: every result is awaited, no call is replayed."""
    from kith.core.plugins.manager import PluginManager

    pm = PluginManager({}).pm
    specs = [caller.spec for name, caller in vars(pm.hook).items() if name.startswith("kith_")]
    assert specs and all(spec is not None for spec in specs)
    assert [s.name for s in specs if s.opts.get("firstresult") or s.opts.get("historic")] == []


def test_every_hook_is_either_a_registration_or_a_runtime_hook():
    """The dispatcher calls the two kinds differently; a new hook must say which it is."""
    from kith.core.plugins.compatibility import REGISTRATION_HOOKS, RUNTIME_HOOKS, SPECS

    assert REGISTRATION_HOOKS.isdisjoint(RUNTIME_HOOKS)
    assert sorted(set(SPECS) - REGISTRATION_HOOKS - RUNTIME_HOOKS) == []
    assert sorted((REGISTRATION_HOOKS | RUNTIME_HOOKS) - set(SPECS)) == []
