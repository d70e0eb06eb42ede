"""Password guessing is throttled per account and address, and an unknown email looks
exactly like a wrong password — as a caller of the ``login`` mutation sees it."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from kith.core.security import passwords
from kith.core.security.audit import entries
from kith.core.settings import load_settings
from kith.core.web.app import create_app, execute
from kith.sdk.testing import make_user

PASSWORD = "correct horse battery"
WRONG = "not the password at all"
LOGIN = "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { code message } } }"


@dataclass
class Client:
    host: str


@dataclass
class FakeRequest:
    """What the login mutation reads of an HTTP request: the client's address."""

    client: Client


async def login(kith: Any, email: str, password: str, address: str = "198.51.100.7") -> dict[str, Any]:
    """The ``login`` payload for one attempt from ``address``."""
    body = await execute(kith, LOGIN, {"e": email, "p": password}, request=FakeRequest(Client(address)))
    assert "errors" not in body, body
    payload: dict[str, Any] = body["data"]["login"]
    return payload


def code(payload: dict[str, Any]) -> str | None:
    return payload["errors"][0]["code"] if payload["errors"] else None


@dataclass
class Work:
    """The argon2 operations made: verifications (the hash each checked against) and hashes."""

    verified: list[str]
    hashed: int = 0

    def __len__(self) -> int:
        return len(self.verified)


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Work:
    """Every argon2 verification and hashing from now on."""
    passwords.dummy_hash()  # made once per process, before the attempts counted here
    work = Work([])
    real_verify, real_hash = passwords.verify, passwords.hash_password

    def verify(password_hash: str, password: str) -> tuple[bool, bool]:
        work.verified.append(password_hash)
        return real_verify(password_hash, password)

    def hash_password(password: str) -> str:
        work.hashed += 1
        return real_hash(password)

    monkeypatch.setattr(passwords, "verify", verify)
    monkeypatch.setattr(passwords, "hash_password", hash_password)
    return work


async def user(kith: Any, email: str = "ann@example.com") -> dict[str, Any]:
    created = await make_user(kith, email=email, name=email.split("@")[0])
    await kith.auth.set_password(created["id"], PASSWORD)
    return created


def with_client_address(app: Any) -> Any:
    """The app, seeing the address given in the test's ``x-test-address`` header as the
    client's (what uvicorn does with ``X-Forwarded-For`` behind a trusted proxy)."""

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            address = headers.get(b"x-test-address")
            if address:
                scope = {**scope, "client": (address.decode(), 40000)}
        await app(scope, receive, send)

    asgi.state = app.state  # type: ignore[attr-defined]
    return asgi


# -- over HTTP: every login in a document counts ---------------------------------------------------


async def test_five_wrong_passwords_lock_the_account_for_that_address_even_packed_as_aliases(
    kith_database_url: str, verifications: Work
) -> None:
    from kith.core.runtime import Kith

    settings = load_settings(database_url=kith_database_url, max_query_aliases=60)
    setup = await Kith.open(settings)
    try:
        await user(setup)
    finally:
        await setup.close()
    app = create_app(settings, run_worker=False)
    packed = "mutation { " + " ".join(
        f'a{i}: login(email: "ann@example.com", password: "guess {i}") {{ token errors {{ code message }} }}'
        for i in range(50)
    ) + " }"  # fmt: skip
    async with AsyncTestClient(with_client_address(app)) as client:
        attacker = {"x-test-address": "203.0.113.66"}
        response = await client.post("/graphql", json={"query": packed}, headers=attacker)
        assert response.status_code == 200
        answers = [response.json()["data"][f"a{i}"] for i in range(50)]
        assert [code(a) for a in answers] == ["unauthenticated"] * 5 + ["throttled"] * 45
        # the lock began at the fifth answer; on a busy machine a second may pass before the sixth
        assert re.fullmatch(r"too many failed sign-ins; try again in (60|59) s", answers[5]["errors"][0]["message"])
        assert len(verifications) == 5  # a refused attempt checks no password

        def attempt(password: str, address: str) -> Any:
            variables = {"e": "ann@example.com", "p": password}
            return client.post(
                "/graphql", json={"query": LOGIN, "variables": variables}, headers={"x-test-address": address}
            )

        # the right password from the attacker's address is refused too: no oracle there
        locked = (await attempt(PASSWORD, "203.0.113.66")).json()["data"]["login"]
        assert locked["token"] is None and code(locked) == "throttled"
        # Ann, from her own address, is not locked out by the stranger
        own = (await attempt(PASSWORD, "192.0.2.10")).json()["data"]["login"]
        assert own["token"] and own["errors"] == []
    check = await Kith.open(settings)
    try:
        trail = await entries(check, entity="security", limit=100)
    finally:
        await check.close()
    actions = [e["action"] for e in trail]
    assert actions.count("login_failed") == 5 and actions.count("login") == 1
    (lock,) = [e for e in trail if e["action"] == "login_throttled"]
    assert lock["changes"] == {
        "email": "ann@example.com", "address": "203.0.113.66", "scope": "account", "failures": 5, "seconds": 60,
    }  # fmt: skip


async def test_concurrent_attempts_cannot_slip_past_the_limit(kith: Any, verifications: Work) -> None:
    await user(kith)
    answers = await asyncio.gather(*(login(kith, "ann@example.com", f"guess {i}") for i in range(20)))
    assert sorted(code(a) or "" for a in answers) == ["throttled"] * 15 + ["unauthenticated"] * 5
    assert len(verifications) == 5


# -- the count: per account and address, reset by a success, forgotten after the window ----------------


async def test_a_success_resets_the_count(kith: Any) -> None:
    await user(kith)
    for _ in range(4):
        assert code(await login(kith, "ann@example.com", WRONG)) == "unauthenticated"
    assert (await login(kith, "ann@example.com", PASSWORD))["token"]
    for _ in range(4):  # four more: the earlier four were forgotten
        assert code(await login(kith, "ann@example.com", WRONG)) == "unauthenticated"
    assert (await login(kith, "ann@example.com", PASSWORD))["token"]


async def test_the_lock_grows_with_further_failures_and_the_window_forgets(make_kith: Any) -> None:
    kith = await make_kith(login_failure_window_seconds=600, login_lockout_seconds=30, login_lockout_max_seconds=100)
    await user(kith)
    now = [1_000_000.0]
    kith.auth.throttle.clock = lambda: now[0]
    for _ in range(5):
        assert code(await login(kith, "ann@example.com", WRONG)) == "unauthenticated"
    refused = await login(kith, "ann@example.com", PASSWORD)
    assert refused["errors"][0]["message"] == "too many failed sign-ins; try again in 30 s"
    now[0] += 29
    assert (await login(kith, "ann@example.com", PASSWORD))["errors"][0]["message"].endswith("in 1 s")
    now[0] += 1  # the lock ran out: one more guess, which doubles it
    assert code(await login(kith, "ann@example.com", WRONG)) == "unauthenticated"
    assert (await login(kith, "ann@example.com", WRONG))["errors"][0]["message"].endswith("in 60 s")
    now[0] += 60
    assert code(await login(kith, "ann@example.com", WRONG)) == "unauthenticated"
    assert (await login(kith, "ann@example.com", WRONG))["errors"][0]["message"].endswith("in 100 s")  # the cap
    now[0] += 100 + 600  # the lock's end plus the window: all forgotten
    for _ in range(5):
        assert code(await login(kith, "ann@example.com", WRONG)) == "unauthenticated"
    assert code(await login(kith, "ann@example.com", PASSWORD)) == "throttled"


async def test_one_address_guessing_many_accounts_is_locked_at_the_higher_limit(make_kith: Any) -> None:
    kith = await make_kith(login_max_failures_per_address=8)
    kith.auth.throttle.clock = lambda: 1_000_000.0  # so the lock's "in 60 s" is exact
    await user(kith, "ann@example.com")
    for i in range(8):  # eight accounts, one wrong password each: no account reaches its own limit
        assert code(await login(kith, f"person{i}@example.com", WRONG, "203.0.113.5")) == "unauthenticated"
    refused = await login(kith, "ann@example.com", PASSWORD, "203.0.113.5")
    assert code(refused) == "throttled" and refused["errors"][0]["message"].endswith("in 60 s")
    assert (await login(kith, "ann@example.com", PASSWORD, "198.51.100.20"))["token"]  # elsewhere: fine
    trail = await entries(kith, entity="security", limit=50)
    (lock,) = [e["changes"] for e in trail if e["action"] == "login_throttled"]
    assert (lock["scope"], lock["failures"], lock["address"]) == ("address", 8, "203.0.113.5")


# -- unknown email and wrong password: the same answer for the same work ------------------------------


async def test_an_unknown_email_and_a_wrong_password_get_the_same_answer_for_the_same_work(
    kith: Any, verifications: Work
) -> None:
    kith.auth.throttle.clock = lambda: 1_000_000.0  # the lock's "try again in N s" must not tick between emails
    await user(kith)
    inactive = await user(kith, "gone@example.com")
    await kith.db.execute("UPDATE kith_user SET is_active = {} WHERE id = {}", False, inactive["id"])
    answers = {}
    hashed = verifications.hashed
    for email in ("ann@example.com", "nobody@example.com", "gone@example.com"):
        before = len(verifications)
        answers[email] = [await login(kith, email, WRONG) for _ in range(6)]
        assert len(verifications) - before == 5, email  # one argon2 verification per counted attempt
    assert verifications.hashed == hashed  # and no hashing, whichever the email
    assert answers["ann@example.com"] == answers["nobody@example.com"] == answers["gone@example.com"]
    assert answers["nobody@example.com"][0] == {
        "token": None, "errors": [{"code": "unauthenticated", "message": "email or password is wrong"}],
    }  # fmt: skip
    assert code(answers["nobody@example.com"][5]) == "throttled"
    # the unknown email was checked against the one dummy hash, made with today's parameters
    assert verifications.verified[-10:] == [passwords.dummy_hash()] * 10  # nobody@ and gone@ (inactive)
    assert passwords.dummy_hash().startswith("$argon2id$") and "m=19456,t=2,p=1" in passwords.dummy_hash()


async def test_the_throttle_table_holds_no_email_or_address(kith: Any) -> None:
    await login(kith, "secret.person@example.com", WRONG, "203.0.113.99")
    rows = [dict(r) for r in await kith.db.execute("SELECT * FROM kith_signin_throttle")]
    assert len(rows) == 2
    dumped = json.dumps(rows, default=str)
    assert "secret.person" not in dumped and "203.0.113.99" not in dumped
