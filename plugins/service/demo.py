"""Demo data for ``kith demo``: a support team whose agents work a round-robin queue, an
office calendar with a lunch break and holidays, SLA policies, knowledge-base articles,
macros and canned replies, and tickets at every stage — new, answered, waiting on the
customer, solved with a satisfaction score, one breached.

Written through the record service like real input; only the creation times of the
past are moved back afterwards, so the clocks and figures have a history to show.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

from faker import Faker
from piccolo.columns import Column

from kith.plugins.service.models import SlaEvent, Ticket, TicketMessage
from kith.plugins.service.sla import engine
from kith.sdk import PluginContext

SUBJECTS = (
    "Cannot sign in after the update",
    "Invoice shows the wrong VAT number",
    "Export to CSV is missing columns",
    "How do I add a second user?",
    "The mobile app crashes on start",
    "Refund for a double charge",
    "Password reset mail never arrives",
    "Can we change our billing date?",
)
ARTICLES = (
    (
        "Resetting your password",
        "Open the sign-in page and choose 'Forgot password'.\n\nThe mail arrives within a minute.",
    ),
    ("Adding users to your account", "Admins add users under Settings > Team.\n\nEach user gets an invitation."),
    ("Understanding your invoice", "Every invoice lists your VAT number and the billing period."),
    ("Exporting your data", "Choose Export on any list to download a CSV file with every visible column."),
)
OFFICE = {day: ["09:00-12:30", "13:30-17:30"] for day in ("mon", "tue", "wed", "thu", "fri")}


async def load(context: PluginContext, seed: int) -> dict[str, int]:
    fake = Faker()
    fake.seed_instance(seed + 13)
    rng = random.Random(seed + 13)
    records = context.as_plugin(keep_permissions=False, name="demo").system
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    team = await records.first("team", {"name": {"eq": "Customer success"}}) or await records.create(
        "team", {"name": "Customer success"}
    )
    agents = await records.list("user", {"teamId": {"eq": team["id"]}}, order_by=[{"id": "ASC"}])
    async with context.db.transaction():
        await records.create("team_queue", {"team": team["id"], "strategy": "round_robin"})
        for agent in agents:
            await records.create(
                "agent_profile", {"user": agent["id"], "teams": [team["name"]], "capacity": 8, "skills": ["billing"]}
            )
        office = await records.create(
            "business_calendar",
            {
                "name": "Office hours",
                "timezone": "Europe/Berlin",
                "hours": OFFICE,
                "holidays": [f"{now.year}-12-25", f"{now.year}-12-26", f"{now.year + 1}-01-01"],
            },
        )
        await records.create(
            "sla_policy",
            {
                "name": "Urgent",
                "position": 0,
                "conditions": {"priority": {"eq": "urgent"}},
                "targets": {"urgent": {"first_response": 60, "next_response": 120, "resolution": 480}},
            },
        )
        await records.create(
            "sla_policy",
            {
                "name": "Standard",
                "position": 1,
                "calendar": office["id"],
                "targets": {"default": {"first_response": 240, "next_response": 480, "resolution": 2400}},
            },
        )
        for title, body in ARTICLES:
            await records.create("kb_article", {"title": title, "body": body, "status": "published"})
        await records.create(
            "canned_reply",
            {
                "name": "Thanks, looking into it",
                "body": "Hello {{ requester.first_name }},\n\nthank you for writing; "
                "I am looking into {{ ticket.number }} now.\n\n{{ agent.name }}",
            },
        )
        await records.create(
            "macro",
            {
                "name": "Solve with thanks",
                "actions": [{"reply": "Glad we could help, {{ requester.first_name }}!"}, {"status": "Solved"}],
            },
        )
    listed = await context.system.list("contact", order_by=[{"id": "ASC"}], first=80)
    contacts = [c for c in listed if c.get("emails")][:40]
    statuses = {s["category"]: s["id"] for s in await records.list("ticket_status", order_by=[{"position": "DESC"}])}
    tickets = 0
    for index, subject in enumerate(SUBJECTS * 3):
        if not contacts:
            break
        contact = contacts[index % len(contacts)]
        age = dt.timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 8))
        async with context.db.transaction():
            ticket = await records.create(
                "ticket",
                {
                    "subject": subject,
                    "requester": contact["id"],
                    "channel": rng.choice(("email", "email", "web")),
                    "priority": rng.choice(("low", "normal", "normal", "high", "urgent")),
                    "team": team["id"],
                },
            )
            await records.create(
                "ticket_message",
                {
                    "ticket": ticket["id"],
                    "direction": "inbound",
                    "author_contact": contact["id"],
                    "body": fake.paragraph(nb_sentences=3),
                },
            )
            stage = index % 4
            if stage >= 1 and agents:
                await records.create("ticket_message", {"ticket": ticket["id"], "body": fake.paragraph(nb_sentences=2)})
            if stage == 2:
                await records.update("ticket", ticket["id"], {"status": statuses["waiting_on_customer"]})
            if stage == 3:
                await records.update(
                    "ticket", ticket["id"], {"status": statuses["solved"], "satisfaction": rng.randint(3, 5)}
                )
        await _age(ticket["id"], age)
        tickets += 1
    async with context.db.transaction():
        await engine.refresh_all(context, ["ticket"])
    return {"tickets": tickets, "kb_articles": len(ARTICLES), "sla_policies": 2}


async def _age(ticket_id: int, age: dt.timedelta) -> None:
    """Move a demo ticket's history back by ``age``, as if it had been written then."""
    times = (
        Ticket.created_at,
        Ticket.assigned_at,
        Ticket.first_response_at,
        Ticket.last_customer_message_at,
        Ticket.last_agent_reply_at,
        Ticket.solved_at,
    )
    for row in await Ticket.select(*times).where(Ticket.id == ticket_id):
        moved: dict[Column | str, Any] = {
            column: row[column._meta.name] - age for column in times if row[column._meta.name] is not None
        }
        await Ticket.update(moved).where(Ticket.id == ticket_id)
    for row in await TicketMessage.select(TicketMessage.id, TicketMessage.created_at).where(
        TicketMessage.ticket == ticket_id
    ):
        await TicketMessage.update({TicketMessage.created_at: row["created_at"] - age}).where(
            TicketMessage.id == row["id"]
        )
    events = SlaEvent.select(SlaEvent.id, SlaEvent.at).where(
        (SlaEvent.entity == "ticket") & (SlaEvent.record_id == ticket_id)
    )
    for row in await events:
        await SlaEvent.update({SlaEvent.at: row["at"] - age}).where(SlaEvent.id == row["id"])
