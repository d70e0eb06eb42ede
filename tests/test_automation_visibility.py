"""Automations show and send only what they may: issue 10's "one visibility model" for
rules, dry runs, run history, the dead-letter list, webhook deliveries and payloads.

The cast: a rep whose role reads only their own contacts and hides phones, emails and
a multi-word custom field (``lead_source``); another rep's contact they may not see;
a subscription and rules that run as the rep; a user whose role reads and changes
everything (``*``) but lacks ``manage_automations``; the built-in manager, who has it.
Deliveries are captured by a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from kith.core.automations import service, webhooks
from kith.core.automations.engine import DomainEvent
from kith.core.errors import ValidationFailed
from kith.core.graphql.automations import AutomationMutations, AutomationQueries
from kith.core.security.permissions import permissions_for
from kith.core.security.roles import Grant, RoleDefinition, save_role
from kith.sdk.testing import GraphQLClient, make_contact, make_user, run_worker_until_idle, throwaway_plugin

# Values the rep may not read: none of them may appear in anything sent or shown for them.
MY_PHONE = "+14155550101"
MY_EMAIL = "mine-secret@example.com"
MY_SOURCE = "Referral-From-Hidden-Place"
NEW_PHONE = "+14155550199"
NEW_SOURCE = "Second-Hidden-Source"
OTHER_NAME = "Oskar-Notyours"
OTHER_PHONE = "+14155550777"
SECRETS = (MY_PHONE, MY_EMAIL, MY_SOURCE, NEW_PHONE, NEW_SOURCE, OTHER_NAME, OTHER_PHONE)
REP_HIDDEN = ["phones", "emails", "customFields.lead_source"]


# -- a receiver that keeps every body ---------------------------------------------------------


@dataclass
class Receiver:
    url: str = ""
    bodies: list[dict[str, Any]] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def text(self) -> str:
        with self.lock:
            return "\n".join(self.raw)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0)).decode()
            with state.lock:
                state.raw.append(body)
                state.bodies.append(json.loads(body))
            self.send_response(200)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


# -- the cast ---------------------------------------------------------------------------------


def _scored(kith: Any, contact_id: int, payload: dict[str, Any]) -> Any:
    return kith.automations.emit("contact.scored", "contact", contact_id, payload)


def kith_automation_events() -> list[DomainEvent]:
    return [
        DomainEvent(
            "contact.scored",
            "contact",
            "A contact was scored (payload: from, to, title, note).",
            reveals={"from": "phones", "to": "customFields.lead_source"},
        )
    ]


@dataclass
class World:
    kith: Any
    rep: dict[str, Any]
    mine: dict[str, Any]
    other: dict[str, Any]


async def _world(make_kith: Any, hidden: list[str] = REP_HIDDEN) -> World:
    kith = await make_kith(
        plugins=[throwaway_plugin("scorer", kith_automation_events)],
        enable=["scorer"],
        automation_retry_base_seconds=0.01,
        automation_max_attempts=1,
        outbound_allow=["127.0.0.1"],  # the receiver runs on this machine
    )
    await kith.custom_fields.add("contact", "lead_source", "text")
    await save_role(
        kith,
        RoleDefinition(
            name="own_rep",
            grants={
                "contact": Grant(actions=["read", "create", "update"], scope="own", hidden=hidden),
                "activity": Grant(actions=["read", "create", "update"], scope="own"),
                "user": Grant(actions=["read"]),
            },
        ),
    )
    rep = await make_user(kith, name="Rita Rep", email="rita@example.com")
    await kith.auth.grant_role(rep["id"], "own_rep")
    mine = await make_contact(
        kith,
        first_name="Mina",
        title="Buyer",
        owner=rep["id"],
        phones=[MY_PHONE],
        emails=[MY_EMAIL],
        custom={"lead_source": MY_SOURCE},
    )
    other = await make_contact(kith, first_name=OTHER_NAME, phones=[OTHER_PHONE], custom={"lead_source": "x"})
    return World(kith, rep, mine, other)


async def _changes(world: World) -> None:
    """Visible and hidden changes to the rep's contact, and one to a contact not theirs."""
    kith = world.kith
    await kith.records.update(
        "contact",
        world.mine["id"],
        {"title": "Head buyer", "phones": [NEW_PHONE], "custom": {"lead_source": NEW_SOURCE}},
    )
    await kith.records.update("contact", world.other["id"], {"title": "Other title", "phones": ["+14155550778"]})


def _no_secrets(text: str) -> None:
    leaked = [value for value in SECRETS if value in text]
    assert leaked == [], f"hidden or out-of-scope values leaked: {leaked}"


# -- who may manage automations ---------------------------------------------------------------


async def test_managing_automations_is_a_role_capability_that_no_star_grant_implies(kith):
    async def can(email: str) -> bool:
        user = await kith.auth.user_by_email(email)
        perms = await permissions_for(kith, await kith.auth.principal_for_user(int(user["id"]), "token"))
        return perms.has("manage_automations")

    await save_role(kith, RoleDefinition(name="everything", grants={"*": Grant(actions=["read", "create", "update"])}))
    await save_role(kith, RoleDefinition(name="bot_admin", capabilities=["manage_automations"]))
    for role in ("admin", "manager", "sales_rep", "support_agent", "marketer", "read_only", "everything", "bot_admin"):
        user = await make_user(kith, email=f"{role}@example.com")
        await kith.auth.grant_role(user["id"], role)
    held = {role: await can(f"{role}@example.com") for role in ("admin", "manager", "bot_admin")}
    assert held == {"admin": True, "manager": True, "bot_admin": True}
    lacking = ("sales_rep", "support_agent", "marketer", "read_only", "everything")
    assert {role: await can(f"{role}@example.com") for role in lacking} == dict.fromkeys(lacking, False)
    with pytest.raises(ValueError, match="capabilities"):
        RoleDefinition.model_validate({"name": "typo", "capabilities": ["manage_automation"]})


def test_roles_show_and_apply_round_trip_capabilities(kith_cli, tmp_path):
    shown = kith_cli("roles", "show", "manager")
    assert shown.exit_code == 0, shown.output
    assert "capabilities:\n- manage_automations" in shown.output
    assert "capabilities" not in kith_cli("roles", "show", "sales_rep").output
    path = tmp_path / "role.yaml"
    path.write_text("name: rules_only\ncapabilities: [manage_automations]\n")
    assert kith_cli("roles", "apply", str(path)).exit_code == 0
    assert "- manage_automations" in kith_cli("roles", "show", "rules_only").output


QUERIES = {
    "automationRules": "{ automationRules { name definition } }",
    "automationDryRun": '{ automationDryRun(name: "tag-all") { total items { label actions } errors { code } } }',
    "automationRuns": "{ automationRuns { id rule actions error } }",
    "failedAutomationJobs": "{ failedAutomationJobs { id rule error } }",
}
MUTATIONS = {
    "applyAutomationRule": (
        "mutation($d: JSON!) { applyAutomationRule(definition: $d) { rule { name } errors { code message } } }"
    ),
    "setAutomationRuleEnabled": (
        'mutation { setAutomationRuleEnabled(name: "tag-all", enabled: false) { rule { name } errors { code message } } }'
    ),
    "deleteAutomationRule": 'mutation { deleteAutomationRule(name: "tag-all") { ok errors { code message } } }',
    "runAutomationRule": (
        'mutation($ids: [ID!]) { runAutomationRule(name: "tag-all", recordIds: $ids) { ok errors { code message } } }'
    ),
    "retryAutomationJob": "mutation($job: ID!) { retryAutomationJob(id: $job) { ok errors { code message } } }",
    "discardAutomationJob": "mutation($job: ID!) { discardAutomationJob(id: $job) { ok errors { code message } } }",
}


def _graphql_fields(cls: type) -> set[str]:
    return {f.graphql_name or _camel(f.python_name) for f in cls.__strawberry_definition__.fields}  # type: ignore[attr-defined]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


async def test_every_automation_field_refuses_a_caller_without_the_capability(make_kith):
    world = await _world(make_kith)
    kith = world.kith
    # a rule, its runs and a dead job (its webhook cannot be delivered) to be asked about
    await service.apply_rule(
        kith,
        {
            "name": "tag-all",
            "enabled": True,
            "trigger": {"event": "contact.updated", "ignore": ["tags"]},
            "actions": [
                {"add_tag": {"tag": "seen {{ record.phones }}"}},
                {"send_webhook": {"url": "http://127.0.0.1:9/nowhere", "secret": webhooks.new_secret()}},
            ],
        },
    )
    await _changes(world)
    await run_worker_until_idle(kith)
    dead_jobs = [j.id for j in await service.failed_jobs(kith)]
    assert len(dead_jobs) == 2  # one per changed contact
    dead = (await service.failed_jobs(kith))[0]
    assert QUERIES.keys() == _graphql_fields(AutomationQueries), "every automation query must be tried here"
    assert MUTATIONS.keys() == _graphql_fields(AutomationMutations), "every automation mutation must be tried here"
    variables = {
        "d": {"name": "sneaky", "trigger": {"event": "contact.created"}, "actions": [{"add_tag": {"tag": "x"}}]},
        "ids": [str(world.mine["id"])],
        "job": str(dead.id),
    }
    await save_role(kith, RoleDefinition(name="everything", grants={"*": Grant(actions=["read", "create", "update"])}))
    strong = await make_user(kith, email="strong@example.com")
    await kith.auth.grant_role(strong["id"], "everything")
    for email in ("rita@example.com", "strong@example.com"):
        client = await GraphQLClient.as_user(kith, email)
        for name, document in QUERIES.items():
            body = await client.execute(document)
            assert (body["data"] or {}).get(name) is None, (email, name, body)
            codes = [e["code"] for error in body["errors"] for e in error["extensions"]["errors"]]
            assert codes == ["forbidden"], (email, name, body)
            assert "manage_automations" in json.dumps(body["errors"])
            _no_secrets(json.dumps(body))
        for name, document in MUTATIONS.items():
            used = {k: v for k, v in variables.items() if f"${k}" in document}
            body = await client.execute(document, used)
            answer = body["data"][name]
            assert [e["code"] for e in answer["errors"]] == ["forbidden"], (email, name, body)
            assert answer.get("ok") in (None, False) and answer.get("rule") is None
    # nothing was changed by the refused calls
    assert [r.name for r in await service.list_rules(kith)] == ["tag-all"]
    assert (await service.get_rule(kith, "tag-all")).enabled
    assert [j.id for j in await service.failed_jobs(kith)] == dead_jobs

    # the built-in manager gets the answers
    boss = await make_user(kith, email="boss@example.com")
    await kith.auth.grant_role(boss["id"], "manager")
    manager = await GraphQLClient.as_user(kith, "boss@example.com")
    data = await manager.query(QUERIES["automationRules"] + "")
    assert [r["name"] for r in data["automationRules"]] == ["tag-all"]
    assert (await manager.query(QUERIES["failedAutomationJobs"]))["failedAutomationJobs"][0]["id"] == str(dead.id)
    assert (await manager.query(QUERIES["automationRuns"]))["automationRuns"]
    done = await manager.query(MUTATIONS["discardAutomationJob"], job=str(dead.id))
    assert done["discardAutomationJob"] == {"ok": True, "errors": []}


# -- dry runs ---------------------------------------------------------------------------------

RENDERING = [
    {"update_fields": {"values": {"title": "p={{ record.phones }} e={{ record.emails }} c={{ record.custom }}"}}},
    {
        "create_record": {
            "entity": "activity",
            "values": {
                "kind": "note",
                "subject": "{{ record }}",
                "subjectType": "contact",
                "subjectId": "{{ record.id }}",
            },
        }
    },
    {"add_tag": {"tag": "{{ record.first_name }}"}},
]


async def test_a_dry_run_renders_with_the_visibility_the_rule_runs_with(make_kith):
    world = await _world(make_kith)
    kith = world.kith
    rule = {
        "name": "as-rita",
        "run_as": "rita@example.com",
        "trigger": {"event": "contact.updated"},
        "actions": RENDERING,
    }
    await service.apply_rule(kith, rule)
    boss = await make_user(kith, email="boss@example.com")
    await kith.auth.grant_role(boss["id"], "manager")
    manager = await GraphQLClient.as_user(kith, "boss@example.com")
    document = "query($n: String, $d: JSON) { automationDryRun(name: $n, definition: $d) { total items { recordId label actions } errors { message } } }"

    for answer in (
        (await manager.query(document, n="as-rita"))["automationDryRun"],
        (await manager.query(document, d={**rule, "name": "unsaved"}))["automationDryRun"],
    ):
        assert answer["errors"] == []
        assert answer["total"] == 1  # only the rep's own contact, as the rule would touch
        (item,) = answer["items"]
        assert item["recordId"] == str(world.mine["id"]) and item["label"].startswith("Mina")
        assert "p=[] e=[]" in item["actions"][0]  # hidden fields read as empty
        _no_secrets(json.dumps(answer))

    # the same rule as the system sees and renders everything: the mask is what hides it
    total, items = await service.dry_run(kith, {**rule, "name": "as-system", "run_as": None})
    assert total == 2
    assert MY_PHONE in json.dumps([i.actions for i in items]) and OTHER_NAME in json.dumps([i.label for i in items])


async def test_a_run_as_rule_may_not_test_fields_its_user_cannot_see(make_kith):
    world = await _world(make_kith)
    base = {"name": "oracle", "run_as": "rita@example.com", "actions": [{"add_tag": {"tag": "x"}}]}
    refusals = {  # rule -> the field the refusal names
        "leadSource": {
            **base,
            "trigger": {"event": "contact.updated"},
            "conditions": {"customFields": {"leadSource": {"eq": "a"}}},
        },
        "phones": {**base, "trigger": {"event": "contact.updated"}, "conditions": {"phones": {"contains": "+1"}}},
        "emails": {**base, "trigger": {"event": "contact.updated", "changed": "emails"}},
        "from": {**base, "trigger": {"event": "contact.scored", "data": {"from": MY_PHONE}}},  # reveals: from -> phones
    }
    for name, rule in refusals.items():
        with pytest.raises(ValidationFailed) as caught:
            await service.apply_rule(world.kith, rule)
        (error,) = caught.value.errors
        assert error.field == "run_as" and error.code == "forbidden", error
        assert "rita@example.com" in error.message and name in error.message, error
        with pytest.raises(ValidationFailed):
            await service.dry_run(world.kith, rule)
    assert await service.list_rules(world.kith) == []
    await service.apply_rule(world.kith, {**base, "trigger": {"event": "contact.scored", "data": {"note": "warm"}}})
    kith = world.kith
    await service.apply_rule(
        kith, {**base, "enabled": True, "trigger": {"event": "contact.updated", "changed": "title"}}
    )
    # the rep's role hides the title later: the rule stops instead of testing it
    await save_role(
        kith,
        RoleDefinition(
            name="own_rep",
            grants={"contact": Grant(actions=["read", "update"], scope="own", hidden=[*REP_HIDDEN, "title"])},
        ),
    )
    await run_worker_until_idle(kith)
    await kith.records.update("contact", world.mine["id"], {"title": "Chief"})
    await run_worker_until_idle(kith)
    (run,) = await service.runs(kith, "oracle")
    assert run["status"] == "failed" and run["error"].endswith("may not filter on title"), run
    assert "x" not in (await kith.records.get("contact", world.mine["id"]))["tags"]


# -- payloads: subscriptions and rules that run as the rep ---------------------------------------


async def test_a_subscription_as_a_rep_delivers_only_what_they_may_read(make_kith, receiver):
    world = await _world(make_kith)
    kith = world.kith
    await run_worker_until_idle(kith)  # the creations, before anyone subscribed
    await webhooks.add_subscription(kith, "rita-feed", receiver.url, ["contact.*"], world.rep["id"])
    await _changes(world)
    await _scored(kith, world.mine["id"], {"from": MY_PHONE, "to": MY_SOURCE, "phones": [MY_PHONE], "note": "warm"})
    await _scored(kith, world.other["id"], {"from": "a", "to": "b", "note": "not yours"})
    await run_worker_until_idle(kith)

    assert [(b["type"], b["data"]["id"]) for b in receiver.bodies] == [
        ("contact.updated", world.mine["id"]),
        ("contact.scored", world.mine["id"]),
    ]
    updated, scored = (b["data"] for b in receiver.bodies)
    assert updated["changed"] == ["title"]
    assert updated["changes"] == {"title": ["Buyer", "Head buyer"]}
    assert updated["record"]["title"] == "Head buyer" and updated["record"]["phones"] == []
    assert "lead_source" not in updated["record"]["custom"]
    assert scored["data"] == {"note": "warm"}
    _no_secrets(receiver.text())


async def test_a_subscription_as_the_system_delivers_everything(make_kith, receiver):
    """The contrast that shows the masking above is what removes the values."""
    world = await _world(make_kith)
    await run_worker_until_idle(world.kith)
    await webhooks.add_subscription(world.kith, "all-feed", receiver.url, ["contact.updated"])
    await _changes(world)
    await run_worker_until_idle(world.kith)
    text = receiver.text()
    assert NEW_PHONE in text and NEW_SOURCE in text and MY_PHONE in text and OTHER_NAME in text


async def test_a_run_as_rule_sends_and_renders_only_what_its_user_may_read(make_kith, receiver):
    world = await _world(make_kith)
    kith = world.kith
    await run_worker_until_idle(kith)
    secret = webhooks.new_secret()
    await service.apply_rule(
        kith,
        {
            "name": "rita-hook",
            "enabled": True,
            "run_as": "rita@example.com",
            "trigger": {"event": "contact.updated", "ignore": ["tags"]},
            "actions": [
                {"add_tag": {"tag": "seen"}},  # a write first: the record is read again after it
                {"send_webhook": {"url": receiver.url, "secret": secret, "event": "plain"}},
                {
                    "send_webhook": {
                        "url": receiver.url,
                        "secret": secret,
                        "event": "templated",
                        "data": {
                            "changes": "{{ event.changes }}",
                            "record": "{{ record }}",
                            "custom": "{{ record.custom }}",
                        },
                    }
                },
            ],
        },
    )
    await service.apply_rule(
        kith,
        {
            "name": "rita-scored",
            "enabled": True,
            "run_as": "rita@example.com",
            "trigger": {"event": "contact.scored"},
            "actions": [
                {
                    "send_webhook": {
                        "url": receiver.url,
                        "secret": secret,
                        "event": "scored",
                        "data": {"data": "{{ event.data }}"},
                    }
                }
            ],
        },
    )
    await _changes(world)
    await _scored(kith, world.mine["id"], {"from": MY_PHONE, "to": NEW_SOURCE, "note": "warm"})
    await _scored(kith, world.other["id"], {"from": "a", "to": "b", "note": "not yours"})
    await run_worker_until_idle(kith)

    assert sorted(b["type"] for b in receiver.bodies) == ["plain", "scored", "templated"]
    by_type = {b["type"]: b["data"] for b in receiver.bodies}
    assert by_type["plain"]["record"]["id"] == world.mine["id"] and by_type["plain"]["record"]["tags"] == ["seen"]
    assert by_type["plain"]["record"]["phones"] == []
    assert "Head buyer" in by_type["templated"]["changes"] and "phones" not in by_type["templated"]["changes"]
    assert "warm" in by_type["scored"]["data"]
    _no_secrets(receiver.text())
    runs = {(r["rule"], r["record_id"]): r["status"] for r in await service.runs(kith)}
    assert runs[("rita-hook", world.other["id"])] == "skipped"


async def test_a_multi_word_custom_field_hidden_by_its_graphql_name_is_masked_in_payloads(make_kith, receiver):
    world = await _world(make_kith, hidden=["phones", "emails", "customFields.leadSource"])
    kith = world.kith
    await run_worker_until_idle(kith)
    await webhooks.add_subscription(kith, "rita-feed", receiver.url, ["contact.*"], world.rep["id"])
    await _changes(world)
    await run_worker_until_idle(kith)
    assert [b["data"]["changed"] for b in receiver.bodies] == [["title"]]
    _no_secrets(receiver.text())
