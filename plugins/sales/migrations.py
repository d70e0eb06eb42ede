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
    DealContact,
    Lead,
    LeadScoreItem,
    Pipeline,
    ProductPrice,
    Quote,
    QuoteLine,
    Stage,
    StageChange,
)
from kith.sdk import Migration, add_columns, initial_migration

DEFAULT_STAGES = (
    ("Qualification", 10, "open", "pipeline"),
    ("Proposal", 40, "open", "best_case"),
    ("Negotiation", 70, "open", "commit"),
    ("Won", 100, "won", None),
    ("Lost", 0, "lost", "omitted"),
)


#: the columns the stages gained after the first migration (see ``MIGRATIONS``)
_STAGE_COLUMNS = add_columns("0004_forecast_categories", Stage, "forecast_category")


async def _default_pipeline(db: Any) -> None:
    """A pipeline to start with, so the first deal has somewhere to go.

    Written with Piccolo's query builder, which writes every column the tables declare
    now: a database from before a stage column existed gets it first (``add_columns``
    leaves a column that is there alone, so its own step later does nothing)."""
    await _STAGE_COLUMNS.forwards(db)
    db.bind([Pipeline, Stage])
    now = dt.datetime.now(dt.UTC)
    made = Pipeline(name="Sales", description="The default pipeline", created_at=now, updated_at=now)
    rows = await Pipeline.insert(made).returning(Pipeline.id)
    pipeline = rows[0]["id"]
    stages = [
        Stage(
            pipeline=pipeline,
            name=name,
            position=position,
            probability=probability,
            kind=kind,
            created_at=now,
            updated_at=now,
        )
        for position, (name, probability, kind, _category) in enumerate(DEFAULT_STAGES)
    ]
    await Stage.insert(*stages)


async def _stage_categories(db: Any) -> None:
    """Forecast categories for the default stages (others: set them, or they count as pipeline)."""
    db.bind([Pipeline, Stage])
    sales = await Pipeline.select(Pipeline.id).where(Pipeline.name == "Sales").first()
    if sales is None:
        return
    for name, _probability, _kind, category in DEFAULT_STAGES:
        if category:
            await Stage.update({Stage.forecast_category: category}).where(
                (Stage.name == name) & Stage.forecast_category.is_null() & (Stage.pipeline == sales["id"])
            )


#: the tables with relation columns (Piccolo ``ForeignKey``s)
RELATED_TABLES = (Stage, Deal, StageChange, DealContact, Lead, ProductPrice, Quote, QuoteLine, LeadScoreItem)


async def _relation_indexes(db: Any) -> None:
    """An index on every relation column: a reverse list (``Contact.deals``), its
    ``some``/``none`` filter, a relation filter and an owner scope all look records up by
    it.  On ``(column, id)``, the order a reverse list reads them in; Piccolo names it
    ``<table>_<column>_id`` (its ``<table>_<column>`` for the column alone would make
    ``sales_deal_contact``, the name of a table)."""
    db.bind(list(RELATED_TABLES))
    for table in RELATED_TABLES:
        for column in table._meta.foreign_key_columns:
            await table.create_index([column, table.id], if_not_exists=True)


MIGRATIONS = [
    initial_migration(*TABLES),
    Migration("0002_default_pipeline", _default_pipeline, "the Sales pipeline and its stages"),
    initial_migration(*LEAD_TABLES, name="0003_leads"),
    _STAGE_COLUMNS,
    add_columns("0005_deal_forecast_category", Deal, "forecast_category"),
    Migration("0006_default_stage_categories", _stage_categories, "forecast categories of the default stages"),
    add_columns("0007_lead_scores", Lead, "country", "score", "score_model", "scored_at"),
    initial_migration(*QUOTE_TABLES, name="0008_products_and_quotes"),
    initial_migration(*SCORING_TABLES, name="0009_lead_scoring"),
    initial_migration(*FORECAST_TABLES, name="0010_forecast_snapshots"),
    add_columns("0011_forecast_snapshot_audience", ForecastSnapshot, "audience"),
    initial_migration(*DEAL_CONTACT_TABLES, name="0012_deal_contacts"),
    Migration("0013_relation_indexes", _relation_indexes, "an index on every relation column"),
]
