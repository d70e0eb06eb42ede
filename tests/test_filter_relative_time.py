"""Filters relative to now (``withinLast``, ``withinNext``, ``olderThan``) and filters on
what happened on a record's timeline (``timeline: {some: ...}``), as a GraphQL client
writes them: "contacts who had a call in the last 30 days"."""

from __future__ import annotations

import datetime as dt

import pytest

from kith.core.records.filters import parse_duration, uses_relative_time
from kith.sdk.testing import GraphQLClient, make_activity, make_contact

NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
CONTACTS = """query($filter: ContactFilter) { contacts(filter: $filter, orderBy: [{firstName: ASC}]) {
  nodes { firstName } } }"""


@pytest.fixture
async def people(kith):
    """Ann had a call 3 days ago, Bob a call 40 days ago and a note yesterday, Cy nothing."""
    kith.query.ctx.clock = lambda: NOW
    ann = await make_contact(kith, first_name="Ann")
    bob = await make_contact(kith, first_name="Bob")
    await make_contact(kith, first_name="Cy")
    for who, kind, days in ((ann, "call", 3), (bob, "call", 40), (bob, "note", 1)):
        await make_activity(kith, who, kind=kind, subject=f"{kind} {days}", occurred_at=NOW - dt.timedelta(days=days))
    return kith


async def names(kith, filter_):
    data = await GraphQLClient(kith).query(CONTACTS, filter=filter_)
    return [node["firstName"] for node in data["contacts"]["nodes"]]


async def test_timeline_some_and_none_with_a_relative_window(people):
    recent_call = {"kind": {"eq": "call"}, "occurredAt": {"withinLast": "P30D"}}
    assert await names(people, {"timeline": {"some": recent_call}}) == ["Ann"]
    assert await names(people, {"timeline": {"none": recent_call}}) == ["Bob", "Cy"]
    assert await names(people, {"timeline": {"some": {"occurredAt": {"olderThan": "P30D"}}}}) == ["Bob"]
    assert await names(people, {"timeline": {"some": {"occurredAt": {"withinLast": "PT36H"}}}}) == ["Bob"]


async def test_time_passing_changes_the_answer(people):
    recent_call = {"timeline": {"some": {"kind": {"eq": "call"}, "occurredAt": {"withinLast": "P30D"}}}}
    assert await names(people, recent_call) == ["Ann"]
    people.query.ctx.clock = lambda: NOW + dt.timedelta(days=28)
    assert await names(people, recent_call) == []


async def test_within_next_on_a_date_custom_field(kith):
    await kith.custom_fields.add("contact", "renewal", "date")
    kith.query.ctx.clock = lambda: NOW
    for name, days in (("Ann", 5), ("Bob", 20), ("Cy", -2)):
        await make_contact(
            kith, first_name=name, custom={"renewal": (NOW.date() + dt.timedelta(days=days)).isoformat()}
        )
    assert await names(kith, {"customFields": {"renewal": {"withinNext": "P7D"}}}) == ["Ann"]
    assert await names(kith, {"customFields": {"renewal": {"withinLast": "P7D"}}}) == ["Cy"]


async def test_a_bad_duration_names_the_field(people):
    data = await GraphQLClient(people).execute(CONTACTS, {"filter": {"createdAt": {"withinLast": "30 days"}}})
    assert "filter.createdAt.withinLast" in str(data["errors"]) and "ISO 8601 duration" in str(data["errors"])


def test_durations_and_detection():
    assert parse_duration("P2W") == dt.timedelta(days=14) and parse_duration("pt90m") == dt.timedelta(minutes=90)
    with pytest.raises(ValueError, match="positive"):
        parse_duration("P0D")
    assert uses_relative_time({"or": [{"a": {"eq": 1}}, {"timeline": {"some": {"x": {"olderThan": "P1D"}}}}]})
    assert not uses_relative_time({"createdAt": {"gte": "2026-01-01T00:00:00Z"}})


async def test_a_role_grant_cannot_move_with_time(kith):
    """A role's scope is compiled once per session, so "deals of the last 90 days" would
    freeze at sign-in: refused, naming the grant."""
    from kith.core.errors import ValidationFailed
    from kith.core.security.roles import save_role
    from kith.sdk import Grant, RoleDefinition

    role = RoleDefinition(
        name="recent", grants={"contact": Grant(actions=["read"], filter={"createdAt": {"withinLast": "P90D"}})}
    )
    with pytest.raises(ValidationFailed) as refused:
        await save_role(kith, role)
    assert [e.field for e in refused.value.errors] == ["grants.contact.filter"]


async def test_a_timeline_filter_reads_only_the_activities_the_caller_may_read(people):
    """Someone who may read contacts but not their activities finds nobody by what is on
    a timeline: an activity hidden from them is no activity at all."""
    from kith.core.security.roles import save_role
    from kith.sdk import Grant, RoleDefinition
    from kith.sdk.testing import make_user

    await save_role(people, RoleDefinition(name="directory", grants={"contact": Grant(actions=["read"])}))
    reader = await make_user(people, email="dora@example.com", roles=["directory"])
    as_reader = await GraphQLClient.as_user(people, reader["id"])
    query = CONTACTS
    called = {"timeline": {"some": {"kind": {"eq": "call"}}}}
    assert await names(people, called) == ["Ann", "Bob"]
    seen = await as_reader.query(query, filter=called)
    assert seen["contacts"]["nodes"] == []
    quiet = await as_reader.query(query, filter={"timeline": {"none": {}}})
    assert [n["firstName"] for n in quiet["contacts"]["nodes"]] == ["Ann", "Bob", "Cy"]
