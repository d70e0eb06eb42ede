"""Small key/value facts every process must agree on (the schema version)."""

from __future__ import annotations

from piccolo.querystring import QueryString

from kith.core.storage.database import Database

SCHEMA_VERSION = "schema_version"


async def get_schema_version(db: Database) -> int:
    value = await db.fetch_value(QueryString("SELECT value FROM kith_meta WHERE key = {}", SCHEMA_VERSION))
    return int(value) if value is not None else 0


async def bump_schema_version(db: Database) -> int:
    """Mark the public schema as changed, so every process rebuilds it.

    Called inside the transaction that changes a definition: the change and the new
    version become visible together.
    """
    current = await get_schema_version(db)
    new = current + 1
    if current == 0:
        await db.fetch(QueryString("INSERT INTO kith_meta (key, value) VALUES ({}, {})", SCHEMA_VERSION, str(new)))
    else:
        await db.fetch(QueryString("UPDATE kith_meta SET value = {} WHERE key = {}", str(new), SCHEMA_VERSION))
    return new


async def get_meta(db: Database, key: str) -> str | None:
    value = await db.fetch_value(QueryString("SELECT value FROM kith_meta WHERE key = {}", key))
    return None if value is None else str(value)


async def set_meta(db: Database, key: str, value: str) -> None:
    await db.fetch(
        QueryString(
            "INSERT INTO kith_meta (key, value) VALUES ({}, {}) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )
    )
