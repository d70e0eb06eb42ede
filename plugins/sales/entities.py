"""What the sales plugin declares: its entities, and how each role may use them."""

from __future__ import annotations

from typing import Any, Literal

from kith.plugins.sales.models import (
    DEAL_CONTACT_ROLES,
    FORECAST_CATEGORIES,
    LEAD_STATUSES,
    SCORE_SOURCES,
    STAGE_KINDS,
    Deal,
    DealContact,
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
            personal=("first_name", "last_name", "email", "phone", "title", "need"),
            natural_keys=("email",),
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
            owner_via="deal",
        ),
        Entity(
            "deal_contact",
            DealContact,
            label="Deal contact",
            required=("deal", "contact"),
            choices={"role": DEAL_CONTACT_ROLES},
            timeline=False,
            customizable=False,
            reverse={"deal": "contactRoles", "contact": "dealRoles"},
            owner_via="deal",
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
            owner_via="lead",
        ),
        *quote_entities(),
    ]


#: the actions a grant may list (``Grant.actions``); reps get every one but purge
GrantAction = Literal["read", "create", "update", "delete", "restore", "purge"]
CRUD: list[GrantAction] = ["read", "create", "update", "delete", "restore"]


READ = Grant(actions=["read"])
#: everything of sales a manager changes (the stage history and score lines are derived)
MANAGED = (
    "pipeline",
    "stage",
    "deal",
    "deal_contact",
    "lead",
    "scoring_rule",
    "product",
    "product_price",
    "quote",
    "quote_line",
)


def roles() -> list[RoleDefinition]:
    """Grants on the sales entities for the built-in roles (added, never overriding).

    Reps work their own leads, deals and the quotes on those deals; marketers own lead
    scoring; support agents get nothing of sales.
    """
    catalogue = {name: READ for name in ("pipeline", "stage", "product", "product_price", "scoring_rule")}
    own = Grant(actions=CRUD, scope="own")
    return [
        RoleDefinition(
            name="sales_rep",
            grants={
                **catalogue,
                "deal": own,
                "lead": own,
                "quote": own,
                "quote_line": own,
                "deal_contact": own,
                "stage_change": Grant(actions=["read"], scope="own"),
                "lead_score_item": Grant(actions=["read"], scope="own"),
            },
        ),
        RoleDefinition(
            name="marketer",
            grants={
                **catalogue,
                "deal": READ,
                "lead": Grant(actions=["read", "create", "update"]),
                "lead_score_item": READ,
                "scoring_rule": Grant(actions=CRUD),
            },
        ),
        RoleDefinition(
            name="read_only",
            grants={**catalogue, "deal": READ, "deal_contact": READ, "quote": READ, "quote_line": READ},
        ),
        RoleDefinition(
            name="sales_manager",
            description="Runs sales: pipelines, every lead, deal and quote, products and lead scoring.",
            grants={**{name: Grant(actions=CRUD) for name in MANAGED}, "*": READ},
        ),
    ]
