"""Automations: each trigger kind, each core action, conditions, loops, dry run,
validation of rules, and plugin-contributed events, actions, functions and rules."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from kith.core.automations import service
from kith.core.automations.schedules import fire_due
from kith.core.automations.worker import Worker
from kith.core.errors import ValidationFailed
from kith.core.plugins import lifecycle
from kith.sdk.testing import GraphQLClient, make_contact, make_user, run_scheduled_rule
from kith_test_plugins import loyalty

FOLLOW_UP = Path(__file__).parent / "automations" / "customer-follow-up.yaml"


async def drain(kith) -> int:
    return await Worker(kith).run_until_idle()


async def activities(kith, **where) -> list[dict]:
    rows = await kith.db.execute("SELECT * FROM activity WHERE deleted_at IS NULL ORDER BY id")
    return [dict(r) for r in rows if all(r[k] == v for k, v in where.items())]


async def last_runs(kith, rule: str) -> list[dict]:
    return await service.runs(kith, rule)


def test_customer_follow_up_rule_from_yaml_end_to_end(kith_cli):
    """The issue's example, as an admin would do it: a YAML file, the CLI, the worker."""
    applied = kith_cli("automations", "apply", str(FOLLOW_UP))
    assert applied.exit_code == 0, applied.output
    assert "Created customer-follow-up (enabled)" in applied.output
    import asyncio

    from kith.core.runtime import Kith
    from kith.core.settings import load_settings

    async def scenario() -> list[dict]:
        kith = await Kith.open(load_settings())
        try:
            owner = await make_user(kith, name="Olive Owner")
            ann = await make_contact(kith, first_name="Ann", last_name="Lee", owner=owner["id"])
            bob = await make_contact(kith, first_name="Bob")  # no owner: conditions exclude him
            await drain(kith)
            assert await activities(kith) == []
            for contact in (ann, bob):
                await kith.records.update("contact", contact["id"], {"lifecycle_stage": "customer"})
            await kith.records.update("contact", ann["id"], {"title": "CEO"})  # not a stage change
            await drain(kith)
            return await activities(kith)
        finally:
            await kith.close()

    tasks = asyncio.run(scenario())
    assert len(tasks) == 1
    task = tasks[0]
    assert task["kind"] == "task" and task["subject"] == "Follow up with Ann Lee"
    assert task["subject_type"] == "contact" and task["status"] == "open"
    assert task["assignee"] is not None
    due = task["due_at"] - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=2, hours=23) < due <= dt.timedelta(days=3)
    runs = kith_cli("automations", "runs", "--rule", "customer-follow-up")
    assert "succeeded" in runs.output and "skipped" in runs.output


@pytest.fixture
async def kit(make_kith, loyalty_plugin):
    loyalty.CALLS.clear()
    return await make_kith(plugins=[loyalty_plugin], enable=["loyalty"], automation_retry_base_seconds=0.01)


async def remember_rule(kith, name: str, trigger: dict, conditions: dict | None = None) -> None:
    rule = {
        "name": name,
        "enabled": True,
        "trigger": trigger,
        "actions": [{"call_function": {"function": "loyalty.remember", "args": {"rule": name}}}],
    }
    if conditions:
        rule["conditions"] = conditions
    await service.apply_rule(kith, rule)


async def test_lifecycle_triggers(kit):
    await remember_rule(kit, "on-create", {"event": "contact.created"})
    await remember_rule(
        kit,
        "lead-to-customer",
        {"event": "contact.updated", "changed": "lifecycleStage", "from": "lead", "to": "customer"},
    )
    await remember_rule(kit, "on-delete", {"event": "contact.deleted"}, {"title": {"eq": "Temp"}})
    a = await make_contact(kit, title="Temp")
    b = await make_contact(kit, lifecycle_stage="opportunity")
    await kit.records.update("contact", a["id"], {"lifecycle_stage": "customer"})  # lead -> customer: fires
    await kit.records.update("contact", b["id"], {"lifecycle_stage": "customer"})  # opportunity -> customer: not
    await drain(kit)
    await kit.records.delete("contact", a["id"])  # conditions are tested on the deleted record
    await kit.records.delete("contact", b["id"])  # title is not Temp: skipped
    await drain(kit)
    calls = sorted((c["rule"], c["record"]) for c in loyalty.CALLS)
    assert calls == sorted(
        [("on-create", a["id"]), ("on-create", b["id"]), ("lead-to-customer", a["id"]), ("on-delete", a["id"])]
    )
    statuses = [r["status"] for r in await last_runs(kit, "on-delete")]
    assert sorted(statuses) == ["skipped", "succeeded"]


async def test_domain_event_plugin_action_and_rule_shipped_in_code(kit):
    rules = {r.name: r for r in await service.list_rules(kit)}
    assert rules["loyalty-upgrade-bonus"].source == "plugin:loyalty" and not rules["loyalty-upgrade-bonus"].enabled
    await service.set_enabled(kit, "loyalty-upgrade-bonus", True)
    contact = await make_contact(kit)
    card = await kit.records.create("loyalty_card", {"contact": contact["id"], "points": 10})
    await kit.records.update("loyalty_card", card["id"], {"level": "silver"})
    await drain(kit)
    assert (await kit.records.get("loyalty_card", card["id"]))["points"] == 60


async def test_conditions_are_tested_on_the_record_as_it_is_when_the_rule_runs(kit):
    await remember_rule(kit, "only-ceos", {"event": "contact.created"}, {"title": {"eq": "CEO"}})
    contact = await make_contact(kit, title="CEO")
    await kit.records.update("contact", contact["id"], {"title": "Intern"})  # before the worker runs
    await drain(kit)
    assert loyalty.CALLS == []
    assert [r["status"] for r in await last_runs(kit, "only-ceos")] == ["skipped"]


async def test_update_fields_add_remove_tag_and_templates(kit):
    await kit.custom_fields.add("contact", "score", "integer")
    await service.apply_rule(
        kit,
        {
            "name": "enrich",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "actions": [
                {
                    "update_fields": {
                        "values": {"title": "Lead from {{ record.city }}", "customFields": {"score": "42"}}
                    }
                },
                {"add_tag": {"tag": "new"}},
                {"add_tag": {"tag": "from-{{ record.country | lower }}"}},
                {"remove_tag": {"tag": "imported"}},
            ],
        },
    )
    contact = await make_contact(kit, city="Lyon", country="FR", tags=["imported", "vip"])
    await drain(kit)
    stored = await kit.records.get("contact", contact["id"])
    assert stored["title"] == "Lead from Lyon"
    assert stored["custom"] == {"score": 42}
    assert stored["tags"] == ["vip", "new", "from-fr"]
    audit = await kit.db.execute(
        "SELECT actor, source FROM kith_audit WHERE record_id = {} AND action = 'update'", contact["id"]
    )
    assert {(a["actor"], a["source"]) for a in audit} == {("automation:enrich", "automation")}


async def test_assign_owner_round_robin_and_least_loaded(kit):
    team = await kit.records.create("team", {"name": "Sales"})
    users = [await make_user(kit, name=f"Rep {i}", team=team["id"]) for i in range(3)]
    await service.apply_rule(
        kit,
        {
            "name": "rr",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "conditions": {"title": {"eq": "rr"}},
            "actions": [{"assign_owner": {"team": "Sales"}}],
        },
    )
    contacts = [await make_contact(kit, title="rr") for _ in range(6)]
    await drain(kit)
    owners = [(await kit.records.get("contact", c["id"]))["owner"] for c in contacts]
    assert owners == [u["id"] for u in users] * 2
    # least-loaded: give rep 0 and 1 extra work, then the next goes to rep 2
    for _ in range(2):
        await make_contact(kit, owner=users[0]["id"])
        await make_contact(kit, owner=users[1]["id"])
    await service.apply_rule(
        kit,
        {
            "name": "least",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "conditions": {"title": {"eq": "ll"}},
            "actions": [{"assign_owner": {"team": "Sales", "strategy": "least_loaded"}}],
        },
    )
    await drain(kit)
    fresh = await make_contact(kit, title="ll")
    await drain(kit)
    assert (await kit.records.get("contact", fresh["id"]))["owner"] == users[2]["id"]


async def test_wait_schedules_the_rest_of_the_rule(kit):
    await service.apply_rule(
        kit,
        {
            "name": "later",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "actions": [{"add_tag": {"tag": "step-1"}}, {"wait": {"seconds": 1}}, {"add_tag": {"tag": "step-2"}}],
        },
    )
    contact = await make_contact(kit)
    await drain(kit)
    assert (await kit.records.get("contact", contact["id"]))["tags"] == ["step-1"]
    assert [r["status"] for r in await last_runs(kit, "later")] == ["waiting"]
    import asyncio

    await asyncio.sleep(1.1)
    await drain(kit)
    assert (await kit.records.get("contact", contact["id"]))["tags"] == ["step-1", "step-2"]
    assert [r["status"] for r in await last_runs(kit, "later")] == ["succeeded", "waiting"]


async def test_a_rule_that_retriggers_itself_stops_at_the_depth_limit(kit):
    await service.apply_rule(
        kit,
        {
            "name": "echo",
            "enabled": True,
            "trigger": {"event": "contact.updated"},
            "actions": [{"update_fields": {"values": {"title": "x{{ record.title or '' }}"}}}],
        },
    )
    contact = await make_contact(kit)
    await kit.records.update("contact", contact["id"], {"title": "start"})
    await drain(kit)
    stored = await kit.records.get("contact", contact["id"])
    limit = kit.settings.automation_max_depth
    assert stored["title"] == "x" * limit + "start"
    runs = await last_runs(kit, "echo")
    assert runs[0]["status"] == "failed" and "automation steps deep" in runs[0]["error"]
    assert len(runs) == limit + 1


async def test_a_failing_action_is_retried_then_dead_lettered_and_can_be_replayed(kit):
    await service.apply_rule(
        kit,
        {
            "name": "fragile",
            "enabled": True,
            "trigger": {"event": "contact.created"},
            "actions": [
                {"add_tag": {"tag": "seen"}},
                {"update_fields": {"values": {"organizationId": "{{ record.title }}"}}},
            ],
        },
    )
    contact = await make_contact(kit, title="999")  # organization 999 does not exist: the action fails
    import asyncio

    worker = Worker(kit)
    for _ in range(20):
        await worker.run_until_idle()
        if await service.failed_jobs(kit):
            break
        await asyncio.sleep(0.05)
    failed = await service.failed_jobs(kit)
    assert len(failed) == 1 and failed[0].rule == "fragile" and "organizationId" in failed[0].error
    assert failed[0].attempts == kit.settings.automation_max_attempts
    statuses = [r["status"] for r in await last_runs(kit, "fragile")]
    assert statuses[0] == "dead" and statuses.count("retrying") == kit.settings.automation_max_attempts - 1
    # the first action was done once, not once per attempt
    stored = await kit.records.get("contact", contact["id"])
    assert stored["tags"].count("seen") == 1
    assert (
        len(await kit.db.execute("SELECT id FROM kith_audit WHERE record_id = {} AND action = 'update'", contact["id"]))
        == 1
    )
    # fix the data, replay: the rule finishes from the failed action
    org = await kit.records.create("organization", {"name": "Acme"})
    await kit.records.update("contact", contact["id"], {"title": str(org["id"])})
    await service.retry_job(kit, failed[0].id)
    await drain(kit)
    assert (await kit.records.get("contact", contact["id"]))["organization"] == org["id"]
    assert await service.failed_jobs(kit) == []


async def test_schedules_fire_once_per_due_time(kit):
    await remember_rule(
        kit, "every-minute", {"schedule": "* * * * *", "entity": "contact"}, {"lifecycleStage": {"eq": "customer"}}
    )
    a = await make_contact(kit, lifecycle_stage="customer")
    await make_contact(kit, lifecycle_stage="lead")
    # ten seconds into a minute, so that 61 and 62 seconds later lie in the same next minute
    # (from :58 on, the second look would land in the minute after and fire again, rightly)
    now = dt.datetime.now(dt.UTC).replace(second=10, microsecond=0)
    assert await fire_due(kit, now) == 0  # first sight: scheduled, not fired
    assert await fire_due(kit, now + dt.timedelta(seconds=61)) == 1
    assert await fire_due(kit, now + dt.timedelta(seconds=62)) == 0  # already fired for this minute
    await Worker(kit).run_until_idle()
    assert [c["record"] for c in loyalty.CALLS if c["rule"] == "every-minute"] == [a["id"]]


async def test_a_schedule_fired_now_runs_again_each_time_it_is_fired(kit):
    """``run_scheduled_rule`` twice in one second is two firings (two nights of a nightly
    rule): the second's actions are not skipped as repeats of the first's."""
    await remember_rule(kit, "nightly", {"schedule": "0 2 * * *", "entity": "contact"})
    a = await make_contact(kit)
    assert await run_scheduled_rule(kit, "nightly") == 1
    b = await make_contact(kit)
    assert await run_scheduled_rule(kit, "nightly") == 2
    assert [c["record"] for c in loyalty.CALLS if c["rule"] == "nightly"] == [a["id"], a["id"], b["id"]]


async def test_relative_time_trigger(kit):
    await kit.custom_fields.add("contact", "renewal", "datetime")
    await remember_rule(
        kit, "before-renewal", {"relative": {"entity": "contact", "field": "customFields.renewal", "offset": "-3 days"}}
    )
    now = dt.datetime.now(dt.UTC)
    soon = await make_contact(kit, custom={"renewal": (now + dt.timedelta(days=3, hours=1)).isoformat()})
    await make_contact(kit, custom={"renewal": (now + dt.timedelta(days=10)).isoformat()})
    assert await fire_due(kit, now) == 0  # starts watching now
    assert await fire_due(kit, now + dt.timedelta(hours=2)) == 1
    assert await fire_due(kit, now + dt.timedelta(hours=3)) == 0
    await Worker(kit).run_until_idle()
    assert [c["record"] for c in loyalty.CALLS] == [soon["id"]]


async def test_manual_run_on_records(kit):
    await remember_rule(kit, "by-hand", {"manual": "contact"})
    contacts = [await make_contact(kit) for _ in range(3)]
    assert await kit.automations.run_now("by-hand", [c["id"] for c in contacts[:2]]) == 2
    await drain(kit)
    assert sorted(c["record"] for c in loyalty.CALLS) == [c["id"] for c in contacts[:2]]


async def test_dry_run_changes_nothing(kit):
    await kit.custom_fields.add("contact", "score", "integer")
    rule = {
        "name": "score-ceos",
        "trigger": {"event": "contact.updated"},
        "conditions": {"title": {"eq": "CEO"}},
        "actions": [
            {"update_fields": {"values": {"customFields": {"score": 10}}}},
            {
                "create_record": {
                    "entity": "activity",
                    "values": {
                        "kind": "task",
                        "subject": "Call {{ record.first_name }}",
                        "subjectType": "contact",
                        "subjectId": "{{ record.id }}",
                    },
                }
            },
        ],
    }
    await service.apply_rule(kit, rule)
    ceo = await make_contact(kit, title="CEO", first_name="Cleo")
    await make_contact(kit, title="Intern")
    total, items = await service.dry_run(kit, "score-ceos")
    assert total == 1 and items[0].record_id == ceo["id"] and items[0].label.startswith("Cleo")
    assert "customFields" in items[0].actions[0] and "Call Cleo" in items[0].actions[1]
    assert await activities(kit) == []
    assert (await kit.records.get("contact", ceo["id"]))["custom"] == {}
    data = await GraphQLClient(kit).query(
        '{ automationDryRun(name: "score-ceos") { total items { recordId label actions } errors { field } } }'
    )
    assert data["automationDryRun"]["total"] == 1
    assert data["automationDryRun"]["items"][0]["recordId"] == str(ceo["id"])


@pytest.mark.parametrize(
    ("rule", "field", "message"),
    [
        ({"trigger": {"event": "planet.created"}}, "trigger.event", "unknown event 'planet.created'"),
        ({"trigger": {"event": "contact.updated", "changed": "shoeSize"}}, "trigger.changed", "no field 'shoeSize'"),
        ({"conditions": {"shoeSize": {"eq": 1}}}, "conditions.shoeSize", "no field 'shoeSize'"),
        ({"actions": [{"teleport": {}}]}, "actions[0].action", "unknown action 'teleport'"),
        ({"actions": [{"add_tag": {"tag": "x", "colour": "red"}}]}, "actions[0].colour", "Extra inputs"),
        ({"actions": [{"update_fields": {"values": {"shoeSize": 1}}}]}, "actions[0].values.shoeSize", "no field"),
        ({"actions": [{"wait": {"days": 0}}]}, "actions[0]", "positive duration"),
        ({"actions": [{"add_tag": {"tag": "{{ record.title "}}]}, "actions[0].tag", "template"),
        ({"trigger": {"schedule": "every tuesday"}}, "trigger.schedule", "not a cron expression"),
        ({"trigger": {"event": "contact.updated", "ignore": ["shoeSize"]}}, "trigger.ignore", "no field 'shoeSize'"),
        ({"conditions": {"updatedAt": {"lt": "{{ in_days(-3 }}"}}}, "conditions", "template does not compile"),
        (
            {"trigger": {"relative": {"entity": "contact", "field": "title", "offset": "3 days"}}},
            "trigger.relative.field",
            "not a date field",
        ),
    ],
)
async def test_bad_rules_are_refused_naming_the_problem(kith, rule, field, message):
    base = {"name": "bad", "trigger": {"event": "contact.created"}, "actions": [{"add_tag": {"tag": "x"}}]}
    with pytest.raises(ValidationFailed) as caught:
        await service.apply_rule(kith, {**base, **rule})
    assert any(e.field == field and message in e.message for e in caught.value.errors), caught.value.errors
    assert await service.list_rules(kith) == []


async def test_rules_through_graphql(kit):
    gql = GraphQLClient(kit)
    definition = {
        "name": "gql-rule",
        "enabled": True,
        "trigger": {"event": "contact.created"},
        "actions": [{"add_tag": {"tag": "via-graphql"}}],
    }
    data = await gql.query(
        "mutation($d: JSON!) { applyAutomationRule(definition: $d) "
        "{ rule { name enabled trigger source } errors { field message } } }",
        d=definition,
    )
    assert data["applyAutomationRule"] == {
        "rule": {"name": "gql-rule", "enabled": True, "trigger": "contact.created", "source": "admin"},
        "errors": [],
    }
    bad = await gql.query(
        "mutation($d: JSON!) { applyAutomationRule(definition: $d) { rule { name } errors { field } } }",
        d={**definition, "actions": [{"nope": {}}]},
    )
    assert bad["applyAutomationRule"]["errors"] == [{"field": "actions[0].action"}]
    contact = await make_contact(kit)
    await drain(kit)
    assert (await kit.records.get("contact", contact["id"]))["tags"] == ["via-graphql"]
    runs = await gql.query('{ automationRuns(rule: "gql-rule") { status recordId } }')
    assert runs["automationRuns"] == [{"status": "succeeded", "recordId": str(contact["id"])}]
    off = await gql.query(
        'mutation { setAutomationRuleEnabled(name: "gql-rule", enabled: false) { rule { enabled } } }'
    )
    assert off["setAutomationRuleEnabled"]["rule"]["enabled"] is False
    gone = await gql.query('mutation { deleteAutomationRule(name: "gql-rule") { ok errors { code } } }')
    assert gone["deleteAutomationRule"] == {"ok": True, "errors": []}


async def test_disabling_the_plugin_stops_its_automations(kit):
    await service.set_enabled(kit, "loyalty-upgrade-bonus", True)
    contact = await make_contact(kit)
    card = await kit.records.create("loyalty_card", {"contact": contact["id"], "points": 0})
    await drain(kit)
    await kit.records.update("loyalty_card", card["id"], {"level": "gold"})  # emits loyalty_card.upgraded
    await lifecycle.disable(kit, "loyalty")  # ... before any worker ran the bonus rule
    await drain(kit)
    assert await service.runs(kit, "loyalty-upgrade-bonus") == []
    await lifecycle.enable(kit, "loyalty")
    assert (await kit.records.get("loyalty_card", card["id"]))["points"] == 0
    assert (await service.get_rule(kit, "loyalty-upgrade-bonus")).enabled  # kept for when it comes back


async def test_ignored_fields_comparisons_on_event_data_and_time_templates_in_conditions(kit):
    """``ignore`` keeps a rule from waking itself; ``data`` compares a domain event's
    payload; conditions may name a moment relative to now."""
    await service.apply_rule(
        kit,
        {
            "name": "retitle",
            "enabled": True,
            "trigger": {"event": "contact.updated", "ignore": ["title"]},
            "actions": [{"update_fields": {"values": {"title": "{{ record.first_name }} (edited)"}}}],
        },
    )
    await service.apply_rule(
        kit,
        {
            "name": "big-upgrade",
            "enabled": True,
            "trigger": {"event": "loyalty_card.upgraded", "data": {"to": {"in": ["gold", "platinum"]}}},
            "actions": [{"update_fields": {"values": {"points": 1000}}}],
        },
    )
    await service.apply_rule(
        kit,
        {
            "name": "old-contacts",
            "enabled": True,
            "trigger": {"manual": "contact"},
            "conditions": {"createdAt": {"lt": "{{ in_days(-30) }}"}},
            "actions": [{"add_tag": {"tag": "old"}}],
        },
    )
    contact = await make_contact(kit, first_name="Ann")
    await kit.records.update("contact", contact["id"], {"title": "CTO"})  # only an ignored field: no run
    await drain(kit)
    assert (await kit.records.get("contact", contact["id"]))["title"] == "CTO"
    await kit.records.update("contact", contact["id"], {"last_name": "Lee"})
    await drain(kit)
    assert (await kit.records.get("contact", contact["id"]))["title"] == "Ann (edited)"  # once, not in a loop
    assert len(await service.runs(kit, "retitle")) == 1
    silver = await kit.records.create("loyalty_card", {"contact": contact["id"], "points": 0})
    gold = await kit.records.create("loyalty_card", {"contact": contact["id"], "points": 0})
    await kit.records.update("loyalty_card", silver["id"], {"level": "silver"})
    await kit.records.update("loyalty_card", gold["id"], {"level": "gold"})
    await drain(kit)
    assert (await kit.records.get("loyalty_card", silver["id"]))["points"] != 1000
    assert (await kit.records.get("loyalty_card", gold["id"]))["points"] == 1000
    old = await make_contact(kit, first_name="Old")
    await kit.db.execute(
        "UPDATE contact SET created_at = {} WHERE id = {}", dt.datetime.now(dt.UTC) - dt.timedelta(days=40), old["id"]
    )
    total, items = await service.dry_run(kit, "old-contacts")
    assert total == 1 and items[0].record_id == old["id"]


async def test_run_now_on_a_filtered_set_through_graphql_and_the_cli_service(kit):
    await remember_rule(kit, "by-hand-filtered", {"manual": "contact"})
    ceos = [await make_contact(kit, title="CEO") for _ in range(2)]
    await make_contact(kit, title="Intern")
    data = await GraphQLClient(kit).query(
        'mutation($f: JSON) { runAutomationRule(name: "by-hand-filtered", filter: $f) { ok errors { field } } }',
        f={"title": {"eq": "CEO"}},
    )
    assert data["runAutomationRule"] == {"ok": True, "errors": []}
    await drain(kit)
    assert sorted(c["record"] for c in loyalty.CALLS) == [c["id"] for c in ceos]
    nothing = await GraphQLClient(kit).query(
        'mutation { runAutomationRule(name: "by-hand-filtered") { ok errors { field } } }'
    )
    assert nothing["runAutomationRule"] == {"ok": False, "errors": [{"field": "recordIds"}]}


async def test_a_rule_run_as_a_user_sees_and_does_only_what_they_may(kit):
    from kith.core.records.encoding import dumps

    await kit.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('tagger', '', {}, 'admin')",
        dumps({"contact": {"actions": ["read", "update"], "scope": "own", "hidden": ["phones"]}}),
    )
    tagger = await make_user(kit, email="tagger@example.com")
    await kit.auth.grant_role(tagger["id"], "tagger")
    with pytest.raises(ValidationFailed, match="no user with email"):
        await service.apply_rule(
            kit,
            {
                "name": "x",
                "run_as": "ghost@example.com",
                "trigger": {"event": "contact.created"},
                "actions": [{"add_tag": {"tag": "x"}}],
            },
        )
    await service.apply_rule(
        kit,
        {
            "name": "as-tagger",
            "enabled": True,
            "run_as": "tagger@example.com",
            "trigger": {"event": "contact.created"},
            "actions": [{"update_fields": {"values": {"title": "phones={{ record.phones }}"}}}],
        },
    )
    mine = await make_contact(kit, owner=tagger["id"], phones=["+14155552671"])
    other = await make_contact(kit, phones=["+14155552672"])
    await drain(kit)
    assert (await kit.records.get("contact", mine["id"]))["title"] == "phones=[]"  # hidden from the rule too
    assert (await kit.records.get("contact", other["id"]))["title"] is None
    runs = {r["record_id"]: r for r in await last_runs(kit, "as-tagger")}
    assert runs[mine["id"]]["status"] == "succeeded"
    assert runs[other["id"]]["status"] == "skipped"
    audit = await kit.db.execute("SELECT actor FROM kith_audit WHERE record_id = {} AND action = 'update'", mine["id"])
    assert audit[0]["actor"] == "automation:as-tagger as tagger@example.com"
