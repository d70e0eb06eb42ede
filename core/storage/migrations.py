"""Apply the schema steps of the core and of each enabled plugin, once per database.

Each app (``core`` or a plugin name) owns an ordered list of ``Migration`` steps;
the names applied are recorded in ``kith_migration``.  A step runs in a transaction
with its record, so a failed step leaves nothing half-applied (DDL is transactional
on both PostgreSQL and SQLite).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from piccolo.querystring import QueryString

from kith.core.models import AppliedMigration
from kith.core.plugins.manifest import Migration
from kith.core.storage.database import Database


async def ensure_migration_table(db: Database) -> None:
    await db.create_tables([AppliedMigration])


async def applied(db: Database, app: str) -> list[str]:
    rows = await db.fetch(QueryString("SELECT name FROM kith_migration WHERE app = {} ORDER BY id", app))
    return [row["name"] for row in rows]


async def migrate(db: Database, app: str, steps: Sequence[Migration]) -> list[str]:
    """Run the steps of ``app`` not yet applied; returns their names."""
    await ensure_migration_table(db)
    done = set(await applied(db, app))
    ran: list[str] = []
    for step in steps:
        if step.name in done:
            continue
        async with db.transaction():
            await step.forwards(db)
            await db.fetch(
                QueryString(
                    "INSERT INTO kith_migration (app, name, applied_at) VALUES ({}, {}, {})",
                    app,
                    step.name,
                    dt.datetime.now(dt.UTC),
                )
            )
        ran.append(step.name)
    return ran


async def forget(db: Database, app: str) -> None:
    """Drop the record of an app's migrations (after its tables were purged)."""
    await db.fetch(QueryString("DELETE FROM kith_migration WHERE app = {}", app))
