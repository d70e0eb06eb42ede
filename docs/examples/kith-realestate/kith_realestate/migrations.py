"""The plugin's schema steps.  Never edit a step that has shipped; add one."""

from __future__ import annotations

from typing import Any

from kith.sdk import Migration, initial_migration

from kith_realestate.models import TABLES

INDEXES = (
    # one match per listing and buyer: two workers matching the same listing at once
    # cannot both tell an agent (the second's insert fails, its retry finds the match)
    'CREATE UNIQUE INDEX IF NOT EXISTS "realestate_listing_match_pair" '
    'ON "realestate_listing_match" ("listing", "contact")',
    'CREATE INDEX IF NOT EXISTS "realestate_listing_status" ON "realestate_listing" ("status")',
    'CREATE INDEX IF NOT EXISTS "realestate_property_city" ON "realestate_property" ("city")',
)


async def _indexes(db: Any) -> None:
    for statement in INDEXES:
        await db.run_ddl(statement)


MIGRATIONS = [
    initial_migration(*TABLES),
    Migration("0002_indexes", _indexes, "unique listing matches; listings by status, properties by city"),
]
