"""Fresh databases for tests: a SQLite file, or a PostgreSQL database of its own.

PostgreSQL tests run when ``KITH_TEST_DATABASE_URL`` is set.  Each test gets a new
database on that server (dropped afterwards), so tests never see each other's rows, can
run against a shared server, and can start from a copy of a migrated template
(``templates``).  A role that may not create databases gets a schema of its own in the
configured database instead.
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kith.sdk.testing.templates import DROPPER, TEMPLATES, admin, new_test_database_name, with_database

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
def fresh_database_url(engine: str, directory: Path, *, migrated: bool = False) -> Iterator[str]:
    """A URL of an empty database on ``engine``; dropped afterwards.  ``migrated``: on
    PostgreSQL, a copy of the core's migrated template instead, when it can be (the
    test's ``make_kith`` then has nothing to migrate but its plugins)."""
    if engine == "sqlite":
        yield f"sqlite:///{directory / 'kith-test.sqlite3'}"
        return
    base = postgres_url()
    if base is None:
        raise RuntimeError(f"{ENV_VAR} is not set")
    if can_create_databases():
        name = new_test_database_name()
        url = with_database(base, name)
        if migrated and os.environ.get("KITH_TEST_TEMPLATES", "1") != "0":
            asyncio.run(TEMPLATES.create_from_core(url))
        else:
            asyncio.run(admin(base, f'CREATE DATABASE "{name}" TEMPLATE template0'))
        try:
            yield url
        finally:
            TEMPLATES.cloned.pop(url, None)
            DROPPER.drop(base, name)
        return
    schema = "kith_t_" + uuid.uuid4().hex[:16]
    asyncio.run(_admin(base, f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{base}{'&' if '?' in base else '?'}schema={schema}"
    finally:
        asyncio.run(_admin(base, f'DROP SCHEMA "{schema}" CASCADE'))


@functools.cache
def can_create_databases() -> bool:
    """Whether the configured role may create databases (each test then gets one)."""
    base = postgres_url()
    if base is None or "schema=" in base:
        return False  # a URL naming a schema asks for schemas
    return bool(asyncio.run(admin(base, "SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user")))
