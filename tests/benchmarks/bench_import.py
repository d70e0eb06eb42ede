"""Benchmark: importing contacts from CSV, against COPY of the same rows, killed half-way and resumed.

What a user runs: ``kith import contact people.csv`` in a process of its own, on a
migrated database, importing N contacts (default 1,000,000) with everything an import
does: each row validated and normalised by the contact's own rules (e-mail syntax and
case, E.164 phones, choices), checked against existing contacts by e-mail (a duplicate
is skipped and reported), written with an audit row and an outbox event, and a result
per line kept for the report.  The process is killed with SIGKILL once about
``--kill-at`` of the rows are in, then the same command is run again and resumes.

The floor, in the same run on the same database: the same rows (already normalised, as
the import stores them) copied into a table shaped like ``contact`` with PostgreSQL's
``COPY`` (asyncpg ``copy_records_to_table``) or, on SQLite, one ``executemany`` INSERT
in one transaction.  No validation, audit, events or duplicate check: the fastest way
the rows can get into the database at all.

Printed: rows, the floor's rows/s, the import's rows/s (all wall time of both
processes, the killed one included), their ratio, where the kill landed, and the
checks: exactly N contacts, no e-mail twice, every line reported once.  Exits 1 if a
check fails.

    .venv/bin/python tests/benchmarks/bench_import.py --rows 100000                 # SQLite
    .venv/bin/python tests/benchmarks/bench_import.py \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_import'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_db import fresh_database  # noqa: E402

from kith.core.runtime import Kith  # noqa: E402
from kith.core.settings import load_settings  # noqa: E402

FIRST = ["Ann", "Bob", "Cora", "Dev", "Eli", "Fay", "Gus", "Hana", "Ivo", "Jana", "Kai", "Lena", "Mo", "Nia", "Olle"]
LAST = ["Lee", "Brown", "Diaz", "Evans", "Fox", "Gray", "Hill", "Ito", "Jones", "King", "Lind", "Moss", "Nagy"]
CITIES = ["London", "Leeds", "Berlin", "Lyon", "Oslo", "Porto", "Riga", "Turin"]
STAGES = ["lead", "lead", "subscriber", "opportunity", "customer"]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", help="default: a temporary SQLite file; PostgreSQL: ...?schema=NAME")
    parser.add_argument("--kill-at", type=float, default=0.5, help="share of the rows in when the import is killed")
    parser.add_argument("--chunk", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args()


def make_file(path: Path, rows: int, seed: int) -> list[tuple[Any, ...]]:
    """The CSV, and its rows as the import stores them (for the floor)."""
    rng = random.Random(seed)
    stored = []
    with path.open("w", newline="") as handle:
        out = csv.writer(handle)
        out.writerow(["First name", "Last name", "Email", "Phone", "City", "Lifecycle stage"])
        for n in range(rows):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            email = f"{first}.{last}.{n}@Example-{n % 211}.com"
            phone = f"+44 20 7{n % 1000:03d} {n // 1000 % 10000:04d}"
            city, stage = rng.choice(CITIES), rng.choice(STAGES)
            out.writerow([first, last, email, phone, city, stage])
            stored.append((first, last, json.dumps([email.lower()]), json.dumps([phone.replace(" ", "")]), city, stage))
    return stored


async def open_kith(url: str) -> Kith:
    return await Kith.open(load_settings(database_url=url))


async def floor(kith: Kith, rows: list[tuple[Any, ...]]) -> float:
    """Seconds to put ``rows`` into a contact-shaped table the fastest way the engine has."""
    columns = ["first_name", "last_name", "emails", "phones", "city", "lifecycle_stage"]
    await kith.db.run_ddl("CREATE TABLE floor_contact AS SELECT * FROM contact WHERE 1 = 0")
    started = time.perf_counter()
    if kith.db.dialect.is_postgres:
        conn = await kith.db.engine.get_new_connection()
        try:
            await conn.copy_records_to_table("floor_contact", records=rows, columns=columns)
        finally:
            await conn.close()
    else:
        import sqlite3

        path = kith.settings.database_url[len("sqlite:///") :]
        conn = sqlite3.connect(path)
        with conn:
            conn.executemany(f"INSERT INTO floor_contact ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?)", rows)
        conn.close()
    return time.perf_counter() - started


async def import_killed_and_resumed(url: str, path: Path, rows: int, kill_at: float, chunk: int) -> dict[str, Any]:
    env = {**os.environ, "KITH_DATABASE_URL": url, "KITH_MODE": "production"}
    command = [sys.executable, "-m", "kith.cli", "import", "contact", str(path), "--chunk", str(chunk)]
    kith = await open_kith(url)
    started = time.perf_counter()
    first = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    killed_at = None
    while first.returncode is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(first.wait(), 0.2)
        done = await kith.db.execute("SELECT COALESCE(MAX(next_line), 2) - 2 AS n FROM kith_import_run")
        if first.returncode is None and done and int(done[0]["n"]) >= rows * kill_at:
            first.send_signal(signal.SIGKILL)
            await first.wait()
            killed_at = int(done[0]["n"])
    second = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    said, _ = await second.communicate()
    elapsed = time.perf_counter() - started
    checks = {
        "contacts": int((await kith.db.execute("SELECT COUNT(*) AS n FROM contact"))[0]["n"]),
        "lines reported": int((await kith.db.execute("SELECT COUNT(*) AS n FROM kith_import_result"))[0]["n"]),
        "distinct lines": int((await kith.db.execute("SELECT COUNT(DISTINCT line) AS n FROM kith_import_result"))[0]["n"]),
        "audit rows": int((await kith.db.execute("SELECT COUNT(*) AS n FROM kith_audit WHERE entity = 'contact'"))[0]["n"]),
        "outbox events": int((await kith.db.execute("SELECT COUNT(*) AS n FROM kith_outbox WHERE event = 'contact.created'"))[0]["n"]),
    }  # fmt: skip
    await kith.close()
    return {"elapsed": elapsed, "killed_at": killed_at, "output": said.decode().strip().splitlines()[:3],
            "exit": second.returncode, "checks": checks}  # fmt: skip


async def main() -> int:
    args = parse_args()
    async with fresh_database(args.database_url) as url:
        with tempfile.TemporaryDirectory(prefix="kith_bench_import_") as folder:
            path = Path(folder) / "people.csv"
            print(f"writing {args.rows:,} rows to {path} ...", flush=True)
            stored = make_file(path, args.rows, args.seed)
            kith = await open_kith(url)  # opening migrates
            engine = "PostgreSQL" if kith.db.dialect.is_postgres else "SQLite"
            floor_seconds = await floor(kith, stored)
            await kith.close()
            del stored
            print(f"{engine}: floor ({'COPY' if engine == 'PostgreSQL' else 'executemany'}) "
                  f"{args.rows / floor_seconds:,.0f} rows/s ({floor_seconds:.1f} s)", flush=True)  # fmt: skip
            result = await import_killed_and_resumed(url, path, args.rows, args.kill_at, args.chunk)
    rate = args.rows / result["elapsed"]
    print(f"kith import: {rate:,.0f} rows/s ({result['elapsed']:.1f} s, both processes), "
          f"{rate / (args.rows / floor_seconds):.3f} of the floor's rate ({args.rows / floor_seconds / rate:.0f}x slower)")  # fmt: skip
    print(f"killed with SIGKILL at {result['killed_at']:,} rows in; the second run said: {result['output'][:1]}")
    checks = result["checks"]
    print("checks: " + ", ".join(f"{k} {v:,}" for k, v in checks.items()))
    good = result["exit"] == 0 and all(value == args.rows for value in checks.values())
    print("OK: every row once" if good else "FAILED: see the checks above")
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
