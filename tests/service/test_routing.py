"""Routing: team queues hand tickets to available agents with room, fairly, and never
one ticket to two agents or an agent past capacity, with assigners racing."""

from __future__ import annotations

import asyncio

import pytest

from kith.plugins.service import routing
from kith.sdk.testing import make_user, run_worker_until_idle, system_context


@pytest.fixture
async def service(make_kith):
    return await make_kith(enable=["service"])


async def setup_team(kith, strategy: str, agents: list[dict]) -> tuple[int, list[int]]:
    records = system_context(kith).records
    team = await records.create("team", {"name": "Support"})
    await records.create("team_queue", {"team": team["id"], "strategy": strategy})
    users = []
    for n, spec in enumerate(agents):
        user = await make_user(kith, email=f"agent{n}@example.com", roles=["agent"])
        await records.create("agent_profile", {"user": user["id"], "teams": ["Support"], **spec})
        users.append(user["id"])
    return team["id"], users


async def queue(kith, team: int, count: int, **values) -> list[int]:
    records = system_context(kith).records
    return [(await records.create("ticket", {"subject": f"T{i}", "team": team, **values}))["id"] for i in range(count)]


async def assignees(kith, ids: list[int]) -> list[int | None]:
    records = system_context(kith).records
    return [(await records.get("ticket", i))["assignee"] for i in ids]


async def test_round_robin_takes_turns_and_stops_at_capacity_then_drains_oldest_first(service):
    team, (a, b) = await setup_team(service, "round_robin", [{"capacity": 2}, {"capacity": 2}])
    tickets = await queue(service, team, 5)
    await run_worker_until_idle(service)
    assert await assignees(service, tickets) == [a, b, a, b, None]
    records = system_context(service).records
    solved = await records.first("ticket_status", {"category": {"eq": "solved"}})
    await records.update("ticket", tickets[1], {"status": solved["id"]})  # b has room again
    await run_worker_until_idle(service)
    assert await assignees(service, tickets) == [a, b, a, b, b]


async def test_least_open_work_and_unavailable_agents(service):
    team, (a, b, c) = await setup_team(
        service, "least_open", [{"capacity": 5}, {"capacity": 5}, {"capacity": 5, "available": False}]
    )
    records = system_context(service).records
    await records.create("ticket", {"subject": "already b's", "assignee": b})
    tickets = await queue(service, team, 3)
    await run_worker_until_idle(service)
    assert await assignees(service, tickets) == [a, b, a]  # c is away; b had one open, then a tie: b waited longer
    await records.update(
        "agent_profile", (await records.first("agent_profile", {"userId": {"eq": c}}))["id"], {"available": True}
    )
    more = await queue(service, team, 1)
    await run_worker_until_idle(service)
    assert await assignees(service, more) == [c]


async def test_skills_routing_gives_tickets_to_agents_with_every_skill(service):
    team, (a, b) = await setup_team(
        service, "skills", [{"capacity": 5, "skills": ["billing"]}, {"capacity": 5, "skills": ["billing", "german"]}]
    )
    german = await queue(service, team, 2, skills=["german", "billing"])
    plain = await queue(service, team, 1, skills=["billing"])
    nobody = await queue(service, team, 1, skills=["klingon"])
    await run_worker_until_idle(service)
    assert await assignees(service, german + plain + nobody) == [b, b, a, None]


async def test_racing_assigners_never_double_assign_or_exceed_capacity(service):
    capacities = [3, 5, 7, 2]
    team, users = await setup_team(service, "least_open", [{"capacity": c} for c in capacities])
    tickets = await queue(service, team, 40)
    context = system_context(service)
    results = await asyncio.gather(*(routing.route_team(context, team) for _ in range(8)))
    made = [a for batch in results for a in batch]
    assert len(made) == sum(capacities) == len({a.ticket for a in made})  # each ticket once
    rows = await service.db.execute(
        "SELECT assignee, COUNT(*) AS n FROM service_ticket WHERE assignee IS NOT NULL GROUP BY assignee"
    )
    assert {r["assignee"]: r["n"] for r in rows} == dict(zip(users, capacities, strict=True))
    audit = await service.db.execute(
        "SELECT record_id, COUNT(*) AS n FROM kith_audit WHERE entity = 'ticket' AND action = 'update' GROUP BY record_id"
    )
    assert all(r["n"] == 1 for r in audit) and len(audit) == sum(capacities)
    assert len(tickets) - len(made) == 40 - sum(capacities)
