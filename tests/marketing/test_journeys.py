"""Journeys as a marketer builds them: contacts enter when they join a segment, wait,
branch, split A/B and meet a goal, over generated contacts with the worker's clock moved
on; each contact takes exactly one path, and a step run again does nothing twice."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import pytest

from kith.core.automations.worker import Worker
from kith.plugins.marketing.consent import subscribe
from kith.plugins.marketing.journeys import engine
from kith.sdk import JobRun
from kith.sdk.testing import GraphQLClient, make_contact, outgoing_mail, system_context

CREATE = """mutation($i: JourneyCreateInput!) { createJourney(input: $i) { journey { id status }
  errors { field code message } } }"""
UPDATE = """mutation($id: ID!, $i: JourneyUpdateInput!) { updateJourney(id: $id, input: $i) {
  journey { status } errors { field code message } } }"""

STEPS = [
    {"id": "welcome", "type": "send", "subject": "Welcome, {{ contact.first_name }}", "html": "<p>Hi!</p>",
     "next": "pause"},
    {"id": "pause", "type": "wait", "duration": "P3D", "next": "vip?"},
    {"id": "vip?", "type": "branch", "if": {"customFields": {"tier": {"gte": 3}}}, "then": "call", "else": "ab"},
    {"id": "call", "type": "task", "subject": "Call {{ contact.first_name }}", "due_in": "P1D"},
    {"id": "ab", "type": "split", "branches": [{"weight": 50, "next": "offer-a"}, {"weight": 50, "next": "offer-b"}]},
    {"id": "offer-a", "type": "tag", "add": ["offer-a"]},
    {"id": "offer-b", "type": "tag", "add": ["offer-b"]},
]  # fmt: skip


@pytest.fixture
async def marketing(make_kith):
    kith = await make_kith(enable=["marketing"], mail_from="news@acme.example", public_url="https://crm.acme.example")
    await kith.custom_fields.add("contact", "tier", "integer")
    return kith


async def later(kith, days: float) -> int:
    """Run the worker as if ``days`` had passed: every step due by then runs."""
    worker = Worker(kith)
    worker.clock = lambda: dt.datetime.now(dt.UTC) + dt.timedelta(days=days)
    return await worker.run_until_idle()


async def journey(gql: GraphQLClient, segment_id: int, **extra) -> str:
    given = {"name": "Onboarding", "segmentId": str(segment_id), "steps": json.dumps(STEPS), **extra}
    made = await gql.query(CREATE, i=given)
    assert made["createJourney"]["errors"] == [], made
    return made["createJourney"]["journey"]["id"]


async def test_every_contact_takes_one_path_and_the_goal_exits(marketing):
    context = system_context(marketing)
    gql = GraphQLClient(marketing)
    segment = await context.records.create(
        "segment", {"name": "New customers", "definition": json.dumps({"lifecycleStage": {"eq": "customer"}})}
    )
    goal = {"tags": {"contains": "bought"}}
    journey_id = await journey(gql, segment["id"], goal=json.dumps(goal))
    people = []
    for i in range(40):
        person = await make_contact(marketing, first_name=f"P{i}", emails=[f"p{i}@example.com"],
                                    lifecycle_stage="customer", custom={"tier": i % 4})  # fmt: skip
        await subscribe(context, person["id"], "newsletter", source="test")
        people.append(person)
    activated = await gql.query(UPDATE, id=journey_id, i={"status": "active"})
    assert activated["updateJourney"]["errors"] == []
    await later(marketing, 0)  # the welcome mails go out; everyone waits three days
    assert len(await outgoing_mail(marketing)) == 40
    # two buy during the wait: the goal takes them out at once
    for person in people[:2]:
        await context.records.update("contact", person["id"], {"tags": ["bought"]})
    await later(marketing, 4)
    enrollments = await context.records.list("journey_enrollment", first=100)
    by_contact = {int(e["contact"]): e for e in enrollments}
    assert len(enrollments) == 40 == len(by_contact)  # each contact entered once
    paths = {cid: [p["step"] for p in json.loads(e["path"])] for cid, e in by_contact.items()}
    assert {e["status"] for cid, e in by_contact.items() if cid in (people[0]["id"], people[1]["id"])} == {"goal_met"}
    finished = [p for cid, p in paths.items() if cid not in (people[0]["id"], people[1]["id"])]
    assert all(p[:3] == ["welcome", "pause", "vip?"] for p in finished)
    ends = Counter(p[3] for p in finished)
    assert set(ends) == {"call", "ab"} and all(len(p) in (4, 5) for p in finished)  # one way each
    tiers = {int(p["id"]): p["custom"]["tier"] for p in people}
    assert all((tiers[cid] >= 3) == (p[3] == "call") for cid, p in paths.items() if len(p) > 3)
    split = Counter(p[4] for p in finished if p[3] == "ab")
    assert set(split) == {"offer-a", "offer-b"}  # both arms of the A/B split are used
    tagged = await context.records.count("contact", {"tags": {"contains": "offer-a"}})
    assert tagged == split["offer-a"]
    await later(marketing, 30)
    assert await context.records.count("journey_enrollment", {"status": {"eq": "active"}}) == 0  # all through


async def test_a_step_run_again_after_its_commit_does_nothing(marketing):
    """What a worker killed between a step's commit and marking its job done leaves: the
    job runs again, finds the step taken, and sends nothing twice."""
    context = system_context(marketing)
    segment = await context.records.create("segment", {"name": "Everyone", "definition": "{}"})
    gql = GraphQLClient(marketing)
    journey_id = await journey(gql, segment["id"])
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@example.com"])
    await subscribe(context, ann["id"], "newsletter", source="test")
    await gql.query(UPDATE, id=journey_id, i={"status": "active"})
    enrollment = await context.records.first("journey_enrollment", {})
    run = JobRun(engine.STEP_JOB, f"{engine.STEP_JOB}:{enrollment['id']}:0", {"taken": 0}, "journey_enrollment",
                 int(enrollment["id"]), None, 0)  # fmt: skip
    await engine.run_step(context, run)
    await engine.run_step(context, run)  # the same run again
    await later(marketing, 0)  # and the queued job itself
    assert [m["message"]["Subject"] for m in await outgoing_mail(marketing)] == ["Welcome, Ann"]
    path = json.loads((await context.records.get("journey_enrollment", enrollment["id"]))["path"])
    assert [p["step"] for p in path] == ["welcome", "pause"]  # once each; now waiting three days


async def test_a_step_that_fails_leaves_nothing_and_runs_again(marketing, monkeypatch):
    """A worker dying inside a step (here the step raises after the mail was handed
    over) rolls the whole step back: the retry sends the one mail."""
    context = system_context(marketing)
    segment = await context.records.create("segment", {"name": "Everyone", "definition": "{}"})
    gql = GraphQLClient(marketing)
    journey_id = await journey(gql, segment["id"])
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@example.com"])
    await subscribe(context, ann["id"], "newsletter", source="test")
    await gql.query(UPDATE, id=journey_id, i={"status": "active"})
    real = engine._send
    calls = []

    async def dies_once(*args):
        outcome = await real(*args)
        calls.append(outcome)
        if len(calls) == 1:
            raise RuntimeError("worker killed")
        return outcome

    monkeypatch.setattr(engine, "_send", dies_once)
    await later(marketing, 0)
    await later(marketing, 1)  # the retry (after its backoff)
    assert [m["message"]["Subject"] for m in await outgoing_mail(marketing)] == ["Welcome, Ann"]


async def test_bad_steps_are_refused_by_field(marketing):
    gql = GraphQLClient(marketing)
    bad = [
        {"id": "a", "type": "wait", "duration": "three days", "next": "b"},
        {"id": "b", "type": "branch", "if": {"nope": {"eq": 1}}, "then": "zz"},
        {"id": "a", "type": "teleport"},
    ]
    made = await gql.query(CREATE, i={"name": "Bad", "steps": json.dumps(bad)})
    fields = sorted(e["field"] for e in made["createJourney"]["errors"])
    assert fields == ["steps[0].duration", "steps[1]", "steps[1].if.nope", "steps[2].id", "steps[2].type"]
    loop = [
        {"id": "a", "type": "tag", "add": ["x"], "next": "b"},
        {"id": "b", "type": "tag", "add": ["y"], "next": "a"},
    ]
    looping = await gql.query(CREATE, i={"name": "Loop", "steps": json.dumps(loop)})
    assert "loop" in looping["createJourney"]["errors"][0]["message"]


async def test_contacts_enter_by_hand_and_from_an_automation_rule(marketing):
    """enrollInJourney puts chosen contacts on; the action enroll_in_journey lets any
    automation rule (here: a contact becoming a customer) do it on an event."""
    from kith.sdk import apply_rule
    from kith.sdk.testing import run_worker_until_idle

    context = system_context(marketing)
    gql = GraphQLClient(marketing)
    hello = [{"id": "hello", "type": "tag", "add": ["welcomed"]}]
    made = await gql.query(CREATE, i={"name": "Welcome", "steps": json.dumps(hello), "status": "active"})
    journey_id = made["createJourney"]["journey"]["id"]
    ann = await make_contact(marketing, first_name="Ann", emails=["ann@example.com"])
    enroll = (
        "mutation($j: ID!, $c: [ID!]!) { enrollInJourney(journeyId: $j, contactIds: $c) { entered errors { field } } }"
    )
    first = await gql.query(enroll, j=journey_id, c=[str(ann["id"])])
    assert first["enrollInJourney"] == {"entered": 1, "errors": []}
    again = await gql.query(enroll, j=journey_id, c=[str(ann["id"])])
    assert again["enrollInJourney"]["entered"] == 0  # on it already
    missing = await gql.query(enroll, j=journey_id, c=["999999"])
    assert missing["enrollInJourney"]["errors"] == [{"field": "contactIds"}]
    await apply_rule(marketing, {
        "name": "customers-get-welcomed", "enabled": True,
        "trigger": {"event": "contact.updated", "changed": "lifecycleStage", "to": "customer"},
        "actions": [{"enroll_in_journey": {"journey": "Welcome"}}],
    })  # fmt: skip
    bob = await make_contact(marketing, first_name="Bob", emails=["bob@example.com"])
    await context.records.update("contact", bob["id"], {"lifecycle_stage": "customer"})
    await run_worker_until_idle(marketing)
    on_it = await context.records.list("journey_enrollment", {}, first=10)
    assert sorted(int(e["contact"]) for e in on_it) == sorted([ann["id"], bob["id"]])


async def test_a_webhook_step_posts_once_with_an_idempotency_key(make_kith):
    """A webhook step POSTs the contact and the step; a receiver that fails the first
    time gets the step again after the retry, with the same Idempotency-Key."""
    import asyncio

    from kith.sdk.testing import run_worker_until_idle

    seen: list[tuple[str, dict]] = []

    async def receiver(reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        headers = dict(line.split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line)
        headers = {name.strip().lower(): value.strip() for name, value in headers.items()}
        body = json.loads(await reader.readexactly(int(headers[b"content-length"])))
        key = headers[b"idempotency-key"]
        seen.append((key.decode(), body))
        status = b"500 Oops" if len(seen) == 1 else b"204 No Content"
        writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(receiver, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        kith = await make_kith(enable=["marketing"], outbound_allow=["127.0.0.1"],
                               automation_retry_base_seconds=0.01, automation_retry_max_seconds=0.02)  # fmt: skip
        gql = GraphQLClient(kith)
        steps = [{"id": "tell-crm", "type": "webhook", "url": f"http://127.0.0.1:{port}/hook"}]
        made = await gql.query(CREATE, i={"name": "Hook", "steps": json.dumps(steps), "status": "active"})
        assert made["createJourney"]["errors"] == []
        ann = await make_contact(kith, first_name="Ann")
        enroll = "mutation($j: ID!, $c: [ID!]!) { enrollInJourney(journeyId: $j, contactIds: $c) { entered } }"
        await gql.query(enroll, j=made["createJourney"]["journey"]["id"], c=[str(ann["id"])])
        await run_worker_until_idle(kith)
        await asyncio.sleep(0.1)
        await run_worker_until_idle(kith)  # the retry
    finally:
        server.close()
    assert len(seen) == 2 and seen[0][0] == seen[1][0]  # the same key both times
    assert seen[1][1]["step"] == "tell-crm" and seen[1][1]["contact"]["first_name"] == "Ann"
    enrollment = await system_context(kith).records.first("journey_enrollment", {})
    assert enrollment["status"] == "completed"
    refused = await gql.query(CREATE, i={"name": "Inside", "steps": json.dumps(
        [{"id": "x", "type": "webhook", "url": "http://169.254.169.254/latest"}])})  # fmt: skip
    assert refused["createJourney"]["errors"][0]["field"] == "steps[0].url"


async def test_a_wait_ends_as_soon_as_its_condition_is_met(marketing):
    """Wait up to a week for the contact to become a customer: Ann does on day one and
    goes on at once; Bob does not and goes on when the week is over; nobody twice."""
    from kith.sdk.testing import run_worker_until_idle

    context, gql = system_context(marketing), GraphQLClient(marketing)
    steps = [
        {"id": "wait", "type": "wait", "duration": "P7D", "until_matches": {"lifecycleStage": {"eq": "customer"}},
         "next": "customer?"},
        {"id": "customer?", "type": "branch", "if": {"lifecycleStage": {"eq": "customer"}}, "then": "thanks",
         "else": "nudge"},
        {"id": "thanks", "type": "tag", "add": ["converted"]},
        {"id": "nudge", "type": "tag", "add": ["nudged"]},
    ]  # fmt: skip
    made = await gql.query(CREATE, i={"name": "Convert", "steps": json.dumps(steps), "status": "active"})
    assert made["createJourney"]["errors"] == [], made
    ann = await make_contact(marketing, first_name="Ann", lifecycle_stage="lead")
    bob = await make_contact(marketing, first_name="Bob", lifecycle_stage="lead")
    enroll = "mutation($j: ID!, $c: [ID!]!) { enrollInJourney(journeyId: $j, contactIds: $c) { entered } }"
    await gql.query(enroll, j=made["createJourney"]["journey"]["id"], c=[str(ann["id"]), str(bob["id"])])
    await run_worker_until_idle(marketing)  # both wait
    await context.records.update("contact", ann["id"], {"lifecycle_stage": "customer"})
    await run_worker_until_idle(marketing)  # Ann goes on now
    assert (await context.records.get("contact", ann["id"]))["tags"] == ["converted"]
    assert (await context.records.get("contact", bob["id"]))["tags"] == []
    await later(marketing, 8)  # the week is over: Bob goes on; Ann's timed step finds itself taken
    assert (await context.records.get("contact", bob["id"]))["tags"] == ["nudged"]
    paths = {int(e["contact"]): [p["step"] for p in json.loads(e["path"])]
             for e in await context.records.list("journey_enrollment", {}, first=10)}  # fmt: skip
    assert paths == {ann["id"]: ["wait", "customer?", "thanks"], bob["id"]: ["wait", "customer?", "nudge"]}


async def test_enrollments_are_read_as_the_caller(marketing):
    """A marketer who may read only their own contacts sees only those contacts' paths."""
    from kith.core.security.roles import save_role
    from kith.sdk import Grant, RoleDefinition
    from kith.sdk.testing import make_user

    await save_role(marketing, RoleDefinition(name="own_marketer", grants={
        "contact": Grant(actions=["read"], scope="own"), "journey": Grant(actions=["read"]),
        "journey_enrollment": Grant(actions=["read"], scope="own"),
    }))  # fmt: skip
    mia = await make_user(marketing, email="mia@example.com", roles=["own_marketer"])
    gql = GraphQLClient(marketing)
    hello = [{"id": "hello", "type": "tag", "add": ["welcomed"]}]
    made = await gql.query(CREATE, i={"name": "Welcome", "steps": json.dumps(hello), "status": "active"})
    mine = await make_contact(marketing, first_name="Ann", owner=mia["id"])
    other = await make_contact(marketing, first_name="Bob")
    enroll = "mutation($j: ID!, $c: [ID!]!) { enrollInJourney(journeyId: $j, contactIds: $c) { entered } }"
    await gql.query(enroll, j=made["createJourney"]["journey"]["id"], c=[str(mine["id"]), str(other["id"])])
    as_mia = await GraphQLClient.as_user(marketing, mia["id"])
    seen = await as_mia.query("{ journeyEnrollments { totalCount nodes { contact { firstName } } } }")
    assert seen["journeyEnrollments"] == {"totalCount": 1, "nodes": [{"contact": {"firstName": "Ann"}}]}
