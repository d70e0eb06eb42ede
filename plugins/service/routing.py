"""Routing: handing a team's unassigned tickets to its available agents.

A team's queue hands out its tickets oldest first to agents who are available, work
the team's queue, have room under their capacity (open tickets assigned to them) and,
for skills routing, have every skill the ticket asks for.  Who gets the next one:

- ``round_robin``: the agent who was given a ticket longest ago;
- ``least_open``: the agent with the fewest open tickets (then the longest ago);
- ``skills``: among the agents with the skills, the one with the fewest open tickets.

Every assignment anywhere takes turns on one lock (``serialise``) inside its write
transaction, and reads the open counts only after taking it: two assigners, in two
processes or two workers, can then never give one ticket to two agents or take an
agent past their capacity, whichever team queues they drain.  Routing runs as a job
(``service.route``) when a ticket joins a queue or an agent's room grows, so a
request never waits for it, and ``kith service route`` runs it by hand.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from piccolo.query.functions.aggregate import Count

from kith.plugins.service.models import DONE_CATEGORIES, AgentProfile, TeamQueue, Ticket
from kith.sdk import JobRun, PluginContext, Team

ROUTE_JOB = "service.route"
LOCK = "service.routing"
#: assignments per transaction: the lock is let go between batches, so a manual
#: assignment or another team's routing never waits long
BATCH = 100


@dataclass
class Agent:
    user: int
    profile: int
    capacity: int
    skills: frozenset[str]
    last_assigned_at: dt.datetime | None
    open: int = 0

    @property
    def room(self) -> int:
        return self.capacity - self.open


@dataclass(frozen=True)
class Assignment:
    ticket: int
    number: str
    agent: int


def _never() -> dt.datetime:
    return dt.datetime.min.replace(tzinfo=dt.UTC)


def pick(strategy: str, agents: Sequence[Agent], skills: Sequence[str]) -> Agent | None:
    """The agent ``strategy`` gives a ticket needing ``skills`` to, or None."""
    needed = frozenset(skills)
    able = [a for a in agents if a.room > 0 and (strategy != "skills" or needed <= a.skills)]
    if not able:
        return None
    if strategy == "round_robin":
        return min(able, key=lambda a: (a.last_assigned_at or _never(), a.user))
    return min(able, key=lambda a: (a.open, a.last_assigned_at or _never(), a.user))


async def _agents(team: int) -> list[Agent]:
    found = await Team.select(Team.name).where(Team.id == team).first()
    if found is None:
        return []
    rows = await AgentProfile.select(
        AgentProfile.id,
        AgentProfile.user,
        AgentProfile.capacity,
        AgentProfile.skills,
        AgentProfile.teams,
        AgentProfile.last_assigned_at,
        AgentProfile.user.is_active.as_alias("active"),
    ).where((AgentProfile.available == True) & AgentProfile.deleted_at.is_null())  # noqa: E712
    agents = [
        Agent(row["user"], row["id"], int(row["capacity"]), frozenset(_list(row["skills"])), row["last_assigned_at"])
        for row in rows
        if row["active"] and found["name"] in _list(row["teams"])
    ]
    if agents:
        counts = await (
            Ticket.select(Ticket.assignee, Count(Ticket.id, alias="open"))
            .where(
                Ticket.assignee.is_in([a.user for a in agents])
                & Ticket.status_category.not_in(list(DONE_CATEGORIES))
                & Ticket.deleted_at.is_null()
            )
            .group_by(Ticket.assignee)
        )
        open_by_user = {row["assignee"]: int(row["open"]) for row in counts}
        for agent in agents:
            agent.open = open_by_user.get(agent.user, 0)
    return agents


def _list(value: Any) -> list[Any]:
    """A JSON list column's value (Piccolo hands SQLite's back as text)."""
    return list(json.loads(value or "[]") if isinstance(value, str) else value or [])


async def _waiting(team: int, limit: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await (
        Ticket.select(Ticket.id, Ticket.number, Ticket.skills, Ticket.version)
        .where(
            (Ticket.team == team)
            & Ticket.assignee.is_null()
            & Ticket.merged_into.is_null()
            & Ticket.status_category.not_in(list(DONE_CATEGORIES))
            & Ticket.deleted_at.is_null()
        )
        .order_by(Ticket.created_at, Ticket.id)
        .limit(limit)
    )
    return rows


async def strategy_of(team: int) -> str | None:
    """The team queue's strategy, None when it has no active queue or routes by hand."""
    row = await (
        TeamQueue.select(TeamQueue.strategy)
        .where((TeamQueue.team == team) & (TeamQueue.active == True) & TeamQueue.deleted_at.is_null())  # noqa: E712
        .first()
    )
    if row is None or row["strategy"] == "manual":
        return None
    return str(row["strategy"])


async def route_team(context: PluginContext, team: int) -> list[Assignment]:
    """Drain ``team``'s queue as far as its agents have room; returns the assignments."""
    strategy = await strategy_of(team)
    if strategy is None:
        return []
    made: list[Assignment] = []
    while True:
        batch = await _route_batch(context, team, strategy)
        made.extend(batch)
        if len(batch) < BATCH:
            return made


async def _route_batch(context: PluginContext, team: int, strategy: str) -> list[Assignment]:
    writer = context.as_plugin(keep_permissions=False, name="routing").system
    made: list[Assignment] = []
    async with context.db.transaction():
        await context.db.serialise(LOCK)
        agents = await _agents(team)
        if not any(a.room > 0 for a in agents):
            return made
        now = dt.datetime.now(dt.UTC)
        for ticket in await _waiting(team, BATCH):
            agent = pick(strategy, agents, _list(ticket["skills"]))
            if agent is None:
                if strategy == "skills":
                    continue  # a later ticket may need skills someone with room has
                break
            await writer.update("ticket", ticket["id"], {"assignee": agent.user}, expected_version=ticket["version"])
            agent.open += 1
            agent.last_assigned_at = now
            made.append(Assignment(ticket["id"], ticket["number"], agent.user))
        for agent in agents:
            if agent.last_assigned_at == now:
                await AgentProfile.update({AgentProfile.last_assigned_at: now}).where(AgentProfile.id == agent.profile)
    return made


async def team_ids(names: Sequence[str]) -> list[int]:
    if not names:
        return []
    rows = await Team.select(Team.id).where(Team.name.is_in(list(names)))
    return [int(row["id"]) for row in rows]


async def teams_of_agent(user: int) -> list[int]:
    """The teams whose queues ``user`` works (their agent profile's)."""
    row = await AgentProfile.select(AgentProfile.teams).where(AgentProfile.user == user).first()
    return await team_ids(_list(row["teams"])) if row else []


async def teams_with_queues() -> list[int]:
    rows = await TeamQueue.select(TeamQueue.team).where(
        (TeamQueue.active == True) & TeamQueue.deleted_at.is_null()  # noqa: E712
    )
    return [int(row["team"]) for row in rows if row["team"] is not None]


async def request(context: PluginContext, team: int | None, reason: str) -> None:
    """Ask for ``team``'s queue to be routed soon (in this transaction, once per reason)."""
    if team is None:
        return
    await context.schedule(ROUTE_JOB, key=f"{team}:{reason}", payload={"team": team}, entity="team", record_id=team)


async def run_job(context: PluginContext, run: JobRun) -> None:
    await route_team(context, int(run.payload["team"]))
