"""SLAs on tickets, end to end: policies chosen by conditions, clocks that pause while
waiting on the customer, breaches raised by the worker at the deadline, automations
acting on them, and recomputation when a policy changes."""

from __future__ import annotations

import asyncio
import datetime as dt
import time

import pytest

from kith.core.automations.worker import Worker
from kith.sdk.testing import GraphQLClient, make_user, run_worker_until_idle, system_context


@pytest.fixture
async def service(make_kith):
    return await make_kith(enable=["service"], worker_poll_seconds=0.2)


async def status(kith, category: str) -> int:
    found = await system_context(kith).records.first("ticket_status", {"category": {"eq": category}})
    return found["id"]


async def events(kith, name: str) -> list[dict]:
    return await kith.db.execute(
        "SELECT record_id, payload, created_at FROM kith_outbox WHERE event = {} ORDER BY id", name
    )


async def test_a_policy_by_priority_sets_deadlines_and_a_reply_meets_first_response(service):
    records = system_context(service).records
    await records.create(
        "sla_policy",
        {
            "name": "Urgent",
            "position": 0,
            "conditions": {"priority": {"eq": "urgent"}},
            "targets": {"urgent": {"first_response": 30, "resolution": 240}},
        },
    )
    await records.create(
        "sla_policy", {"name": "Standard", "position": 1, "targets": {"default": {"first_response": 480}}}
    )
    before = dt.datetime.now(dt.UTC)
    urgent = await records.create("ticket", {"subject": "Down", "priority": "urgent"})
    normal = await records.create("ticket", {"subject": "Question"})
    urgent, normal = await records.get("ticket", urgent["id"]), await records.get("ticket", normal["id"])
    assert urgent["sla_policy"] == "Urgent" and normal["sla_policy"] == "Standard"
    assert dt.timedelta(minutes=29) < urgent["sla_due_at"] - before <= dt.timedelta(minutes=30, seconds=5)
    assert dt.timedelta(hours=7) < normal["sla_due_at"] - before <= dt.timedelta(hours=8, seconds=5)
    await records.create("ticket_message", {"ticket": urgent["id"], "body": "on it"})
    answered = await records.get("ticket", urgent["id"])
    assert answered["first_response_seconds"] is not None and answered["first_response_seconds"] < 5
    assert answered["sla_due_at"] > answered["first_response_at"] + dt.timedelta(hours=3)  # resolution is next


async def test_the_clock_pauses_while_waiting_on_the_customer(service):
    records = system_context(service).records
    await records.create("sla_policy", {"name": "All", "targets": {"default": {"resolution": 60}}})
    ticket = await records.create("ticket", {"subject": "Help"})
    due = (await records.get("ticket", ticket["id"]))["sla_due_at"]
    await records.update("ticket", ticket["id"], {"status": await status(service, "waiting_on_customer")})
    paused = await records.get("ticket", ticket["id"])
    assert paused["sla_state"] == "paused" and paused["sla_due_at"] is None
    await asyncio.sleep(1.1)
    await records.update("ticket", ticket["id"], {"status": await status(service, "open")})
    resumed = await records.get("ticket", ticket["id"])
    assert resumed["sla_state"] == "ok" and resumed["sla_due_at"] - due >= dt.timedelta(seconds=1)
    await records.update("ticket", ticket["id"], {"status": await status(service, "solved")})
    solved = await records.get("ticket", ticket["id"])
    assert solved["paused_seconds"] >= 1 and solved["resolution_seconds"] is not None
    assert solved["sla_due_at"] is None and solved["sla_state"] == "met"


async def test_a_breach_is_raised_at_its_deadline_by_the_worker_and_the_shipped_rule_escalates(service):
    records = system_context(service).records
    await records.create("sla_policy", {"name": "Fast", "targets": {"default": {"first_response": 2 / 60}}})
    # the plugin ships service.escalate-sla-breach: a breached ticket becomes urgent
    ticket = await records.create("ticket", {"subject": "Tick tock"})
    created = time.monotonic()
    stop = asyncio.Event()
    worker = asyncio.create_task(Worker(service).run_forever(stop))
    try:
        while time.monotonic() - created < 5:
            if (await records.get("ticket", ticket["id"]))["priority"] == "urgent":
                break
            await asyncio.sleep(0.1)
    finally:
        stop.set()
        await worker
    elapsed = time.monotonic() - created
    breaches = await events(service, "sla.breached")
    assert [row["record_id"] for row in breaches] == [ticket["id"]]
    assert (await records.get("ticket", ticket["id"]))["priority"] == "urgent", f"not escalated after {elapsed:.1f}s"
    assert 2 <= elapsed < 5
    warnings = await events(service, "sla.warning")
    assert [row["record_id"] for row in warnings] == [ticket["id"]]  # at 80 % of the target, before the breach


async def test_editing_a_policy_recomputes_open_tickets(service):
    records = system_context(service).records
    policy = await records.create("sla_policy", {"name": "All", "targets": {"default": {"resolution": 600}}})
    ticket = await records.create("ticket", {"subject": "Help"})
    before = (await records.get("ticket", ticket["id"]))["sla_due_at"]
    await records.update("sla_policy", policy["id"], {"targets": {"default": {"resolution": 60}}})
    await run_worker_until_idle(service)
    after = (await records.get("ticket", ticket["id"]))["sla_due_at"]
    assert before - after == dt.timedelta(minutes=540)


SLA_TARGETS = """query($entity: String!, $id: ID!) { slaTargets(entity: $entity, id: $id) {
  policy target state deadline metAt breachedAt } }"""


async def test_an_sla_on_another_entity_follows_its_filters(service):
    from kith.plugins.service.sla import engine

    records = system_context(service).records
    await records.create(
        "sla_policy",
        {
            "name": "Call new leads",
            "entity": "contact",
            "conditions": {"lifecycleStage": {"eq": "lead"}},
            "responded_when": {"title": {"isNull": False}},
            "targets": {"default": {"first_response": 1 / 60}},
        },
    )
    engine.forget_policies()
    lead = await records.create("contact", {"first_name": "Lea", "lifecycle_stage": "lead"})
    customer = await records.create("contact", {"first_name": "Cy", "lifecycle_stage": "customer"})
    gql = GraphQLClient(service)
    (target,) = (await gql.query(SLA_TARGETS, entity="contact", id=str(lead["id"])))["slaTargets"]
    assert (target["policy"], target["target"], target["state"]) == ("Call new leads", "first_response", "running")
    assert (await gql.query(SLA_TARGETS, entity="contact", id=str(customer["id"])))["slaTargets"] == []
    await asyncio.sleep(1.1)  # past the deadline: the worker (not running here) would check now
    await engine.refresh(system_context(service), "contact", await records.get("contact", lead["id"]))
    assert [row["record_id"] for row in await events(service, "contact.sla_breached")] == [lead["id"]]
    await records.update("contact", lead["id"], {"title": "called back"})
    (met,) = (await gql.query(SLA_TARGETS, entity="contact", id=str(lead["id"])))["slaTargets"]
    assert met["state"] == "met" and met["breachedAt"] is not None  # met, but late
    rep = await make_user(service, roles=["sales_rep"])
    as_rep = await GraphQLClient.as_user(service, rep["id"])
    assert (await as_rep.query(SLA_TARGETS, entity="contact", id=str(lead["id"])))["slaTargets"] == []  # not hers
