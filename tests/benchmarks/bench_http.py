"""Benchmark: what an API client sees, Kith over HTTP against a hand-written floor server.

bench_contacts_list.py compares Kith with a floor in-process, without HTTP, sign-in or
rate limits; clients pay for those too.  This benchmark serves both over HTTP:

* ``kith``: ``kith serve`` in production mode with its default settings (the automation
  worker inside the server, rate limits per API key on), through serve_counted.py,
  which only turns Kith's statement counter on for the process;
* ``floor``: http_floor.py, a hand-written ASGI app (no framework; asyncpg or aiosqlite,
  orjson) that checks the same ``Authorization: Bearer <key>`` header by a dict lookup and
  answers the same four GraphQL reads with one hand-written SQL statement each and the
  same response JSON, and the same two mutations by writing what Kith writes (the row,
  its audit row and its outbox row) in one transaction;

both started by ``uvicorn.run`` with the arguments ``kith serve`` uses, each in its own
process pinned to one CPU, and loaded with ``wrk`` (or, without it, a Python load
generator) pinned to the other CPU, 16 keep-alive connections.

Data: N contacts with three custom fields (``tier`` integer and indexed, ``score``
decimal, ``segment`` single select), N/10 organizations and 5N activities on the
contacts' timelines, loaded with multi-row INSERTs (bench_contacts_list.py's loader for
contacts and organizations), ANALYZEd on PostgreSQL; an admin user with API keys made by
Kith (``kith.auth.create_key``).  The workloads, each a POST /graphql:

1. ``list``: ``contacts(first: 100, after: <cursor>)``, built-in and custom fields and the
   organization's name, from the middle of the table;
2. ``nested``: 20 organizations, 10 contacts each (``Organization.contacts``), 5 timeline
   activities each;
3. ``one``: one contact by id, with its organization;
4. ``filtered``: 50 contacts with ``customFields: {tier: {eq: 3}}`` (an indexed field).
5. ``create``: ``createContact`` with a name, an e-mail and a title (a new contact each);
6. ``update``: ``updateContact`` of one of the last 64 contacts' title, each in turn, to
   one title then the other (so every update changes something).

Before measuring it checks that both servers answer each request with the same rows and
values (cursors aside), and exits 1 if not.  Measured per server and workload: the
server process's CPU per request (from /proc), requests/s, latency p50/p99, SQL
statements per request, and on PostgreSQL the CPU of the database backends serving it.
Also: the worker's events/s against a bare dequeue loop (bench_worker.py), cold start
(``kith --help``; ``kith serve`` to the first 200 on /health) and the Kith server's RSS.
Run ``--help`` for the options; tests/benchmarks/README.md says what the figures mean.
The file is named ``bench_*.py`` so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import orjson

# this folder is on the path when a benchmark runs
from bench_contacts_list import CUSTOM_FIELDS, insert_rows, pg_schema, remove_sqlite, sqlite_path
from bench_contacts_list import load as load_contacts
from bench_worker import pg_admin
from http_floor import (
    CONTACT_QUERY,
    CONTACTS_PAGE_QUERY,
    CREATE_MUTATION,
    FILTERED_QUERY,
    NESTED_QUERY,
    UPDATE_MUTATION,
    make_cursor,
)

from kith.core.entities.builtin import ACTIVITY_KINDS, ACTIVITY_STATUSES
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.settings import load_settings

HERE = Path(__file__).resolve().parent
ADMIN = Actor(name="bench", source="system")
BENCH_EMAIL = "bench-http@example.com"
WORKLOADS = {
    "list": "list 100 contacts, keyset page",
    "nested": "20 orgs > 10 contacts > 5 activities",
    "one": "one contact by id",
    "filtered": "50 contacts, indexed custom field",
    "create": "create a contact (mutation)",
    "update": "change a contact's title (mutation)",
}
WRITES = ("create", "update")
#: the contacts the update workload retitles (the last ones: no read workload reads them)
UPDATED = 64
TITLES = ("Head of Purchasing", "Chief Buyer")
NEW_CONTACT = {"firstName": "Ada", "lastName": "Bench", "emails": ["ada.bench@example.com"], "title": "Buyer"}
CURSOR_QUERY = "query Cursor($id: ID!) { contacts(first: 1, filter: {id: {eq: $id}}) { pageInfo { endCursor } } }"
SUBJECTS = {
    "note": ("Notes from the call", "Budget confirmed", "Prefers e-mail", "Follow-up needed", "Met at the fair"),
    "call": ("Intro call", "Discovery call", "Pricing questions", "Renewal call", "Support escalation"),
    "email": ("Proposal sent", "Re: quote", "Contract draft", "Welcome e-mail", "Newsletter reply"),
    "meeting": ("Quarterly review", "Demo", "On-site visit", "Kick-off", "Lunch"),
    "task": ("Send the quote", "Call back", "Prepare the demo", "Update the contract", "Book a visit"),
}
BODIES = (
    "Asked for a discount on the annual plan.",
    "Will decide after the board meeting next month.",
    "Interested in the API; send the documentation.",
    "Happy with the support so far.",
    None,
)
QUANTILES = 999  # latency points each slice reports (0.1 %, 0.2 %, ... 99.9 %)


# -- options -----------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    default_sqlite = Path(tempfile.gettempdir()) / "kith_bench_http.sqlite3"
    parser = argparse.ArgumentParser(description="Kith over HTTP against a hand-written floor server, per request.")
    parser.add_argument(
        "--database-url",
        default=f"sqlite:///{default_sqlite}",
        help="sqlite:///file.sqlite3 or postgresql://user@host:port/db?schema=NAME (default %(default)s, "
        "recreated on every run without --reuse). PostgreSQL needs a dedicated ?schema= (created if missing; "
        "public is refused).",
    )
    parser.add_argument("--contacts", type=int, default=100_000, help="contacts to load (default 100000)")
    parser.add_argument("--organizations", type=int, default=None, help="organizations (default: contacts / 10)")
    parser.add_argument("--activities", type=int, default=None, help="activities (default: contacts * 5)")
    parser.add_argument(
        "--seconds", type=float, default=10.0, help="measured seconds per server and workload (default 10)"
    )
    parser.add_argument("--rounds", type=int, default=2, help="...split into this many slices, interleaved (default 2)")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections (default 16)")
    parser.add_argument(
        "--keys",
        type=int,
        default=64,
        help="API keys the load rotates through (default 64): Kith's default rate limit (1200 requests a "
        "minute per key) stays on, and the load must stay under it",
    )
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="load generator: wrk if installed (auto), else a Python one (asyncio + httpx) in its own process",
    )
    parser.add_argument(
        "--worker-events", type=int, default=1000, help="events for bench_worker.py (default 1000; 0 skips it)"
    )
    parser.add_argument("--cold-runs", type=int, default=3, help="runs of each cold-start measurement (default 3)")
    parser.add_argument("--reuse", action="store_true", help="measure the data already there (load what is missing)")
    parser.add_argument(
        "--drop",
        action="store_true",
        help="at the end drop the PostgreSQL schema, or delete the SQLite file if this run created it",
    )
    parser.add_argument(
        "--workloads",
        default=",".join(WORKLOADS),
        help=f"the workloads to measure, comma-separated (default: all, {','.join(WORKLOADS)}); all are verified",
    )
    parser.add_argument("--seed", type=int, default=7, help="random seed for the generated data")
    parser.add_argument("--loadgen-run", help=argparse.SUPPRESS)  # internal: the Python load generator's process
    args = parser.parse_args(argv)
    if args.loadgen_run:
        return args
    if args.organizations is None:
        args.organizations = max(1, args.contacts // 10)
    if args.activities is None:
        args.activities = args.contacts * 5
    if min(args.contacts, args.organizations, args.connections, args.keys, args.rounds) < 1 or args.seconds <= 0:
        parser.error("--contacts, --organizations, --connections, --keys and --rounds must be >= 1, --seconds > 0")
    args.workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    unknown = sorted(set(args.workloads) - set(WORKLOADS))
    if unknown or not args.workloads:
        parser.error(f"--workloads: unknown {unknown}; choose from {', '.join(WORKLOADS)}")
    if args.organizations < 20 or args.contacts < 300:
        parser.error("the workloads need at least 20 organizations and 300 contacts")
    args.default_sqlite = args.database_url == f"sqlite:///{default_sqlite}"
    return args


# -- loading -----------------------------------------------------------------------------------


async def ensure_custom_fields(kith: Kith) -> None:
    """bench_contacts_list.py's three fields; ``tier`` indexed (workload 4 filters on it)."""
    for name, type_, extra in CUSTOM_FIELDS:
        existing = kith.custom_fields.get("contact", name)
        if existing is None:
            await kith.custom_fields.add("contact", name, type_, indexed=name == "tier", **extra)
        elif name == "tier" and not existing.indexed:
            print("warning: contact.tier exists without an index (another benchmark's data?)", file=sys.stderr)
    await kith.refresh_if_changed(force=True)


async def load_activities(kith: Kith, count: int, seed: int) -> None:
    """Activities on random contacts' timelines (about count / contacts each), raw INSERTs
    in one transaction, stored as the record service stores them."""
    rng = random.Random(seed + 1)
    rand = rng.random
    contacts = [int(r["id"]) for r in await kith.db.execute("SELECT id FROM contact ORDER BY id")]
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    span = 2 * 365 * 86400
    columns = ("kind", "subject", "body", "subject_type", "subject_id", "occurred_at", "due_at", "status",
               "created_at", "updated_at", "version", "custom")  # fmt: skip

    def pick(pool: Any) -> Any:
        return pool[int(rand() * len(pool))]

    async with kith.db.write_transaction():
        rows: list[tuple[Any, ...]] = []
        for _ in range(count):
            kind = pick(ACTIVITY_KINDS)
            occurred = now - dt.timedelta(seconds=int(rand() * span))
            due, status = (occurred + dt.timedelta(days=3), pick(ACTIVITY_STATUSES)) if kind == "task" else (None, None)
            rows.append((kind, pick(SUBJECTS[kind]), pick(BODIES), "contact", pick(contacts), occurred, due, status,
                         occurred, occurred, 1, "{}"))  # fmt: skip
            if len(rows) >= 20_000:
                await insert_rows(kith, "activity", columns, rows)
                rows = []
        if rows:
            await insert_rows(kith, "activity", columns, rows)


@dataclass
class Prepared:
    user_id: int
    keys: list[str]
    secret: str
    counts: dict[str, int]
    mid_contact: int  # the list workload starts after it
    one_contact: int  # the one-contact workload reads it: in the middle, with an organization
    updated: list[int]  # the contacts the update workload retitles
    load_seconds: dict[str, float] = field(default_factory=dict)


async def prepare(args: argparse.Namespace, url: str) -> Prepared:
    """Load what is missing, then an admin user with fresh API keys."""
    kith = await Kith.open(load_settings(database_url=url))
    try:
        existing = await kith.count("contact")
        if existing and not args.reuse:
            print(
                f"{kith.db.display_url} already holds {existing} contacts: pass --reuse to measure them, or "
                "point at a fresh database or schema.",
                file=sys.stderr,
            )
            args.drop = False  # never drop data this run refused to touch
            raise SystemExit(2)
        await ensure_custom_fields(kith)
        took: dict[str, float] = {}
        if not existing:
            print(
                f"loading {args.contacts} contacts and {args.organizations} organizations into "
                f"{kith.db.display_url} ...",
                flush=True,
            )
            started = time.perf_counter()
            await load_contacts(kith, args.contacts, args.organizations, args.seed)
            took["contacts"] = round(time.perf_counter() - started, 1)
        if not await kith.count("activity"):
            print(f"loading {args.activities} activities ...", flush=True)
            started = time.perf_counter()
            await load_activities(kith, args.activities, args.seed)
            if kith.db.dialect.is_postgres:
                await kith.db.run_ddl(f'ANALYZE "{kith.db.schema}"."activity"')
            took["activities"] = round(time.perf_counter() - started, 1)
        if took:
            print(f"loaded in {sum(took.values()):.1f} s ({took})", flush=True)

        user = await kith.auth.user_by_email(BENCH_EMAIL)
        if user is None:
            user = await kith.records.create("user", {"name": "Bench HTTP", "email": BENCH_EMAIL}, ADMIN)
            await kith.auth.grant_role(int(user["id"]), "admin")
        user_id = int(user["id"])
        for old in await kith.auth.keys(user_id):  # keys of an earlier run (--reuse): shown once, gone
            if old["revoked_at"] is None:
                await kith.auth.revoke_key(old["prefix"])
        keys = [(await kith.auth.create_key(user_id, f"bench-http-{i}"))[0] for i in range(args.keys)]
        counts = {name: await kith.count(name) for name in ("contact", "organization", "activity")}
        ids = [
            int(r["id"]) for r in await kith.db.execute("SELECT id FROM contact WHERE deleted_at IS NULL ORDER BY id")
        ]
        mid = ids[len(ids) // 2]
        one = await kith.db.execute(
            "SELECT MIN(id) AS id FROM contact WHERE id > {} AND organization IS NOT NULL AND deleted_at IS NULL", mid
        )
        return Prepared(user_id, keys, kith.secret, counts, mid, int(one[0]["id"]), ids[-UPDATED:], took)
    finally:
        await kith.close()


# -- processes ------------------------------------------------------------------------------------

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (all its threads), 0 if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime (fields 14 and 15)


def descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return found
    for tid in tids:
        with contextlib.suppress(FileNotFoundError):
            for child in Path(f"/proc/{pid}/task/{tid}/children").read_text().split():
                found += [int(child), *descendants(int(child))]
    return found


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without any KITH_* setting, plus ``extra``: the servers run on
    Kith's defaults, whatever the shell running the benchmark has set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KITH_", "FLOOR_"))}
    env.update(extra)
    return env


class Server:
    """A server process pinned to one CPU, and what can be read about it from outside."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], workdir: Path, cpu: int | None) -> None:
        self.name = name
        self.port = free_port()
        self.stats_file = workdir / f"{name}.statements"
        self.log = workdir / f"{name}.log"
        pin = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
        env = {**env, "BENCH_STATEMENTS_FILE": str(self.stats_file)}
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [*pin, *argv, "--host", "127.0.0.1", "--port", str(self.port)],
                env=env,
                cwd=workdir,  # no kith.toml of the shell's directory
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.pid = self.process.pid  # taskset execs the command: the same process
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_until_up(self, timeout: float = 120.0) -> float:
        """Seconds until GET /health answers 200."""
        started = time.perf_counter()
        with httpx.Client(timeout=2) as client:
            while time.perf_counter() - started < timeout:
                if self.process.poll() is not None:
                    raise SystemExit(f"{self.name} exited with {self.process.returncode}; see {self.log}")
                with contextlib.suppress(httpx.TransportError):
                    if client.get(f"{self.url}/health").status_code == 200:
                        return time.perf_counter() - started
                time.sleep(0.01)
        raise SystemExit(f"{self.name} did not answer /health within {timeout:g} s; see {self.log}")

    def drain(self, timeout: float = 120.0) -> None:
        """Wait until the server is idle again (under 20% of a CPU over 0.1 s): every
        request sent to it has been served."""
        deadline = time.monotonic() + timeout
        last = self.cpu()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.cpu()
            if now - last < 0.02:
                return
            last = now
        raise SystemExit(f"{self.name} still busy {timeout:g} s after the load stopped; see {self.log}")

    def cpu(self) -> float:
        return process_cpu(self.pid) + sum(process_cpu(child) for child in descendants(self.pid))

    def report(self) -> dict[str, Any]:
        """The server's statement count so far, and (Kith) its last statements' texts:
        it writes them on SIGUSR1."""
        self.stats_file.unlink(missing_ok=True)
        os.kill(self.pid, signal.SIGUSR1)
        for _ in range(500):
            if self.stats_file.exists():
                return dict(json.loads(self.stats_file.read_text()))
            time.sleep(0.01)
        raise SystemExit(f"{self.name} did not report its statement count; see {self.log}")

    def statements(self) -> int:
        return int(self.report()["count"])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


class Backends:
    """PostgreSQL: the CPU of the backend processes serving a server's connections
    (found through the server's sockets and pg_stat_activity; the database runs on this
    machine).  The application's own CPU leaves out the queries; this adds them back."""

    def __init__(self, url: str) -> None:
        self.url = url.split("?", 1)[0]
        self.db_port = urlparse(url).port or 5432

    def _client_ports(self, pid: int) -> set[int]:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        ports = set()
        for table in ("tcp", "tcp6"):
            with contextlib.suppress(FileNotFoundError):
                for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
                    parts = line.split()
                    if int(parts[2].rpartition(":")[2], 16) == self.db_port and parts[9] in inodes:
                        ports.add(int(parts[1].rpartition(":")[2], 16))
        return ports

    async def cpu(self, pid: int) -> dict[int, float]:
        """CPU seconds so far of each backend connected to this server process."""
        import asyncpg

        ports = self._client_ports(pid)
        conn = await asyncpg.connect(self.url)
        try:
            rows = await conn.fetch("SELECT pid FROM pg_stat_activity WHERE client_port = ANY($1::int[])", list(ports))
        finally:
            await conn.close()
        return {int(r["pid"]): process_cpu(int(r["pid"])) for r in rows}


# -- load ------------------------------------------------------------------------------------------

#: wrk's script: POSTs the body, rotating through the keys; counts the requests it sends
#: (``sent``: those still in flight when wrk stops are sent, served, but not completed)
#: and prints the figures as one JSON line
LUA = """
local threads = {}
setup = function(thread)
  table.insert(threads, thread)
end
local keys = {%(keys)s}
local bodies = {%(bodies)s}
local n = #keys
local m = #bodies
local headers = {}
headers["Content-Type"] = "application/json"
sent = 0
request = function()
  sent = sent + 1
  headers["Authorization"] = keys[sent %% n + 1]
  return wrk.format("POST", nil, headers, bodies[sent %% m + 1])
end
done = function(summary, latency, requests)
  local q = {}
  for k = 1, %(quantiles)d do q[k] = latency:percentile(k * 100 / (%(quantiles)d + 1)) end
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("sent") end
  local e = summary.errors
  io.write(string.format('BENCH_JSON {"requests":%%d,"sent":%%d,"duration_us":%%d,"errors":%%d,'
    .. '"status_errors":%%d,"quantiles_us":[%%s]}\\n', summary.requests, total, summary.duration,
    e.connect + e.read + e.write + e.timeout, e.status, table.concat(q, ",")))
end
"""


def quantiles_us(latencies: list[float]) -> list[float]:
    ordered = sorted(latencies)
    return [
        ordered[min(len(ordered) - 1, int(k / (QUANTILES + 1) * len(ordered)))] * 1e6 for k in range(1, QUANTILES + 1)
    ]


async def python_load(config: dict[str, Any]) -> dict[str, Any]:
    """The Python load generator: ``connections`` closed-loop clients on keep-alive
    connections, rotating through the keys, for ``seconds``."""
    connections, keys = config["connections"], config["keys"]
    bodies = [text.encode() for text in config["bodies"]]
    latencies: list[float] = []
    errors = status_errors = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        deadline = time.perf_counter() + config["seconds"]

        async def one(start: int) -> None:
            nonlocal errors, status_errors
            turn = start
            while time.perf_counter() < deadline:
                turn += connections
                headers = {"Authorization": keys[turn % len(keys)], "Content-Type": "application/json"}
                began = time.perf_counter()
                try:
                    response = await client.post(config["url"], content=bodies[turn % len(bodies)], headers=headers)
                except httpx.HTTPError:
                    errors += 1
                    continue
                latencies.append(time.perf_counter() - began)
                status_errors += response.status_code > 399

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(connections)))
        duration = time.perf_counter() - started
    return {
        "requests": len(latencies),
        "sent": len(latencies) + errors,  # every client waits for its last answer: nothing left in flight
        "duration_us": int(duration * 1e6),
        "errors": errors,
        "status_errors": status_errors,
        "quantiles_us": quantiles_us(latencies) if latencies else [],
    }


class Load:
    """Runs one slice of load against a URL in another process, pinned to ``cpu``."""

    def __init__(self, kind: str, workdir: Path, cpu: int | None, connections: int, keys: list[str]) -> None:
        self.kind = kind
        self.workdir = workdir
        self.pin = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
        self.connections = connections
        self.keys = [f"Bearer {key}" for key in keys]
        self._scripts: dict[tuple[bytes, ...], Path] = {}

    def _script(self, bodies: tuple[bytes, ...]) -> Path:
        if bodies not in self._scripts:
            texts = [body.decode() for body in bodies]
            assert not any("]==]" in text for text in texts)
            path = self.workdir / f"load{len(self._scripts)}.lua"
            path.write_text(
                LUA
                % {
                    "keys": ", ".join(f'"{k}"' for k in self.keys),
                    "bodies": ", ".join(f"[==[{text}]==]" for text in texts),
                    "quantiles": QUANTILES,
                }
            )
            self._scripts[bodies] = path
        return self._scripts[bodies]

    def run(self, url: str, bodies: tuple[bytes, ...], seconds: float) -> dict[str, Any]:
        """Load ``url`` for ``seconds``, each request the next of ``bodies`` (in turn)."""
        if self.kind == "wrk":
            argv = [
                "wrk",
                "-t1",
                f"-c{self.connections}",
                f"-d{max(1, round(seconds))}s",
                "--timeout",
                "30s",
                "-s",
                str(self._script(bodies)),
                f"{url}/graphql",
            ]
        else:
            config = self.workdir / "loadgen.json"
            config.write_text(
                json.dumps(
                    {
                        "url": f"{url}/graphql",
                        "bodies": [body.decode() for body in bodies],
                        "seconds": seconds,
                        "connections": self.connections,
                        "keys": self.keys,
                    }
                )
            )
            argv = [sys.executable, str(Path(__file__).resolve()), "--loadgen-run", str(config)]
        done = subprocess.run([*self.pin, *argv], capture_output=True, text=True, check=False)
        for line in done.stdout.splitlines():
            if line.startswith("BENCH_JSON "):
                return dict(json.loads(line[len("BENCH_JSON ") :]))
        raise SystemExit(f"the load generator failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


# -- requests and verification ------------------------------------------------------------------


def body(query: str, variables: dict[str, Any] | None = None) -> bytes:
    return orjson.dumps({"query": query, "variables": variables} if variables else {"query": query})


def post(url: str, key: str, payload: bytes) -> dict[str, Any]:
    response = httpx.post(
        f"{url}/graphql",
        content=payload,
        timeout=60,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    if response.status_code != 200:
        raise SystemExit(f"verify: {url} answered {response.status_code}: {response.text[:500]}")
    result: dict[str, Any] = response.json()
    if result.get("errors"):
        raise SystemExit(f"verify: {url} answered errors: {result['errors']}")
    return result


def without_keys(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: without_keys(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, list):
        return [without_keys(v, keys) for v in value]
    return value


def without_cursors(value: Any) -> Any:
    return without_keys(value, ("endCursor", "cursor"))


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'kith' if key in a else 'floor'}"
            found = first_difference(a[key], b[key], f"{path}.{key}")
            if found:
                return found
        return None
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items in kith, {len(b)} in the floor"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found:
                return found
        return None
    return None if a == b and type(a) is type(b) else f"{path}: kith {a!r}, floor {b!r}"


def check_shape(name: str, data: dict[str, Any]) -> str | None:
    """The responses must hold what the workload asks for, not merely agree."""
    if name == "list":
        edges = data["contacts"]["edges"]
        return None if len(edges) == 100 and data["contacts"]["pageInfo"]["hasNextPage"] else "not a full page"
    if name == "nested":
        orgs = data["organizations"]["edges"]
        contacts = [c for o in orgs for c in o["node"]["contacts"]]
        activities = [a for c in contacts for a in c["timeline"]]
        if len(orgs) != 20 or not contacts or not activities:
            return f"{len(orgs)} organizations, {len(contacts)} contacts, {len(activities)} activities"
        return None
    if name == "one":
        return None if data["contact"] and data["contact"]["organization"] else "no contact, or no organization"
    if name == "create":
        created = data["createContact"]
        ok = not created["errors"] and created["contact"] and created["contact"]["lastName"] == NEW_CONTACT["lastName"]
        return None if ok else f"not created: {created}"
    if name == "update":
        updated = data["updateContact"]
        ok = not updated["errors"] and updated["contact"] and updated["contact"]["title"] == TITLES[0]
        return None if ok else f"not updated: {updated}"
    edges = data["contacts"]["edges"]
    if len(edges) != 50 or any(e["node"]["customFields"]["tier"] != 3 for e in edges):
        return "not 50 contacts of tier 3"
    return None


def verify(
    kith: Server, floor: Server, bodies: dict[str, tuple[bytes, bytes]], key: str
) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Both servers give the same rows and values for each request, or exit 1; returns
    the response sizes (Kith's, in bytes) and the SQL Kith sent for each request."""
    sizes, sql = {}, {}
    for name, (kith_body, floor_body) in bodies.items():
        before = kith.statements()
        mine = post(kith.url, key, kith_body)
        after = kith.report()
        sql[name] = after["recent"][-(after["count"] - before) :] if after["count"] > before else []
        theirs = post(floor.url, key, floor_body)
        if name in WRITES:  # a new row each (its own id); the same row written twice (one version apart)
            mine_cmp, theirs_cmp = (without_keys(r, ("id", "version")) for r in (mine, theirs))
        else:
            mine_cmp, theirs_cmp = without_cursors(mine), without_cursors(theirs)
        problem = check_shape(name, mine["data"]) or first_difference(mine_cmp, theirs_cmp)
        if problem:
            raise SystemExit(f"verify {name}: {problem}")
        sizes[name] = len(orjson.dumps(mine))
    return sizes, sql


# -- measuring --------------------------------------------------------------------------------------


@dataclass
class Tally:
    """What one server did for one workload, over all its slices."""

    requests: int = 0  # completed (answered within the slice)
    sent: int = 0  # served: the completed ones and those in flight when the slice ended
    seconds: float = 0.0
    cpu: float = 0.0
    db_cpu: float = 0.0
    statements: int = 0
    errors: int = 0
    quantiles: list[tuple[float, float]] = field(default_factory=list)  # (latency µs, weight)

    def add(self, result: dict[str, Any], cpu: float, db_cpu: float, statements: int) -> None:
        self.requests += result["requests"]
        self.sent += result["sent"]
        self.seconds += result["duration_us"] / 1e6
        self.cpu += cpu
        self.db_cpu += db_cpu
        self.statements += statements
        self.errors += result["errors"] + result["status_errors"]
        weight = result["requests"] / max(1, len(result["quantiles_us"]))
        self.quantiles += [(float(q), weight) for q in result["quantiles_us"]]

    def percentile(self, p: float) -> float:
        points = sorted(self.quantiles)
        total = sum(w for _, w in points)
        running = 0.0
        for value, weight in points:
            running += weight
            if running >= p / 100 * total:
                return value / 1000
        return points[-1][0] / 1000 if points else 0.0

    def result(self, postgres: bool) -> dict[str, Any]:
        n = max(1, self.sent)  # the server's work is for every request it was sent
        return {
            "requests": self.requests,
            "sent": self.sent,
            "rps": round(self.requests / self.seconds, 1) if self.seconds else 0.0,
            "cpu_ms": round(self.cpu / n * 1000, 3),
            "db_cpu_ms": round(self.db_cpu / n * 1000, 3) if postgres else None,
            "p50_ms": round(self.percentile(50), 2),
            "p99_ms": round(self.percentile(99), 2),
            "statements": round(self.statements / n, 2),
            "errors": self.errors,
        }


async def measure(
    servers: dict[str, Server],
    bodies: dict[str, dict[str, tuple[bytes, ...]]],
    load: Load,
    args: argparse.Namespace,
    backends: Backends | None,
) -> dict[str, dict[str, Tally]]:
    """Each server and workload for ``seconds`` in ``rounds`` interleaved slices, after a
    two-second warm-up each, so load from elsewhere on the machine falls on all alike."""
    tallies = {w: {s: Tally() for s in servers} for w in args.workloads}
    for workload in args.workloads:
        for name, server in servers.items():
            load.run(server.url, bodies[workload][name], 2)
            server.drain()
    slice_seconds = args.seconds / args.rounds
    for round_ in range(args.rounds):
        for workload in args.workloads:
            for name, server in servers.items():
                db_before = await backends.cpu(server.pid) if backends else {}
                statements, cpu = server.statements(), server.cpu()
                result = load.run(server.url, bodies[workload][name], slice_seconds)
                server.drain()  # the requests still in flight when the load stopped are served too
                cpu = server.cpu() - cpu
                statements = server.statements() - statements
                db_cpu = 0.0
                if backends:
                    db_after = await backends.cpu(server.pid)
                    db_cpu = sum(after - db_before.get(pid, 0.0) for pid, after in db_after.items())
                tallies[workload][name].add(result, cpu, db_cpu, statements)
                print(
                    f"  round {round_ + 1}/{args.rounds} {workload:<9} {name:<5} "
                    f"{result['requests'] / (result['duration_us'] / 1e6):8.1f} req/s  "
                    f"{cpu / max(1, result['sent']) * 1000:7.2f} ms CPU/req",
                    flush=True,
                )
    return tallies


def idle(server: Server, seconds: float = 5.0) -> dict[str, float]:
    """What the server costs doing nothing (Kith: the embedded worker polling)."""
    statements, cpu = server.statements(), server.cpu()
    time.sleep(seconds)
    return {
        "cpu_ms_per_s": round((server.cpu() - cpu) / seconds * 1000, 2),
        "statements_per_s": round((server.statements() - statements) / seconds, 2),
    }


def cold_start(kith_bin: Path, env: dict[str, str], workdir: Path, cpu: int | None, runs: int) -> dict[str, Any]:
    """``kith --help`` wall time, and ``kith serve`` (production, the real console script)
    from launch to the first 200 on /health."""
    helps = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([str(kith_bin), "--help"], env=env, cwd=workdir, capture_output=True, check=True)
        helps.append(round(time.perf_counter() - started, 3))
    serves = []
    for _ in range(runs):
        server = Server("cold", [str(kith_bin), "serve"], env, workdir, cpu)
        try:
            serves.append(round(server.wait_until_up(), 3))
        finally:
            server.stop()
    return {"help_s": helps, "serve_to_health_s": serves}


def run_worker_bench(url: str, events: int, workdir: Path, cpu: int | None) -> dict[str, Any] | str:
    """bench_worker.py in its own process (its own new database), pinned like the servers."""
    argv = [sys.executable, str(HERE / "bench_worker.py"), "--events", str(events)]
    if urlparse(url).scheme.startswith("postgres"):
        base, _, _ = url.partition("?")
        argv += ["--database-url", f"{base}?schema={pg_schema(url)}_worker"]
    pin = ["taskset", "-c", str(cpu)] if cpu is not None and shutil.which("taskset") else []
    done = subprocess.run([*pin, *argv], capture_output=True, text=True, env=clean_env(), cwd=workdir, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        return f"bench_worker.py failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-300:]}"
    return dict(json.loads(lines[-1]))


# -- main ------------------------------------------------------------------------------------------


def cpus() -> tuple[int | None, int | None]:
    """The CPU for the servers and the one for the load generator."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        print("warning: one CPU only: the servers and the load generator share it", file=sys.stderr)
        return None, None
    return available[0], available[1]


def report(engine: str, tallies: dict[str, dict[str, Tally]], postgres: bool) -> dict[str, dict[str, Any]]:
    """Prints the table of the measured workloads (numbered as in WORKLOADS)."""
    results: dict[str, dict[str, Any]] = {}
    header = (
        f"{'workload':<40} {'floor CPU':>9} {'Kith CPU':>9} {'Kith/':>6} {'floor':>8} {'Kith':>7} "
        f"{'floor p50/p99':>14} {'Kith p50/p99':>14} {'stmts/req':>10}"
    )
    units = (
        f"{'':<40} {'ms/req':>9} {'ms/req':>9} {'floor':>6} {'req/s':>8} {'req/s':>7} {'ms':>14} {'ms':>14} "
        f"{'floor/Kith':>10}"
    )
    if postgres:
        header += f" {'DB CPU ms/req':>14}"
        units += f" {'floor/Kith':>14}"
    print(f"\n{engine}:")
    print(header)
    print(units)
    for index, (workload, label) in enumerate(WORKLOADS.items(), 1):
        if workload not in tallies:
            continue
        floor, kith = (tallies[workload][s].result(postgres) for s in ("floor", "kith"))
        ratio = round(kith["cpu_ms"] / floor["cpu_ms"], 1) if floor["cpu_ms"] else None
        results[workload] = {
            "floor": floor,
            "kith": kith,
            "kith_over_floor_cpu": ratio,
            "floor_over_kith_rps": round(floor["rps"] / kith["rps"], 1) if kith["rps"] else None,
        }
        line = (
            f"{f'{index}. {label}':<40} {floor['cpu_ms']:>9.2f} {kith['cpu_ms']:>9.2f} {ratio or 0:>5.1f}x "
            f"{floor['rps']:>8.0f} {kith['rps']:>7.0f} {floor['p50_ms']:>6.1f}/{floor['p99_ms']:<7.1f} "
            f"{kith['p50_ms']:>6.1f}/{kith['p99_ms']:<7.1f} {floor['statements']:>4.1f}/{kith['statements']:<5.1f}"
        )
        if postgres:
            line += f" {floor['db_cpu_ms']:>6.2f}/{kith['db_cpu_ms']:<7.2f}"
        print(line)
    return results


async def run(args: argparse.Namespace, url: str, engine: str, workdir: Path) -> int:
    prepared = await prepare(args, url)
    postgres = engine == "postgresql"
    kith_bin = Path(sys.executable).parent / "kith"
    server_cpu, load_cpu = cpus()
    loadgen = args.loadgen
    if loadgen == "auto":
        loadgen = "wrk" if shutil.which("wrk") else "python"
    elif loadgen == "wrk" and not shutil.which("wrk"):
        raise SystemExit("--loadgen wrk: wrk is not installed (apt-get install -y wrk)")
    kith_env = clean_env(KITH_DATABASE_URL=url, KITH_MODE="production")

    print(f"cold start ({args.cold_runs} runs each) ...", flush=True)
    cold = cold_start(kith_bin, kith_env, workdir, server_cpu, args.cold_runs)

    keys_file = workdir / "keys.json"
    keys_file.write_text(json.dumps({key: prepared.user_id for key in prepared.keys}))
    floor_env = clean_env(FLOOR_DATABASE_URL=url, FLOOR_KEYS_FILE=str(keys_file))
    servers = {
        "floor": Server("floor", [sys.executable, str(HERE / "http_floor.py")], floor_env, workdir, server_cpu),
        "kith": Server(
            "kith", [sys.executable, str(HERE / "serve_counted.py"), "serve"], kith_env, workdir, server_cpu
        ),
    }
    try:
        for server in servers.values():
            server.wait_until_up()
        key = prepared.keys[0]
        kith_cursor = post(servers["kith"].url, key, body(CURSOR_QUERY, {"id": str(prepared.mid_contact)}))
        cursor = kith_cursor["data"]["contacts"]["pageInfo"]["endCursor"]
        floor_cursor = make_cursor(prepared.secret.encode(), prepared.user_id, prepared.mid_contact)
        one = {"id": str(prepared.one_contact)}
        same = {
            "nested": (body(NESTED_QUERY),),
            "one": (body(CONTACT_QUERY, one),),
            "filtered": (body(FILTERED_QUERY),),
            "create": (body(CREATE_MUTATION, {"input": NEW_CONTACT}),),
            # each contact in turn, to one title and then the other: every update changes something
            "update": tuple(
                body(
                    UPDATE_MUTATION,
                    {"id": str(prepared.updated[k % UPDATED]), "input": {"title": TITLES[k // UPDATED]}},
                )
                for k in range(2 * UPDATED)
            ),
        }
        bodies = {
            "list": {
                "kith": (body(CONTACTS_PAGE_QUERY, {"after": cursor}),),
                "floor": (body(CONTACTS_PAGE_QUERY, {"after": floor_cursor}),),
            },
            **{workload: {"kith": texts, "floor": texts} for workload, texts in same.items()},
        }
        pairs = {w: (b["kith"][0], b["floor"][0]) for w, b in bodies.items()}
        sizes, kith_sql = verify(servers["kith"], servers["floor"], pairs, key)
        print(
            f"verified: Kith and the floor answer the {len(WORKLOADS)} requests with the same rows and values "
            f"(response bytes: {sizes})",
            flush=True,
        )
        for workload, statements in kith_sql.items():
            print(f"  Kith's SQL for one {workload!r} request ({len(statements)} statements; the embedded worker's "
                  "polling may slip in):")  # fmt: skip
            for sql in statements:
                print("    " + " ".join(sql.split())[:160])

        load = Load(loadgen, workdir, load_cpu, args.connections, prepared.keys)
        print(
            f"measuring with {loadgen}, {args.connections} connections, {args.keys} API keys; servers on CPU "
            f"{server_cpu}, load on CPU {load_cpu}; {args.seconds:g} s per server and workload in "
            f"{args.rounds} slices ...",
            flush=True,
        )
        tallies = await measure(servers, bodies, load, args, Backends(url) if postgres else None)
        verify(servers["kith"], servers["floor"], pairs, key)  # still the same answers after the load
        idle_kith, idle_floor = idle(servers["kith"]), idle(servers["floor"])
        rss = {name: rss_kb(server.pid) for name, server in servers.items()}
    finally:
        for server in servers.values():
            server.stop()
    problems = [
        line
        for line in servers["kith"].log.read_text(errors="replace").splitlines()
        if "Traceback" in line or "ERROR" in line
    ]

    worker: dict[str, Any] | str | None = None
    if args.worker_events:
        print(f"bench_worker.py --events {args.worker_events} ...", flush=True)
        worker = run_worker_bench(url, args.worker_events, workdir, server_cpu)

    results = report(engine, tallies, postgres)
    print(
        f"  {prepared.counts['contact']} contacts, {prepared.counts['organization']} organizations, "
        f"{prepared.counts['activity']} activities; per request sent (completed, or in flight when the load "
        "stopped, then served): CPU = the server process's user+system time, stmts = SQL statements it sent; "
        "req/s and latency: completed requests, as the load generator saw them"
    )
    print(
        f"idle, 5 s: Kith {idle_kith['cpu_ms_per_s']} ms CPU/s and {idle_kith['statements_per_s']} statements/s "
        f"(the embedded worker polling, included above); floor {idle_floor['cpu_ms_per_s']} ms CPU/s"
    )
    print(f"RSS after the benchmark: Kith {rss['kith'] / 1024:.0f} MiB, floor {rss['floor'] / 1024:.0f} MiB")
    print(
        f"cold start: kith --help {statistics.median(cold['help_s']):.2f} s (runs {cold['help_s']}); "
        f"kith serve to the first 200 on /health {statistics.median(cold['serve_to_health_s']):.2f} s "
        f"(runs {cold['serve_to_health_s']})"
    )
    if isinstance(worker, dict):
        print(
            f"worker (bench_worker.py --events {args.worker_events}): {worker['worker_events_per_s']} contact "
            f"events/s, {worker['worker_rows_per_s']} outbox rows/s; bare locked dequeue "
            f"{worker['floor_rows_per_s']} rows/s: {worker['ratio_per_row']}x per row, "
            f"{worker['ratio_per_event']}x per event, {worker['statements_per_event']} statements/event"
        )
    elif worker:
        print(f"worker: {worker}")
    errors = {f"{w}/{s}": r[s]["errors"] for w, r in results.items() for s in ("floor", "kith") if r[s]["errors"]}
    print(
        json.dumps(
            {
                "benchmark": "http",
                "engine": engine,
                "rows": prepared.counts,
                "loadgen": loadgen,
                "connections": args.connections,
                "keys": args.keys,
                "seconds": args.seconds,
                "rounds": args.rounds,
                "cpus": {"servers": server_cpu, "load": load_cpu},
                "load_seconds": prepared.load_seconds,
                "response_bytes": sizes,
                "statements_one_kith_request": {w: len(v) for w, v in kith_sql.items()},
                "workloads": results,
                "idle": {"kith": idle_kith, "floor": idle_floor},
                "rss_kb": rss,
                "cold_start": cold,
                "worker": worker,
                "errors": errors,
            },
            separators=(",", ":"),
        )
    )
    if errors:
        print(
            f"error: non-2xx responses or socket errors under load: {errors} (429: rate limited; give more --keys)",
            file=sys.stderr,
        )
        return 1
    if problems:
        print(
            f"error: the Kith server logged errors ({servers['kith'].log}):\n" + "\n".join(problems[:10]),
            file=sys.stderr,
        )
        return 1
    return 0


async def main(args: argparse.Namespace) -> int:
    url = args.database_url
    scheme = urlparse(url).scheme
    created_file = False
    if scheme == "sqlite":
        path = sqlite_path(url)
        if args.default_sqlite and not args.reuse:
            remove_sqlite(path)
        created_file = not path.exists()
        engine = "sqlite"
    elif scheme in ("postgres", "postgresql"):
        schema = pg_schema(url)
        await pg_admin(url, f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        engine = "postgresql"
    else:
        raise SystemExit(f"unsupported database URL {url!r}")
    workdir = Path(tempfile.mkdtemp(prefix="kith_bench_http_"))
    status = 1
    try:
        status = await run(args, url, engine, workdir)
        return status
    finally:
        if status == 0:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir} (the servers' logs are there)", file=sys.stderr)
        if args.drop:
            if engine == "postgresql":
                await pg_admin(url, f'DROP SCHEMA IF EXISTS "{pg_schema(url)}" CASCADE')
                print(f"dropped schema {pg_schema(url)}", file=sys.stderr)
            elif created_file or args.default_sqlite:
                remove_sqlite(sqlite_path(url))
                print(f"deleted {sqlite_path(url)}", file=sys.stderr)
            else:
                print(f"--drop: left {sqlite_path(url)} alone (this run did not create it)", file=sys.stderr)


if __name__ == "__main__":
    options = parse_args()
    if options.loadgen_run:
        result = asyncio.run(python_load(json.loads(Path(options.loadgen_run).read_text())))
        print("BENCH_JSON " + json.dumps(result))
        sys.exit(0)
    sys.exit(asyncio.run(main(options)))
