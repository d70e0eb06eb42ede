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

The listing is known, so every criterion is a filter on contacts in the GraphQL filter
language, read through ``ctx.context.records``: the same on both engines, and only the
buyers the rule's actor may see (all of them, unless the rule has a ``run_as`` user).  For each,
the action creates a task on the buyer's timeline for the buyer's agent (their owner;
the listing's agent when the buyer has none) and a ``listing_match`` record.  Both are
written through ``ctx.context.records`` inside the transaction the automation engine
opens for the action, together with its idempotency record, so a retried run never
repeats them; the ``listing_match`` records (unique per listing and buyer) make a later
run — the listing going active again — skip buyers already told.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

from kith.sdk import ActionContext, ActionType, Entity, FieldError, Params, PluginContext
from pydantic import Field

ACTION = "realestate.match_buyers"
SUBJECT_LIMIT = 300  # activity.subject is a Varchar(300)


class MatchBuyers(Params):
    due_in_days: int = Field(1, ge=0, le=30, description="When the agent's task is due, in days from the match.")


def _either(field: str, condition: dict[str, Any], *, or_unset: bool = True) -> dict[str, Any]:
    """The custom field ``field`` meets ``condition`` or (a preference not given) is empty."""
    options = [{"customFields": {field: condition}}]
    if or_unset:
        options.append({"customFields": {field: {"isNull": True}}})
    return {"or": options}


def buyers_filter(listing: dict[str, Any], home: dict[str, Any]) -> dict[str, Any]:
    """The contacts ``listing`` (of property ``home``) may match: every criterion but the
    exact city (see ``find_buyers``), and none matched to it already."""
    price = listing["asking_price"]
    wants = "buy" if listing["kind"] == "sale" else "rent"
    return {
        # an amount compares as a number whatever its currency: the currency is a criterion too
        "customFields": {
            "buyerMaxPrice": {"amount": {"gte": str(price["amount"])}, "currency": {"eq": price["currency"]}}
        },
        "and": [
            _either("buyerIntent", {"eq": wants}, or_unset=wants == "buy"),  # "buy" when not said
            _either("buyerMinBedrooms", {"lte": home["bedrooms"]}),
            _either("buyerPropertyTypes", {"contains": home["property_type"]}),  # a list: has this element
            # text: holds the city, ignoring case; a superset of "one of the cities", narrowed below
            _either("buyerCities", {"contains": home["city"]}),
        ],
        # the reverse list Contact.listingMatches (entities.py): none for this listing yet
        "listingMatches": {"none": {"listingId": {"eq": listing["id"]}}},
    }


def wants_city(buyer: dict[str, Any], city: str) -> bool:
    """Whether ``city`` is one of the buyer's ``buyer_cities`` ("Amsterdam, Utrecht"; any
    city when none are given), ignoring case."""
    cities = (buyer.get("custom") or {}).get("buyer_cities")
    if not cities:
        return True
    return city.casefold() in {part.strip().casefold() for part in cities.split(",")}


async def find_buyers(context: PluginContext, listing: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
    """The buyers ``listing`` matches and who were not matched to it yet, in id order."""
    if listing["asking_price"] is None or listing["property"] is None:
        return
    home = await context.records.get("property", listing["property"])
    if home is None:  # deleted, or out of the rule's sight
        return
    # The filter language has no "is an element of a comma-separated text": ``contains``
    # also finds "Amsterdam" in "New Amsterdam, Delft".  The database narrows the buyers
    # to those whose cities hold the name (and who meet every other criterion); the exact
    # comparison is made here, on that filtered set, fetched a batch at a time.
    async for buyer in context.records.each("contact", buyers_filter(listing, home)):
        if wants_city(buyer, home["city"]):
            yield {**buyer, "address": home["address"], "city": home["city"]}


def _subject(buyer: dict[str, Any]) -> str:
    name = " ".join(part for part in (buyer["first_name"], buyer["last_name"]) if part) or f"contact {buyer['id']}"
    return f"New listing matches {name}: {buyer['address']}, {buyer['city']}"[:SUBJECT_LIMIT]


async def match_buyers(ctx: ActionContext, params: MatchBuyers) -> dict[str, Any]:
    """The action: a task and a match record per new matching buyer of the rule's listing."""
    assert ctx.record is not None
    context = ctx.context  # acts as the rule's actor: the audit says automation:<rule>
    listing = ctx.record
    due = dt.datetime.now(dt.UTC) + dt.timedelta(days=params.due_in_days)
    price = listing["asking_price"]
    body = f"Listing {listing['id']} ({listing['kind']}): {price['amount']} {price['currency']}" if price else None
    # collected first: each() reads page after page, and the writes below change the
    # very reverse list (listingMatches) the filter looks at
    buyers = [buyer async for buyer in find_buyers(context, listing)]
    for buyer in buyers:
        task = await context.records.create(
            "activity",
            {
                "kind": "task",
                "status": "open",
                "subject": _subject(buyer),
                "body": body,
                "subject_type": "contact",
                "subject_id": buyer["id"],
                "assignee": buyer["owner"] or listing["owner"],
                "due_at": due,
            },
        )
        await context.records.create(
            "listing_match", {"listing": listing["id"], "contact": buyer["id"], "task": task["id"]}
        )
    return {"listing": listing["id"], "buyers": [int(buyer["id"]) for buyer in buyers]}


def _describe(ctx: ActionContext, params: MatchBuyers) -> str:
    listing = ctx.record or {}
    return f"create a task for the agent of each new buyer matching listing {listing.get('id')}"


def _check(context: PluginContext, entity: Entity | None, params: MatchBuyers) -> list[FieldError]:
    """Checked when a rule using the action is saved: it runs on listings only."""
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
