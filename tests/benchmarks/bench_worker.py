"""Benchmark: events per second through ONE automation worker with 10 enabled rules,
against the floor of a bare locked-dequeue loop on the same database, in the same run.

Setup: a fresh database (a temporary SQLite file by default; a PostgreSQL schema named
in the URL, created here and dropped at the end), 10 realistic rules on contacts (most
with conditions tested in SQL; five create an activity, one adds a tag, one removes
it, three set fields), then N contact events written through the record service: 60%
contact.created, 40% contact.updated (stage, title or city changes of those contacts).

* ``floor``: claim a batch with the worker's own claim statement (``UPDATE … RETURNING``,
  ``FOR UPDATE SKIP LOCKED`` on PostgreSQL) and mark each row done with the worker's
  own finish statement — nothing else.  Then every row is put back to pending.
* ``worker``: ``Worker(kith).run_until_idle()`` drains the same N events, plus the events
  its rules cause (activities created, contacts updated), in the same process.

Both are measured in outbox rows per second (the same unit); the worker's rate for the N
input events (cascaded events included in the time) is printed too.  After the worker
the script checks that the queue is empty and no run failed, and exits non-zero if not.
Run ``--help`` for the options; tests/benchmarks/README.md says what the figures mean.
The file is named ``bench_*.py`` so pytest does not collect it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kith.core.automations import service
from kith.core.automations.worker import Worker
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.core.storage.database import count_statements

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
PROTECTED_SCHEMAS = {"public", "information_schema"}
ADMIN = Actor(name="bench", source="system")

TITLES = ("CEO", "CFO", "CTO", "Founder", "Chief of Staff", "Buyer", "Office Manager", "Head of Sales",
          "Engineer", "Marketing Lead", None)  # fmt: skip
CITIES = ("Berlin", "Munich", "Paris", "London", "New York", "Austin", "Toronto", "Madrid")
COUNTRIES = ("DE", "DE", "FR", "GB", "US", "US", "US", "CA", "ES")
STAGES = ("subscriber", "lead", "lead", "lead", "opportunity", "customer")
UPDATES: dict[str, tuple[str, ...]] = {
    "lifecycle_stage": ("customer", "opportunity", "evangelist", "other"),
    "title": ("Chief Revenue Officer", "Chief of Staff", "VP Sales", "Buyer"),
    "city": CITIES,
}


def note(subject: str, kind: str = "note", **extra: Any) -> dict[str, Any]:
    values = {"kind": kind, "subject": subject, "subjectType": "contact", "subjectId": "{{ record.id }}", **extra}
    return {"create_record": {"entity": "activity", "values": values}}


#: ten rules, as an admin would write them: five create an activity (owner-intro never
#: matches: no contact has an owner), one adds a tag, one removes it, three set fields;
#: nine have conditions (the tenth a narrowed trigger), so most runs end "skipped"
RULES: list[dict[str, Any]] = [
    {"name": "welcome-note", "trigger": {"event": "contact.created"},
     "conditions": {"emails": {"isNull": False}},
     "actions": [note("Welcome {{ record.first_name }}")]},
    {"name": "vip-tag", "trigger": {"event": "contact.created"},
     "conditions": {"title": {"in": ["CEO", "CFO", "CTO", "Founder"]}},
     "actions": [{"add_tag": {"tag": "vip"}}]},
    {"name": "eu-region", "trigger": {"event": "contact.created"},
     "conditions": {"and": [{"country": {"in": ["DE", "FR", "ES"]}}, {"region": {"isNull": True}}]},
     "actions": [{"update_fields": {"values": {"region": "EU"}}}]},
    {"name": "berlin-leads", "trigger": {"event": "contact.created"},
     "conditions": {"and": [{"city": {"eq": "Berlin"}}, {"lifecycleStage": {"eq": "lead"}}]},
     "actions": [{"update_fields": {"values": {"lifecycleStage": "opportunity"}}}]},
    {"name": "owner-intro", "trigger": {"event": "contact.created"},
     "conditions": {"ownerId": {"isNull": False}},
     "actions": [note("Introduce yourself to {{ record.first_name }}", kind="task")]},
    {"name": "onboarding-task", "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "to": "customer"},
     "actions": [note("Onboard {{ record.first_name }}", kind="task", dueAt="{{ in_days(3) }}")]},
    {"name": "qualified", "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "to": "opportunity"},
     "conditions": {"emails": {"isNull": False}},
     "actions": [note("Qualified: {{ record.first_name }} {{ record.last_name }}")]},
    {"name": "churn-watch", "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "from": "customer"},
     "conditions": {"tags": {"contains": "vip"}},
     "actions": [{"remove_tag": {"tag": "vip"}}]},
    {"name": "chief-titles", "trigger": {"event": "contact.updated", "changed": "title"},
     "conditions": {"title": {"startsWith": "chief"}},
     "actions": [note("New chief: {{ record.title }}")]},
    {"name": "moved-city", "trigger": {"event": "contact.updated", "changed": "city"},
     "conditions": {"and": [{"country": {"eq": "US"}}, {"lifecycleStage": {"eq": "customer"}}]},
     "actions": [{"update_fields": {"values": {"postalCode": None}}}]},
]  # fmt: skip


# -- options and target database -------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Events/s through one automation worker with 10 rules, against a bare dequeue loop."
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="sqlite:///new-file.sqlite3 or postgresql://user@host:port/db?schema=NAME (default: a "
        "temporary SQLite file, deleted at the end). The database must be new: a SQLite file that "
        "does not exist, or a PostgreSQL schema that does not exist (created here, dropped at the end).",
    )
    parser.add_argument("--events", type=int, default=5000, help="contact events to process (default 5000)")
    parser.add_argument("--batch", type=int, default=None, help="events claimed per batch (default: worker_batch)")
    parser.add_argument("--keep", action="store_true", help="keep the database (file or schema) afterwards")
    parser.add_argument("--seed", type=int, default=7, help="random seed for the generated events")
    args = parser.parse_args(argv)
    if args.events < 10:
        parser.error("--events must be at least 10")
    return args


def pg_schema(url: str) -> str:
    schema = parse_qs(urlparse(url).query).get("schema", [""])[0]
    if not schema:
        raise SystemExit("PostgreSQL: give a dedicated schema, e.g. ...?schema=kith_bench_worker")
    if not SCHEMA_NAME.match(schema) or schema in PROTECTED_SCHEMAS or schema.startswith("pg_"):
        raise SystemExit(f"PostgreSQL: refusing schema {schema!r}: use a dedicated one like kith_bench_worker")
    return schema


def sqlite_exists(url: str) -> bool:
    return Path(url[len("sqlite:///") :]).exists()


def remove_sqlite(url: str) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{url[len('sqlite:///') :]}{suffix}").unlink(missing_ok=True)


async def pg_admin(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url.split("?", 1)[0])
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


# -- events ----------------------------------------------------------------------------------------


async def write_events(kith: Kith, n: int, seed: int) -> None:
    """n contact events through the record service: 60% created, 40% updated."""
    rng = random.Random(seed)
    created = n * 6 // 10
    ids: list[int] = []
    async with kith.db.write_transaction():
        for i in range(created):
            values: dict[str, Any] = {
                "first_name": f"First{i}",
                "last_name": f"Last{i}",
                "title": rng.choice(TITLES),
                "city": rng.choice(CITIES),
                "country": rng.choice(COUNTRIES),
                "lifecycle_stage": rng.choice(STAGES),
            }
            if rng.random() < 0.8:
                values["emails"] = [f"person{i}@example.com"]
            ids.append((await kith.records.create("contact", values, ADMIN))["id"])
        for _ in range(n - created):
            contact_id = rng.choice(ids)
            change = rng.random()
            key = "lifecycle_stage" if change < 0.5 else "title" if change < 0.75 else "city"
            # a value equal to the current one would change nothing and write no event
            current = (await kith.records.get("contact", contact_id))[key]
            values = {key: rng.choice([v for v in UPDATES[key] if v != current])}
            await kith.records.update("contact", contact_id, values, ADMIN)


async def pending_ids(kith: Kith) -> list[int]:
    return [int(r["id"]) for r in await kith.db.execute("SELECT id FROM kith_outbox WHERE status = 'pending'")]


# -- the two loops ---------------------------------------------------------------------------------


async def floor(kith: Kith, batch: int | None) -> tuple[int, float]:
    """Claim and mark done, with the worker's own statements, nothing else."""
    bare = Worker(kith, name="floor", batch=batch)
    done = 0
    started = time.perf_counter()
    while rows := await bare.claim():
        for row in rows:
            await bare._finish(row, "done", None)
        done += len(rows)
    return done, time.perf_counter() - started


async def reset(kith: Kith, ids: list[int]) -> None:
    """Put the rows the floor took back to pending, as they were."""
    async with kith.db.write_transaction():
        for start in range(0, len(ids), 1000):
            chunk = ids[start : start + 1000]
            await kith.db.execute(
                "UPDATE kith_outbox SET status = 'pending', processed_at = NULL, locked_by = NULL, "
                f"locked_until = NULL, last_error = NULL, claims = 0 WHERE id IN ({', '.join('{}' for _ in chunk)})",
                *chunk,
            )
    if kith.db.dialect.is_postgres:
        await kith.db.run_ddl("VACUUM ANALYZE kith_outbox")  # no dead rows left by the floor for the worker


async def worker(kith: Kith, batch: int | None) -> tuple[int, float, float, int]:
    """One worker, in-process, until nothing is due; returns (rows, seconds, this
    process's CPU seconds, statements).  The CPU figure is steadier than the wall clock
    on a shared machine, where the database's commits wait on a disk others use too."""
    one = Worker(kith, name="bench", batch=batch)
    async with count_statements() as counter:
        started, cpu = time.perf_counter(), time.process_time()
        rows = await one.run_until_idle(max_rounds=10**9)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return rows, seconds, cpu, counter.count


# -- main ------------------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, url: str) -> int:
    settings = load_settings(database_url=url, automation_retry_base_seconds=3600.0)
    kith = await Kith.open(settings)
    try:
        for raw in RULES:
            await service.apply_rule(kith, {**raw, "enabled": True})
        started = time.perf_counter()
        await write_events(kith, args.events, args.seed)
        ids = await pending_ids(kith)
        print(f"wrote {len(ids)} contact events through the record service in {time.perf_counter() - started:.1f}s")
        if len(ids) != args.events:
            print(f"error: expected {args.events} pending events, found {len(ids)}", file=sys.stderr)
            return 1
        if kith.db.dialect.is_postgres:
            await kith.db.run_ddl("VACUUM ANALYZE")

        floor_rows, floor_seconds = await floor(kith, args.batch)
        if floor_rows != len(ids):
            print(f"error: the floor took {floor_rows} rows, expected {len(ids)}", file=sys.stderr)
            return 1
        await reset(kith, ids)

        rows, seconds, cpu, statements = await worker(kith, args.batch)

        # it must have done the work: an empty queue, a run of each rule per matching event, no failure
        statuses = {
            r["status"]: int(r["n"])
            for r in await kith.db.execute("SELECT status, COUNT(*) AS n FROM kith_outbox GROUP BY status")
        }
        runs = {
            r["status"]: int(r["n"])
            for r in await kith.db.execute("SELECT status, COUNT(*) AS n FROM kith_automation_run GROUP BY status")
        }
        by_rule = {
            r["rule"]: int(r["n"])
            for r in await kith.db.execute(
                "SELECT rule, COUNT(*) AS n FROM kith_automation_run WHERE status = 'succeeded' GROUP BY rule"
            )
        }
        caused = rows - len(ids)
        floor_rate = floor_rows / floor_seconds
        row_rate = rows / seconds
        event_rate = len(ids) / seconds
        engine = "postgresql" if kith.db.dialect.is_postgres else "sqlite"
        print(f"engine {engine}, batch {Worker(kith, batch=args.batch).batch}, 10 enabled rules")
        print(f"floor : {floor_rows:>6} rows in {floor_seconds:6.2f}s = {floor_rate:8.0f} rows/s  (claim + mark done)")
        print(
            f"worker: {rows:>6} rows in {seconds:6.2f}s = {row_rate:8.0f} rows/s  "
            f"({len(ids)} contact events + {caused} events the rules caused; {event_rate:.0f} contact events/s)"
        )
        print(f"        worker CPU {cpu:.2f}s in this process = {cpu * 1000 / len(ids):.2f} ms per contact event "
              f"({len(ids) / cpu:.0f} contact events per CPU second)")  # fmt: skip
        print(f"ratio : floor / worker = {floor_rate / row_rate:.1f}x per outbox row, "
              f"{floor_rate / event_rate:.1f}x per contact event")  # fmt: skip
        print(f"        {statements / len(ids):.3f} SQL statements per contact event; "
              f"runs: {', '.join(f'{k} {v}' for k, v in sorted(runs.items()))}")  # fmt: skip
        print(f"        succeeded per rule: {', '.join(f'{k} {v}' for k, v in sorted(by_rule.items()))}")
        print(json.dumps({
            "engine": engine, "events": len(ids), "caused": caused, "floor_rows_per_s": round(floor_rate, 1),
            "worker_rows_per_s": round(row_rate, 1), "worker_events_per_s": round(event_rate, 1),
            "worker_cpu_ms_per_event": round(cpu * 1000 / len(ids), 3),
            "ratio_per_row": round(floor_rate / row_rate, 2), "ratio_per_event": round(floor_rate / event_rate, 2),
            "statements_per_event": round(statements / len(ids), 3), "runs": runs,
        }))  # fmt: skip
        problems = []
        if set(statuses) != {"done"}:
            problems.append(f"outbox not drained: {statuses}")
        if set(runs) - {"succeeded", "skipped"}:
            problems.append(f"runs that did not succeed: {runs}")
        if len(by_rule) < 8:
            problems.append(f"only {len(by_rule)} of the 10 rules did anything: {by_rule}")
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        return 1 if problems else 0
    finally:
        await kith.close()


async def main(args: argparse.Namespace) -> int:
    temporary: Path | None = None
    url = args.database_url
    if url is None:
        temporary = Path(tempfile.mkdtemp(prefix="kith_bench_worker_"))
        url = f"sqlite:///{temporary / 'bench.sqlite3'}"
    scheme = urlparse(url).scheme
    schema = None
    if scheme == "sqlite":
        if sqlite_exists(url):
            raise SystemExit(f"{url}: the file exists; give a new one (the benchmark needs an empty database)")
    elif scheme in ("postgres", "postgresql"):
        schema = pg_schema(url)
        if await pg_admin(url, f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"):
            raise SystemExit(f"schema {schema} exists: drop it or name a new one")
        await pg_admin(url, f'CREATE SCHEMA "{schema}"')
    else:
        raise SystemExit(f"unsupported database URL {url!r}")
    try:
        return await run(args, url)
    finally:
        if args.keep:
            print(f"kept {url}")
        elif schema is not None:
            await pg_admin(url, f'DROP SCHEMA "{schema}" CASCADE')
        elif temporary is not None:
            shutil.rmtree(temporary, ignore_errors=True)
        elif scheme == "sqlite":
            remove_sqlite(url)


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
