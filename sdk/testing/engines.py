"""Fresh databases for tests: a SQLite file, or a PostgreSQL schema of its own.

PostgreSQL tests run when ``KITH_TEST_DATABASE_URL`` is set.  Each test gets a new
schema in that database (cheap to create and drop), so tests never see each other's
rows and can run against a shared server.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_VAR = "KITH_TEST_DATABASE_URL"


def postgres_url() -> str | None:
    return os.environ.get(ENV_VAR) or None


def engines() -> list[str]:
    """The engines storage tests run on here: SQLite always, PostgreSQL when configured."""
    return ["sqlite", "postgres"] if postgres_url() else ["sqlite"]


async def _admin(url: str, sql: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(url, timeout=10)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


def check_postgres() -> str | None:
    """None if the configured PostgreSQL answers, else why not."""
    url = postgres_url()
    if url is None:
        return None
    try:
        asyncio.run(_admin(url, "SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


@contextmanager
def fresh_database_url(engine: str, directory: Path) -> Iterator[str]:
    """A URL of an empty database on ``engine``; dropped afterwards."""
    if engine == "sqlite":
        yield f"sqlite:///{directory / 'kith-test.sqlite3'}"
        return
    base = postgres_url()
    if base is None:
        raise RuntimeError(f"{ENV_VAR} is not set")
    schema = "kith_t_" + uuid.uuid4().hex[:16]
    asyncio.run(_admin(base, f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    finally:
        asyncio.run(_admin(base, f'DROP SCHEMA "{schema}" CASCADE'))
