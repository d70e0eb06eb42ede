"""Rate limits per API key, per signed-in session and per address.

Each caller (``caller_identity``) has ``rate_limit_per_minute`` requests per one-minute
window, which starts at their first request; past it the answer is HTTP 429 in the
GraphQL error shape with ``Retry-After``, and every answer carries the ``RateLimit-Policy``,
``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers (the IETF
draft litestar follows).

The counts live where counting is cheap: in memory (``MemoryCounter``, each process its
own budget) or in Redis (``RedisCounter``, one budget shared by every process), chosen
by ``rate_limit_store``.  Nothing is written to the database.

Why not litestar's ``RateLimitMiddleware``: it keeps, per caller, the list of every
request's time in the window, decoded and re-encoded as JSON on each request (with the
default 1,200 a minute, a busy caller's list is 1,200 numbers long: about 0.1 ms of
CPU per request, more than the rest of a small request), under one lock per process
held across the store's round trips, and as a read-then-write that two processes
sharing a store can interleave and lose counts.  A counter per window is one atomic
``INCR`` in Redis and one dict entry in memory, with the same answers and headers.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from litestar.exceptions import TooManyRequestsException
from litestar.middleware.base import DefineMiddleware
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from kith.core.errors import KithError

log = logging.getLogger("kith.web")

WINDOW_SECONDS = 60
#: paths never counted (load balancers' health checks)
EXEMPT = frozenset({"/health"})


def caller_identity(scope: Scope) -> str:
    """The budget a request draws on: its API key, its token, or its address.

    Computed from the headers alone (no database read) so refusing costs nothing.
    """
    authorization = api_key = b""
    for name, value in scope["headers"]:
        if name == b"authorization":
            authorization = value
        elif name == b"x-api-key":
            api_key = value
    header = (authorization or api_key).decode("latin-1")
    credential = header.partition(" ")[2].strip() if " " in header else header.strip()
    if credential.startswith("kith_"):
        return "key:" + credential[:13]
    if credential:
        return "token:" + hashlib.sha256(credential.encode()).hexdigest()[:24]
    client = scope.get("client")
    return "ip:" + (client[0] if client else "127.0.0.1")


class Counter:
    """Counts requests per caller and window."""

    async def start(self) -> None:
        """Connect (the app's start-up)."""

    async def close(self) -> None:
        """Disconnect (the app's shut-down)."""

    async def hit(self, identity: str, window: int) -> tuple[int, float] | None:
        """Count one request of ``identity``: (requests in its window so far, this one
        included; seconds until the window ends), or None when it cannot be counted."""
        raise NotImplementedError


class MemoryCounter(Counter):
    """Windows in this process's memory, oldest first: ended ones are swept once a
    window, and past ``max_callers`` the oldest window goes for each new one (a flood of
    new addresses costs memory only up to there, and constant time per request)."""

    def __init__(self, clock: Callable[[], float] = time.time, max_callers: int = 100_000) -> None:
        self.clock = clock
        self.max_callers = max_callers
        self._windows: OrderedDict[str, list[float]] = OrderedDict()  # identity -> [count, end]
        self._next_sweep = 0.0

    async def hit(self, identity: str, window: int) -> tuple[int, float] | None:
        now = self.clock()
        entry = self._windows.get(identity)
        if entry is None or entry[1] <= now:
            if now >= self._next_sweep:
                self._next_sweep = now + window
                self._windows = OrderedDict((k, v) for k, v in self._windows.items() if v[1] > now)
            while len(self._windows) >= self.max_callers:
                self._windows.popitem(last=False)
            entry = self._windows[identity] = [0, now + window]
            self._windows.move_to_end(identity)
        entry[0] += 1
        return int(entry[0]), entry[1] - now


class RedisCounter(Counter):
    """Windows as Redis keys that expire: ``SET NX EX`` starts one, ``INCR`` counts, in
    one round trip (``MULTI``), atomic whatever the number of processes sharing it.

    If Redis cannot be reached while serving, requests are let through (and a warning is
    logged at most once a minute): the limit guards against floods, and failing every
    request would turn a Redis outage into an API outage.  At start-up an unreachable
    Redis stops the server with one clear line instead."""

    PREFIX = "kith:ratelimit:"

    def __init__(self, url: str) -> None:
        self.url = url
        self.client: Any = None
        self._warned = 0.0

    async def start(self) -> None:
        from redis.asyncio import Redis

        # a Redis that hangs must not hang the API: a second, then the request passes uncounted
        self.client = Redis.from_url(self.url, socket_timeout=1.0, socket_connect_timeout=1.0)
        try:
            await self.client.ping()
        except Exception as exc:
            await self.client.aclose()
            raise KithError(f"rate_limit_store: cannot reach Redis at {self.url}: {exc}") from exc

    async def close(self) -> None:
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    async def hit(self, identity: str, window: int) -> tuple[int, float] | None:
        key = self.PREFIX + identity
        try:
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(key, 0, ex=window, nx=True)
                pipe.incr(key)
                pipe.pttl(key)
                _, count, ttl = await pipe.execute()
        except Exception:
            if time.monotonic() - self._warned > 60:
                self._warned = time.monotonic()
                log.warning("rate limits: Redis at %s cannot be reached; requests are not counted", self.url)
            return None
        return int(count), max(ttl, 0) / 1000


def counter_for(store: str) -> Counter:
    """The counter ``rate_limit_store`` names: ``memory`` or a Redis URL."""
    return MemoryCounter() if store == "memory" else RedisCounter(store)


class RateLimit:
    """ASGI middleware: count the request, refuse it past the limit, add the headers."""

    def __init__(self, app: ASGIApp, counter: Counter, limit: int, window: int = WINDOW_SECONDS) -> None:
        self.app = app
        self.counter = counter
        self.limit = limit
        self.window = window
        self.policy = f"{limit}; w={window}"

    @classmethod
    def define(cls, counter: Counter, limit: int) -> DefineMiddleware:
        return DefineMiddleware(cls, counter=counter, limit=limit)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in EXEMPT:
            await self.app(scope, receive, send)
            return
        counted = await self.counter.hit(caller_identity(scope), self.window)
        if counted is None:
            await self.app(scope, receive, send)
            return
        count, left = counted
        reset = str(math.ceil(left))
        remaining = str(max(0, self.limit - count))
        if count > self.limit:
            raise TooManyRequestsException(
                headers={
                    "RateLimit-Policy": self.policy,
                    "RateLimit-Limit": str(self.limit),
                    "RateLimit-Remaining": remaining,
                    "RateLimit-Reset": reset,
                    "Retry-After": reset,
                }
            )
        extra = [
            (b"ratelimit-policy", self.policy.encode()),
            (b"ratelimit-limit", str(self.limit).encode()),
            (b"ratelimit-remaining", remaining.encode()),
            (b"ratelimit-reset", reset.encode()),
        ]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), *extra]
            await send(message)

        await self.app(scope, receive, send_with_headers)
