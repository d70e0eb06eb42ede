"""Credentials answered from memory: no statement per request for who is asking, and
every change to keys, passwords, users and roles still refused within seconds, also
when another process (a second Kith, the CLI) makes it."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kith.core.security.roles import Grant, RoleDefinition, save_role
from kith.core.storage.database import count_statements
from kith.sdk.testing import make_contact, make_user, web_client

PASSWORD = "correct horse battery"
ME = {"query": "{ me { email roles } }"}
CONTACTS = {"query": "{ contacts(first: 1) { edges { node { firstName } } } }"}
#: what a client sees within this long of a change made elsewhere (the brief: 5 s)
DEADLINE = 5.0
AUTH_TABLES = re.compile(r"kith_(api_key|user|user_role|role|credential|meta|rate_limit)\b")


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def refused_within(client: Any, headers: dict[str, str], body: dict[str, Any], refused: Any) -> float:
    """Seconds until a request is refused (``refused(response)`` true); fails past DEADLINE."""
    start = time.monotonic()
    while True:
        response = await client.post("/graphql", json=body, headers=headers)
        if refused(response):
            return time.monotonic() - start
        assert time.monotonic() - start < DEADLINE, f"still answered after {DEADLINE} s: {response.text}"
        await asyncio.sleep(0.05)


def unauthenticated(message: str) -> Any:
    def check(response: Any) -> bool:
        return response.status_code == 401 and response.json()["errors"][0]["message"] == message

    return check


def forbidden(response: Any) -> bool:
    body = response.json()
    return response.status_code == 200 and body.get("data") is None and "may not read contact" in str(body)


async def login(client: Any, email: str, password: str = PASSWORD) -> str:
    query = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { message } } }"
    body = (await client.post("/graphql", json={"query": query, "variables": {"e": email, "p": password}})).json()
    token: str = body["data"]["login"]["token"]
    return token


@pytest.fixture
async def served(make_kith: Any) -> Any:
    """The serving Kith (checks for changes every 0.2 s) and a second Kith on the same database."""
    serving = await make_kith(auth_check_interval=0.2)
    other = await make_kith()
    return serving, other


async def test_changes_made_by_another_instance_are_refused_within_seconds(served: Any) -> None:
    serving, other = served
    rep = await make_user(serving, email="rep@example.com", roles=["read_only"], password=PASSWORD)
    bot = await make_user(serving, email="bot@example.com", roles=["read_only"])
    key, prefix = await serving.auth.create_key(bot["id"], "integration")
    await make_contact(serving, first_name="Ann")
    async with web_client(serving) as client:
        token = await login(client, "rep@example.com")
        for headers in (bearer(key), bearer(token)):
            answer = await client.post("/graphql", json=CONTACTS, headers=headers)
            assert answer.json()["data"]["contacts"]["edges"] == [{"node": {"firstName": "Ann"}}]
        cached = len(serving.auth.cache)
        assert cached == 2

        # a revoked key
        await other.auth.revoke_key(prefix)
        took = await refused_within(client, bearer(key), ME, unauthenticated("the API key was revoked"))
        assert took < DEADLINE

        # a changed password ends the tokens issued before
        await other.auth.set_password(rep["id"], "another long password")
        await refused_within(client, bearer(token), ME, unauthenticated("the token is no longer valid; log in again"))
        token = await login(client, "rep@example.com", "another long password")

        # a role taken away
        await other.auth.revoke_role(rep["id"], "read_only")
        await refused_within(client, bearer(token), CONTACTS, forbidden)

        # a role's definition changed: a role that read contacts no longer does
        await save_role(other, RoleDefinition(name="auditor", grants={"contact": Grant(actions=["read"])}))
        await other.auth.grant_role(rep["id"], "auditor")
        ok = await client.post("/graphql", json=CONTACTS, headers=bearer(token))
        deadline = time.monotonic() + DEADLINE
        while "errors" in ok.json():  # the grant itself arrives within the interval too
            assert time.monotonic() < deadline, ok.text
            await asyncio.sleep(0.05)
            ok = await client.post("/graphql", json=CONTACTS, headers=bearer(token))
        await save_role(other, RoleDefinition(name="auditor", grants={"organization": Grant(actions=["read"])}))
        await refused_within(client, bearer(token), CONTACTS, forbidden)

        # a deactivated user
        await other.records.update("user", rep["id"], {"is_active": False})
        await refused_within(client, bearer(token), ME, unauthenticated("this user is not active"))

    # every refusal was checked against the database and audited, as before
    audit = await other.db.execute("SELECT action, changes FROM kith_audit WHERE entity = 'security' ORDER BY id")
    actions = [row["action"] for row in audit]
    assert "api_key_refused" in actions and "token_refused" in actions and "access_refused" in actions


async def test_changes_made_with_the_cli_are_refused_within_seconds(make_kith: Any, kith_cli: Any) -> None:
    serving = await make_kith(auth_check_interval=0.2)
    rep = await make_user(serving, email="rep@example.com", roles=["read_only"], password=PASSWORD)
    key, prefix = await serving.auth.create_key(rep["id"], "integration")
    await make_contact(serving, first_name="Ann")

    async def cli(*args: str, input: str | None = None) -> None:  # another process's event loop and pool
        result = await asyncio.to_thread(kith_cli, *args, input=input)
        assert result.exit_code == 0, result.output

    async with web_client(serving) as client:
        token = await login(client, "rep@example.com")
        assert "errors" not in (await client.post("/graphql", json=CONTACTS, headers=bearer(token))).json()
        assert "errors" not in (await client.post("/graphql", json=CONTACTS, headers=bearer(key))).json()

        await cli("users", "revoke", "rep@example.com", "read_only")
        await refused_within(client, bearer(key), CONTACTS, forbidden)
        await refused_within(client, bearer(token), CONTACTS, forbidden)

        await cli("users", "set-password", "rep@example.com", "--password-stdin", input="a brand new password\n")
        await refused_within(client, bearer(token), ME, unauthenticated("the token is no longer valid; log in again"))

        await cli("keys", "revoke", prefix)
        await refused_within(client, bearer(key), ME, unauthenticated("the API key was revoked"))


async def test_grants_a_plugin_adds_in_another_process_reach_cached_keys(make_kith: Any, loyalty_plugin: Any) -> None:
    from kith.core.plugins import lifecycle

    serving = await make_kith(plugins=[loyalty_plugin], auth_check_interval=0.2, schema_check_interval=0.2)
    other = await make_kith(plugins=[loyalty_plugin])
    rep = await make_user(serving, email="rep@example.com", roles=["sales_rep"])
    key, _ = await serving.auth.create_key(rep["id"], "integration")
    cards = {"query": "{ loyaltyCards { totalCount } }"}
    async with web_client(serving) as client:
        assert (await client.post("/graphql", json=ME, headers=bearer(key))).status_code == 200  # cached
        await lifecycle.enable(other, "loyalty")  # adds loyalty_card to sales_rep's grants
        deadline = time.monotonic() + DEADLINE
        while True:
            answer = (await client.post("/graphql", json=cards, headers=bearer(key))).json()
            if answer.get("data") and answer["data"]["loyaltyCards"] == {"totalCount": 0}:
                break
            assert time.monotonic() < deadline, answer
            await asyncio.sleep(0.05)


async def test_a_change_made_in_this_process_is_refused_at_once(make_kith: Any) -> None:
    # checks for other processes' changes only once an hour: what is refused here is the process's own change
    kith = await make_kith(auth_check_interval=3600, schema_check_interval=3600)
    admin = await make_user(kith, email="ada@example.com", roles=["admin"])
    admin_key, _ = await kith.auth.create_key(admin["id"], "admin")
    bot = await make_user(kith, email="bot@example.com", roles=["read_only"])
    key, prefix = await kith.auth.create_key(bot["id"], "integration")
    async with web_client(kith) as client:
        assert (await client.post("/graphql", json=ME, headers=bearer(key))).status_code == 200
        revoke = {"query": f'mutation {{ revokeApiKey(prefix: "{prefix}") {{ ok }} }}'}
        done = await client.post("/graphql", json=revoke, headers=bearer(admin_key))
        assert done.json()["data"]["revokeApiKey"]["ok"] is True
        refused = await client.post("/graphql", json=ME, headers=bearer(key))
        assert refused.status_code == 401 and refused.json()["errors"][0]["message"] == "the API key was revoked"

        await kith.records.delete("user", admin["id"])
        gone = await client.post("/graphql", json=ME, headers=bearer(admin_key))
        assert gone.status_code == 401 and gone.json()["errors"][0]["message"] == "this user is not active"


async def test_a_cached_key_or_token_is_refused_once_it_expires(make_kith: Any, monkeypatch: Any) -> None:
    # nothing changes in the database when a credential expires: the cached expiry decides.
    # The clocks move instead of the test sleeping, so a slow machine cannot expire the key early.
    from kith.core.security import auth as auth_module

    # no version check inside the counted request either, however slow the machine
    kith = await make_kith(auth_check_interval=3600, schema_check_interval=3600)
    bot = await make_user(kith, email="bot@example.com", roles=["read_only"])
    key, _ = await kith.auth.create_key(bot["id"], "short", expires_in_days=1)
    async with web_client(kith) as client:
        assert (await client.post("/graphql", json=ME, headers=bearer(key))).status_code == 200
        async with count_statements() as counter:
            assert (await client.post("/graphql", json=ME, headers=bearer(key))).status_code == 200
        assert counter.statements == []  # answered from the cache
        later = dt.timedelta(days=1, seconds=1)
        real_now, real_time = auth_module._now, time.time
        monkeypatch.setattr(auth_module, "_now", lambda: real_now() + later)
        monkeypatch.setattr(auth_module, "time", SimpleNamespace(time=lambda: real_time() + later.total_seconds()))
        refused = await client.post("/graphql", json=ME, headers=bearer(key))
        assert refused.status_code == 401 and refused.json()["errors"][0]["message"] == "the API key has expired"
    audit = await kith.db.execute("SELECT changes FROM kith_audit WHERE action = 'api_key_refused'")
    assert [row["changes"] for row in audit] and "expired" in str(audit[-1]["changes"])


async def test_steady_state_requests_send_only_their_own_statements(kith: Any) -> None:
    bot = await make_user(kith, email="bot@example.com", roles=["read_only"], password=PASSWORD)
    key, _ = await kith.auth.create_key(bot["id"], "integration")
    await make_contact(kith, first_name="Ann")
    async with web_client(kith) as client:
        token = await login(client, "bot@example.com")
        for headers in (bearer(key), bearer(token)):
            await client.post("/graphql", json=CONTACTS, headers=headers)  # the first request checks the credential
            async with count_statements() as counter:
                for _ in range(5):
                    me = await client.post("/graphql", json=ME, headers=headers)
                    assert me.json()["data"]["me"] == {"email": "bot@example.com", "roles": ["read_only"]}
            assert counter.statements == []
            async with count_statements() as counter:
                for _ in range(5):
                    page = await client.post("/graphql", json=CONTACTS, headers=headers)
                    assert page.json()["data"]["contacts"]["edges"] == [{"node": {"firstName": "Ann"}}]
                    assert int(page.headers["RateLimit-Remaining"]) > 0
            # one statement each: the page itself; nothing about keys, users, roles or rate limits
            assert len(counter.statements) == 5, counter.statements
            assert not [sql for sql in counter.statements if AUTH_TABLES.search(sql)]


async def test_the_cache_is_bounded(make_kith: Any) -> None:
    kith = await make_kith(auth_cache_size=2)
    bot = await make_user(kith, email="bot@example.com", roles=["read_only"])
    keys = [(await kith.auth.create_key(bot["id"], f"k{n}"))[0] for n in range(3)]
    async with web_client(kith) as client:
        for key in keys:
            assert (await client.post("/graphql", json=ME, headers=bearer(key))).status_code == 200
        assert len(kith.auth.cache) == 2
        async with count_statements() as counter:  # the least recently used one was dropped
            await client.post("/graphql", json=ME, headers=bearer(keys[0]))
        assert any("kith_api_key" in sql for sql in counter.statements)


async def test_key_uses_are_written_at_most_once_a_minute_in_batches(make_kith: Any) -> None:
    kith = await make_kith(auth_check_interval=3600, schema_check_interval=3600)  # no background writes here
    admin = await make_user(kith, email="ada@example.com", roles=["admin"])
    admin_key, admin_prefix = await kith.auth.create_key(admin["id"], "admin")
    bot = await make_user(kith, email="bot@example.com", roles=["read_only"])
    key, prefix = await kith.auth.create_key(bot["id"], "integration")
    now = [1000.0]
    kith.auth.key_uses.clock = lambda: now[0]
    listing = {"query": "{ apiKeys { prefix lastUsedAt } }"}

    async def last_used() -> dict[str, Any]:
        rows = await kith.db.execute("SELECT prefix, last_used_at FROM kith_api_key")
        return {row["prefix"]: row["last_used_at"] for row in rows}

    async with web_client(kith) as client:
        async with count_statements() as counter:
            for _ in range(3):
                await client.post("/graphql", json=ME, headers=bearer(key))
                await client.post("/graphql", json=ME, headers=bearer(admin_key))
        assert not [sql for sql in counter.statements if "UPDATE" in sql]  # requests write nothing
        async with count_statements() as counter:
            assert await kith.auth.flush_key_uses() == 2
        assert len(counter.statements) == 1 and counter.statements[0].startswith("UPDATE kith_api_key")
        first = await last_used()
        assert first[prefix] is not None and first[admin_prefix] is not None
        shown = (await client.post("/graphql", json=listing, headers=bearer(admin_key))).json()["data"]["apiKeys"]
        assert {k["prefix"]: k["lastUsedAt"] is not None for k in shown} == {prefix: True, admin_prefix: True}

        await asyncio.sleep(0.01)
        await client.post("/graphql", json=ME, headers=bearer(key))
        now[0] += 30  # within the minute: not written again
        assert await kith.auth.flush_key_uses() == 0
        assert (await last_used())[prefix] == first[prefix]
        now[0] += 31  # a minute after the last write: the latest use is written
        assert await kith.auth.flush_key_uses() == 2
        assert (await last_used())[prefix] > first[prefix]


async def test_the_app_writes_key_uses_in_the_background_and_at_shutdown(make_kith: Any) -> None:
    kith = await make_kith(auth_check_interval=0.1)
    bot = await make_user(kith, email="bot@example.com", roles=["read_only"])
    key, prefix = await kith.auth.create_key(bot["id"], "integration")

    async def last_used() -> Any:
        rows = await kith.db.execute("SELECT last_used_at FROM kith_api_key WHERE prefix = {}", prefix)
        return rows[0]["last_used_at"]

    async with web_client(kith) as client:
        await client.post("/graphql", json=ME, headers=bearer(key))
        deadline = time.monotonic() + DEADLINE
        while await last_used() is None:
            assert time.monotonic() < deadline, "the key's use was not written by the background task"
            await asyncio.sleep(0.05)
        first = await last_used()
        await asyncio.sleep(0.01)
        await client.post("/graphql", json=ME, headers=bearer(key))  # not due for a minute ...
    assert await last_used() > first  # ... but written when the app stops


def test_no_session_state_is_left_on_pooled_connections() -> None:
    """The pool skips asyncpg's reset on release (core/storage/database.py), which is safe
    only while Kith leaves nothing in a session: no session advisory locks, no LISTEN, no
    plain SET, no cursors held past a transaction.  A connection of its own, never
    pooled and closed after (an import run's claim), may hold session state: its line
    says so with "never pooled"."""
    root = Path(__file__).parent.parent
    session_state = re.compile(
        r"pg_advisory_lock|pg_try_advisory_lock\(|set_config\(|\bLISTEN\s+\w|WITH HOLD|(?:^|[(\s,=])[rbf]*[\"']\s*SET\s+(?!LOCAL\b)[a-z_]+\s*(=|\bTO\b)"
    )  # Kith writes SQL keywords in capitals
    offenders = []
    for folder in ("core", "sdk", "plugins"):
        for path in (root / folder).rglob("*.py"):
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if session_state.search(line) and not line.lstrip().startswith("#") and "never pooled" not in line:
                    offenders.append(f"{path.relative_to(root)}:{number}: {line.strip()}")
    assert offenders == [], offenders


@pytest.mark.postgres_only
async def test_pooled_connections_are_not_reset_on_release(kith: Any) -> None:
    # one statement outside a transaction, then another: the second sees the session as the first left it
    # (asyncpg's default reset would have sent RESET ALL in between)
    await kith.db.execute("SELECT set_config('application_name', 'kith-probe', false) AS v")
    name = await kith.db.execute("SELECT current_setting('application_name') AS name")
    assert name[0]["name"] == "kith-probe"
    await kith.db.execute("SELECT set_config('application_name', '', false) AS v")
