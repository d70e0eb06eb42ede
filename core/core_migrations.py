"""The core's schema steps."""

from __future__ import annotations

from kith.core.models import ENTITY_TABLES, SYSTEM_TABLES
from kith.core.plugins.manifest import Migration
from kith.core.storage.database import Database


async def _initial(db: Database) -> None:
    await db.create_tables([*SYSTEM_TABLES, *ENTITY_TABLES])
    # Timeline reads are "newest first for one record": index exactly that.
    await db.run_ddl(
        'CREATE INDEX IF NOT EXISTS "activity_subject_timeline" ON "activity" (subject_type, subject_id, occurred_at)'
    )


CORE_MIGRATIONS = [Migration("0001_initial", _initial, "core entities and system tables")]
