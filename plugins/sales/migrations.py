"""The sales plugin's schema steps."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.plugins.sales.forecast.models import FORECAST_TABLES, ForecastSnapshot
from kith.plugins.sales.models import (
    DEAL_CONTACT_TABLES,
    LEAD_TABLES,
    QUOTE_TABLES,
    SCORING_TABLES,
    TABLES,
    Deal,
    Lead,
    Stage,
)
from kith.sdk import Migration, add_columns, initial_migration

DEFAULT_STAGES = (
    ("Qualification", 10, "open", "pipeline"),
    ("Proposal", 40, "open", "best_case"),
    ("Negotiation", 70, "open", "commit"),
    ("Won", 100, "won", None),
    ("Lost", 0, "lost", "omitted"),
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
    for position, (name, probability, kind, _category) in enumerate(DEFAULT_STAGES):
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


async def _stage_categories(db: Any) -> None:
    """Forecast categories for the default stages (others: set them, or they count as pipeline)."""
    for name, _probability, _kind, category in DEFAULT_STAGES:
        if category:
            await db.execute(
                "UPDATE sales_stage SET forecast_category = {} WHERE name = {} AND forecast_category IS NULL "
                "AND pipeline = (SELECT id FROM sales_pipeline WHERE name = 'Sales')",
                category,
                name,
            )


MIGRATIONS = [
    initial_migration(*TABLES),
    Migration("0002_default_pipeline", _default_pipeline, "the Sales pipeline and its stages"),
    initial_migration(*LEAD_TABLES, name="0003_leads"),
    add_columns("0004_forecast_categories", Stage, "forecast_category"),
    add_columns("0005_deal_forecast_category", Deal, "forecast_category"),
    Migration("0006_default_stage_categories", _stage_categories, "forecast categories of the default stages"),
    add_columns("0007_lead_scores", Lead, "country", "score", "score_model", "scored_at"),
    initial_migration(*QUOTE_TABLES, name="0008_products_and_quotes"),
    initial_migration(*SCORING_TABLES, name="0009_lead_scoring"),
    initial_migration(*FORECAST_TABLES, name="0010_forecast_snapshots"),
    add_columns("0011_forecast_snapshot_audience", ForecastSnapshot, "audience"),
    initial_migration(*DEAL_CONTACT_TABLES, name="0012_deal_contacts"),
]
