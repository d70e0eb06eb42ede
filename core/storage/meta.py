"""Small key/value facts every process must agree on (the schema and auth versions)."""

from __future__ import annotations

from piccolo.querystring import QueryString

from kith.core.storage.database import Database

SCHEMA_VERSION = "schema_version"
#: bumped with every change to users, passwords, API keys, roles or role grants, so every
#: process can drop the credentials it has cached (``kith.core.security.cache``)
AUTH_VERSION = "auth_version"
#: the user entity's table: a change to one of its rows (active, deleted, team) changes
#: who a cached credential is, so writers of it bump ``AUTH_VERSION`` too
USER_TABLE = "kith_user"


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


async def get_versions(db: Database) -> tuple[int, int]:
    """The schema version and the auth version, read in one statement (0 when unset)."""
    rows = await db.fetch(
        QueryString("SELECT key, value FROM kith_meta WHERE key IN ({}, {})", SCHEMA_VERSION, AUTH_VERSION)
    )
    values = {row["key"]: int(row["value"]) for row in rows if row["value"] is not None}
    return values.get(SCHEMA_VERSION, 0), values.get(AUTH_VERSION, 0)


async def bump_auth_version(db: Database) -> None:
    """Mark users, credentials or roles as changed; called in the transaction of the change,
    so the change and the new version become visible together.  One statement, atomic on
    both engines, so concurrent changes each count."""
    await db.fetch(
        QueryString(
            "INSERT INTO kith_meta (key, value) VALUES ({}, '1') ON CONFLICT (key) "
            "DO UPDATE SET value = CAST(CAST(kith_meta.value AS BIGINT) + 1 AS TEXT)",
            AUTH_VERSION,
        )
    )


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
