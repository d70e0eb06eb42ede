"""The sales plugin's schema steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.plugins.sales.models import LEAD_TABLES, TABLES
from kith.sdk import Migration, initial_migration

DEFAULT_STAGES = (
    ("Qualification", 10, "open"),
    ("Proposal", 40, "open"),
    ("Negotiation", 70, "open"),
    ("Won", 100, "won"),
    ("Lost", 0, "lost"),
)


async def _default_pipeline(db: Any) -> None:
    """A pipeline to start with, so the first deal has somewhere to go."""
    now = dt.datetime.now(dt.UTC)
    rows = await db.execute(
        "INSERT INTO sales_pipeline (name, description, created_at, updated_at, version, custom) "
        "VALUES ('Sales', 'The default pipeline', {}, {}, 1, {}) RETURNING id",
        now,
        now,
        "{}",
    )
    pipeline = rows[0]["id"]
    for position, (name, probability, kind) in enumerate(DEFAULT_STAGES):
        await db.execute(
            "INSERT INTO sales_stage (pipeline, name, position, probability, kind, created_at, updated_at, version, "
            "custom) VALUES ({}, {}, {}, {}, {}, {}, {}, 1, {})",
            pipeline,
            name,
            position,
            probability,
            kind,
            now,
            now,
            "{}",
        )


MIGRATIONS = [
    initial_migration(*TABLES),
    Migration("0002_default_pipeline", _default_pipeline, "the Sales pipeline and its stages"),
    initial_migration(*LEAD_TABLES, name="0003_leads"),
]
