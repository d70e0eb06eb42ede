"""The ``PluginContext`` a plugin works with: reads as the caller (scope and hidden fields
applied), writes through the record service, the system when asked, events, settings
and the engine-independent database operations — on both engines."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from kith.sdk import Change, Grant, PluginError, RoleDefinition, ValidationFailed
from kith.sdk.testing import acting_as, make_contact, make_user, system_context, throwaway_plugin


def kith_roles() -> list[RoleDefinition]:
    return [
        RoleDefinition(
            name="clerk",
            grants={
                "contact": Grant(actions=["read", "create", "update"], scope="own", hidden=["phones"]),
                "user": Grant(actions=["read"]),
            },
        )
    ]


class ClerkSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    greeting: str = "hello"
    batch: int = 10


SEEN_BY_HOOK: list[Any] = []


async def kith_before_create(change: Change) -> None:
    """A hook reads through ``change.context``: as the writer, so a clerk's hook sees
    only the clerk's contacts."""
    if change.entity == "contact":
        SEEN_BY_HOOK.append(await change.context.records.count("contact"))


@pytest.fixture
async def world(make_kith: Any) -> dict[str, Any]:
    SEEN_BY_HOOK.clear()
    plugin = throwaway_plugin("clerks", kith_roles, kith_before_create, settings=ClerkSettings)
    kith = await make_kith(plugins=[plugin], enable=["clerks"], plugin={"clerks": {"greeting": "hej"}})
    clerk = await make_user(kith, roles=["clerk"])
    other = await make_user(kith)
    mine = [await make_contact(kith, owner=clerk["id"], phones=["+4420 7946 0000"]) for _ in range(3)]
    theirs = [await make_contact(kith, owner=other["id"]) for _ in range(4)]
    return {"kith": kith, "clerk": clerk, "mine": mine, "theirs": theirs}


async def test_reads_as_a_user_apply_their_scope_and_hidden_fields(world: dict[str, Any]) -> None:
    ctx = await acting_as(world["kith"], world["clerk"]["email"])
    rows = await ctx.records.list("contact", order_by=[{"id": "ASC"}])
    assert [r["id"] for r in rows] == [c["id"] for c in world["mine"]]
    assert all(r["phones"] == [] for r in rows), "phones are hidden from clerks"
    assert await ctx.records.count("contact") == 3
    assert await ctx.records.get("contact", world["theirs"][0]["id"]) is None
    assert (await ctx.records.get("contact", world["mine"][0]["id"]) or {})["phones"] == []
    # a filter on the hidden field answers as if it were empty
    assert await ctx.records.count("contact", {"phones": {"contains": "+44"}}) == 0
    assert ctx.hidden_fields("contact") == {"phones"}
    assert ctx.can("contact", "read") and not ctx.can("contact", "delete")


async def test_the_system_reads_everything(world: dict[str, Any]) -> None:
    ctx = system_context(world["kith"])
    assert await ctx.records.count("contact") == 7
    first = await ctx.records.first("contact", {"ownerId": {"eq": world["clerk"]["id"]}}, order_by=[{"id": "ASC"}])
    assert first is not None and first["phones"] == ["+442079460000"]
    # a user's context reaches the system explicitly, for what the plugin does on its own account
    clerk = await acting_as(world["kith"], world["clerk"]["id"])
    assert await clerk.system.count("contact") == 7
    assert await clerk.as_system().records.count("contact") == 7


async def test_each_walks_every_record_in_batches(world: dict[str, Any]) -> None:
    ctx = system_context(world["kith"])
    seen = [r["id"] async for r in ctx.records.each("contact", order_by=[{"lastName": "DESC"}], batch=2)]
    expected = [r["id"] for r in await ctx.records.list("contact", order_by=[{"lastName": "DESC"}])]
    assert seen == expected and len(seen) == 7
    clerk = await acting_as(world["kith"], world["clerk"]["id"])
    assert len([r async for r in clerk.records.each("contact", batch=1)]) == 3


async def test_writes_go_through_the_one_write_path_as_the_caller(world: dict[str, Any]) -> None:
    kith = world["kith"]
    clerk = await acting_as(kith, world["clerk"]["id"])
    made = await clerk.records.create("contact", {"first_name": "Ada", "last_name": "Byron"})
    assert made["owner"] == world["clerk"]["id"], "someone who may create only their own owns what they create"
    assert SEEN_BY_HOOK[-1] == 3, "the hook counted what the clerk may see, before the insert"
    with pytest.raises(ValidationFailed) as refused:
        await clerk.records.update("contact", world["theirs"][0]["id"], {"first_name": "X"})
    assert refused.value.errors[0].code == "not_found"
    with pytest.raises(ValidationFailed) as hidden:
        await clerk.records.create("contact", {"first_name": "B", "phones": ["+4420 7946 0001"]})
    assert hidden.value.errors[0].field == "phones"
    with pytest.raises(ValidationFailed) as bad:
        await clerk.records.create("contact", {"first_name": "C", "emails": ["not an email"]})
    assert [e.field for e in bad.value.errors] == ["emails"]
    assert await system_context(kith).records.count("contact") == 8, "nothing half-written"
    audit = await kith.db.execute(
        "SELECT actor FROM kith_audit WHERE record_id = {} AND entity = 'contact'", made["id"]
    )
    assert [row["actor"] for row in audit] == [world["clerk"]["email"]]


async def test_settings_come_from_the_plugin_that_declares_the_model(world: dict[str, Any]) -> None:
    settings = system_context(world["kith"]).settings(ClerkSettings)
    assert settings == ClerkSettings(greeting="hej", batch=10)

    class Undeclared(BaseModel):
        x: int = 1

    with pytest.raises(Exception, match="no plugin declares settings=Undeclared"):
        system_context(world["kith"]).settings(Undeclared)


async def test_a_bad_setting_is_one_error_naming_it(make_kith: Any) -> None:
    plugin = throwaway_plugin("clerks", kith_roles, settings=ClerkSettings)
    # enabling checks the settings first: nothing of the plugin runs with a bad value
    with pytest.raises(PluginError, match=r"^plugin clerks cannot be enabled: invalid settings: plugin\.clerks\.batch"):
        await make_kith(plugins=[plugin], enable=["clerks"], plugin={"clerks": {"batch": "many"}})
    assert "clerks" not in await (await make_kith(plugins=[plugin])).enabled_plugins()
    # enabled, then started with a bad value (kith.toml edited since): reading them says which
    await make_kith(plugins=[plugin], enable=["clerks"])
    kith = await make_kith(plugins=[plugin], plugin={"clerks": {"batch": "many"}})
    with pytest.raises(Exception, match=r"plugin\.clerks\.batch"):
        system_context(kith).settings(ClerkSettings)


async def test_emit_queues_a_domain_event_with_the_transaction(world: dict[str, Any]) -> None:
    kith = world["kith"]
    ctx = system_context(kith)
    contact = world["mine"][0]
    await ctx.emit("contact.greeted", "contact", contact["id"], {"greeting": "hej"})
    with pytest.raises(RuntimeError):
        async with ctx.db.transaction():
            await ctx.emit("contact.greeted", "contact", contact["id"], {"greeting": "lost"})
            raise RuntimeError("rolled back")
    rows = await kith.db.execute("SELECT payload FROM kith_outbox WHERE event = 'contact.greeted'")
    assert len(rows) == 1 and "hej" in str(rows[0]["payload"])


async def test_locked_rows_make_concurrent_writers_take_turns(world: dict[str, Any]) -> None:
    """Two read-then-write transactions on the same row: with ``lock_rows`` neither
    update is lost, on either engine."""
    from kith.sdk import Contact

    ctx = system_context(world["kith"])
    contact = world["mine"][0]

    async def add_one() -> None:
        async with ctx.db.transaction():
            await ctx.db.lock_rows(Contact, [contact["id"]])
            current = await ctx.system.get("contact", contact["id"])
            assert current is not None
            await asyncio.sleep(0.05)
            await ctx.system.update("contact", contact["id"], {"first_name": current["first_name"] + "!"})

    await asyncio.gather(add_one(), add_one())
    stored = await ctx.system.get("contact", contact["id"])
    assert stored is not None and stored["first_name"] == "Test!!"


async def test_aggregates_count_what_the_caller_may_see(world: dict[str, Any]) -> None:
    """``records.aggregate`` groups and counts under the caller's scope: a clerk's
    figures are those of their own contacts; the system's cover everyone's."""
    kith, clerk_id = world["kith"], world["clerk"]["id"]
    everyone = await system_context(kith).records.aggregate("contact", group_by=["ownerId"])
    assert sorted((g.key["ownerId"], g.count) for g in everyone) == sorted(
        [(clerk_id, 3), (world["theirs"][0]["owner"], 4)]
    )
    clerk = await acting_as(kith, clerk_id)
    mine = await clerk.records.aggregate("contact", group_by=["ownerId"])
    assert [(g.key["ownerId"], g.count) for g in mine] == [(clerk_id, 3)]
    filtered = await clerk.records.aggregate("contact", {"firstName": {"eq": "nobody"}})
    assert [g.count for g in filtered] == [0]
    with pytest.raises(ValidationFailed) as refused:
        await clerk.records.aggregate("contact", sums=["firstName"])
    assert "not a number" in refused.value.errors[0].message


async def test_next_number_counts_on_from_the_highest_of_the_series(world: dict[str, Any]) -> None:
    """Numbers compare as numbers (``N-10`` after ``N-9``), other series do not count,
    and concurrent writers never take the same number."""
    from kith.sdk import Contact

    ctx = system_context(world["kith"])
    for name in ("N-9", "N-10", "X-99", "N-abc"):
        await ctx.records.create("contact", {"first_name": "Numbered", "last_name": name})
    async with ctx.db.transaction():
        assert await ctx.db.next_number(Contact, Contact.last_name, prefix="N-") == "N-00011"
    assert await ctx.db.next_number(Contact, Contact.last_name, prefix="Y-", width=3) == "Y-001"

    async def number_one() -> str:
        async with ctx.db.transaction():
            number = await ctx.db.next_number(Contact, Contact.last_name, prefix="N-")
            await asyncio.sleep(0.05)
            await ctx.records.create("contact", {"first_name": "Numbered", "last_name": number})
            return number

    assert sorted(await asyncio.gather(number_one(), number_one())) == ["N-00011", "N-00012"]


async def test_as_plugin_writes_for_the_caller_with_or_without_their_grants(world: dict[str, Any]) -> None:
    kith = world["kith"]
    clerk = await acting_as(kith, world["clerk"]["id"])
    theirs = world["theirs"][0]["id"]
    with pytest.raises(ValidationFailed):
        await clerk.as_plugin(keep_permissions=True).records.update("contact", theirs, {"first_name": "Y"})
    done = await clerk.as_plugin(keep_permissions=False).records.update("contact", theirs, {"first_name": "Y"})
    assert done["first_name"] == "Y"
    audit = await kith.db.execute(
        "SELECT actor, source FROM kith_audit WHERE record_id = {} AND entity = 'contact' AND action = 'update'", theirs
    )
    assert [(row["actor"], row["source"]) for row in audit] == [(world["clerk"]["email"], "plugin")]
    named = clerk.as_plugin(keep_permissions=False, name="nightly tidy")
    assert (named.actor.name, named.actor.user_id) == ("nightly tidy", world["clerk"]["id"])


async def test_require_refuses_as_the_record_service_would(world: dict[str, Any]) -> None:
    from kith.sdk import NotFound

    clerk = await acting_as(world["kith"], world["clerk"]["id"])
    await clerk.require("contact", "update", world["mine"][0]["id"])
    with pytest.raises(ValidationFailed, match="you may not delete contact records"):
        await clerk.require("contact", "delete")
    with pytest.raises(NotFound):
        await clerk.require("contact", "update", world["theirs"][0]["id"])
    await system_context(world["kith"]).require("contact", "delete", world["theirs"][0]["id"])


async def test_choices_name_a_fields_allowed_values(world: dict[str, Any]) -> None:
    ctx = system_context(world["kith"])
    assert {"note", "meeting"} <= set(ctx.choices("activity", "kind"))
    assert ctx.choices("contact", "first_name") == ()


async def test_deleted_records_are_read_only_when_asked_and_within_scope(world: dict[str, Any]) -> None:
    """A person's data must cover their deleted records too: ``include_deleted`` reads
    them, and a user's scope still applies."""
    kith = world["kith"]
    system = system_context(kith).records
    await system.delete("contact", world["mine"][0]["id"])
    await system.delete("contact", world["theirs"][0]["id"])
    assert await system.count("contact") == 5
    assert await system.count("contact", include_deleted=True) == 7
    everyone = await system.list("contact", include_deleted=True, order_by=[{"id": "ASC"}])
    assert {world["mine"][0]["id"], world["theirs"][0]["id"]} <= {c["id"] for c in everyone}
    assert len([c async for c in system.each("contact", include_deleted=True, batch=2)]) == 7
    clerk = await acting_as(kith, world["clerk"]["id"])
    assert await clerk.records.count("contact", include_deleted=True) == 3
    assert [c["id"] for c in await clerk.records.list("contact", include_deleted=True)] == [
        c["id"] for c in world["mine"]
    ]
