"""A throwaway database for a benchmark: a temporary SQLite file, or a PostgreSQL schema
named in the URL (``...?schema=kith_bench_x``), created empty and dropped afterwards.
Shared by the benchmarks written after it (older ones still carry their own copy)."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


async def pg_admin(url: str, sql: str) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url.split("?", 1)[0])
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


def _exists(sqlite_url: str) -> bool:
    return Path(sqlite_url[len("sqlite:///") :]).exists()


@asynccontextmanager
async def fresh_database(url: str | None, *, keep: bool = False) -> AsyncIterator[str]:
    """The URL of an empty database (a temporary SQLite file when ``url`` is None)."""
    if url is None:
        folder = Path(tempfile.mkdtemp(prefix="kith_bench_"))
        try:
            yield f"sqlite:///{folder / 'bench.sqlite3'}"
        finally:
            if not keep:
                shutil.rmtree(folder, ignore_errors=True)
        return
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        if _exists(url):
            raise SystemExit(f"{url}: the file exists; give a new one (the benchmark needs an empty database)")
        yield url
        return
    if scheme not in ("postgres", "postgresql"):
        raise SystemExit(f"unsupported database URL {url!r}")
    schema = parse_qs(urlparse(url).query).get("schema", [""])[0]
    if not SCHEMA_NAME.match(schema) or schema == "public" or schema.startswith("pg_"):
        raise SystemExit("PostgreSQL: give a dedicated schema, e.g. ...?schema=kith_bench_service")
    if await pg_admin(url, f"SELECT 1 FROM pg_namespace WHERE nspname = '{schema}'"):
        raise SystemExit(f"schema {schema} exists: drop it or name a new one")
    await pg_admin(url, f'CREATE SCHEMA "{schema}"')
    try:
        yield url
    finally:
        if not keep:
            await pg_admin(url, f'DROP SCHEMA "{schema}" CASCADE')
