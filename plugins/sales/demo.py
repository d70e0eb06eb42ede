"""Demo data for ``kith demo``: a second pipeline, scoring rules, products, open leads
with a history of calls and meetings, converted leads whose deals were won or lost (so
the lead model has something to learn from), and deals at every stage — some won,
lost or reopened — with a stage history.

Everything is written through the record service like real input.  Only the
timestamps of the past (when a deal was created or closed, when an activity happened)
are moved back afterwards, so that forecasts, KPIs and decay have a history to show.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import random
from typing import Any

from faker import Faker

from kith.plugins.sales import conversion, lead_model, scoring
from kith.plugins.sales.models import Deal, Stage
from kith.plugins.sales.quotes import workflow
from kith.sdk import PluginContext, ValidationFailed

SOURCES = ("webinar", "referral", "website", "trade show", "cold call")
COUNTRIES = ("US", "US", "US", "CA", "GB", "DE", "FR", "AT")
NEEDS = ("Replace spreadsheets", "Consolidate CRMs", "Automate follow-ups", "Better forecasting", None)
LOST_REASONS = ("Price", "Went with a competitor", "No budget this year", "No decision")

SCORING_RULES: list[dict[str, Any]] = [
    {
        "name": "Referral",
        "points": 25,
        "conditions": '{"source": {"eq": "referral"}}',
        "description": "came through a referral",
    },
    {
        "name": "Webinar attendee",
        "points": 15,
        "conditions": '{"source": {"eq": "webinar"}}',
        "description": "attended a webinar",
    },
    {
        "name": "Decision maker",
        "points": 15,
        "conditions": '{"authority": {"eq": true}}',
        "description": "talking to who decides",
    },
    {
        "name": "Budget known",
        "points": 10,
        "conditions": '{"budget": {"isNull": false}}',
        "description": "told us their budget",
    },
    {"name": "Calls", "points": 5, "activity_kind": "call", "max_points": 20, "half_life_days": 30},
    {"name": "Meetings", "points": 15, "activity_kind": "meeting", "max_points": 30, "half_life_days": 45},
    {
        "name": "Free email",
        "points": -10,
        "conditions": '{"domain": {"isNull": true}}',
        "description": "no company domain",
    },
]

PRODUCTS = (
    ("Kith Cloud — Team seat", "KC-TEAM", "seat / year", "19", {"USD": "480", "EUR": "440"}),
    ("Kith Cloud — Enterprise seat", "KC-ENT", "seat / year", "19", {"USD": "960", "EUR": "890"}),
    ("Onboarding package", "ONB-5D", "package", "19", {"USD": "4500", "EUR": "4200"}),
    ("Premium support", "SUP-PREM", "year", "19", {"USD": "6000", "EUR": "5500"}),
)

RENEWAL_STAGES = (
    ("Renewal due", 50, "open", "best_case"),
    ("Renewal negotiation", 80, "open", "commit"),
    ("Renewed", 100, "won", None),
    ("Churned", 0, "lost", "omitted"),
)


async def load(context: PluginContext, seed: int) -> dict[str, int]:
    """The sales demo on top of the core's demo data; returns what it made."""
    rng = random.Random(seed)
    fake = Faker("en_US")
    fake.seed_instance(seed + 1)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    users = [{"id": user["id"]} async for user in context.records.each("user", order_by=[{"id": "ASC"}])]
    records = context.records
    async with context.db.transaction():
        renewals = await records.create("pipeline", {"name": "Renewals", "description": "Yearly renewals"})
        for position, (name, probability, kind, category) in enumerate(RENEWAL_STAGES):
            await records.create(
                "stage",
                {
                    "pipeline": renewals["id"],
                    "name": name,
                    "position": position,
                    "probability": probability,
                    "kind": kind,
                    "forecast_category": category,
                },
            )
        for rule in SCORING_RULES:
            await records.create("scoring_rule", rule)
    stages = await _stages(context)
    contacts = await context.records.count("contact")
    products = await _products(context)
    deals = await _deals(context, rng, now, users, stages)
    quotes = await _quotes(context, rng, products)
    history = await _converted_leads(context, rng, fake, now, users, stages, 24 if contacts >= 100 else 12)
    leads = await _open_leads(context, rng, fake, now, users, min(40, max(5, contacts // 8)))
    with contextlib.suppress(ValidationFailed):  # a small demo may lack the history; the rules still score
        await lead_model.train(context)
    await scoring.score_leads(context)
    return {
        "pipelines": 2,
        "scoring rules": len(SCORING_RULES),
        "products": len(products),
        "quotes": quotes,
        "deals": deals + history,
        "leads": leads + history,
    }


async def _products(context: PluginContext) -> list[int]:
    ids = []
    async with context.db.transaction():
        for name, sku, unit, tax, prices in PRODUCTS:
            product = await context.records.create(
                "product", {"name": name, "sku": sku, "unit": unit, "tax_percent": tax}
            )
            for currency, amount in prices.items():
                await context.records.create(
                    "product_price", {"product": product["id"], "amount": {"amount": amount, "currency": currency}}
                )
            ids.append(int(product["id"]))
    return ids


async def _quotes(context: PluginContext, rng: random.Random, products: list[int]) -> int:
    """Quotes on open deals in Proposal or Negotiation: drafts, sent ones, one accepted
    and one rejected, each with a few product lines."""
    rows = (
        await Deal.select(Deal.id).where(Deal.stage.name.is_in(["Proposal", "Negotiation"])).order_by(Deal.id).limit(12)
    )
    for index, row in enumerate(rows):
        async with context.db.transaction():
            quote = await context.records.create(
                "quote",
                {
                    "deal": row["id"],
                    "title": "Kith Cloud subscription",
                    "discount_percent": rng.choice(("0", "5", "10")),
                },
            )
            for position, product in enumerate(rng.sample(products, rng.randint(1, 3))):
                await context.records.create(
                    "quote_line",
                    {
                        "quote": quote["id"],
                        "product": product,
                        "position": position,
                        "quantity": str(rng.choice((1, 5, 10, 25))),
                    },
                )
            if index % 3:
                await workflow.send(context, quote["id"])
            if index == 1:
                await workflow.accept(context, quote["id"])
            elif index == 2:
                await workflow.reject(context, quote["id"], "Asked for a smaller first year")
    return len(rows)


async def _stages(context: PluginContext) -> dict[str, list[dict[str, Any]]]:
    rows = (
        await Stage.select(Stage.id, Stage.name, Stage.kind, Stage.pipeline.name.as_alias("pipeline"))
        .where(Stage.pipeline.is_not_null())
        .order_by(Stage.position, Stage.id)
    )
    by_pipeline: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_pipeline.setdefault(row["pipeline"], []).append(dict(row))
    return by_pipeline


async def _move(context: PluginContext, deal_id: int, path: list[dict[str, Any]], reason: str | None = None) -> None:
    for stage in path:
        values: dict[str, Any] = {"stage": stage["id"]}
        if stage["kind"] == "lost":
            values["lost_reason"] = reason
        await context.records.update("deal", deal_id, values)


async def _backdate(context: PluginContext, deal_id: int, created: dt.datetime, closed: dt.datetime | None) -> None:
    """Demo history: the deal was made (and closed) earlier than now (not a record write:
    the dates are the demo's, not an edit anyone made)."""
    await Deal.update({Deal.created_at: created}).where(Deal.id == deal_id)
    if closed is not None:
        await Deal.update({Deal.closed_at: closed}).where(Deal.id == deal_id)


async def _deals(
    context: PluginContext, rng: random.Random, now: dt.datetime, users: list[dict[str, Any]], stages: dict[str, Any]
) -> int:
    """Deals on the demo's organizations: most open, some won or lost, one reopened."""
    with_organization = {"organizationId": {"isNull": False}}
    people = await context.records.list("contact", with_organization, order_by=[{"id": "ASC"}], first=60)
    names = {
        org["id"]: org["name"]
        for org in await context.records.list(
            "organization", {"id": {"in": sorted({c["organization"] for c in people})}}, first=60
        )
    }
    contacts = [{"id": c["id"], "organization": c["organization"], "name": names[c["organization"]]} for c in people]
    count = 0
    for index, contact in enumerate(contacts):
        pipeline = "Renewals" if index % 6 == 5 else "Sales"
        ladder = stages[pipeline]
        open_stages = [s for s in ladder if s["kind"] == "open"]
        won = next(s for s in ladder if s["kind"] == "won")
        lost = next(s for s in ladder if s["kind"] == "lost")
        outcome = rng.choices(("open", "won", "lost"), (60, 25, 15))[0]
        currency = "EUR" if rng.random() < 0.2 else "USD"
        created = now - dt.timedelta(days=rng.randint(20, 150))
        async with context.db.transaction():
            deal = await context.records.create(
                "deal",
                {
                    "name": f"{contact['name']} — {'renewal' if pipeline == 'Renewals' else 'new business'}",
                    "amount": {"amount": str(rng.choice((4, 8, 12, 18, 25, 40, 60)) * 1000), "currency": currency},
                    "stage": ladder[0]["id"],
                    "organization": contact["organization"],
                    "contact": contact["id"],
                    "owner": rng.choice(users)["id"],
                    "expected_close": (now + dt.timedelta(days=rng.randint(-20, 80))).date(),
                },
            )
            if outcome == "open":
                await _move(context, deal["id"], open_stages[1 : rng.randint(1, len(open_stages))])
                closed = None
            else:
                await _move(
                    context, deal["id"], [*open_stages[1:], won if outcome == "won" else lost], rng.choice(LOST_REASONS)
                )
                closed = created + dt.timedelta(days=rng.randint(10, max(11, (now - created).days - 1)))
            if index == 3:  # won, then reopened: open again, no longer counted as won
                await _move(context, deal["id"], [won, open_stages[-1]])
                closed = None
            await _backdate(context, deal["id"], created, closed)
        count += 1
    return count


def _person(fake: Faker, rng: random.Random, index: int) -> dict[str, Any]:
    first, last = fake.first_name(), fake.last_name()
    company = fake.company()
    free = rng.random() < 0.15
    domain = None if free else f"{company.split()[0].lower().strip(',')}{index}.example"
    return {
        "first_name": first,
        "last_name": last,
        "email": f"{first}.{last}.{index}@{domain or 'mailbox.example'}".lower().replace("'", ""),
        "company": company,
        "domain": domain,
        "title": rng.choice(("CEO", "Head of Sales", "Operations Manager", "IT Director", "Founder", "Analyst")),
    }


async def _activities(
    context: PluginContext, rng: random.Random, now: dt.datetime, lead_id: int, calls: int, meetings: int, user: int
) -> None:
    for kind, count, subject in (("call", calls, "Discovery call"), ("meeting", meetings, "Product demo")):
        for n in range(count):
            await context.records.create(
                "activity",
                {
                    "kind": kind,
                    "subject": f"{subject} {n + 1}" if n else subject,
                    "subject_type": "lead",
                    "subject_id": lead_id,
                    "occurred_at": now - dt.timedelta(days=rng.randint(1, 90)),
                    "owner": user,
                },
            )


async def _converted_leads(
    context: PluginContext,
    rng: random.Random,
    fake: Faker,
    now: dt.datetime,
    users: list[dict[str, Any]],
    stages: dict[str, Any],
    count: int,
) -> int:
    """Leads converted in the past whose deals were won or lost: referrals and webinar
    attendees who met the team mostly won, cold ones mostly lost."""
    ladder = stages["Sales"]
    won = next(s for s in ladder if s["kind"] == "won")
    lost = next(s for s in ladder if s["kind"] == "lost")
    for index in range(count):
        warm = index % 3 != 0
        source = rng.choice(("referral", "webinar")) if warm else rng.choice(("cold call", "website"))
        owner = rng.choice(users)["id"]
        async with context.db.transaction():
            lead = await context.records.create(
                "lead",
                {
                    **_person(fake, rng, 1000 + index),
                    "source": source,
                    "status": "qualified",
                    "authority": warm or rng.random() < 0.3,
                    "owner": owner,
                    "country": rng.choice(COUNTRIES),
                },
            )
            await _activities(context, rng, now, lead["id"], rng.randint(0, 3), rng.randint(1, 2) if warm else 0, owner)
            result = await conversion.convert(context, lead["id"], deal_name=f"{lead['company']} — first order")
            outcome_won = rng.random() < (0.8 if warm else 0.25)
            await _move(context, int(result["deal"] or 0), [won if outcome_won else lost], rng.choice(LOST_REASONS))
            created = now - dt.timedelta(days=rng.randint(60, 200))
            await _backdate(
                context, int(result["deal"] or 0), created, created + dt.timedelta(days=rng.randint(15, 50))
            )
    return count


async def _open_leads(
    context: PluginContext, rng: random.Random, fake: Faker, now: dt.datetime, users: list[dict[str, Any]], count: int
) -> int:
    for index in range(count):
        owner = rng.choice(users)["id"] if rng.random() < 0.8 else None
        has_budget = rng.random() < 0.5
        async with context.db.transaction():
            lead = await context.records.create(
                "lead",
                {
                    **_person(fake, rng, index),
                    "source": rng.choice(SOURCES),
                    "status": rng.choice(("new", "new", "contacted", "qualified")),
                    "authority": rng.random() < 0.4,
                    "need": rng.choice(NEEDS),
                    "budget": {"amount": str(rng.choice((5, 10, 20, 50)) * 1000), "currency": "USD"}
                    if has_budget
                    else None,
                    "decision_date": (now + dt.timedelta(days=rng.randint(10, 120))).date()
                    if rng.random() < 0.5
                    else None,
                    "owner": owner,
                    "country": rng.choice(COUNTRIES),
                },
            )
            await _activities(
                context, rng, now, lead["id"], rng.randint(0, 4), rng.randint(0, 2), owner or users[0]["id"]
            )
    return count
