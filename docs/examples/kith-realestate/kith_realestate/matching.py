"""Matching a listing to the buyers looking for it, and telling their agents.

A buyer is a contact with a budget (the ``buyer_max_price`` custom field).  A listing
matches a buyer when

- the buyer wants to buy a listing for sale, or to rent one to let (``buyer_intent``,
  "buy" when not said), and the asking price is within the budget, in the same currency
  (a budget in EUR says nothing about a price in GBP);
- the property has at least ``buyer_min_bedrooms`` bedrooms, when given;
- the property's city is one of ``buyer_cities``, when given;
- the property's type is one of ``buyer_property_types``, when given;
- the buyer was not matched to this listing before.

The buyers are found with one SQL query, whatever their number.  For each, the action
creates a task on the buyer's timeline for the buyer's agent (their owner; the
listing's agent when the buyer has none) and a ``listing_match`` row.  Both are written
through ``kith.records`` inside the transaction the automation engine opens for the
action, together with its idempotency record, so a retried run never repeats them; the
``listing_match`` rows (unique per listing and buyer) make a later run — the listing
going active again — skip buyers already told.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.sdk import ActionContext, ActionType, Entity, FieldError, Kith, Params
from pydantic import Field

from kith_realestate.sql import buyer_columns

ACTION = "realestate.match_buyers"
SUBJECT_LIMIT = 300  # activity.subject is a Varchar(300)


class MatchBuyers(Params):
    due_in_days: int = Field(1, ge=0, le=30, description="When the agent's task is due, in days from the match.")


async def find_buyers(kith: Kith, listing: dict[str, Any]) -> list[dict[str, Any]]:
    """The buyers ``listing`` matches and who were not matched to it yet, in one query."""
    price = listing["asking_price"]
    if price is None or listing["property"] is None:
        return []
    is_postgres = kith.db.dialect.is_postgres
    sql = buyer_columns(is_postgres)
    city_match = sql.contains.format(
        haystack=f"', ' || lower({sql.cities}) || ', '", needle="', ' || lower(p.city) || ', '"
    )
    query = (
        "SELECT c.id, c.first_name, c.last_name, COALESCE(c.owner, {}) AS agent, p.address, p.city "
        "FROM contact c JOIN realestate_property p ON p.id = {} "
        "WHERE c.deleted_at IS NULL "
        f"AND {sql.budget} >= {{}} AND {sql.budget_currency} = {{}} "
        f"AND COALESCE({sql.intent}, 'buy') = {{}} "
        f"AND ({sql.min_bedrooms} IS NULL OR {sql.min_bedrooms} <= p.bedrooms) "
        f"AND ({sql.cities} IS NULL OR {sql.cities} = '' OR {city_match}) "
        f"AND {sql.wants_type} "
        "AND NOT EXISTS (SELECT 1 FROM realestate_listing_match m WHERE m.listing = {} AND m.contact = c.id) "
        "ORDER BY c.id"
    )
    # SQLite compares the JSON amount as a REAL: give it the same float the same decimal
    # text becomes, so a budget equal to the price matches on both engines
    amount = price["amount"] if is_postgres else float(price["amount"])
    rows = await kith.db.execute(
        query,
        listing["owner"],
        listing["property"],
        amount,
        price["currency"],
        "buy" if listing["kind"] == "sale" else "rent",
        listing["id"],
    )
    return [dict(row) for row in rows]


def _subject(buyer: dict[str, Any]) -> str:
    name = " ".join(part for part in (buyer["first_name"], buyer["last_name"]) if part) or f"contact {buyer['id']}"
    return f"New listing matches {name}: {buyer['address']}, {buyer['city']}"[:SUBJECT_LIMIT]


async def match_buyers(ctx: ActionContext, params: MatchBuyers) -> dict[str, Any]:
    """The action: a task and a match row per new matching buyer of the rule's listing."""
    assert ctx.record is not None
    listing = ctx.record
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=params.due_in_days)
    price = listing["asking_price"]
    body = f"Listing {listing['id']} ({listing['kind']}): {price['amount']} {price['currency']}" if price else None
    matched: list[int] = []
    for buyer in await find_buyers(ctx.kith, listing):
        task = await ctx.kith.records.create(
            "activity",
            {
                "kind": "task",
                "status": "open",
                "subject": _subject(buyer),
                "body": body,
                "subject_type": "contact",
                "subject_id": buyer["id"],
                "assignee": buyer["agent"],
                "due_at": due,
            },
            ctx.actor,
        )
        await ctx.kith.records.create(
            "listing_match", {"listing": listing["id"], "contact": buyer["id"], "task": task["id"]}, ctx.actor
        )
        matched.append(int(buyer["id"]))
    return {"listing": listing["id"], "buyers": matched}


def _describe(ctx: ActionContext, params: MatchBuyers) -> str:
    listing = ctx.record or {}
    return f"create a task for the agent of each new buyer matching listing {listing.get('id')}"


def _check(kith: Kith, entity: Entity | None, params: MatchBuyers) -> list[FieldError]:
    if entity is None or entity.name != "listing":
        return [FieldError("entity", "invalid", f"{ACTION} runs on listings: trigger the rule on a listing event")]
    return []


def action() -> ActionType:
    return ActionType(
        ACTION,
        MatchBuyers,
        match_buyers,
        _describe,
        "Create a task for the agent of each buyer the listing matches (once per buyer).",
        check=_check,
    )
