"""Authentication and permissions, as callers see them."""

from __future__ import annotations

import datetime as dt
import json

import jwt
import pytest
from litestar.testing import AsyncTestClient
from tampering import tampered

from kith.core.records.encoding import dumps
from kith.core.security import passwords
from kith.core.security.auth import Principal
from kith.core.settings import load_settings
from kith.core.web.app import create_app, execute
from kith.sdk.testing import make_activity, make_contact, make_organization, make_user

PASSWORD = "correct horse battery"


async def user_with(kith, email: str, *roles: str, password: str | None = PASSWORD, team=None) -> dict:
    user = await make_user(kith, email=email, name=email.split("@")[0], team=team)
    if password:
        await kith.auth.set_password(user["id"], password)
    for role in roles:
        await kith.auth.grant_role(user["id"], role)
    return user


async def as_user(kith, user: dict, query: str, **variables) -> dict:
    principal = await kith.auth.principal_for_user(user["id"], "token")
    return await execute(kith, query, variables, principal=principal)


# -- authentication over HTTP --------------------------------------------------------------


async def test_anonymous_requests_read_nothing_and_write_nothing(kith_database_url):
    app = create_app(load_settings(database_url=kith_database_url), run_worker=False)
    async with AsyncTestClient(app) as client:
        read = await client.post("/graphql", json={"query": "{ contacts { totalCount } }"})
        assert read.status_code == 401 and read.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
        write = await client.post(
            "/graphql", json={"query": 'mutation { createContact(input: {firstName: "X"}) { contact { id } } }'}
        )
        assert write.status_code == 401
        sneaky = await client.post(
            "/graphql",
            json={
                "query": 'mutation { login(email: "a", password: "b") { token } createTag(input: {name: "x"}) { tag { id } } }'
            },
        )
        assert sneaky.status_code == 401


async def test_login_tokens_and_their_refusals(kith_database_url):
    from kith.core.runtime import Kith

    setup = await Kith.open(load_settings(database_url=kith_database_url))
    try:
        await user_with(setup, "rep@example.com", "sales_rep")
        secret = setup.settings.secret_key
    finally:
        await setup.close()
    settings = load_settings(database_url=kith_database_url, secret_key=secret)
    app = create_app(settings, run_worker=False)
    login = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token me { email roles } errors { code message } } }"
    async with AsyncTestClient(app) as client:
        wrong = (
            await client.post(
                "/graphql", json={"query": login, "variables": {"e": "rep@example.com", "p": "nope-nope-nope"}}
            )
        ).json()
        assert wrong["data"]["login"]["token"] is None
        assert wrong["data"]["login"]["errors"] == [
            {"code": "unauthenticated", "message": "email or password is wrong"}
        ]
        nobody = (
            await client.post("/graphql", json={"query": login, "variables": {"e": "ghost@example.com", "p": PASSWORD}})
        ).json()
        assert nobody["data"]["login"]["errors"][0]["message"] == "email or password is wrong"
        ok = (
            await client.post("/graphql", json={"query": login, "variables": {"e": "REP@example.com", "p": PASSWORD}})
        ).json()
        token = ok["data"]["login"]["token"]
        assert ok["data"]["login"]["me"] == {"email": "rep@example.com", "roles": ["sales_rep"]}
        me = await client.post(
            "/graphql", json={"query": "{ me { email via } }"}, headers={"Authorization": f"Bearer {token}"}
        )
        assert me.json()["data"]["me"] == {"email": "rep@example.com", "via": "token"}
        forged = tampered(token)
        bad = await client.post(
            "/graphql", json={"query": "{ me { email } }"}, headers={"Authorization": f"Bearer {forged}"}
        )
        assert bad.status_code == 401 and bad.json()["errors"][0]["message"] == "the token is not valid"
        claims = jwt.decode(token, secret, algorithms=["HS256"])
        expired = jwt.encode(
            {**claims, "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)}, secret, algorithm="HS256"
        )
        old = await client.post(
            "/graphql", json={"query": "{ me { email } }"}, headers={"Authorization": f"Bearer {expired}"}
        )
        assert old.status_code == 401 and "expired" in old.json()["errors"][0]["message"]
        none_alg = jwt.encode(claims, None, algorithm="none")
        unsigned = await client.post(
            "/graphql", json={"query": "{ me { email } }"}, headers={"Authorization": f"Bearer {none_alg}"}
        )
        assert unsigned.status_code == 401
        assert "Traceback" not in unsigned.text
    check = await Kith.open(settings)
    try:
        audit = await check.db.execute("SELECT action, changes FROM kith_audit WHERE entity = 'security' ORDER BY id")
        actions = [a["action"] for a in audit]
        assert actions.count("login_failed") == 2 and actions.count("token_refused") == 3 and "login" in actions
        # changing the password ends the tokens issued before
        user = await check.auth.user_by_email("rep@example.com")
        await check.auth.set_password(user["id"], "another long password")
        with pytest.raises(Exception, match="no longer valid"):
            await check.auth.principal_from_token(token)
    finally:
        await check.close()


async def test_api_keys_shown_once_stored_hashed_expire_and_revoke(kith):
    user = await user_with(kith, "bot@example.com", "read_only", password=None)
    key, prefix = await kith.auth.create_key(user["id"], "integration")
    assert key.startswith(prefix + "_") and prefix.startswith("kith_")
    stored = await kith.db.execute("SELECT * FROM kith_api_key")
    assert key not in json.dumps([dict(r) for r in stored], default=str)
    principal = await kith.auth.principal_from_key(key)
    assert principal.user_id == user["id"] and principal.key_prefix == prefix
    # the use is collected in memory and written with the next batch
    assert await kith.auth.flush_key_uses() == 1
    assert (await kith.db.execute("SELECT last_used_at FROM kith_api_key"))[0]["last_used_at"] is not None
    with pytest.raises(Exception, match="not valid"):
        await kith.auth.principal_from_key(prefix + "_wrong-secret")
    await kith.auth.revoke_key(prefix)
    with pytest.raises(Exception, match="revoked"):
        await kith.auth.principal_from_key(key)
    short, _ = await kith.auth.create_key(user["id"], "short-lived", expires_in_days=1)
    await kith.db.execute(
        "UPDATE kith_api_key SET expires_at = {} WHERE name = 'short-lived'",
        dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1),
    )
    with pytest.raises(Exception, match="expired"):
        await kith.auth.principal_from_key(short)


def test_password_hashes_meet_owasp_and_are_rehashed_when_parameters_change():
    digest = passwords.hash_password(PASSWORD)
    assert digest.startswith("$argon2id$") and "m=19456,t=2,p=1" in digest
    assert passwords.verify(digest, PASSWORD) == (True, False)
    assert passwords.verify(digest, "wrong password!") == (False, False)
    from argon2 import PasswordHasher

    weaker = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    assert passwords.verify(weaker, PASSWORD) == (True, True)
    assert passwords.check_strength("short") == "must be at least 10 characters"


# -- scopes: own, team, all ---------------------------------------------------------------------


async def test_a_sales_rep_with_scope_own_sees_only_their_records_everywhere(kith):
    ann = await user_with(kith, "ann@example.com", "sales_rep")
    bob = await user_with(kith, "bob@example.com", "sales_rep")
    acme = await make_organization(kith, name="Acme", owner=ann["id"])
    globex = await make_organization(kith, name="Globex", owner=bob["id"])
    mine = [await make_contact(kith, first_name=f"A{i}", owner=ann["id"], organization=globex["id"]) for i in range(3)]
    theirs = await make_contact(kith, first_name="B0", owner=bob["id"], organization=acme["id"])
    await make_activity(kith, mine[0], subject="ann's call", owner=ann["id"])
    await make_activity(kith, mine[0], subject="bob's note", owner=bob["id"])

    listing = await as_user(
        kith,
        ann,
        """{ contacts(first: 50) { totalCount nodes { firstName organization { name }
        timeline { subject } } } }""",
    )
    nodes = listing["data"]["contacts"]["nodes"]
    assert listing["data"]["contacts"]["totalCount"] == 3
    assert sorted(n["firstName"] for n in nodes) == ["A0", "A1", "A2"]
    assert {json.dumps(n["organization"]) for n in nodes} == {"null"}  # Globex is Bob's
    assert [a["subject"] for n in nodes for a in n["timeline"]] == ["ann's call"]
    lookup = await as_user(kith, ann, "query($id: ID!) { contact(id: $id) { id } }", id=str(theirs["id"]))
    assert lookup["data"]["contact"] is None
    orgs = await as_user(kith, ann, "{ organizations { nodes { name } } }")
    assert orgs["data"]["organizations"]["nodes"] == [{"name": "Acme"}]
    change = await as_user(
        kith,
        ann,
        'mutation($id: ID!) { updateContact(id: $id, input: {title: "x"}) { errors { field code } } }',
        id=str(theirs["id"]),
    )
    assert change["data"]["updateContact"]["errors"] == [{"field": "id", "code": "not_found"}]
    created = await as_user(
        kith, ann, 'mutation { createContact(input: {firstName: "New"}) { contact { ownerId } errors { code } } }'
    )
    assert created["data"]["createContact"]["contact"]["ownerId"] == str(ann["id"])
    stolen = await as_user(
        kith,
        ann,
        f'mutation {{ createContact(input: {{firstName: "X", ownerId: "{bob["id"]}"}}) {{ contact {{ id }} errors {{ code }} }} }}',
    )
    assert stolen["data"]["createContact"]["errors"][0]["code"] == "not_found"
    assert await kith.count("contact") == 5


async def test_an_entity_without_a_grant_is_invisible(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    agent = await user_with(kith, "agent@example.com", "support_agent")
    contact = await make_contact(kith)
    await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 5})
    body = await as_user(kith, agent, "{ loyaltyCards { totalCount } }")
    assert body["data"] is None and body["errors"][0]["extensions"]["errors"][0]["code"] == "forbidden"
    card = await as_user(kith, agent, '{ loyaltyCard(id: "1") { points } }')
    assert card["data"]["loyaltyCard"] is None
    write = await as_user(
        kith,
        agent,
        f'mutation {{ createLoyaltyCard(input: {{contactId: "{contact["id"]}"}}) {{ errors {{ code }} }} }}',
    )
    assert write["data"]["createLoyaltyCard"]["errors"] == [{"code": "forbidden"}]


async def test_hidden_and_read_only_fields(kith):
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ({}, '', {}, 'admin')",
        "caller",
        dumps(
            {
                "contact": {
                    "actions": ["read", "update"],
                    "scope": "all",
                    "hidden": ["phones"],
                    "read_only": ["lifecycleStage"],
                }
            }
        ),
    )
    caller = await user_with(kith, "caller@example.com", "caller")
    await make_contact(kith, first_name="Ann", phones=["+14155552671"])
    data = await as_user(kith, caller, "{ contacts { nodes { id firstName phones } } }")
    node = data["data"]["contacts"]["nodes"][0]
    assert node["firstName"] == "Ann" and node["phones"] == []
    # a hidden field reads as empty in filters too: no yes/no answer about its value
    matched = await as_user(kith, caller, '{ contacts(filter: {phones: {contains: "+14155552671"}}) { totalCount } }')
    assert matched["data"]["contacts"]["totalCount"] == 0
    empty = await as_user(kith, caller, "{ contacts(filter: {phones: {isNull: true}}) { totalCount } }")
    assert empty["data"]["contacts"]["totalCount"] == 1
    write = await as_user(
        kith,
        caller,
        f'mutation {{ updateContact(id: "{node["id"]}", input: {{lifecycleStage: "customer"}}) {{ errors {{ field code }} }} }}',
    )
    assert write["data"]["updateContact"]["errors"] == [{"field": "lifecycleStage", "code": "read_only"}]


async def test_only_admins_manage_fields_rules_and_keys(kith):
    rep = await user_with(kith, "rep@example.com", "sales_rep")
    for mutation in (
        'addCustomField(input: {entity: "contact", name: "x", type: "text"}) { errors { code } }',
        'applyAutomationRule(definition: {name: "x"}) { errors { code } }',
        'createApiKey(email: "rep@example.com", name: "mine") { errors { code } }',
    ):
        data = await as_user(kith, rep, "mutation { " + mutation + " }")
        (payload,) = data["data"].values()
        assert payload["errors"][0]["code"] == "forbidden", mutation


async def test_team_scope(kith):
    north = await kith.records.create("team", {"name": "North"})
    south = await kith.records.create("team", {"name": "South"})
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('team_lead', '', {}, 'admin')",
        dumps({"contact": {"actions": ["read"], "scope": "team"}}),
    )
    lead = await user_with(kith, "lead@example.com", "team_lead", team=north["id"])
    mate = await make_user(kith, team=north["id"])
    other = await make_user(kith, team=south["id"])
    await make_contact(kith, first_name="Mate", owner=mate["id"])
    await make_contact(kith, first_name="Lead", owner=lead["id"])
    await make_contact(kith, first_name="Other", owner=other["id"])
    data = await as_user(kith, lead, "{ contacts { totalCount nodes { firstName } } }")
    assert sorted(n["firstName"] for n in data["data"]["contacts"]["nodes"]) == ["Lead", "Mate"]
    assert data["data"]["contacts"]["totalCount"] == 2
    assert Principal(None, "system", "system").is_admin


async def test_history_of_a_record_and_of_a_person(kith, kith_database_url):
    rep = await user_with(kith, "rep@example.com", "sales_rep")
    admin = await user_with(kith, "boss@example.com", "admin")
    created = await as_user(
        kith, rep, 'mutation { createContact(input: {firstName: "Ann", title: "Buyer"}) { contact { id } } }'
    )
    cid = created["data"]["createContact"]["contact"]["id"]
    await as_user(
        kith, admin, f'mutation {{ updateContact(id: "{cid}", input: {{title: "CFO"}}) {{ errors {{ code }} }} }}'
    )
    history = await as_user(
        kith, rep, f'{{ auditEntries(entity: "contact", recordId: "{cid}") {{ action actor source changes }} }}'
    )
    update, create = history["data"]["auditEntries"]
    assert update == {
        "action": "update",
        "actor": "boss@example.com [admin]",
        "source": "graphql",
        "changes": {"title": ["Buyer", "CFO"]},
    }
    assert create["actor"] == "rep@example.com" and create["changes"]["firstName"] == [None, "Ann"]
    other = await make_contact(kith)
    hidden = await as_user(kith, rep, f'{{ auditEntries(entity: "contact", recordId: "{other["id"]}") {{ action }} }}')
    assert hidden["data"] is None and "does not exist" in hidden["errors"][0]["message"]
    everyone = await as_user(kith, rep, "{ auditEntries { action } }")
    assert everyone["errors"][0]["message"].startswith("give entity and recordId")
    trail = await as_user(kith, admin, '{ auditEntries(actor: "rep@example.com") { entity action } }')
    assert {"entity": "contact", "action": "create"} in trail["data"]["auditEntries"]


def test_audit_cli(kith_cli):
    assert (
        kith_cli(
            "users",
            "add",
            "ada@example.com",
            "--name",
            "Ada",
            "--role",
            "admin",
            "--password-stdin",
            input="a long enough password\n",
        ).exit_code
        == 0
    )
    result = kith_cli("audit", "security")
    assert result.exit_code == 0 and "role_granted" in result.output and "password_set" in result.output
    assert kith_cli("audit", "record", "user", "1").exit_code == 0
    key = kith_cli("keys", "create", "ada@example.com", "--name", "ci")
    assert key.exit_code == 0 and "kith_" in key.output
    listing = kith_cli("keys", "list")
    assert "ci" in listing.output and "active" in listing.output
    weak = kith_cli("users", "set-password", "ada@example.com", "--password-stdin", input="short\n")
    assert weak.exit_code == 1 and "password: must be at least 10 characters" in weak.output


async def test_query_cost_limit(make_kith):
    from kith.sdk.testing import GraphQLClient

    kith = await make_kith(max_query_cost=2000)
    gql = GraphQLClient(kith)
    fine = await gql.execute("{ contacts(first: 50) { nodes { id firstName timeline(first: 5) { subject } } } }")
    assert "errors" not in fine
    costly = await gql.execute("{ contacts(first: 100) { nodes { id timeline(first: 100) { subject body } } } }")
    assert "query cost" in costly["errors"][0]["message"] and costly["data"] is None


async def test_plugins_ship_roles_and_grants_for_their_entities(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    rep = await user_with(kith, "rep@example.com", "sales_rep")
    boss = await user_with(kith, "boss@example.com", "loyalty_manager")
    contact = await make_contact(kith)
    await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 3})
    seen = await as_user(kith, rep, "{ loyaltyCards { totalCount } }")
    assert seen["data"]["loyaltyCards"]["totalCount"] == 1
    write = await as_user(
        kith, rep, f'mutation {{ createLoyaltyCard(input: {{contactId: "{contact["id"]}"}}) {{ errors {{ code }} }} }}'
    )
    assert write["data"]["createLoyaltyCard"]["errors"] == [{"code": "forbidden"}]
    ok = await as_user(
        kith, boss, f'mutation {{ createLoyaltyCard(input: {{contactId: "{contact["id"]}"}}) {{ errors {{ code }} }} }}'
    )
    assert ok["data"]["createLoyaltyCard"]["errors"] == []
    contacts = await as_user(kith, rep, "{ contacts { totalCount } }")  # the built-in grants are untouched
    assert contacts["data"]["contacts"]["totalCount"] == 0


async def test_the_customer_view_leaves_out_what_the_viewer_may_not_read(make_kith, loyalty_plugin):
    kith = await make_kith(plugins=[loyalty_plugin], enable=["loyalty"])
    agent = await user_with(kith, "agent@example.com", "support_agent")  # no grant on loyalty cards
    contact = await make_contact(kith)
    await kith.records.create("loyalty_card", {"contact": contact["id"], "points": 3})
    query = "query($id: ID!) { customerView(contactId: $id) { contact { id } sections { plugin } } }"
    seen = await as_user(kith, agent, query, id=str(contact["id"]))
    assert seen["data"]["customerView"] == {"contact": {"id": str(contact["id"])}, "sections": []}
    admin_view = await execute(kith, query, {"id": str(contact["id"])})
    assert admin_view["data"]["customerView"]["sections"] == [{"plugin": "loyalty"}]


def test_export_applies_the_exporters_scope_and_hidden_fields(kith_cli, tmp_path):
    import csv

    assert kith_cli("demo", "--no-serve", "--contacts", "30", "--core-only").exit_code == 0
    everything = tmp_path / "all.csv"
    assert kith_cli("export", "contact", "-o", str(everything)).exit_code == 0
    rows = list(csv.DictReader(everything.open()))
    assert len(rows) == 30 and "emails" in rows[0] and rows[0]["emails"].startswith("[")
    users = kith_cli("users", "list").output
    rep_email = next(line.split()[3] for line in users.splitlines() if "sales_rep" in line and "@kithdemo.com" in line)
    mine = tmp_path / "mine.jsonl"
    assert kith_cli("export", "contact", "--format", "jsonl", "--as", rep_email, "-o", str(mine)).exit_code == 0
    own = [json.loads(line) for line in mine.read_text().splitlines()]
    assert 0 < len(own) < 30
    rep_id = {r["ownerId"] for r in own}
    assert len(rep_id) == 1
    filtered = kith_cli("export", "contact", "--filter", '{"lifecycleStage": {"eq": "customer"}}')
    assert filtered.exit_code == 0 and all("customer" in line for line in filtered.output.splitlines()[1:])


async def test_a_hidden_non_required_field_reads_as_null_without_failing_the_record(kith):
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ('no_stage', '', {}, 'admin')",
        dumps({"contact": {"actions": ["read"], "scope": "all", "hidden": ["lifecycleStage"]}}),
    )
    viewer = await user_with(kith, "viewer@example.com", "no_stage")
    await make_contact(kith, first_name="Ann", lifecycle_stage="customer")
    data = await as_user(kith, viewer, "{ contacts { nodes { firstName lifecycleStage } } }")
    assert "errors" not in data
    assert data["data"]["contacts"]["nodes"] == [{"firstName": "Ann", "lifecycleStage": None}]


async def test_processes_without_a_configured_secret_share_one(make_kith):
    first, second = await make_kith(), await make_kith()
    assert first.secret == second.secret and len(first.secret) >= 32
    user = await user_with(first, "ann@example.com", "sales_rep")
    token, _expires, _principal = await first.auth.login("ann@example.com", PASSWORD)
    assert (await second.auth.principal_from_token(token)).user_id == user["id"]


async def test_a_mutation_payload_is_a_read(kith):
    """What a write returns shows only what the writer may read: hidden fields empty, and
    no record at all for a role that may create but not read, or once the record has left
    the writer's scope."""
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ({}, '', {}, 'admin')",
        "editor",
        dumps(
            {
                "contact": {"actions": ["read", "update", "create"], "scope": "own", "hidden": ["phones"]},
                "user": {"actions": ["read"]},
            }
        ),
    )
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ({}, '', {}, 'admin')",
        "intake",
        dumps({"contact": {"actions": ["create"], "scope": "all"}}),
    )
    editor = await user_with(kith, "editor@example.com", "editor")
    intake = await user_with(kith, "intake@example.com", "intake")
    other = await user_with(kith, "other@example.com")
    mine = await make_contact(kith, first_name="Ann", phones=["+14155552671"], owner=editor["id"])
    update = """mutation($id: ID!, $input: ContactUpdateInput!) { updateContact(id: $id, input: $input) {
      contact { firstName phones } errors { field code } } }"""
    body = await as_user(kith, editor, update, id=str(mine["id"]), input={"title": "CEO"})
    assert body["data"]["updateContact"] == {"contact": {"firstName": "Ann", "phones": []}, "errors": []}
    given_away = await as_user(kith, editor, update, id=str(mine["id"]), input={"ownerId": str(other["id"])})
    assert given_away["data"]["updateContact"] == {"contact": None, "errors": []}
    created = await as_user(
        kith,
        intake,
        'mutation { createContact(input: {firstName: "Bo", phones: ["+14155552672"]}) '
        "{ contact { firstName phones } errors { code } } }",
    )
    assert created["data"]["createContact"] == {"contact": None, "errors": []}
    assert [dict(r) for r in await kith.db.execute("SELECT first_name FROM contact WHERE first_name = 'Bo'")] == [
        {"first_name": "Bo"}
    ]


async def test_read_only_fields_hold_under_every_spelling(kith):
    """A grant may name a field as a client does or as it is stored; either way the field
    cannot be changed, whichever way the write names it."""
    await kith.custom_fields.add("contact", "lead_source", "text")
    await kith.db.execute(
        "INSERT INTO kith_role (name, description, grants, source) VALUES ({}, '', {}, 'admin')",
        "clerk",
        dumps(
            {
                "contact": {
                    "actions": ["read", "update"],
                    "scope": "all",
                    "read_only": ["lifecycle_stage", "customFields.leadSource", "organization"],
                }
            }
        ),
    )
    clerk = await user_with(kith, "clerk@example.com", "clerk")
    contact = await make_contact(kith, first_name="Ann")
    org = await make_organization(kith, name="Acme")
    update = """mutation($id: ID!, $input: ContactUpdateInput!) { updateContact(id: $id, input: $input) {
      errors { field code } } }"""
    for given, field in (
        ({"lifecycleStage": "customer"}, "lifecycleStage"),
        ({"customFields": {"leadSource": "fair"}}, "customFields.leadSource"),
        ({"organizationId": str(org["id"])}, "organizationId"),
    ):
        body = await as_user(kith, clerk, update, id=str(contact["id"]), input=given)
        assert body["data"]["updateContact"]["errors"] == [{"field": field, "code": "read_only"}], given
    assert (await as_user(kith, clerk, update, id=str(contact["id"]), input={"title": "CEO"}))["data"] == {
        "updateContact": {"errors": []}
    }
