"""Benchmark: the CPU one request spends in the rate limiter, litestar's and Kith's.

Calls a minimal litestar app (one POST handler) directly as an ASGI app, with no server
and no network, three ways: without a limiter, with litestar's ``RateLimitMiddleware``
on a ``MemoryStore``, and with Kith's ``RateLimit`` on a ``MemoryCounter``; the limit is
high enough never to refuse.  Litestar's limiter keeps every request's time in the
window, so its cost grows with the requests a caller already made: it is measured
after ``--history`` requests.  Prints CPU microseconds per request added by each limiter.

    .venv/bin/python tests/benchmarks/bench_rate_limit.py --requests 2000 --history 0 1100
"""

from __future__ import annotations

import argparse
import asyncio
import time
from typing import Any

from litestar import Litestar, Request, post
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.stores.memory import MemoryStore

from kith.core.web.rate_limits import MemoryCounter, RateLimit

HIGH = 10**9
SCOPE = {
    "type": "http",
    "http_version": "1.1",
    "method": "POST",
    "path": "/x",
    "raw_path": b"/x",
    "root_path": "",
    "scheme": "http",
    "query_string": b"",
    "headers": [(b"content-type", b"application/json"), (b"authorization", b"Bearer kith_12345678_secret")],
    "client": ("127.0.0.1", 1234),
    "server": ("127.0.0.1", 80),
}


@post("/x", status_code=200)
async def handler() -> dict[str, int]:
    return {"a": 1}


def identity(request: Request[Any, Any, Any]) -> str:
    return "key:kith_1234567"


def app_with(limiter: str) -> Litestar:
    if limiter == "none":
        middleware = []
    elif limiter == "litestar":
        config = RateLimitConfig(rate_limit=("minute", HIGH), identifier_for_request=identity, store="rate_limit")
        middleware = [config.middleware]
    else:
        middleware = [RateLimit.define(MemoryCounter(), HIGH)]
    return Litestar([handler], middleware=middleware, stores={"rate_limit": MemoryStore()})


async def cpu_per_request(app: Any, requests: int, history: int) -> float:
    """CPU microseconds per request of ``app`` (called as plain ASGI) after ``history`` requests."""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    async def send(message: Any) -> None:
        pass

    for _ in range(history):
        await app(dict(SCOPE), receive, send)
    start = time.process_time()
    for _ in range(requests):
        await app(dict(SCOPE), receive, send)
    return (time.process_time() - start) / requests * 1e6


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per variant (default 2000)")
    parser.add_argument("--history", type=int, nargs="+", default=[0, 1100], help="requests made before measuring")
    args = parser.parse_args()
    base = await cpu_per_request(app_with("none"), args.requests, 100)
    print(f"no limiter: {base:.1f} µs of CPU per request")
    for history in args.history:
        litestar = await cpu_per_request(app_with("litestar"), args.requests, history)
        kith = await cpu_per_request(app_with("kith"), args.requests, history)
        print(
            f"after {history:5} requests: litestar RateLimitMiddleware +{litestar - base:6.1f} µs, "
            f"Kith RateLimit +{kith - base:6.1f} µs"
        )


if __name__ == "__main__":
    asyncio.run(main())
