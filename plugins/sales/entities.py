"""What the sales plugin declares: its entities, and how each role may use them."""

from __future__ import annotations

from typing import Any

from kith.plugins.sales.models import (
    FORECAST_CATEGORIES,
    LEAD_STATUSES,
    SCORE_SOURCES,
    STAGE_KINDS,
    Deal,
    Lead,
    LeadScoreItem,
    Pipeline,
    ScoringRule,
    Stage,
    StageChange,
)
from kith.sdk import Entity, Grant, RoleDefinition, normalise_domain, normalise_email, normalise_phone


def _percent(value: Any, region: str) -> int:
    if not 0 <= int(value) <= 100:
        raise ValueError("must be between 0 and 100 (percent)")
    return int(value)


def _country(value: Any, region: str) -> str | None:
    if value is None or value == "":
        return None
    code = str(value).strip().upper()
    if len(code) != 2 or not code.isalpha():
        raise ValueError("must be a two-letter country code (ISO 3166), like DE or US")
    return code


def entities() -> list[Entity]:
    from kith.plugins.sales.quotes.declarations import entities as quote_entities

    return [
        Entity("pipeline", Pipeline, required=("name",), searchable=("name",), timeline=False),
        Entity(
            "stage",
            Stage,
            required=("name", "pipeline"),
            choices={"kind": STAGE_KINDS, "forecast_category": FORECAST_CATEGORIES},
            reverse={"pipeline": "stages"},
            normalisers={"probability": _percent},
            timeline=False,
            customizable=False,
        ),
        Entity(
            "deal",
            Deal,
            required=("name",),
            searchable=("name",),
            money={"amount": "currency"},
            choices={"forecast_category": FORECAST_CATEGORIES},
            read_only=("closed_at",),
            reverse={"contact": "deals", "organization": "deals"},
        ),
        Entity(
            "lead",
            Lead,
            searchable=("first_name", "last_name", "email", "company"),
            personal=("first_name", "last_name", "email", "phone"),
            choices={"status": LEAD_STATUSES},
            normalisers={
                "email": normalise_email,
                "phone": normalise_phone,
                "domain": normalise_domain,
                "country": _country,
            },
            money={"budget": "budget_currency"},
            read_only=(
                "converted_contact",
                "converted_organization",
                "converted_deal",
                "converted_at",
                "score",
                "score_model",
                "scored_at",
            ),
        ),
        Entity(
            "stage_change",
            StageChange,
            label="Stage change",
            timeline=False,
            customizable=False,
            mutations=False,
            reverse={"deal": "stageChanges"},
        ),
        Entity(
            "scoring_rule",
            ScoringRule,
            required=("name", "points"),
            searchable=("name",),
            timeline=False,
            customizable=False,
        ),
        Entity(
            "lead_score_item",
            LeadScoreItem,
            label="Lead score item",
            choices={"source": SCORE_SOURCES},
            timeline=False,
            customizable=False,
            mutations=False,
            reverse={"lead": "scoreItems"},
        ),
        *quote_entities(),
    ]


CRUD = ["read", "create", "update", "delete", "restore"]


def roles() -> list[RoleDefinition]:
    """Grants on the sales entities for the built-in roles (added, never overriding)."""
    pipelines = {
        "pipeline": Grant(actions=["read"]),
        "stage": Grant(actions=["read"]),
        "stage_change": Grant(actions=["read"]),
    }
    return [
        RoleDefinition(
            name="sales_rep",
            grants={**pipelines, "deal": Grant(actions=CRUD, scope="own"), "lead": Grant(actions=CRUD, scope="own")},
        ),
        RoleDefinition(
            name="marketer",
            grants={**pipelines, "deal": Grant(actions=["read"]), "lead": Grant(actions=["read", "create", "update"])},
        ),
        RoleDefinition(name="read_only", grants={**pipelines, "deal": Grant(actions=["read"])}),
        RoleDefinition(
            name="sales_manager",
            description="Runs the pipelines: every deal, pipelines and stages.",
            grants={
                "pipeline": Grant(actions=CRUD),
                "stage": Grant(actions=CRUD),
                "deal": Grant(actions=CRUD),
                "stage_change": Grant(actions=["read"]),
                "*": Grant(actions=["read"]),
            },
        ),
    ]
