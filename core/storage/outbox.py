"""The outbox: events committed with their change, and the work queued after them.

Anything that writes an event (the record service, a plugin's domain event, the
automation engine's retries and waits) goes through ``enqueue``, in the caller's
transaction, so an event exists exactly when its change does.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from piccolo.querystring import QueryString

from kith.core.storage.database import Database
from kith.core.storage.json_text import dumps

#: how many automation steps led to the code running now (0 outside automations)
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("kith_automation_depth", default=0)


def current_depth() -> int:
    return _depth.get()


@contextmanager
def automation_depth(depth: int) -> Iterator[None]:
    """Events written inside carry ``depth`` (+1 when written by an automation actor)."""
    token = _depth.set(depth)
    try:
        yield
    finally:
        _depth.reset(token)


async def enqueue(
    db: Database,
    event: str,
    *,
    entity: str = "",
    record_id: int | None = None,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
    available_at: dt.datetime | None = None,
    depth: int | None = None,
    attempts: int = 0,
) -> bool:
    """Queue one event; with ``key``, a second enqueue of the same key is a no-op.

    Returns whether a row was added.
    """
    now = dt.datetime.now(dt.UTC)
    rows = await db.fetch(
        QueryString(
            "INSERT INTO kith_outbox (event, entity, record_id, payload, idempotency_key, created_at, "
            "available_at, attempts, status, depth) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, 'pending', {}) "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id",
            event,
            entity,
            record_id,
            dumps(payload or {}),
            key or uuid.uuid4().hex,
            now,
            available_at or now,
            attempts,
            current_depth() if depth is None else depth,
        )
    )
    return bool(rows)


#: columns of a queued row, with their SQL types (for ``enqueue_many``)
QUEUE_COLUMNS = (
    ("event", "VARCHAR"),
    ("entity", "VARCHAR"),
    ("record_id", "BIGINT"),
    ("payload", "JSON"),
    ("idempotency_key", "VARCHAR"),
    ("created_at", "TIMESTAMPTZ"),
    ("available_at", "TIMESTAMPTZ"),
    ("attempts", "INTEGER"),
    ("status", "VARCHAR"),
    ("depth", "INTEGER"),
)


async def enqueue_many(db: Database, items: list[dict[str, Any]]) -> int:
    """Queue several events with one statement; each item takes ``enqueue``'s keyword
    arguments (``event`` included).  A key already queued is skipped, as with
    ``enqueue``.  Returns how many rows were added."""
    if not items:
        return 0
    now = dt.datetime.now(dt.UTC)
    rows = [
        (
            item["event"],
            item.get("entity") or "",
            item.get("record_id"),
            dumps(item.get("payload") or {}),
            item.get("key") or uuid.uuid4().hex,
            now,
            item.get("available_at") or now,
            int(item.get("attempts") or 0),
            "pending",
            current_depth() if item.get("depth") is None else int(item["depth"]),
        )
        for item in items
    ]
    added = await db.insert_rows(
        "kith_outbox", QUEUE_COLUMNS, rows, " ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
    )
    return len(added)
