"""Demo data: a small, believable CRM (teams, users, organizations, contacts and their
timelines), written through the record service like any other data, so it is
validated, audited and announced exactly as real input would be."""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

from faker import Faker

from kith.core.entities.builtin import LIFECYCLE_STAGES
from kith.core.plugins.context import PluginContext
from kith.core.records.change import Actor

if TYPE_CHECKING:
    from kith.core.runtime import Kith

DEMO = Actor(name="demo", source="demo")
INDUSTRIES = (
    "Software",
    "Healthcare",
    "Real estate",
    "Retail",
    "Logistics",
    "Education",
    "Finance",
    "Manufacturing",
    "Hospitality",
    "Energy",
)
TAGS = ("vip", "newsletter", "partner", "churn-risk", "upsell", "event-2026", "referral", "enterprise")
TITLES = (
    "CEO",
    "CTO",
    "Head of Sales",
    "Operations Manager",
    "Buyer",
    "Office Manager",
    "CFO",
    "Marketing Lead",
    "Founder",
    "Procurement Officer",
    "IT Director",
)
CALL_SUBJECTS = ("Intro call", "Follow-up call", "Pricing discussion", "Renewal check-in", "Support callback")
MEETINGS = ("Demo meeting", "Quarterly review", "On-site visit", "Contract walkthrough")
TASKS = ("Send proposal", "Prepare quote", "Check contract terms", "Book a demo", "Send case study")
BATCH = 100
ADMIN_EMAIL = "admin@kithdemo.com"
ADMIN_PASSWORD = "kith-demo-password"  # demo data only: printed by `kith demo`


async def load_demo(kith: Kith, *, contacts: int = 300, seed: int = 7) -> dict[str, int]:
    """Create demo records unless contacts already exist; returns what was created."""
    if await kith.count("contact"):
        return {}
    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    records = kith.records
    created: dict[str, int] = {}

    async with kith.db.write_transaction():
        teams = [await records.create("team", {"name": n}, DEMO) for n in ("Sales", "Customer success")]
        users = []
        for index in range(6):
            name = fake.unique.name()
            users.append(
                await records.create(
                    "user",
                    {
                        "name": name,
                        "email": f"{name.lower().replace(' ', '.').replace(chr(39), '')}@kithdemo.com",
                        "team": teams[index % 2]["id"],
                    },
                    DEMO,
                )
            )
        for tag in TAGS:
            await records.create("tag", {"name": tag}, DEMO)
        for user in users:
            await kith.auth.grant_role(user["id"], "sales_rep")
    created.update(teams=len(teams), users=len(users), tags=len(TAGS))

    organizations: list[dict[str, Any]] = []
    for start in range(0, max(1, contacts // 3), BATCH):
        async with kith.db.write_transaction():
            for _ in range(start, min(start + BATCH, max(1, contacts // 3))):
                company = fake.unique.company()
                domain = fake.unique.domain_name()
                organizations.append(
                    await records.create(
                        "organization",
                        {
                            "name": company,
                            "domain": domain,
                            "website": f"https://www.{domain}",
                            "industry": rng.choice(INDUSTRIES),
                            "size": rng.choice((5, 12, 40, 120, 450, 2000)),
                            "city": fake.city(),
                            "country": "US",
                            "owner": rng.choice(users)["id"],
                            "tags": rng.sample(TAGS, rng.randint(0, 2)),
                        },
                        DEMO,
                    )
                )
    created["organizations"] = len(organizations)

    activity_count = 0
    for start in range(0, contacts, BATCH):
        async with kith.db.write_transaction():
            for _ in range(start, min(start + BATCH, contacts)):
                first, last = fake.first_name(), fake.last_name()
                org = rng.choice(organizations) if rng.random() < 0.85 else None
                domain = org["domain"] if org else fake.free_email_domain()
                contact = await records.create(
                    "contact",
                    {
                        "first_name": first,
                        "last_name": last,
                        "emails": [f"{first}.{last}.{rng.randint(1, 999)}@{domain}".lower().replace("'", "")],
                        "phones": [f"+1 {rng.randint(201, 989)} 555 {rng.randint(1000, 9999)}"],
                        "title": rng.choice(TITLES),
                        "organization": org["id"] if org else None,
                        "owner": rng.choice(users)["id"],
                        "lifecycle_stage": rng.choices(LIFECYCLE_STAGES, (10, 40, 20, 25, 3, 2))[0],
                        "city": fake.city(),
                        "country": "US",
                        "tags": rng.sample(TAGS, rng.randint(0, 3)),
                    },
                    DEMO,
                )
                for _ in range(rng.randint(1, 5)):
                    await records.create("activity", _activity(rng, fake, now, contact["id"], users), DEMO)
                    activity_count += 1
    created["contacts"] = contacts
    created["activities"] = activity_count
    for _plugin, counts in await kith.plugins.call_async(
        "kith_demo_data", refuse=True, context=PluginContext(kith, DEMO), seed=seed
    ):
        created.update(counts)
    # last, so its figures cover every record above (the page: /dashboards)
    from kith.core.dashboards.demo import create_demo_dashboard

    await create_demo_dashboard(kith)
    created["dashboards"] = 1
    return created


def _activity(
    rng: random.Random, fake: Faker, now: dt.datetime, contact_id: int, users: list[dict[str, Any]]
) -> dict[str, Any]:
    kind = rng.choices(("note", "call", "email", "meeting", "task"), (3, 3, 3, 2, 2))[0]
    when = now - dt.timedelta(days=rng.randint(0, 180), hours=rng.randint(0, 23))
    owner = rng.choice(users)["id"]
    values: dict[str, Any] = {
        "kind": kind,
        "subject_type": "contact",
        "subject_id": contact_id,
        "occurred_at": when,
        "owner": owner,
    }
    if kind == "note":
        values.update(subject="Note", body=fake.paragraph(nb_sentences=3))
    elif kind == "call":
        values.update(subject=rng.choice(CALL_SUBJECTS), body=fake.sentence(nb_words=12))
    elif kind == "email":
        values.update(subject=f"Re: {fake.catch_phrase()}", body=fake.paragraph(nb_sentences=2))
    elif kind == "meeting":
        values.update(subject=rng.choice(MEETINGS), body=fake.sentence(nb_words=10))
    else:
        due = now + dt.timedelta(days=rng.randint(-10, 20))
        values.update(
            subject=rng.choice(TASKS),
            due_at=due,
            assignee=owner,
            status="done" if due < now and rng.random() < 0.7 else "open",
        )
    return values


async def ensure_demo_admin(kith: Kith) -> tuple[str, str, str | None]:
    """The demo's admin (created once): (email, password, a new API key or None if it existed)."""
    user = await kith.auth.user_by_email(ADMIN_EMAIL)
    if user is not None:
        return ADMIN_EMAIL, ADMIN_PASSWORD, None
    async with kith.db.write_transaction():
        user = await kith.records.create("user", {"name": "Demo Admin", "email": ADMIN_EMAIL}, DEMO)
        await kith.auth.set_password(user["id"], ADMIN_PASSWORD)
        await kith.auth.grant_role(user["id"], "admin")
        key, _prefix = await kith.auth.create_key(user["id"], "demo")
    return ADMIN_EMAIL, ADMIN_PASSWORD, key
