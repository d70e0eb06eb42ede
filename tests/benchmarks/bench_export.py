"""Benchmark: exporting every contact over HTTP (``GET /export/contact``) as CSV, JSON Lines
and XLSX, against a hand-written floor server, measuring rows/s and the server's peak memory.

Data: bench_contacts_list.py's loader (N contacts, N/10 organizations, three custom
fields; raw multi-row INSERTs), then a user with the ``manager`` role (every contact,
through the permission model) and a real API key made by Kith.

Each export runs against a server process of its own, started for it, so its peak
resident memory (``VmHWM`` in ``/proc/<pid>/status``: what ``getrusage(...).ru_maxrss``
reports for a process) belongs to that one export:

- ``kith``: ``python -m kith.cli serve`` in production mode (``KITH_MODE=production``,
  no other ``KITH_*`` setting), uvicorn as ``kith serve`` runs it, the embedded worker on;
- ``floor``: this file with ``--serve-floor``: a hand-written ASGI app under the same
  ``uvicorn.run`` call, checking the key by a dict lookup, running **one** plain
  ``SELECT`` (the same columns, custom fields extracted in SQL, ``ORDER BY id``) through a
  server-side cursor (asyncpg in a transaction; aiosqlite's cursor), 500 rows at a time,
  written with ``csv.writer`` (CSV), ``orjson`` (JSON Lines) or openpyxl's write-only
  workbook (XLSX, in a temporary file, then streamed), one chunk per 500 rows.

Both are pinned to one CPU (``taskset``), the client (httpx, streaming the body to a
counter; the XLSX to a temporary file, whose rows are counted) to the other.  Every export
must hold N records.  Printed per format and server: seconds, rows/s, idle and peak RSS;
then Kith / floor for both.  The goal: Kith's export process under 200 MB at a million.

    .venv/bin/python tests/benchmarks/bench_export.py                       # SQLite, 1,000,000 contacts
    .venv/bin/python tests/benchmarks/bench_export.py --contacts 20000 --formats csv
    .venv/bin/python tests/benchmarks/bench_export.py \\
        --database-url 'postgresql://postgres@127.0.0.1:5432/test?schema=kith_bench_export'
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import os
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

SELF = Path(__file__).resolve()
HERE = SELF.parent
sys.path.insert(0, str(HERE))

#: the floor's columns, in the order of Kith's export of ``contact`` (checked at start)
FIELDS = [
    "first_name", "last_name", "emails", "phones", "title", "organization", "owner", "lifecycle_stage", "street",
    "city", "region", "postal_code", "country", "tags",
]  # fmt: skip
CUSTOM = ("tier", "score", "segment")
HEADER = [
    "id", "firstName", "lastName", "emails", "phones", "title", "organizationId", "ownerId", "lifecycleStage", "street", "city",
    "region", "postalCode", "country", "tags", *(f"customFields.{n}" for n in CUSTOM), "createdAt", "updatedAt",
]  # fmt: skip
FORMATS = ("csv", "jsonl", "xlsx")
BATCH = 500


# -- the floor server ----------------------------------------------------------------------


def floor_sql(postgres: bool) -> str:
    if postgres:
        custom = [f"c.custom->>'{name}'" for name in CUSTOM]
    else:
        custom = [f"json_extract(c.custom, '$.{name}')" for name in CUSTOM]
    columns = ", ".join(["c.id", *(f"c.{f}" for f in FIELDS), *custom, "c.created_at", "c.updated_at"])
    return f'SELECT {columns} FROM "contact" c WHERE c.deleted_at IS NULL ORDER BY c.id'


class Floor:
    """The least work that streams the contacts: one SELECT, a cursor, a writer per format."""

    def __init__(self, url: str, keys: set[str]) -> None:
        self.url, self.keys = url, keys
        self.postgres = urlparse(url).scheme.startswith("postgres")
        self.pool: Any = None

    async def start(self) -> None:
        if self.postgres:
            import asyncpg

            schema = parse_qs(urlparse(self.url).query).get("schema", ["public"])[0]
            self.pool = await asyncpg.create_pool(
                self.url.split("?", 1)[0], min_size=1, max_size=4, server_settings={"search_path": schema}
            )

    async def batches(self) -> Any:
        sql = floor_sql(self.postgres)
        if self.postgres:
            async with self.pool.acquire() as conn, conn.transaction():
                cursor = await conn.cursor(sql)
                while rows := await cursor.fetch(BATCH):
                    yield [tuple(row) for row in rows]
            return
        import aiosqlite

        async with aiosqlite.connect(urlparse(self.url).path) as db, db.execute(sql) as cursor:
            while rows := await cursor.fetchmany(BATCH):
                yield rows

    async def body(self, fmt: str) -> Any:
        if fmt == "csv":
            buffer = io.StringIO()
            writer = csv.writer(buffer)
            writer.writerow(HEADER)
            async for rows in self.batches():
                writer.writerows(rows)
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
        elif fmt == "jsonl":
            import orjson

            async for rows in self.batches():
                yield b"".join(
                    orjson.dumps(dict(zip(HEADER, row, strict=True)), default=str, option=orjson.OPT_APPEND_NEWLINE)
                    for row in rows
                )
        else:
            from openpyxl import Workbook

            book = Workbook(write_only=True)
            sheet = book.create_sheet("contact")
            sheet.append(HEADER)
            async for rows in self.batches():
                for row in rows:
                    sheet.append([_naive(v) for v in row])
            with tempfile.TemporaryFile() as file:
                book.save(file)
                file.seek(0)
                while chunk := file.read(1 << 16):
                    yield chunk

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self.start()
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["path"] == "/health":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b'{"status":"ok"}'})
            return
        key = dict(scope["headers"]).get(b"authorization", b"").removeprefix(b"Bearer ").decode()
        if key not in self.keys:
            await send({"type": "http.response.start", "status": 401, "headers": []})
            await send({"type": "http.response.body", "body": b"unauthenticated"})
            return
        fmt = parse_qs(scope["query_string"].decode()).get("format", ["csv"])[0]
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
        async for chunk in self.body(fmt):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


def _naive(value: Any) -> Any:
    if hasattr(value, "tzinfo") and value.tzinfo is not None:
        return value.replace(tzinfo=None)
    return value


def serve_floor(host: str, port: int) -> None:
    import uvicorn

    keys = set(json.loads(Path(os.environ["FLOOR_KEYS_FILE"]).read_text()))
    uvicorn.run(Floor(os.environ["FLOOR_DATABASE_URL"], keys), host=host, port=port, log_level="warning")


# -- the benchmark -------------------------------------------------------------------------


def memory_mb(pid: int, field: str) -> float:
    """``VmHWM`` (peak resident set) or ``VmRSS`` of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no {field} for process {pid}")


def xlsx_rows(path: Path) -> int:
    """Data rows of every sheet of a workbook (rows minus one header per sheet), counted in
    the decompressed sheet XML without parsing it."""
    rows = 0
    with zipfile.ZipFile(path) as book:
        for name in book.namelist():
            if name.startswith("xl/worksheets/sheet"):
                with book.open(name) as sheet:
                    tail = b""
                    while chunk := sheet.read(1 << 20):
                        rows += (tail + chunk).count(b"<row ")
                        tail = chunk[-4:]
                rows -= 1
    return rows


def export(server: Any, key: str, fmt: str) -> tuple[float, int, int]:
    """(seconds, records, bytes) of one export through the server."""
    started = time.perf_counter()
    size = lines = 0
    with tempfile.NamedTemporaryFile(suffix=".xlsx") as file, httpx.Client(timeout=None) as client:
        url = f"{server.url}/export/contact"
        with client.stream("GET", url, params={"format": fmt}, headers={"Authorization": f"Bearer {key}"}) as answer:
            if answer.status_code != 200:
                raise SystemExit(f"{server.name} answered {answer.status_code}: {answer.read()[:500]!r}")
            for chunk in answer.iter_bytes(1 << 16):
                size += len(chunk)
                if fmt == "xlsx":
                    file.write(chunk)
                else:
                    lines += chunk.count(b"\n")
        took = time.perf_counter() - started
        if fmt == "xlsx":
            file.flush()
            records = xlsx_rows(Path(file.name))
        else:
            records = lines - (fmt == "csv")
    return took, records, size


def measure(
    args: argparse.Namespace,
    commands: dict[str, tuple[list[str], dict[str, str]]],
    workdir: Path,
    server_cpu: int | None,
    key: str,
    results: dict[str, dict[str, dict[str, float]]],
) -> bool:
    """Each format through each server, a fresh server process each time; False if an
    export did not hold every contact."""
    from bench_http import Server

    for fmt in args.formats:
        for name, (argv, env) in commands.items():
            server = Server(f"{name}-{fmt}", argv, env, workdir, server_cpu)
            try:
                server.wait_until_up()
                idle = memory_mb(server.pid, "VmRSS")
                took, records, size = export(server, key, fmt)
                peak = memory_mb(server.pid, "VmHWM")
            finally:
                server.stop()
            if records != args.contacts:
                print(f"error: {name} exported {records:,} {fmt} records, not {args.contacts:,}")
                return False
            results.setdefault(fmt, {})[name] = {
                "seconds": took, "rows_s": records / took, "idle_mb": idle, "peak_mb": peak, "mb": size / 1e6,
            }  # fmt: skip
            print(f"  {fmt:<5} {name:<5} {took:7.1f} s {records / took:9,.0f} rows/s  "
                  f"RSS idle {idle:5.0f} MB, peak {peak:5.0f} MB  ({size / 1e6:,.0f} MB sent)", flush=True)  # fmt: skip
    return True


async def prepare(args: argparse.Namespace, url: str) -> str:
    """The contacts (unless reused) and a manager's API key; checks the floor's columns."""
    from bench_contacts_list import load
    from bench_http import ADMIN, ensure_custom_fields

    from kith.core.records.export import Export
    from kith.core.runtime import Kith
    from kith.core.settings import load_settings

    kith = await Kith.open(load_settings(database_url=url))
    try:
        if not args.reuse:
            await ensure_custom_fields(kith)
            started = time.perf_counter()
            print(f"loading {args.contacts:,} contacts, {args.contacts // 10:,} organizations ...", flush=True)
            await load(kith, args.contacts, args.contacts // 10, 7)
            print(f"loaded in {time.perf_counter() - started:.0f} s", flush=True)
        columns = Export(kith, kith.entity("contact"), None, None).columns
        if columns != HEADER:
            raise SystemExit(f"Kith exports the columns {columns}; the floor writes {HEADER}: update FIELDS")
        user = await kith.records.create(
            "user", {"name": "Bench", "email": f"bench-{time.time_ns()}@example.com"}, ADMIN
        )
        await kith.auth.grant_role(int(user["id"]), "manager")
        key, _ = await kith.auth.create_key(int(user["id"]), "bench-export")
        return key
    finally:
        await kith.close()


async def main(args: argparse.Namespace) -> int:
    from bench_db import fresh_database
    from bench_http import clean_env, cpus

    database = (
        contextlib.nullcontext(args.database_url) if args.reuse else fresh_database(args.database_url, keep=args.keep)
    )
    async with database as url:
        key = await prepare(args, url)
        workdir = Path(tempfile.mkdtemp(prefix="kith_bench_export_"))
        (workdir / "keys.json").write_text(json.dumps([key]))
        server_cpu, client_cpu = cpus()
        if client_cpu is not None:
            os.sched_setaffinity(0, {client_cpu})
        commands = {
            "kith": ([sys.executable, "-m", "kith.cli", "serve"], clean_env(KITH_DATABASE_URL=url, KITH_MODE="production")),
            "floor": ([sys.executable, str(SELF), "--serve-floor"],
                      clean_env(FLOOR_DATABASE_URL=url, FLOOR_KEYS_FILE=str(workdir / "keys.json"))),
        }  # fmt: skip
        results: dict[str, dict[str, dict[str, float]]] = {}
        if not measure(args, commands, workdir, server_cpu, key, results):
            print(f"the servers' logs are in {workdir}")
            return 1
        shutil.rmtree(workdir)  # the keys file and the servers' logs (kept when something failed)
        engine = "PostgreSQL" if urlparse(url).scheme.startswith("postgres") else "SQLite"
        print(f"\n{engine}, {args.contacts:,} contacts, GET /export/contact as a manager (API key):")
        print(f"{'format':<7}{'Kith rows/s':>12}{'floor rows/s':>13}{'floor/Kith':>11}"
              f"{'Kith peak MB':>13}{'floor peak MB':>14}{'Kith/floor':>11}")  # fmt: skip
        for fmt, pair in results.items():
            kith, floor = pair["kith"], pair["floor"]
            print(f"{fmt:<7}{kith['rows_s']:>12,.0f}{floor['rows_s']:>13,.0f}{floor['rows_s'] / kith['rows_s']:>11.2f}"
                  f"{kith['peak_mb']:>13.0f}{floor['peak_mb']:>14.0f}{kith['peak_mb'] / floor['peak_mb']:>11.2f}")  # fmt: skip
        worst = max(pair["kith"]["peak_mb"] for pair in results.values())
        print(f"Kith's peak RSS {worst:.0f} MB (goal: under 200 MB)")
        print(json.dumps({"engine": engine, "contacts": args.contacts, "results": results}))
        return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--database-url", help="sqlite:///new-file or postgresql://...?schema=NEW (default: temp SQLite)"
    )
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--formats", default=",".join(FORMATS), help="comma-separated, of csv,jsonl,xlsx")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--reuse", action="store_true", help="measure the data an earlier --keep run left")
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=8000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.formats = [f for f in args.formats.split(",") if f]
    if unknown := set(args.formats) - set(FORMATS):
        parser.error(f"unknown formats: {', '.join(sorted(unknown))}")
    return args


if __name__ == "__main__":
    arguments = parse_args()
    if arguments.serve_floor:
        serve_floor(arguments.host, arguments.port)
    else:
        sys.exit(asyncio.run(main(arguments)))
