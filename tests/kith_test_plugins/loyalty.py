"""A small plugin used by the tests, written only against kith.sdk.

It adds an entity (loyalty cards), a GraphQL query field, lifecycle hooks and a CLI
command — the four ways a plugin extends Kith.
"""

from __future__ import annotations

from typing import Any

import click
import strawberry
from piccolo.columns import ForeignKey, Integer, Varchar
from piccolo.table import Table
from strawberry.types import Info

from kith.sdk import (
    Change,
    Contact,
    CustomerViewSection,
    Entity,
    Plugin,
    PluginContext,
    RecordColumns,
    ValidationFailed,
    context_from,
    entity_hook,
    hookimpl,
    initial_migration,
    with_context,
)


class LoyaltyCard(RecordColumns, Table, tablename="loyalty_card"):
    contact = ForeignKey(references=Contact, null=True, default=None)
    level = Varchar(length=20, default="bronze")
    points = Integer(default=0)


LEVELS = ("bronze", "silver", "gold")


@hookimpl
def kith_entities() -> list[Entity]:
    return [
        Entity(
            "loyalty_card",
            LoyaltyCard,
            required=("contact",),
            choices={"level": LEVELS},
            label="Loyalty card",
        )
    ]


@strawberry.type
class LoyaltyQueries:
    @strawberry.field(description="Total points across all loyalty cards.")
    async def loyalty_points_total(self, info: Info) -> int:
        return sum([card["points"] async for card in context_from(info).records.each("loyalty_card")])


@hookimpl
def kith_graphql_queries() -> list[type]:
    return [LoyaltyQueries]


@hookimpl
def kith_before_create(change: Change) -> None:
    """Refuse negative points; gold cards start with 100 points."""
    if change.entity != "loyalty_card":
        return
    if (change.values.get("points") or 0) < 0:
        raise ValidationFailed.single("points", "invalid", "must not be negative")
    if change.values.get("level") == "gold" and not change.values.get("points"):
        change.values["points"] = 100


CREATED_CARDS: list[int] = []


@hookimpl
async def kith_after_create(change: Change) -> None:
    if change.entity == "loyalty_card" and change.after is not None:
        CREATED_CARDS.append(change.after["id"])


@hookimpl
async def kith_customer_view(context: PluginContext, contact: dict[str, Any]) -> CustomerViewSection:
    cards = await context.records.list("loyalty_card", {"contactId": {"eq": contact["id"]}}, order_by=[{"id": "ASC"}])
    return CustomerViewSection("Loyalty", [_card(card) for card in cards], entity="loyalty_card")


def _card(card: dict[str, Any]) -> dict[str, Any]:
    return {"id": card["id"], "level": card["level"], "points": card["points"]}


@click.command("loyalty-total")
@with_context
async def loyalty_total(context: PluginContext) -> None:
    """Print the total of loyalty points."""
    total = sum([card["points"] async for card in context.records.each("loyalty_card")])
    click.echo(f"loyalty points: {total}")


@hookimpl
def kith_cli_commands() -> list[click.Command]:
    return [loyalty_total]


plugin = Plugin(
    name="loyalty",
    version="0.1.0",
    summary="Loyalty cards for contacts (test plugin).",
    hooks=__name__,
    tables=[LoyaltyCard],
    migrations=[initial_migration(LoyaltyCard)],
)


# -- automations: a domain event, an action, a function and a rule shipped in code -------

from pydantic import Field  # noqa: E402

from kith.sdk import ActionContext, ActionType, DomainEvent, Params  # noqa: E402


@hookimpl
def kith_automation_events() -> list[DomainEvent]:
    return [DomainEvent("loyalty_card.upgraded", "loyalty_card", "A card moved to a higher level.")]


@entity_hook("kith_after_update", "loyalty_card")
async def card_upgraded(change: Change) -> None:
    """Emit loyalty_card.upgraded when the level goes up (a domain event)."""
    if "level" in change.changed:
        old, new = change.changed["level"]
        if LEVELS.index(new) > LEVELS.index(old or "bronze"):
            await change.context.emit(
                "loyalty_card.upgraded", "loyalty_card", change.record_id, {"from": old, "to": new}
            )


class AwardPoints(Params):
    points: int = Field(ge=1, le=10_000)


async def award_points(ctx: ActionContext, params: AwardPoints) -> dict[str, Any]:
    card = ctx.record or {}
    updated = await ctx.context.records.update("loyalty_card", card["id"], {"points": card["points"] + params.points})
    return {"points": updated["points"]}


@hookimpl
def kith_automation_actions() -> list[ActionType]:
    return [
        ActionType(
            "award_points",
            AwardPoints,
            award_points,
            lambda ctx, p: f"award {p.points} points to card {(ctx.record or {}).get('id')}",
            "Add points to a loyalty card.",
        )
    ]


CALLS: list[dict[str, Any]] = []


@hookimpl
def kith_automation_functions() -> dict[str, Any]:
    def remember(ctx: ActionContext, **args: Any) -> dict[str, Any]:
        CALLS.append({"record": (ctx.record or {}).get("id"), **args})
        return {"remembered": len(CALLS)}

    return {"loyalty.remember": remember}


@hookimpl
def kith_automation_rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "loyalty-upgrade-bonus",
            "description": "Upgraded cards get 50 bonus points.",
            "enabled": False,
            "trigger": {"event": "loyalty_card.upgraded"},
            "actions": [{"award_points": {"points": 50}}],
        }
    ]


# -- personal data: what the plugin holds about a person --------------------------------


@hookimpl
async def kith_personal_data(context: PluginContext, contact: dict[str, Any]) -> dict[str, Any]:
    cards = await context.records.list("loyalty_card", {"contactId": {"eq": contact["id"]}}, order_by=[{"id": "ASC"}])
    return {"loyalty_cards": [_card(card) for card in cards]}


@hookimpl
async def kith_erase_personal_data(context: PluginContext, contact: dict[str, Any]) -> int:
    # cards hold no personal value themselves; they stay (points still add up)
    return 0


# -- security: what each role may do with loyalty cards ----------------------------------

from kith.sdk import Grant, RoleDefinition  # noqa: E402


@hookimpl
def kith_roles() -> list[RoleDefinition]:
    return [
        RoleDefinition(name="sales_rep", grants={"loyalty_card": Grant(actions=["read"], scope="all")}),
        RoleDefinition(
            name="loyalty_manager",
            description="Runs the loyalty programme.",
            grants={
                "loyalty_card": Grant(actions=["read", "create", "update", "delete"]),
                # a card is linked to a contact: linking reads it
                "contact": Grant(actions=["read"]),
            },
        ),
    ]
