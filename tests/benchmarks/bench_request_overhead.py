"""Benchmark: what one small authenticated GraphQL request costs the server, measured from outside.

Starts ``kith`` as a real server (uvicorn, production mode, no worker) in a child process
on a database prepared here (a user with the ``read_only`` role, an API key, a few
contacts), sends requests one after another over HTTP with the API key from this
process, and reports per request:

* the server's CPU time (user + system of the server process, from ``/proc``), minus
  nothing: parsing HTTP, authentication, rate limiting, GraphQL, SQL, JSON;
* on PostgreSQL, the transactions the database committed (``pg_stat_database``), which
  counts every statement sent outside a transaction (a pool's reset query counts as one);
  the server's start-up is measured by a run with no requests and taken off.

Run it on the code before and after a change to compare (tests/benchmarks/README.md)::

    .venv/bin/python tests/benchmarks/bench_request_overhead.py \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_overhead' --requests 3000

The schema named in the URL is created, filled and dropped; ``public`` is refused.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx

QUERIES = {
    "me": "{ me { email } }",
    "contacts": "{ contacts(first: 1) { edges { node { id firstName } } } }",
}
SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
SECRET = "bench-secret-bench-secret-bench-secret"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url",
        default=f"sqlite:///{Path(tempfile.gettempdir()) / 'kith_bench_http.sqlite3'}",
        help="sqlite:///file or postgresql://…?schema=NAME (the schema is created and dropped)",
    )
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per query (default 3000)")
    parser.add_argument("--warmup", type=int, default=300, help="requests before measuring (default 300)")
    parser.add_argument("--query", choices=[*QUERIES, "all"], default="all")
    parser.add_argument(
        "--rate-limit",
        type=int,
        default=1_000_000,
        help="the server's rate_limit_per_minute: the limiter runs, but must not refuse a benchmark "
        "(default 1000000); 0 turns it off",
    )
    parser.add_argument("--env", action="append", default=[], help="extra KITH_*=value for the server (repeat)")
    return parser.parse_args()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime


async def prepare(url: str) -> str:
    """A fresh database with a read_only user, their API key and ten contacts."""
    from kith.core.runtime import Kith
    from kith.core.settings import load_settings

    parsed = urlparse(url)
    if parsed.scheme.startswith("postgres"):
        schema = parse_qs(parsed.query).get("schema", [""])[0]
        if not SCHEMA_NAME.match(schema) or schema == "public":
            raise SystemExit("PostgreSQL URLs need ?schema=<a dedicated schema>")
        await admin(url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE; CREATE SCHEMA "{schema}"')
    else:
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)  # noqa: ASYNC240 - before anything runs
    kith = await Kith.open(load_settings(database_url=url, secret_key=SECRET))
    try:
        user = await kith.records.create("user", {"name": "Bench", "email": "bench@example.com"})
        await kith.auth.grant_role(user["id"], "read_only")
        for n in range(10):
            await kith.records.create("contact", {"first_name": f"C{n}", "emails": [f"c{n}@example.com"]})
        key, _ = await kith.auth.create_key(user["id"], "bench")
    finally:
        await kith.close()
    return key


async def admin(url: str, sql: str) -> list[dict[str, object]]:
    import asyncpg

    connection = await asyncpg.connect(url.split("?", 1)[0])
    try:
        if sql.lstrip().upper().startswith("SELECT"):
            return [dict(r) for r in await connection.fetch(sql)]
        await connection.execute(sql)
        return []
    finally:
        await connection.close()


async def committed(url: str) -> int:
    """Transactions committed in the database so far (flushed by backends as they end)."""
    rows = await admin(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
    return int(str(rows[0]["xact_commit"]))


def start_server(url: str, port: int, rate_limit: int, extra_env: list[str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KITH_DATABASE_URL": url,
        "KITH_MODE": "production",
        "KITH_WORKER_IN_SERVE": "false",
        "KITH_SECRET_KEY": SECRET,
        "KITH_RATE_LIMIT_PER_MINUTE": str(rate_limit),
    }
    for pair in extra_env:
        name, _, value = pair.partition("=")
        env[name] = value
    command = [sys.executable, "-m", "uvicorn", "--factory", "kith.core.web.app:create_app"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("the server did not start")


def stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    server.wait(timeout=30)
    time.sleep(1.5)  # backends flush their statistics as they end


def measure(args: argparse.Namespace, key: str, name: str) -> None:
    pg = args.database_url.startswith("postgres")
    port = free_port()
    base = asyncio.run(committed(args.database_url)) if pg else 0
    server = start_server(args.database_url, port, args.rate_limit, args.env)
    stop(server)  # start-up and shut-down alone
    startup = asyncio.run(committed(args.database_url)) - base if pg else 0
    before_all = asyncio.run(committed(args.database_url)) if pg else 0
    server = start_server(args.database_url, port, args.rate_limit, args.env)
    headers = {"Authorization": f"Bearer {key}"}
    body = {"query": QUERIES[name]}
    latencies = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for _ in range(args.warmup):
                response = client.post("/graphql", json=body)
                assert response.status_code == 200 and "errors" not in response.json(), response.text
            cpu0 = cpu_seconds(server.pid)
            for _ in range(args.requests):
                t0 = time.perf_counter()
                response = client.post("/graphql", json=body)
                latencies.append(time.perf_counter() - t0)
                assert response.status_code == 200, response.text
            cpu1 = cpu_seconds(server.pid)
    finally:
        stop(server)
    total = args.warmup + args.requests + 1  # the health check
    per_request_xacts = (asyncio.run(committed(args.database_url)) - before_all - startup) / total if pg else None
    print(
        f"{name:9} server CPU {1000 * (cpu1 - cpu0) / args.requests:6.3f} ms/request   "
        f"latency median {1000 * statistics.median(latencies):6.3f} ms   "
        + (f"database transactions {per_request_xacts:5.2f}/request" if pg else "")
    )


def main() -> None:
    args = parse_args()
    key = asyncio.run(prepare(args.database_url))
    try:
        for name in QUERIES if args.query == "all" else [args.query]:
            measure(args, key, name)
    finally:
        if args.database_url.startswith("postgres"):
            schema = parse_qs(urlparse(args.database_url).query)["schema"][0]
            asyncio.run(admin(args.database_url, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


if __name__ == "__main__":
    main()
