"""Benchmark: does a rule whose template loops delay the API?

Serves Kith over HTTP with ``kith serve`` in a child process (production mode, the
automation worker inside the server: the embedded default, and the worst case, since
the worker shares the API's process), authenticated with an API key, then measures
the latency of concurrent GraphQL requests (a page of 20 contacts) in two phases:

* ``idle``: no rule running (the worker has nothing to do);
* ``looping``: a rule on ``contact.updated`` whose template loops for hours
  (``{% for i in range(99999) %}{% for j in range(99999) %}…``) is kept busy: enough
  contacts are updated, through the API, that the worker renders it from start to end
  of the slice, each render stopped at ``template_timeout_seconds``.

The phases alternate in ``--rounds`` slices (idle, looping, idle, …), so that load from
elsewhere on the machine falls on both alike; each idle slice starts once the worker
has finished the previous looping slice's renders.

It prints p50/p95/p99/max per phase, the p99 delay (looping - idle; the owner's target
is at most 100 ms), and how many renders were stopped at the limit during the
measurement (if none were, the second phase measured nothing and the script exits 1).
Run ``--help`` for the options; tests/benchmarks/README.md says what the figures mean.
The file is named ``bench_*.py`` so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
from bench_worker import pg_admin  # this folder is on the path when a benchmark runs
from piccolo.querystring import QueryString

from kith.core.automations import service
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.settings import load_settings

SPIN = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}"
QUERY = "query Page { contacts(first: 20) { totalCount edges { node { id firstName lastName title city } } } }"
UPDATE = (
    "mutation Touch($id: ID!, $city: String) { updateContact(id: $id, input: {city: $city}) { errors { message } } }"
)
ADMIN = Actor(name="bench", source="system")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="API latency while a rule's template loops until its limit.")
    parser.add_argument(
        "--database-url",
        default=None,
        help="default: a temporary SQLite file, deleted at the end; a PostgreSQL URL must carry "
        "?schema=NAME naming a schema that does not exist (created here, dropped at the end)",
    )
    parser.add_argument("--seconds", type=float, default=12.0, help="measured time per phase (default 12)")
    parser.add_argument(
        "--rounds", type=int, default=4, help="idle and looping slices alternate this many times (default 4)"
    )
    parser.add_argument("--concurrency", type=int, default=4, help="API requests in flight at once (default 4)")
    parser.add_argument("--contacts", type=int, default=200, help="contacts in the database (default 200)")
    parser.add_argument("--timeout", type=float, default=2.0, help="template_timeout_seconds (default 2)")
    return parser.parse_args(argv)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def prepare(url: str, contacts: int) -> tuple[str, list[int]]:
    """Contacts, an admin with an API key, and the looping rule; returns (key, contact ids)."""
    kith = await Kith.open(load_settings(database_url=url))
    try:
        async with kith.db.write_transaction():
            ids = [
                (await kith.records.create("contact", {"first_name": f"First{i}", "last_name": f"Last{i}",
                                                       "city": "Berlin"}, ADMIN))["id"]
                for i in range(contacts)
            ]  # fmt: skip
            user = await kith.records.create("user", {"name": "Bench", "email": "bench@example.com"}, ADMIN)
        await kith.auth.grant_role(int(user["id"]), "admin")
        key, _prefix = await kith.auth.create_key(int(user["id"]), "bench")
        await kith.db.execute("UPDATE kith_outbox SET status = 'done'")  # the creations fire no rule
        await service.apply_rule(kith, {
            "name": "spin", "enabled": True, "trigger": {"event": "contact.updated", "changed": "city"},
            "actions": [{"update_fields": {"values": {"title": SPIN}}}],
        })  # fmt: skip
        return key, ids
    finally:
        await kith.close()


def start_server(url: str, port: int, timeout: float, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KITH_DATABASE_URL": url,
        "KITH_MODE": "production",
        "KITH_RATE_LIMIT_PER_MINUTE": "0",  # the benchmark's own request rate is not abuse
        "KITH_WORKER_IN_SERVE": "true",
        "KITH_TEMPLATE_TIMEOUT_SECONDS": str(timeout),
        "KITH_AUTOMATION_RETRY_BASE_SECONDS": "3600",  # each event is rendered once in the window
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "kith.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_until_up(client: httpx.AsyncClient, server: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            if (await client.get("/health")).status_code == 200:
                return
        except httpx.TransportError:
            pass
        await asyncio.sleep(0.1)
    raise SystemExit("the server did not come up within 60 s")


async def measure(client: httpx.AsyncClient, seconds: float, concurrency: int) -> list[float]:
    """Closed-loop clients sending QUERY for ``seconds``; returns latencies in ms."""
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def one_client() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = await client.post("/graphql", json={"query": QUERY})
            latencies.append((time.perf_counter() - started) * 1000)
            body = response.json()
            if response.status_code != 200 or body.get("errors"):
                raise SystemExit(f"request failed: {response.status_code} {body}")

    await asyncio.gather(*(one_client() for _ in range(concurrency)))
    return latencies


async def touch(client: httpx.AsyncClient, ids: list[int], round_: int) -> None:
    """Update contacts' city through the API: each update fires the looping rule once."""
    for contact_id in ids:
        response = await client.post(
            "/graphql", json={"query": UPDATE, "variables": {"id": str(contact_id), "city": f"City{round_}"}}
        )
        body = response.json()
        if body.get("errors") or body["data"]["updateContact"]["errors"]:
            raise SystemExit(f"update failed: {body}")


def summary(latencies: list[float]) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    return {
        "requests": len(ordered),
        "mean_ms": round(statistics.fmean(ordered), 2),
        "p50_ms": round(pct(50), 2),
        "p95_ms": round(pct(95), 2),
        "p99_ms": round(pct(99), 2),
        "max_ms": round(ordered[-1], 2),
    }


class Observer:
    """Reads the server's database from this process: is the worker still rendering,
    and how many renders were stopped at the limit so far."""

    def __init__(self, kith: Kith) -> None:
        self.kith = kith

    async def pending_updates(self) -> int:
        return int(await self.kith.db.fetch_value(QueryString(
            "SELECT COUNT(*) AS n FROM kith_outbox WHERE event = 'contact.updated' AND status = 'pending'"
        )) or 0)  # fmt: skip

    async def stopped(self) -> int:
        rows = await self.kith.db.execute("SELECT error FROM kith_automation_run WHERE rule = 'spin'")
        return sum(1 for r in rows if "template_timeout_seconds" in (r["error"] or ""))

    async def drained(self) -> None:
        """Poll until the worker has handled every update (it is another process)."""
        for _ in range(3000):
            if not await self.pending_updates():
                return
            await asyncio.sleep(0.2)
        raise SystemExit("the worker did not finish its renders within 10 minutes")


async def run(args: argparse.Namespace, url: str, workdir: Path) -> int:
    key, ids = await prepare(url, args.contacts)
    port = free_port()
    log = workdir / "server.log"
    server = start_server(url, port, args.timeout, log)
    observer = Observer(await Kith.open(load_settings(database_url=url), migrate_database=False))
    headers = {"Authorization": f"Bearer {key}"}
    limits = httpx.Limits(max_connections=args.concurrency + 2)
    idle: list[float] = []
    looping: list[float] = []
    stopped = 0
    slice_seconds = args.seconds / args.rounds
    try:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60, limits=limits
        ) as client:
            await wait_until_up(client, server)
            await measure(client, 1.0, args.concurrency)  # warm up: schema built, connections open
            print(f"serving on port {port} (production mode, worker in the server); {args.concurrency} concurrent "
                  f"clients; {args.rounds} rounds of {slice_seconds:g} s idle, then {slice_seconds:g} s looping",
                  flush=True)  # fmt: skip
            used = 0
            for round_ in range(args.rounds):
                await observer.drained()  # no render in flight: idle means idle
                idle += await measure(client, slice_seconds, args.concurrency)
                # enough events that the worker renders the loop for the whole slice, and then some
                needed = int(slice_seconds / args.timeout) + 2
                await touch(client, ids[used : used + needed], round_)
                used += needed
                await asyncio.sleep(min(0.5, args.timeout / 4))  # the first render is under way
                before = await observer.stopped()
                looping += await measure(client, slice_seconds, args.concurrency)
                stopped += await observer.stopped() - before
                print(f"round {round_ + 1}: idle p99 so far {summary(idle)['p99_ms']} ms, "
                      f"looping p99 so far {summary(looping)['p99_ms']} ms", flush=True)  # fmt: skip
    finally:
        await observer.kith.close()
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    a, b = summary(idle), summary(looping)
    delay = round(b["p99_ms"] - a["p99_ms"], 2)
    engine = "postgresql" if urlparse(url).scheme.startswith("postgres") else "sqlite"
    print()
    print(f"{'phase':<9} {'requests':>9} {'mean ms':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for name, s in (("idle", a), ("looping", b)):
        print(f"{name:<9} {s['requests']:>9} {s['mean_ms']:>8.1f} {s['p50_ms']:>8.1f} {s['p95_ms']:>8.1f} "
              f"{s['p99_ms']:>8.1f} {s['max_ms']:>8.1f}")  # fmt: skip
    print(f"p99 delay while the template loops: {delay:+.1f} ms (target: at most 100 ms); "
          f"renders stopped at template_timeout_seconds ({args.timeout:g} s) during the looping slices: {stopped}")  # fmt: skip
    print(json.dumps({"benchmark": "template_stall", "engine": engine, "concurrency": args.concurrency,
                      "seconds": args.seconds, "template_timeout_seconds": args.timeout, "idle": a,
                      "looping": b, "p99_delay_ms": delay, "renders_stopped": stopped}))  # fmt: skip
    if stopped == 0:
        print(f"error: no render was stopped during the looping slices; see {log}", file=sys.stderr)
        return 1
    return 0


async def main(args: argparse.Namespace) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="kith_bench_stall_"))
    url = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    schema = None
    if urlparse(url).scheme.startswith("postgres"):
        schema = parse_qs(urlparse(url).query).get("schema", [""])[0]
        if not schema.isidentifier() or schema == "public" or schema.startswith("pg_"):
            raise SystemExit("PostgreSQL: name a dedicated new schema, e.g. ...?schema=kith_bench_stall")
        if await pg_admin(url, f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"):
            raise SystemExit(f"schema {schema} exists: drop it or name a new one")
        await pg_admin(url, f'CREATE SCHEMA "{schema}"')
    status = 1
    try:
        status = await run(args, url, workdir)
        return status
    finally:
        if schema is not None:
            await pg_admin(url, f'DROP SCHEMA "{schema}" CASCADE')
        if status == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (the server's log is there)", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
