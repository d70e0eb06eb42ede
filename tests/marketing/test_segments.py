"""Segments as a marketer uses them through GraphQL: definitions in the filter language,
members kept current as contacts and what they are linked to change, static lists,
segments of segments, and counts read as the caller."""

from __future__ import annotations

import asyncio
import datetime as dt
import json

import pytest

from kith.sdk.testing import GraphQLClient, make_activity, make_contact, make_user, run_worker_until_idle

CREATE = """mutation($input: SegmentCreateInput!) { createSegment(input: $input) {
  segment { id name kind timeRelative } errors { field code message } } }"""
UPDATE = """mutation($id: ID!, $input: SegmentUpdateInput!) { updateSegment(id: $id, input: $input) {
  segment { id } errors { field code message } } }"""
MEMBERS = """query($id: ID!) { segmentMembers(segmentId: $id, first: 100) {
  count contacts { firstName } errors { field message } } }"""
PREVIEW = (
    """query($d: JSON!) { previewSegment(definition: $d) { count contacts { firstName } errors { field message } } }"""
)
ADD = """mutation($s: ID!, $c: [ID!]!) { addToSegment(segmentId: $s, contactIds: $c) { changed errors { field code } } }"""
REMOVE = """mutation($s: ID!, $c: [ID!]!) { removeFromSegment(segmentId: $s, contactIds: $c) { changed errors { field } } }"""


@pytest.fixture
async def marketing(make_kith):
    kith = await make_kith(enable=["marketing"])
    await kith.custom_fields.add("contact", "tier", "integer", indexed=True)
    return kith


async def segment(gql: GraphQLClient, name: str, definition: dict | None = None, kind: str = "dynamic") -> str:
    given = {"name": name, "kind": kind, "definition": json.dumps(definition or {})}
    created = await gql.query(CREATE, input=given)
    assert created["createSegment"]["errors"] == [], created
    return created["createSegment"]["segment"]["id"]


async def names(gql: GraphQLClient, segment_id: str) -> list[str]:
    data = await gql.query(MEMBERS, id=segment_id)
    found = [c["firstName"] for c in data["segmentMembers"]["contacts"]]
    assert data["segmentMembers"]["count"] == len(found)
    return sorted(found)


async def test_members_follow_contact_writes(marketing):
    gql = GraphQLClient(marketing)
    ann = await make_contact(marketing, first_name="Ann", custom={"tier": 3})
    await make_contact(marketing, first_name="Bob", custom={"tier": 1})
    gold = await segment(gql, "Gold", {"customFields": {"tier": {"gte": 2}}})
    assert await names(gql, gold) == ["Ann"]  # built when saved
    cy = await make_contact(marketing, first_name="Cy", custom={"tier": 2})
    assert await names(gql, gold) == ["Ann", "Cy"]  # joined on create
    await marketing.records.update("contact", ann["id"], {"custom": {"tier": 0}})
    assert await names(gql, gold) == ["Cy"]  # left on update
    await marketing.records.delete("contact", cy["id"])
    assert await names(gql, gold) == []  # left on delete
    await marketing.records.restore("contact", cy["id"])
    assert await names(gql, gold) == ["Cy"]


async def test_members_follow_the_organization_and_the_timeline(marketing):
    gql = GraphQLClient(marketing)
    acme = await marketing.records.create("organization", {"name": "Acme", "domain": "acme.example"})
    ann = await make_contact(marketing, first_name="Ann", organization=acme["id"])
    bob = await make_contact(marketing, first_name="Bob")
    enterprise = await segment(gql, "Enterprise", {"organization": {"name": {"startsWith": "Big"}}})
    called = await segment(gql, "Called", {"timeline": {"some": {"kind": {"eq": "call"}}}})
    assert await names(gql, enterprise) == [] and await names(gql, called) == []
    await marketing.records.update("organization", acme["id"], {"name": "Big Acme"})
    assert await names(gql, enterprise) == ["Ann"]  # the organization's write moved its contacts
    call = await make_activity(marketing, bob, kind="call", subject="Intro")
    assert await names(gql, called) == ["Bob"]
    await marketing.records.delete("activity", call["id"])
    assert await names(gql, called) == []
    await marketing.records.update("contact", ann["id"], {"organization": None})
    assert await names(gql, enterprise) == []


async def test_a_recent_activity_segment_drops_people_as_time_passes(make_kith):
    """The definition is relative to now: the refresh job, queued when the segment was
    saved, brings it up to date as time passes (here one second stands for days)."""
    marketing = await make_kith(enable=["marketing"], plugin={"marketing": {"segment_refresh_seconds": 1}})
    gql = GraphQLClient(marketing)
    now = dt.datetime.now(dt.UTC)
    ann = await make_contact(marketing, first_name="Ann")
    await make_activity(marketing, ann, kind="call", subject="Call", occurred_at=now - dt.timedelta(days=20))
    recent = await segment(gql, "Recent", {"timeline": {"some": {"occurredAt": {"withinLast": "P30D"}}}})
    assert await names(gql, recent) == ["Ann"]
    created = (await gql.query("{ segments { nodes { timeRelative } } }"))["segments"]["nodes"]
    assert created == [{"timeRelative": True}]
    marketing.query.ctx.clock = lambda: now + dt.timedelta(days=11)
    assert await names(gql, recent) == ["Ann"]  # members are kept, until the refresh job runs
    await asyncio.sleep(1.1)  # the refresh is due
    assert await run_worker_until_idle(marketing) >= 1
    assert await names(gql, recent) == []


async def test_static_lists_and_segments_of_segments(marketing):
    gql = GraphQLClient(marketing)
    ann = await make_contact(marketing, first_name="Ann", custom={"tier": 3})
    bob = await make_contact(marketing, first_name="Bob", custom={"tier": 3})
    vip_list = await segment(gql, "VIP list", kind="static")
    gold = await segment(gql, "Gold", {"customFields": {"tier": {"gte": 2}}})
    gold_not_vip = await segment(
        gql,
        "Gold, not VIP",
        {"segmentMemberships": {"some": {"segmentId": {"eq": gold}}, "none": {"segmentId": {"eq": vip_list}}}},
    )
    assert await names(gql, gold_not_vip) == ["Ann", "Bob"]
    added = await gql.query(ADD, s=vip_list, c=[str(ann["id"])])
    assert added["addToSegment"] == {"changed": 1, "errors": []}
    assert await names(gql, vip_list) == ["Ann"] and await names(gql, gold_not_vip) == ["Bob"]
    again = await gql.query(ADD, s=vip_list, c=[str(ann["id"])])
    assert again["addToSegment"]["changed"] == 0  # already there
    await marketing.records.update("contact", bob["id"], {"custom": {"tier": 1}})
    assert await names(gql, gold_not_vip) == []  # Bob left Gold, so he left what reads it
    removed = await gql.query(REMOVE, s=vip_list, c=[str(ann["id"])])
    assert removed["removeFromSegment"]["changed"] == 1 and await names(gql, gold_not_vip) == ["Ann"]
    by_hand = await gql.query(ADD, s=gold, c=[str(bob["id"])])
    assert by_hand["addToSegment"]["errors"] == [{"field": "segmentId", "code": "invalid"}]


async def test_bad_definitions_are_refused_by_field(marketing):
    gql = GraphQLClient(marketing)
    bad = await gql.query(CREATE, input={"name": "x", "definition": json.dumps({"customFields": {"nope": {"eq": 1}}})})
    assert [e["field"] for e in bad["createSegment"]["errors"]] == ["definition.customFields.nope"]
    a = await segment(gql, "A", {})
    b = await segment(gql, "B", {"segmentMemberships": {"some": {"segmentId": {"eq": a}}}})
    cycle = await gql.query(
        UPDATE, id=a, input={"definition": json.dumps({"segmentMemberships": {"some": {"segmentId": {"eq": b}}}})}
    )
    assert "refer to each other" in cycle["updateSegment"]["errors"][0]["message"]
    missing = await gql.query(
        CREATE,
        input={"name": "C", "definition": json.dumps({"segmentMemberships": {"some": {"segmentId": {"eq": "999"}}}})},
    )
    assert missing["createSegment"]["errors"][0]["code"] == "unknown"
    preview = await gql.query(PREVIEW, d={"lastName": {"bogus": 1}})
    assert preview["previewSegment"]["errors"][0]["field"] == "definition.lastName.bogus"


async def test_counts_and_previews_are_read_as_the_caller(marketing):
    """A marketer who may read only their own contacts counts only those, from the
    definition and from the members alike."""
    from kith.core.security.roles import save_role
    from kith.sdk import Grant, RoleDefinition

    await save_role(marketing, RoleDefinition(name="own_marketer", grants={
        "contact": Grant(actions=["read"], scope="own"), "segment": Grant(actions=["read", "create", "update"]),
        "segment_membership": Grant(actions=["read"], scope="own"),  # follows the contact's owner
    }))  # fmt: skip
    mia = await make_user(marketing, email="mia@example.com", roles=["own_marketer"])
    await make_contact(marketing, first_name="Ann", custom={"tier": 3}, owner=mia["id"])
    await make_contact(marketing, first_name="Bob", custom={"tier": 3})
    as_mia = await GraphQLClient.as_user(marketing, mia["id"])
    gold = await segment(GraphQLClient(marketing), "Gold", {"customFields": {"tier": {"gte": 2}}})
    assert await names(GraphQLClient(marketing), gold) == ["Ann", "Bob"]
    assert await names(as_mia, gold) == ["Ann"]
    preview = await as_mia.query(PREVIEW, d={"customFields": {"tier": {"gte": 2}}})
    assert preview["previewSegment"]["count"] == 1
    memberships = await as_mia.query("{ segmentMemberships { totalCount } }")
    assert memberships["segmentMemberships"]["totalCount"] == 1
