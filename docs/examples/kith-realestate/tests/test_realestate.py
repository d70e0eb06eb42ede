"""The real-estate CRM end to end, with the fixtures Kith ships: enabling and migrating,
properties and listings over GraphQL, viewings on two timelines, buyers matched to new
listings by the shipped automation, the agency's roles, and the distribution."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from typing import Any

import pytest
from kith.sdk import Change, Plugin, ValidationFailed, apply_rule, hookimpl
from kith.sdk.testing import GraphQLClient, make_contact, make_user, run_worker_until_idle, system_context

from kith_realestate import plugin

CREATE_PROPERTY = """mutation($input: PropertyCreateInput!) {
  createProperty(input: $input) { property { id city } errors { field code message } } }"""
CREATE_LISTING = """mutation($input: ListingCreateInput!) {
  createListing(input: $input) { listing { id status listedAt } errors { field code message } } }"""
UPDATE_LISTING = """mutation($id: ID!, $input: ListingUpdateInput!) {
  updateListing(id: $id, input: $input) { listing { status listedAt } errors { field code message } } }"""
SCHEDULE = """mutation($listing: ID!, $contact: ID!, $at: DateTime!) {
  scheduleViewing(listingId: $listing, contactId: $contact, at: $at) {
    contactActivityId listingActivityId errors { field code message } } }"""
TIMELINES = """query($contact: ID!, $listing: ID!) {
  contact(id: $contact) { timeline { kind subject } }
  listing(id: $listing) { timeline { kind subject } } }"""


def soon(days: int = 2) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(days=days)).isoformat()


async def add_property(gql: GraphQLClient, **values: Any) -> str:
    defaults = {"address": "12 Elm Street", "city": "Amsterdam", "propertyType": "apartment", "bedrooms": 3}
    data = await gql.query(CREATE_PROPERTY, input={**defaults, **values})
    assert data["createProperty"]["errors"] == []
    return str(data["createProperty"]["property"]["id"])


async def add_listing(gql: GraphQLClient, property_id: str, **values: Any) -> dict[str, Any]:
    defaults = {"propertyId": property_id, "askingPrice": {"amount": "350000", "currency": "EUR"}}
    data = await gql.query(CREATE_LISTING, input={**defaults, **values})
    assert data["createListing"]["errors"] == []
    listing: dict[str, Any] = data["createListing"]["listing"]
    return listing


async def test_enabling_migrates_and_serves_the_api(agency: Any) -> None:
    # each entity reads its own table (realestate_property, _listing, _listing_match): all migrated
    records = system_context(agency).records
    assert [await records.count(entity) for entity in ("property", "listing", "listing_match")] == [0, 0, 0]
    data = await GraphQLClient(agency).query("{ properties { totalCount } listings { totalCount } }")
    assert data == {"properties": {"totalCount": 0}, "listings": {"totalCount": 0}}


async def test_properties_and_listings_over_graphql(agency: Any) -> None:
    gql = GraphQLClient(agency)
    olive = await make_user(agency, name="Olive Agent")
    refused = await gql.query(
        CREATE_PROPERTY, input={"address": "1 Canal", "city": "Delft", "propertyType": "castle", "bedrooms": -1}
    )
    assert refused["createProperty"]["errors"] == [
        {"field": "propertyType", "code": "invalid", "message": "must be one of: apartment, house, studio, commercial"},
        {"field": "bedrooms", "code": "invalid", "message": "must be between 0 and 100"},
    ]
    home = await add_property(gql, city="  New   Amsterdam ", country="nl", floorAreaM2=84, bathrooms=1)
    draft = await add_listing(gql, home, ownerId=str(olive["id"]))
    assert draft["status"] == "draft" and draft["listedAt"] is None

    live = await gql.query(UPDATE_LISTING, id=draft["id"], input={"status": "active"})
    assert live["updateListing"]["errors"] == [] and live["updateListing"]["listing"]["listedAt"] is not None
    let_sale = await gql.query(UPDATE_LISTING, id=draft["id"], input={"status": "let"})
    assert let_sale["updateListing"]["errors"] == [
        {"field": "status", "code": "invalid", "message": "a sale listing cannot be let"}
    ]
    free = await gql.query(
        CREATE_LISTING, input={"propertyId": home, "askingPrice": {"amount": "0", "currency": "EUR"}}
    )
    assert free["createListing"]["errors"] == [
        {"field": "askingPrice", "code": "invalid", "message": "must be more than 0"}
    ]

    data = await gql.query(
        "query($id: ID!) { property(id: $id) { city country floorAreaM2 "
        "listings { kind status askingPrice { amount currency } owner { name } } } }",
        id=home,
    )
    assert data["property"] == {
        "city": "New Amsterdam",
        "country": "NL",
        "floorAreaM2": 84,
        "listings": [
            {
                "kind": "sale",
                "status": "active",
                "askingPrice": {"amount": "350000.00", "currency": "EUR"},
                "owner": {"name": "Olive Agent"},
            }
        ],
    }
    rich = await gql.query("{ listings(filter: {askingPrice: {amount: {gte: 300000}}}) { totalCount } }")
    assert rich == {"listings": {"totalCount": 1}}


async def test_a_viewing_goes_on_the_buyer_and_the_listing_timelines(agency: Any) -> None:
    gql = GraphQLClient(agency)
    ann = await make_contact(agency, first_name="Ann", last_name="Buyer")
    listing = await add_listing(gql, await add_property(gql), status="active")

    booked = await gql.query(SCHEDULE, listing=listing["id"], contact=str(ann["id"]), at=soon())
    assert booked["scheduleViewing"]["errors"] == []
    data = await gql.query(TIMELINES, contact=str(ann["id"]), listing=listing["id"])
    assert data == {
        "contact": {"timeline": [{"kind": "viewing", "subject": "Viewing: 12 Elm Street, Amsterdam"}]},
        "listing": {"timeline": [{"kind": "viewing", "subject": "Viewing with Ann Buyer"}]},
    }

    past = await gql.query(SCHEDULE, listing=listing["id"], contact=str(ann["id"]), at=soon(-1))
    assert past["scheduleViewing"]["errors"] == [{"field": "at", "code": "invalid", "message": "must be in the future"}]
    nobody = await gql.query(SCHEDULE, listing=listing["id"], contact="999", at=soon())
    assert nobody["scheduleViewing"] == {
        "contactActivityId": None,
        "listingActivityId": None,
        "errors": [{"field": "contactId", "code": "not_found", "message": "contact 999 does not exist"}],
    }
    draft = await add_listing(gql, await add_property(gql, address="3 Side Street"))
    hidden = await gql.query(SCHEDULE, listing=draft["id"], contact=str(ann["id"]), at=soon())
    assert hidden["scheduleViewing"]["errors"][0]["field"] == "listingId"


@hookimpl
def kith_before_create(change: Change) -> None:
    if change.entity == "activity" and change.values.get("subject_type") == "listing":
        raise ValidationFailed.single("subjectType", "invalid", "listing timelines are closed today")


async def test_a_viewing_is_booked_on_both_timelines_or_neither(make_kith: Any) -> None:
    """Another plugin refusing the listing's activity undoes the buyer's one too."""
    closed = Plugin(name="closed_listings", version="1.0.0", hooks=__name__)
    kith = await make_kith(plugins=[plugin, closed], enable=["realestate", "closed_listings"])
    gql = GraphQLClient(kith)
    ann = await make_contact(kith)
    listing = await add_listing(gql, await add_property(gql), status="active")
    refused = await gql.query(SCHEDULE, listing=listing["id"], contact=str(ann["id"]), at=soon())
    assert refused["scheduleViewing"]["errors"] == [
        {"field": "subjectType", "code": "invalid", "message": "listing timelines are closed today"}
    ]
    assert await system_context(kith).records.count("activity") == 0


async def buyer(kith: Any, name: str, agent: dict[str, Any] | None = None, **custom: Any) -> dict[str, Any]:
    return await make_contact(
        kith, first_name=name, last_name=None, owner=agent["id"] if agent else None, custom=custom
    )


async def tasks(kith: Any) -> list[tuple[str, Any]]:
    """Every task, oldest first: its subject and who it is assigned to."""
    rows = system_context(kith).records.each("activity", {"kind": {"eq": "task"}})
    return [(row["subject"], row["assignee"]) async for row in rows]


async def test_a_listing_going_active_gives_agents_a_task_for_each_matching_buyer(agency: Any) -> None:
    gql = GraphQLClient(agency)
    olive, pete = await make_user(agency, name="Olive"), await make_user(agency, name="Pete")
    eur = {"amount": "400000", "currency": "EUR"}
    await buyer(
        agency,
        "Ann",
        olive,
        buyer_max_price=eur,
        buyer_min_bedrooms=2,
        buyer_cities="  amsterdam ,Utrecht",
        buyer_property_types=["apartment", "house"],
    )
    await buyer(agency, "Hal", buyer_max_price={"amount": "350000.00", "currency": "EUR"})  # exactly: no agent
    await buyer(agency, "Ben", pete, buyer_max_price={"amount": "300000", "currency": "EUR"})  # too dear
    await buyer(agency, "Cat", pete, buyer_max_price={"amount": "900000", "currency": "GBP"})  # other currency
    await buyer(agency, "Dan", pete, buyer_max_price=eur, buyer_min_bedrooms=4)  # too small
    await buyer(agency, "Eve", pete, buyer_max_price=eur, buyer_cities="Rotterdam")  # elsewhere
    await buyer(agency, "Kim", pete, buyer_max_price=eur, buyer_cities="New Amsterdam, Delft")  # elsewhere too
    await buyer(agency, "Fay", pete, buyer_max_price=eur, buyer_property_types=["house"])  # not a house
    await buyer(agency, "Gus", pete, buyer_intent="rent", buyer_max_price=eur)  # wants to rent
    await buyer(agency, "Ivy", pete, buyer_min_bedrooms=1)  # no budget: not a buyer yet
    listing = await add_listing(gql, await add_property(gql), ownerId=str(pete["id"]))

    await run_worker_until_idle(agency)
    assert await tasks(agency) == []  # a draft is not on the market

    await gql.query(UPDATE_LISTING, id=listing["id"], input={"status": "active"})
    await run_worker_until_idle(agency)
    expected = [
        ("New listing matches Ann: 12 Elm Street, Amsterdam", olive["id"]),
        ("New listing matches Hal: 12 Elm Street, Amsterdam", pete["id"]),  # the listing's agent
    ]
    assert await tasks(agency) == expected
    assert await run_worker_until_idle(agency) == 0
    assert await tasks(agency) == expected

    # on the market again, with a new buyer registered meanwhile: only she is told
    await gql.query(UPDATE_LISTING, id=listing["id"], input={"status": "under_offer"})
    await buyer(agency, "Joy", olive, buyer_max_price=eur)
    await gql.query(UPDATE_LISTING, id=listing["id"], input={"status": "active"})
    await run_worker_until_idle(agency)
    await run_worker_until_idle(agency)
    assert await tasks(agency) == [*expected, ("New listing matches Joy: 12 Elm Street, Amsterdam", olive["id"])]
    data = await gql.query(
        "query($id: ID!) { listing(id: $id) { matches { contact { firstName tags } task { status } } } }",
        id=listing["id"],
    )
    assert data["listing"]["matches"] == [
        {"contact": {"firstName": name, "tags": ["buyer"]}, "task": {"status": "open"}}
        for name in ("Ann", "Hal", "Joy")
    ]


async def test_a_listing_created_active_is_matched_at_once(agency: Any) -> None:
    gql = GraphQLClient(agency)
    await buyer(agency, "Ann", buyer_intent="rent", buyer_max_price={"amount": "1500", "currency": "EUR"})
    home = await add_property(gql, propertyType="studio", bedrooms=0)
    await add_listing(gql, home, kind="rent", status="active", askingPrice={"amount": "1450", "currency": "EUR"})
    await run_worker_until_idle(agency)
    assert [subject for subject, _ in await tasks(agency)] == ["New listing matches Ann: 12 Elm Street, Amsterdam"]


async def test_the_matching_action_only_runs_on_listings(agency: Any) -> None:
    misplaced = {"name": "wrong", "trigger": {"event": "contact.created"}, "actions": [{"realestate.match_buyers": {}}]}
    with pytest.raises(ValidationFailed) as refused:
        await apply_rule(agency, misplaced)
    assert "runs on listings" in str(refused.value.errors)


async def _stock(make_kith: Any) -> None:
    """Alice's two listings and Bob's one, written the way a script would: as the system,
    on the database ``kith init`` set up."""
    records = system_context(await make_kith(plugins=[plugin])).records
    users = {user["email"]: user["id"] async for user in records.each("user")}
    home = await records.create("property", {"address": "1 Quay", "city": "Leiden"})
    for agent, price in (("alice", 100000), ("alice", 200000), ("bob", 300000)):
        await records.create(
            "listing",
            {
                "property": home["id"],
                "asking_price": {"amount": price, "currency": "EUR"},
                "owner": users[f"{agent}@example.com"],
            },
        )


async def test_an_estate_agent_sees_only_their_own_listings(at_agency: Any, make_kith: Any) -> None:
    async def kith(*args: str) -> Any:
        # a command runs its own event loop: from an async test it goes in a thread
        return await asyncio.to_thread(at_agency, *args)

    for name, role in (("alice", "estate_agent"), ("bob", "estate_agent"), ("max", "listings_manager")):
        added = await kith(
            "users", "add", f"{name}@example.com", "--name", name.title(), "--role", role, "--no-password"
        )
        assert added.exit_code == 0, added.output
    await _stock(make_kith)

    async def prices(email: str) -> list[str]:
        result = await kith("export", "listing", "--as", email, "--format", "jsonl")
        assert result.exit_code == 0, result.output
        rows = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
        return sorted(row["askingPrice"]["amount"] for row in rows)

    assert await prices("alice@example.com") == ["100000.00", "200000.00"]
    assert await prices("bob@example.com") == ["300000.00"]
    assert await prices("max@example.com") == ["100000.00", "200000.00", "300000.00"]
    shown = (await kith("roles", "show", "estate_agent")).output
    assert "scope: own" in shown and "listing:" in shown and "plugin:realestate" in (await kith("roles", "list")).output


def test_the_distribution_sets_an_agency_up(kith_cli: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.chdir(tmp_path)  # `kith init` writes kith.toml here
    first = kith_cli("init", "--distribution", "realestate")
    assert first.exit_code == 0, first.output
    assert "Set up from realestate 1.0.0: 1 plugins, 5 custom fields, 2 rules, 2 records" in first.output
    again = kith_cli("init", "--distribution", "realestate")
    assert again.exit_code == 0 and "Set up from realestate 1.0.0: nothing new" in again.output
    fields = kith_cli("fields", "list", "contact").output
    for name in ("buyer_intent", "buyer_max_price", "buyer_min_bedrooms", "buyer_cities", "buyer_property_types"):
        assert name in fields
    assert re.search(r"realestate\s*│\s*1\.0\.0\s*│\s*yes", kith_cli("plugins", "list").output)
    rules = kith_cli("automations", "list").output
    assert "realestate.match-buyers-on-publish" in rules and "realestate.tag-buyer-updated" in rules
