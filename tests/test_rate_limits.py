"""Rate limits, as a client sees them: 429 in the GraphQL error shape with the
RateLimit-* and Retry-After headers, counted in memory or in Redis shared by processes."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from kith.core.errors import KithError
from kith.core.settings import load_settings
from kith.core.web.app import create_app
from kith.core.web.rate_limits import MemoryCounter

REDIS_URL = "redis://127.0.0.1:6379/0"
ME = {"query": "{ me { email } }"}


def redis_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


needs_redis = pytest.mark.skipif(not redis_reachable(), reason="Redis is not running at 127.0.0.1:6379")


async def test_over_the_limit_is_429_with_headers(kith_database_url: str, admin_key: str) -> None:
    app = create_app(load_settings(database_url=kith_database_url, rate_limit_per_minute=3), run_worker=False)
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with AsyncTestClient(app) as client:
        answers = [await client.post("/graphql", json=ME, headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers] == [200, 200, 200]
        assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
        assert answers[0].headers["RateLimit-Limit"] == "3" and answers[0].headers["RateLimit-Policy"] == "3; w=60"
        refused = await client.post("/graphql", json=ME, headers=headers)
        assert refused.status_code == 429
        assert refused.json() == {"errors": [{"message": "Too Many Requests", "extensions": {"code": "THROTTLED"}}]}
        assert refused.headers["RateLimit-Limit"] == "3" and refused.headers["RateLimit-Remaining"] == "0"
        assert 0 < int(refused.headers["RateLimit-Reset"]) <= 60
        assert refused.headers["Retry-After"] == refused.headers["RateLimit-Reset"]
        # another caller has its own budget; health checks are never counted
        assert (await client.post("/graphql", json=ME)).status_code == 401
        assert [(await client.get("/health")).status_code for _ in range(5)] == [200] * 5


async def test_the_database_keeps_no_rate_limits(kith: Any) -> None:
    # the table of the former database store is dropped by migration 0010
    assert "kith_rate_limit" not in await kith.db.table_names()


async def test_in_memory_each_process_counts_its_own(kith_database_url: str, admin_key: str) -> None:
    settings = load_settings(database_url=kith_database_url, rate_limit_per_minute=2)
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with (
        AsyncTestClient(create_app(settings, run_worker=False)) as a,
        AsyncTestClient(create_app(settings, run_worker=False)) as b,
    ):
        assert [(await a.post("/graphql", json=ME, headers=headers)).status_code for _ in range(3)] == [200, 200, 429]
        assert (await b.post("/graphql", json=ME, headers=headers)).status_code == 200


@needs_redis
async def test_redis_shares_one_budget_between_processes(kith_database_url: str, admin_key: str) -> None:
    settings = load_settings(database_url=kith_database_url, rate_limit_per_minute=3, rate_limit_store=REDIS_URL)
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with (
        AsyncTestClient(create_app(settings, run_worker=False)) as a,
        AsyncTestClient(create_app(settings, run_worker=False)) as b,
    ):
        first = [(await a.post("/graphql", json=ME, headers=headers)).status_code for _ in range(2)]
        third = await b.post("/graphql", json=ME, headers=headers)
        refused = await b.post("/graphql", json=ME, headers=headers)
        assert first == [200, 200] and third.status_code == 200 and third.headers["RateLimit-Remaining"] == "0"
        assert refused.status_code == 429 and refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
        assert refused.headers["RateLimit-Remaining"] == "0" and int(refused.headers["Retry-After"]) > 0
        assert (await a.post("/graphql", json=ME, headers=headers)).status_code == 429


@needs_redis
async def test_redis_counts_concurrent_requests_exactly(kith_database_url: str, admin_key: str) -> None:
    """Counting is one atomic INCR, so requests racing through two processes cannot both
    read the same count and slip past the limit together."""
    settings = load_settings(database_url=kith_database_url, rate_limit_per_minute=5, rate_limit_store=REDIS_URL)
    headers = {"Authorization": f"Bearer {admin_key}"}
    async with (
        AsyncTestClient(create_app(settings, run_worker=False)) as a,
        AsyncTestClient(create_app(settings, run_worker=False)) as b,
    ):
        answers = await asyncio.gather(*(c.post("/graphql", json=ME, headers=headers) for c in (a, b) * 6))
        assert sorted(r.status_code for r in answers) == [200] * 5 + [429] * 7


async def test_an_unreachable_redis_stops_the_server_with_one_clear_line(kith_database_url: str) -> None:
    settings = load_settings(database_url=kith_database_url, rate_limit_store="redis://127.0.0.1:1/0")
    with pytest.raises(BaseException) as caught:  # litestar reports it through its task group
        async with AsyncTestClient(create_app(settings, run_worker=False)):
            pass
    errors = [caught.value, *getattr(caught.value, "exceptions", ())]
    messages = [str(e) for e in errors if isinstance(e, KithError)]
    assert messages and messages[0].startswith("rate_limit_store: cannot reach Redis at redis://127.0.0.1:1/0")


def test_a_store_that_is_not_memory_or_redis_is_refused() -> None:
    with pytest.raises(KithError, match=r"rate_limit_store \(KITH_RATE_LIMIT_STORE\): .*'memory' or a Redis URL"):
        load_settings(rate_limit_store="postgresql://db/kith")


async def test_memory_windows_end_and_are_swept() -> None:
    now = [0.0]
    counter = MemoryCounter(clock=lambda: now[0], max_callers=3)
    assert await counter.hit("key:a", 60) == (1, 60.0)
    now[0] = 30.0
    assert await counter.hit("key:a", 60) == (2, 30.0)
    now[0] = 60.0  # the window ended: a new one starts
    assert await counter.hit("key:a", 60) == (1, 60.0)
    for caller in ("ip:1", "ip:2", "ip:3", "ip:4"):  # never more than max_callers windows
        await counter.hit(caller, 60)
    assert len(counter._windows) <= 3
