"""Small counters shared by every worker (round-robin turns)."""

from __future__ import annotations

from piccolo.querystring import QueryString

from kith.core.storage.database import Database


async def next_counter(db: Database, name: str) -> int:
    """Increment and return a named counter atomically (both engines)."""
    key = f"counter:{name}"[:100]
    row = await db.fetch_one(
        QueryString(
            "INSERT INTO kith_meta (key, value) VALUES ({}, '1') "
            "ON CONFLICT (key) DO UPDATE SET value = CAST(CAST(kith_meta.value AS INTEGER) + 1 AS TEXT) "
            "RETURNING value",
            key,
        )
    )
    assert row is not None
    return int(row["value"])
