"""Benchmarks of the service plugin's two promises under load.

``sla``: N open tickets whose first-response deadlines fall due over a window, with
``--workers`` worker processes draining the queue as ``kith worker`` does; prints how long
after each deadline its ``sla.breached`` event was written (p50, p95, max). The goal is
under 60 s at 10,000 tickets: breaches are scheduled at their deadline, not found by a
sweep, so the delay is the worker's poll interval plus the queue's backlog at that moment.

``routing``: N queued tickets for one team of agents whose capacities add up to N, with
``--assigners`` processes routing the queue at once; prints the time and rate, and checks
that no ticket was assigned twice (one assignment in each ticket's audit) and that no
agent holds more open tickets than their capacity. Exits non-zero if either is broken.

    .venv/bin/python tests/benchmarks/bench_service.py sla --tickets 10000 \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_service'
    .venv/bin/python tests/benchmarks/bench_service.py routing --tickets 10000 --assigners 8 \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_service'

Both write their tickets through the record service (hooks, SLA clocks, audit, events),
so set-up takes a while at 10,000; the figures printed are for the part measured only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_db import fresh_database

from kith.core.automations.worker import Worker
from kith.core.plugins import lifecycle
from kith.core.plugins.context import PluginContext
from kith.core.runtime import Kith
from kith.core.settings import load_settings

BATCH = 200


async def open_kith(url: str, **settings: Any) -> Kith:
    return await Kith.open(load_settings(database_url=url, **settings))


async def create_tickets(kith: Kith, count: int, **values: Any) -> None:
    records = PluginContext(kith).system
    for start in range(0, count, BATCH):
        async with kith.db.write_transaction():
            for n in range(start, min(start + BATCH, count)):
                await records.create("ticket", {"subject": f"Ticket {n}", **values})


# -- sla ---------------------------------------------------------------------------------------


def _worker_process(url: str, seconds: float, poll: float) -> None:
    async def work() -> None:
        kith = await open_kith(url, worker_poll_seconds=poll)
        stop = asyncio.Event()
        task = asyncio.create_task(Worker(kith).run_forever(stop))
        await asyncio.sleep(seconds)
        stop.set()
        await task
        await kith.close()

    asyncio.run(work())


async def bench_sla(args: argparse.Namespace, url: str) -> int:
    kith = await open_kith(url)
    try:
        await lifecycle.enable(kith, "service")
        records = PluginContext(kith).system
        # deadlines spread over the window after set-up: the target is the set-up time plus a lead
        lead = args.lead
        await records.create("sla_policy", {"name": "Bench", "targets": {"default": {"first_response": lead / 60}}})
        started = time.perf_counter()
        await create_tickets(kith, args.tickets)
        setup = time.perf_counter() - started
        print(
            f"created {args.tickets} tickets in {setup:.1f}s ({args.tickets / setup:.0f}/s), first-response target {lead:.0f}s"
        )
        last_deadline = (
            await kith.db.execute("SELECT MAX(deadline) AS d FROM service_sla_status WHERE target = 'first_response'")
        )[0]["d"]
    finally:
        await kith.close()
    if isinstance(last_deadline, str):
        last_deadline = dt.datetime.fromisoformat(last_deadline)
    remaining = max(0.0, (last_deadline - dt.datetime.now(dt.UTC)).total_seconds())
    run_for = remaining + args.grace
    print(f"running {args.workers} worker process(es) for {run_for:.0f}s (poll {args.poll}s)")
    processes = [
        multiprocessing.Process(target=_worker_process, args=(url, run_for, args.poll)) for _ in range(args.workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    kith = await open_kith(url)
    try:
        rows = await kith.db.execute("SELECT payload, created_at FROM kith_outbox WHERE event = 'sla.breached'")
        delays = []
        for row in rows:
            payload = row["payload"] if isinstance(row["payload"], dict) else json.loads(row["payload"])
            created = row["created_at"]
            if isinstance(created, str):
                created = dt.datetime.fromisoformat(created)
            delays.append((created - dt.datetime.fromisoformat(payload["deadline"])).total_seconds())
        missing = args.tickets - len(delays)
        if not delays:
            print("error: no sla.breached event was raised", file=sys.stderr)
            return 1
        delays.sort()
        p95 = delays[int(len(delays) * 0.95) - 1]
        print(f"sla.breached: {len(delays)} events; delay from deadline to event: "
              f"p50 {statistics.median(delays):.2f}s, p95 {p95:.2f}s, max {delays[-1]:.2f}s (goal: under 60s)")  # fmt: skip
        if missing:
            print(f"error: {missing} tickets raised no breach", file=sys.stderr)
            return 1
        return 0 if delays[-1] < 60 else 1
    finally:
        await kith.close()


# -- routing -----------------------------------------------------------------------------------


def _assigner_process(url: str, team: int, results: Any) -> None:
    async def work() -> None:
        from kith.plugins.service import routing

        kith = await open_kith(url)
        context = PluginContext(kith)
        made = 0
        while True:
            batch = await routing.route_team(context, team)
            made += len(batch)
            if not batch:
                break
        results.put(made)
        await kith.close()

    asyncio.run(work())


async def bench_routing(args: argparse.Namespace, url: str) -> int:
    kith = await open_kith(url)
    try:
        await lifecycle.enable(kith, "service")
        records = PluginContext(kith).system
        team = await records.create("team", {"name": "Support"})
        await records.create("team_queue", {"team": team["id"], "strategy": args.strategy})
        agents = args.agents
        capacity = args.tickets // agents
        for n in range(agents):
            user = await records.create("user", {"name": f"Agent {n}", "email": f"agent{n}@bench.example"})
            await records.create("agent_profile", {"user": user["id"], "teams": ["Support"], "capacity": capacity})
        started = time.perf_counter()
        await create_tickets(kith, args.tickets, team=team["id"])
        print(f"queued {args.tickets} tickets in {time.perf_counter() - started:.1f}s; {agents} agents x {capacity}")
        team_id = int(team["id"])
    finally:
        await kith.close()
    results: Any = multiprocessing.Queue()
    processes = [
        multiprocessing.Process(target=_assigner_process, args=(url, team_id, results)) for _ in range(args.assigners)
    ]
    started = time.perf_counter()
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    seconds = time.perf_counter() - started
    per_assigner = [results.get() for _ in processes]
    kith = await open_kith(url)
    try:
        assigned = (await kith.db.execute("SELECT COUNT(*) AS n FROM service_ticket WHERE assignee IS NOT NULL"))[0][
            "n"
        ]
        twice = (await kith.db.execute(
            "SELECT COUNT(*) AS n FROM (SELECT record_id FROM kith_audit WHERE entity = 'ticket' AND action = 'update' "
            "AND CAST(changes AS TEXT) LIKE '%assigneeId%' GROUP BY record_id HAVING COUNT(*) > 1) AS t"
        ))[0]["n"]  # fmt: skip
        over = (await kith.db.execute(
            "SELECT COUNT(*) AS n FROM (SELECT t.assignee, COUNT(*) AS open, MAX(a.capacity) AS capacity "
            "FROM service_ticket t JOIN service_agent a ON a.\"user\" = t.assignee "
            "WHERE t.status_category NOT IN ('solved', 'closed') GROUP BY t.assignee) AS x WHERE open > capacity"
        ))[0]["n"]  # fmt: skip
        print(f"{args.assigners} assigners assigned {assigned} tickets in {seconds:.1f}s "
              f"({assigned / seconds:.0f}/s); per assigner: {per_assigner}")  # fmt: skip
        print(f"tickets assigned twice: {twice}; agents over capacity: {over}")
        return 0 if (twice == 0 and over == 0 and assigned == agents * capacity) else 1
    finally:
        await kith.close()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("sla", "routing"))
    parser.add_argument(
        "--database-url", help="sqlite:///new-file or postgresql://...?schema=NEW (default: temp SQLite)"
    )
    parser.add_argument("--tickets", type=int, default=10000)
    parser.add_argument("--workers", type=int, default=1, help="sla: worker processes")
    parser.add_argument("--poll", type=float, default=1.0, help="sla: the workers' worker_poll_seconds")
    parser.add_argument(
        "--lead", type=float, default=120.0, help="sla: seconds from a ticket's creation to its deadline"
    )
    parser.add_argument("--grace", type=float, default=90.0, help="sla: seconds the workers run past the last deadline")
    parser.add_argument("--assigners", type=int, default=8, help="routing: assigner processes")
    parser.add_argument("--agents", type=int, default=50, help="routing: agents (capacity: tickets / agents each)")
    parser.add_argument("--strategy", default="least_open", choices=("round_robin", "least_open", "skills"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args()


async def main(args: argparse.Namespace) -> int:
    async with fresh_database(args.database_url, keep=args.keep) as url:
        return await (bench_sla if args.what == "sla" else bench_routing)(args, url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
