"""Benchmark: counting a three-condition segment from its definition, over HTTP, against
a hand-written SQL count served by a floor server, at a million contacts.

The segment: contacts of ``tier`` 3 or more (an indexed custom field), at an
organization whose name starts with B (a relation), with a call on their timeline in
the last 30 days (recent activity).  Kith counts it from the definition, not from stored
members: ``previewSegment(definition: …, first: 0) { count }`` compiles the filter into
one SQL statement, as ``contacts(filter: …) { totalCount }`` does.  The floor
(segment_floor.py) answers the same request with one hand-written SQL count.

Data: bench_contacts_list.py's loader (N contacts, N/10 organizations, three custom
fields) and bench_http.py's activities (A activities over two years), ANALYZEd; an admin
with an API key made by Kith.  Both servers run under ``uvicorn.run`` as ``kith serve``
runs Kith (Kith in production mode), each pinned to one CPU where ``taskset`` exists.
The count is checked to be the same on both, then each is asked ``--requests`` times
one after another (after two warm-up requests); printed: median and best latency, and
the ratio Kith / floor (target: at most 1.2, and under 2 s on PostgreSQL).

    .venv/bin/python tests/benchmarks/bench_segment_count.py \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_segment'

``--reuse`` measures data an earlier run left (with ``--keep``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_contacts_list import load as load_contacts
from bench_db import fresh_database
from bench_http import ADMIN, Server, clean_env, cpus, ensure_custom_fields, load_activities

from kith.core.plugins import lifecycle
from kith.core.runtime import Kith
from kith.core.settings import load_settings

HERE = Path(__file__).resolve().parent
DEFINITION = {
    "customFields": {"tier": {"gte": 3}},
    "organization": {"name": {"startsWith": "B"}},
    "timeline": {"some": {"kind": {"eq": "call"}, "occurredAt": {"withinLast": "P30D"}}},
}
QUERY = "query($d: JSON!) { previewSegment(definition: $d, first: 0) { count errors { field message } } }"


async def prepare(args: argparse.Namespace, url: str) -> str:
    """The data (unless reused) and an admin's API key."""
    kith = await Kith.open(load_settings(database_url=url))
    try:
        if not args.reuse:
            await ensure_custom_fields(kith)
            started = time.perf_counter()
            print(f"loading {args.contacts:,} contacts, {args.contacts // 10:,} organizations, "
                  f"{args.activities:,} activities ...", flush=True)  # fmt: skip
            await load_contacts(kith, args.contacts, args.contacts // 10, 7)
            await load_activities(kith, args.activities, 7)
            await kith.db.execute("ANALYZE")
            print(f"loaded in {time.perf_counter() - started:.0f}s", flush=True)
        if "marketing" not in await kith.enabled_plugins():
            await lifecycle.enable(kith, "marketing")
        user = await kith.records.create(
            "user", {"name": "Bench", "email": f"bench-{time.time_ns()}@example.com"}, ADMIN
        )
        await kith.auth.grant_role(int(user["id"]), "admin")
        key, _ = await kith.auth.create_key(int(user["id"]), "bench-segment")
        return key
    finally:
        await kith.close()


def ask(client: httpx.Client, server: Server, key: str) -> tuple[float, int]:
    started = time.perf_counter()
    response = client.post(
        f"{server.url}/graphql",
        json={"query": QUERY, "variables": {"d": DEFINITION}},
        headers={"Authorization": f"Bearer {key}"},
    )
    took = time.perf_counter() - started
    data = response.json()
    if response.status_code != 200 or "errors" in data or data["data"]["previewSegment"].get("errors"):
        raise SystemExit(f"{server.name} answered {response.status_code}: {response.text[:500]}")
    return took, int(data["data"]["previewSegment"]["count"])


async def main(args: argparse.Namespace) -> int:
    database = (
        contextlib.nullcontext(args.database_url) if args.reuse else fresh_database(args.database_url, keep=args.keep)
    )
    async with database as url:
        key = await prepare(args, url)
        workdir = Path(tempfile.mkdtemp(prefix="kith_bench_segment_"))
        (workdir / "keys.json").write_text(json.dumps([key]))
        server_cpu, _ = cpus()
        servers = {
            "floor": Server("floor", [sys.executable, str(HERE / "segment_floor.py")],
                            clean_env(FLOOR_DATABASE_URL=url, FLOOR_KEYS_FILE=str(workdir / "keys.json")),
                            workdir, server_cpu),
            "kith": Server("kith", [sys.executable, str(HERE / "serve_counted.py"), "serve"],
                           clean_env(KITH_DATABASE_URL=url, KITH_MODE="production"), workdir, server_cpu),
        }  # fmt: skip
        try:
            for server in servers.values():
                server.wait_until_up()
            times: dict[str, list[float]] = {name: [] for name in servers}
            counts: dict[str, set[int]] = {name: set() for name in servers}
            with httpx.Client(timeout=120) as client:
                for server in servers.values():
                    for _ in range(2):
                        ask(client, server, key)  # warm-up: plans, caches
                for _ in range(args.requests):  # alternate, so both see the same machine
                    for name, server in servers.items():
                        took, count = ask(client, server, key)
                        times[name].append(took)
                        counts[name].add(count)
        finally:
            for server in servers.values():
                server.stop()
        if counts["kith"] != counts["floor"] or len(counts["kith"]) != 1:
            print(f"error: the counts differ: Kith {sorted(counts['kith'])}, floor {sorted(counts['floor'])}")
            return 1
        (count,) = counts["kith"]
        print(f"\nsegment count {count:,} of {args.contacts:,} contacts; {args.requests} requests each, over HTTP:")
        for name in ("kith", "floor"):
            print(f"  {name:<6} median {statistics.median(times[name]) * 1000:8.1f} ms, "
                  f"best {min(times[name]) * 1000:8.1f} ms")  # fmt: skip
        ratio = statistics.median(times["kith"]) / statistics.median(times["floor"])
        print(f"  Kith / floor (median): {ratio:.2f} (target: at most 1.2; under 2 s on PostgreSQL)")
        return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", help="sqlite:///new-file or postgresql://...?schema=NEW (default: temp SQLite)"
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--activities", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=15)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the data an earlier --keep run left")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
