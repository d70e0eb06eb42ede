"""Plugins: discovery, enable/disable/purge, hooks, failure isolation, dependencies."""

from __future__ import annotations

import json

import pytest

from kith.core.errors import PluginError
from kith.core.plugins import lifecycle
from kith.sdk import Plugin, hookimpl, hookspec
from kith.sdk.testing import GraphQLClient, make_contact, system_context
from kith_test_plugins import loyalty

CARD = """
mutation($input: LoyaltyCardCreateInput!) {
  createLoyaltyCard(input: $input) { loyaltyCard { id level points } errors { field code message } }
}"""


async def test_plugin_adds_entity_graphql_and_hooks(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin])
    assert "loyalty_card" not in kith.entities
    assert "loyalty_card" not in await kith.db.table_names()

    ran = await lifecycle.enable(kith, "loyalty")
    assert ran == ["0001_initial"]
    assert "loyalty_card" in await kith.db.table_names()
    gql = GraphQLClient(kith)
    contact = await make_contact(kith)
    gold = await gql.query(CARD, input={"contactId": str(contact["id"]), "level": "gold"})
    assert gold["createLoyaltyCard"]["loyaltyCard"]["points"] == 100  # set by the before-hook
    refused = await gql.query(CARD, input={"contactId": str(contact["id"]), "points": -5})
    assert refused["createLoyaltyCard"] == {
        "loyaltyCard": None,
        "errors": [{"field": "points", "code": "invalid", "message": "must not be negative"}],
    }
    assert [int(gold["createLoyaltyCard"]["loyaltyCard"]["id"])] == loyalty.CREATED_CARDS
    data = await gql.query('{ loyaltyPointsTotal loyaltyCards(filter: {level: {eq: "gold"}}) { totalCount } }')
    assert data == {"loyaltyPointsTotal": 100, "loyaltyCards": {"totalCount": 1}}
    view = await gql.query(
        "query($id: ID!) { customerView(contactId: $id) { sections { plugin title items } } }",
        id=str(contact["id"]),
    )
    section = view["customerView"]["sections"][0]
    assert section["plugin"] == "loyalty" and section["items"][0]["points"] == 100


async def test_disable_hides_api_but_keeps_data_and_enable_brings_it_back(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    contact = await make_contact(kith)
    await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 7})
    await lifecycle.disable(kith, "loyalty")
    sdl = kith.schema.sdl()
    assert "LoyaltyCard" not in sdl and "loyaltyPointsTotal" not in sdl
    body = await GraphQLClient(kith).execute("{ loyaltyPointsTotal }")
    assert "Cannot query field" in body["errors"][0]["message"]
    rows = await kith.db.execute("SELECT points FROM loyalty_card")
    assert [r["points"] for r in rows] == [7]
    await lifecycle.enable(kith, "loyalty")
    assert (await GraphQLClient(kith).query("{ loyaltyPointsTotal }")) == {"loyaltyPointsTotal": 7}


async def test_enabled_state_is_shared_through_the_database(make_kith, loyalty_plugin):
    first = await make_kith(plugins=[loyalty_plugin])
    second = await make_kith(plugins=[loyalty_plugin])
    await lifecycle.enable(first, "loyalty")
    assert "loyalty_card" not in second.entities
    assert await second.refresh_if_changed(force=True)
    assert "loyalty_card" in second.entities


async def test_purge_exports_then_drops(make_kith, loyalty_plugin, tmp_path):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    contact = await make_contact(kith)
    await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 42})
    with pytest.raises(PluginError, match="disable it before purging"):
        await lifecycle.purge(kith, "loyalty", tmp_path)
    await lifecycle.disable(kith, "loyalty")
    path = await lifecycle.purge(kith, "loyalty", tmp_path)
    export = json.loads(path.read_text())
    assert [row["points"] for row in export["tables"]["loyalty_card"]] == [42]
    assert "loyalty_card" not in await kith.db.table_names()
    # enabling again starts from an empty table (its migration runs again)
    assert await lifecycle.enable(kith, "loyalty") == ["0001_initial"]
    assert await kith.count("loyalty_card") == 0


async def test_dependencies_are_checked_both_ways(make_kith, loyalty_plugin):
    addon = Plugin(name="loyalty_addon", version="1.0", depends=("loyalty",), hooks=object())
    kith = await make_kith(plugins=[loyalty_plugin, addon])
    with pytest.raises(PluginError, match="depends on loyalty: enable it first"):
        await lifecycle.enable(kith, "loyalty_addon")
    await lifecycle.enable(kith, "loyalty")
    await lifecycle.enable(kith, "loyalty_addon")
    with pytest.raises(PluginError, match="needed by loyalty_addon"):
        await lifecycle.disable(kith, "loyalty")
    with pytest.raises(PluginError, match="no plugin named 'nope'"):
        await lifecycle.enable(kith, "nope")
    with pytest.raises(PluginError, match="essential"):
        await lifecycle.disable(kith, "core")


class BrokenRegistration:
    @hookimpl
    def kith_entities(self):
        raise RuntimeError("bad table declaration")


class BrokenAtRuntime:
    @hookimpl
    def kith_before_update(self, change):
        raise RuntimeError("cannot reach the billing system")

    @hookimpl
    def kith_after_create(self, change):
        raise RuntimeError("notification service down")


async def test_a_failing_plugin_is_reported_by_name_and_kith_keeps_working(make_kith, caplog):
    broken = Plugin(name="broken", version="0.1", hooks=BrokenRegistration())
    flaky = Plugin(name="flaky", version="0.1", hooks=BrokenAtRuntime())
    kith = await make_kith(plugins=[broken, flaky])
    await lifecycle.enable(kith, "flaky")
    with pytest.raises(PluginError, match="broken was enabled but failed to start: RuntimeError: bad table"):
        await lifecycle.enable(kith, "broken")
    assert "broken" not in kith.plugins.active and "flaky" in kith.plugins.active
    statuses = {s.name: s for s in await lifecycle.statuses(kith)}
    assert statuses["broken"].problems and "bad table declaration" in statuses["broken"].problems[0]

    # the after-commit hook raises: the write is kept, the error is logged with the plugin name
    contact = await make_contact(kith)
    assert await kith.count("contact") == 1
    assert any("plugin flaky" in r.getMessage() for r in caplog.records)

    # a before-hook that raises refuses the write with an error naming the plugin
    gql = GraphQLClient(kith)
    data = await gql.query(
        'mutation($id: ID!) { updateContact(id: $id, input: {title: "x"}) { contact { id } errors { code message } } }',
        id=str(contact["id"]),
    )
    error = data["updateContact"]["errors"][0]
    assert error["code"] == "plugin_error" and "flaky" in error["message"]
    assert (await kith.records.get("contact", contact["id"]))["title"] is None
    assert (await gql.query("{ contacts { totalCount } }")) == {"contacts": {"totalCount": 1}}


def test_plugin_command_and_lifecycle_from_the_cli(kith_cli, monkeypatch, tmp_path):
    monkeypatch.setenv("KITH_EXTRA_PLUGINS", "kith_test_plugins.loyalty:plugin")
    listing = kith_cli("plugins", "list")
    assert listing.exit_code == 0 and "loyalty" in listing.output
    assert kith_cli("loyalty-total").exit_code == 2  # not a command until the plugin is enabled
    enabled = kith_cli("plugins", "enable", "loyalty")
    assert enabled.exit_code == 0 and "Enabled loyalty" in enabled.output
    total = kith_cli("loyalty-total")
    assert total.exit_code == 0 and "loyalty points: 0" in total.output
    # `kith --help` lists the core's commands only (it opens no database); the enabled
    # plugins' commands are named by `kith plugins list` and `kith plugins info`
    top = kith_cli("--help").output
    assert "loyalty-total" not in top and "`kith plugins list` names them" in top
    rows = {
        cells[0]: cells
        for line in kith_cli("plugins", "list").output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) > 4
    }
    assert rows["loyalty"][4] == "kith loyalty-total", rows
    info = kith_cli("plugins", "info", "loyalty")
    assert "loyalty_card" in info.output and "commands: kith loyalty-total" in info.output
    assert kith_cli("plugins", "purge", "loyalty", "--yes").exit_code == 1
    assert kith_cli("plugins", "disable", "loyalty").exit_code == 0
    cancelled = kith_cli("plugins", "purge", "loyalty", "--export-dir", str(tmp_path), input="n\n")
    assert cancelled.exit_code == 1 and "nothing was changed" in cancelled.output
    purged = kith_cli("plugins", "purge", "loyalty", "--export-dir", str(tmp_path), input="y\n")
    assert purged.exit_code == 0, purged.output
    assert list(tmp_path.glob("loyalty-*.json"))


def test_glue_follows_the_plugins_it_joins_from_the_cli(kith_cli, monkeypatch):
    plugins = ",".join(f"kith_test_plugins.glue:{name}" for name in ("shouts", "echoes", "glue"))
    monkeypatch.setenv("KITH_EXTRA_PLUGINS", plugins)
    assert kith_cli("plugins", "enable", "shouts").exit_code == 0
    refused = kith_cli("plugins", "enable", "shouts.echoes")
    assert refused.exit_code == 1 and "depends on echoes" in refused.output
    enabled = kith_cli("plugins", "enable", "echoes")
    assert enabled.exit_code == 0, enabled.output
    assert "Enabled shouts.echoes too: it joins shouts and echoes" in enabled.output
    rows = {
        cells[0]: cells[2]
        for line in kith_cli("plugins", "list").output.splitlines()
        if len(cells := [c.strip() for c in line.strip("│ ").split("│")]) > 2
    }
    assert rows["shouts.echoes"] == "yes"
    disabled = kith_cli("plugins", "disable", "shouts")
    assert disabled.exit_code == 0, disabled.output
    assert "Disabled shouts.echoes first" in disabled.output and "Disabled shouts;" in disabled.output
    assert kith_cli("plugins", "disable", "echoes").exit_code == 0  # nothing depends on it any more


async def test_glue_is_enabled_with_the_last_of_its_plugins_and_runs_only_then(make_kith):
    from kith.sdk.testing import disable_plugin, enable_plugin, make_activity, make_contact, system_context
    from kith_test_plugins.glue import echoes, glue, shouts

    kith = await make_kith(plugins=[shouts, echoes, glue], enable=["shouts"])
    ann = await make_contact(kith)
    records = system_context(kith).records

    async def echoes_after_a_shout() -> int:
        await make_activity(kith, ann, kind="shout", subject="hey")
        return await records.count("activity", {"subject": {"eq": "echo"}})

    assert await echoes_after_a_shout() == 0
    await enable_plugin(kith, "echoes")  # completes the glue
    assert await echoes_after_a_shout() == 1
    await disable_plugin(kith, "shouts.echoes")  # an admin stops the feature alone
    assert await echoes_after_a_shout() == 1
    await enable_plugin(kith, "shouts.echoes")
    await disable_plugin(kith, "echoes")  # the glue goes first
    assert await echoes_after_a_shout() == 1
    await enable_plugin(kith, "echoes")  # and comes back with it
    assert await echoes_after_a_shout() == 2


class _TypoHooks:
    @hookimpl
    def kith_entites(self):  # a typo: would never be called
        return []


class _WrongArguments:
    @hookimpl
    def kith_before_create(self, chnage):
        return None


class _Unmarked:
    def kith_roles(self):
        return []


class _AsyncRegistration:
    @hookimpl
    async def kith_entities(self):
        return []


class _Fine:
    @hookimpl
    def kith_before_update(self, change):  # a subset of the arguments is fine
        return None


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        (
            Plugin(name="future", version="1", requires_kith=">=9.0"),
            "plugin future cannot be enabled: supports Kith >=9.0, but this is Kith 0.1.0: install a version of future "
            "made for Kith 0.1.0, or a Kith it supports",
        ),
        (
            Plugin(name="garbled", version="1", requires_kith="version two"),
            "requires_kith='version two' is not a version range: write it like '>=0.1,<1'",
        ),
        (
            Plugin(name="lonely", version="1", depends=("billing",)),
            "depends on plugin 'billing', which is not installed: install the package that provides it",
        ),
        (
            Plugin(name="typo", version="1", hooks=_TypoHooks()),
            "kith_entites is not a Kith hook; did you mean kith_entities?",
        ),
        (
            Plugin(name="wrongargs", version="1", hooks=_WrongArguments()),
            "kith_before_create(chnage): unknown argument 'chnage'; this hook passes (change), take any of them by name",
        ),
        (
            Plugin(name="unmarked", version="1", hooks=_Unmarked()),
            "kith_roles is not marked @hookimpl (from kith.sdk), so Kith would never call it",
        ),
        (
            Plugin(name="asyncreg", version="1", hooks=_AsyncRegistration()),
            "kith_entities must be a plain function, not async",
        ),
        (
            Plugin(name="missingdep", version="1", hooks="kith_no_such_package.hooks"),
            "its hooks module cannot be imported (ModuleNotFoundError: No module named 'kith_no_such_package')",
        ),
    ],
    ids=lambda value: value.name if isinstance(value, Plugin) else "",
)
async def test_a_plugin_that_cannot_work_is_refused_at_enable_time_saying_what_to_fix(make_kith, manifest, message):
    kith = await make_kith(plugins=[manifest])
    with pytest.raises(PluginError) as refused:
        await lifecycle.enable(kith, manifest.name)
    assert message in str(refused.value)
    assert manifest.name not in kith.plugins.active and manifest.name not in await kith.enabled_plugins()


class _OfferedHooks:
    @staticmethod
    @hookspec
    def offering_things(kind):
        """What an add-on contributes."""


class _BadlyNamedSpec:
    @staticmethod
    @hookspec
    def things(kind):
        """Not named after its plugin."""


class _AddOn:
    @hookimpl
    def offering_things(self, kind):
        return [f"{kind} from the add-on"]


class _BrokenAddOn:
    @hookimpl
    def offering_things(self, kind):
        raise RuntimeError("the add-on is broken")


async def test_extension_hooks_reach_only_plugins_that_depend_on_their_offerer(make_kith):
    offering = Plugin(name="offering", version="1", hookspecs=_OfferedHooks)
    addon = Plugin(name="addon", version="1", hooks=_AddOn(), depends=("offering",))
    broken = Plugin(name="broken", version="1", hooks=_BrokenAddOn(), depends=("offering",))
    stray = Plugin(name="stray", version="1", hooks=_AddOn())  # implements it without depending on it
    misnamed = Plugin(name="misnamed", version="1", hookspecs=_BadlyNamedSpec)
    kith = await make_kith(plugins=[offering, addon, broken, stray, misnamed], enable=["offering", "addon", "broken"])
    context = system_context(kith)
    assert context.extensions("offering_things", kind="widgets") == [("addon", ["widgets from the add-on"])]
    assert any(f.plugin == "broken" and "the add-on is broken" in f.error for f in kith.plugins.failures)
    with pytest.raises(PluginError, match="offering_thing is not an extension hook of an enabled plugin"):
        context.extensions("offering_thing", kind="widgets")
    with pytest.raises(PluginError, match="offering_things is not a Kith hook"):
        await lifecycle.enable(kith, "stray")
    with pytest.raises(PluginError, match="extension hook things must be named misnamed_…"):
        await lifecycle.enable(kith, "misnamed")


async def test_a_compatible_plugin_enables(make_kith):
    from kith.core import __version__

    fine = Plugin(name="fine", version="1", requires_kith=f">={__version__},<99", hooks=_Fine())
    kith = await make_kith(plugins=[fine], enable=["fine"])
    assert "fine" in kith.plugins.active


def test_the_kith_version_is_the_package_version():
    from importlib.metadata import version

    from kith.core import __version__

    assert __version__ == version("kith-crm")


async def test_a_throwaway_plugin_from_plain_functions(make_kith):
    from kith.sdk.testing import throwaway_plugin

    seen = []

    async def kith_after_create(change):
        seen.append((change.entity, change.after["first_name"]))

    def kith_entites():  # misspelt: refused like in a real plugin
        return []

    spy = throwaway_plugin("spy", kith_after_create)
    kith = await make_kith(plugins=[spy, throwaway_plugin("typo", kith_entites)], enable=["spy"])
    await make_contact(kith, first_name="Ann")
    assert seen == [("contact", "Ann")]
    with pytest.raises(PluginError, match="kith_entites is not a Kith hook; did you mean kith_entities"):
        await lifecycle.enable(kith, "typo")


async def test_a_plugin_declares_custom_fields_on_core_entities(make_kith, tmp_path):
    """Created on enable (an admin's field of the same type is adopted, another type
    refuses the enable and leaves the plugin disabled), kept on disable, removed by purge."""
    from kith.sdk import CustomFieldSpec, PluginError
    from kith.sdk.testing import disable_plugin, enable_plugin, purge_plugin, throwaway_plugin

    def kith_custom_fields():
        return [
            CustomFieldSpec("contact", "insurance_number", "text", personal=True),
            CustomFieldSpec("organization", "clinic_code", "integer", indexed=True),
        ]

    kith = await make_kith(plugins=[throwaway_plugin("clinic", kith_custom_fields)])
    await kith.custom_fields.add("organization", "clinic_code", "text")  # an admin's, of another type
    with pytest.raises(
        PluginError, match=r"organization\.clinic_code as integer, but that custom field exists as text"
    ):
        await enable_plugin(kith, "clinic")
    assert "clinic" not in await kith.enabled_plugins()
    await kith.custom_fields.remove("organization", "clinic_code")
    await kith.custom_fields.add("organization", "clinic_code", "integer")  # now the same type: adopted
    await enable_plugin(kith, "clinic")
    assert kith.custom_fields.get("contact", "insurance_number").plugin == "clinic"
    assert kith.custom_fields.get("organization", "clinic_code").plugin is None  # still the admin's
    ann = await make_contact(kith, custom={"insurance_number": "AB-1"})
    await disable_plugin(kith, "clinic")
    await enable_plugin(kith, "clinic")  # again: nothing duplicated
    assert [f.name for f in kith.custom_fields.for_entity("contact")] == ["insurance_number"]
    await disable_plugin(kith, "clinic")
    assert (await kith.records.get("contact", ann["id"]))["custom"] == {"insurance_number": "AB-1"}
    await purge_plugin(kith, "clinic", tmp_path)
    assert kith.custom_fields.get("contact", "insurance_number") is None
    assert kith.custom_fields.get("organization", "clinic_code") is not None  # not the plugin's to remove
    assert (await kith.records.get("contact", ann["id"]))["custom"] == {}


def test_no_plugin_branches_on_the_database_engine():
    """What differs between SQLite and PostgreSQL is spelt by the engine's dialect
    (``kith.db.dialect``), in the core; a plugin that tested the engine itself would be
    the copy every new plugin makes."""
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "plugins"
    branching = [
        f"{path.relative_to(root.parent)}:{number}"
        for path in sorted(root.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "is_postgres" in line or "is_sqlite" in line or "pg_advisory" in line
    ]
    assert branching == []


def test_no_plugin_runs_raw_sql_or_reaches_into_the_runtime():
    """Plugins query their own tables with Piccolo's query builder and everything else
    through the ``PluginContext``: no hand-written SQL (``QueryString``, ``.raw``,
    ``.execute``/``.fetch`` on a database), no engine dialect, no runtime behind the
    context (``_kith``, ``kith_from``, ``with_kith``, the ``Kith`` type) and no core
    import — the pattern the next plugins copy."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent / "plugins"
    forbidden_calls = {"execute", "fetch", "fetch_one", "fetch_value", "raw", "run_ddl", "run_querystring"}
    # the runtime behind a context: info.context.kith, ActionContext.runtime, Change.runtime
    forbidden_names = {"QueryString", "kith_from", "with_kith", "Kith", "_kith", "kith", "runtime", "dialect"}
    found = []
    for path in sorted(root.rglob("*.py")):
        where = path.relative_to(root.parent)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (
                (node.module or "").startswith(("kith.core", "piccolo.querystring"))
                or any(alias.name in forbidden_names for alias in node.names)
            ):
                found.append(f"{where}:{node.lineno}: import from {node.module}")
            elif isinstance(node, ast.Import) and any(a.name.startswith("kith.core") for a in node.names):
                found.append(f"{where}:{node.lineno}: import kith.core")
            elif isinstance(node, ast.Attribute) and (node.attr in forbidden_names or node.attr in forbidden_calls):
                found.append(f"{where}:{node.lineno}: .{node.attr}")
            elif isinstance(node, ast.Name) and node.id in forbidden_names:
                found.append(f"{where}:{node.lineno}: {node.id}")
    assert found == []
