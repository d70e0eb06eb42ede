"""Demo data for ``kith demo``, none of it reaching the network: a webhook account
(its credentials encrypted with the ``credentials_key`` setting, or outside production
with the development key derived from the installation's secret), a dozen mentions from
a few people — some of them demo contacts, found by the address the bridge gave, some
new — with a thread of replies, stored and processed as a bridge's delivery would be
(matched, threaded, scored, on the timeline), and posts: a draft and, with the account,
two scheduled half a year ahead, so nothing is published."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections.abc import Mapping
from typing import Any

from kith.plugins.social import accounts, intake
from kith.plugins.social.connectors.base import Author, InboundItem, ItemKind
from kith.plugins.social.publishing import posts
from kith.sdk import JobRun, PluginContext, ValidationFailed

HANDLE = "acme"
#: people with no contact yet: (handle, display name); one gives no name
NEWCOMERS: tuple[tuple[str, str | None], ...] = (
    ("maya_builds", "Maya Ortiz"),
    ("devon_k", "Devon Kim"),
    ("hugo.reviews", "Hugo Brandt"),
    ("techdad42", None),
)
#: (who: "contact N" or "new N", kind, text, replying to: the index of an earlier item)
MENTIONS: tuple[tuple[str, ItemKind, str, int | None], ...] = (
    ("contact 0", "mention", "@acme my order is three weeks late and nobody answers my mails. Terrible service!", None),
    ("new 0", "comment", "@acme same here, mine is late too. Really disappointing.", 0),
    ("contact 0", "comment", "@acme update: it arrived today and your support team sorted everything out. Thank you!",
     1),
    ("contact 1", "mention", "Moved our sales team to @acme, the onboarding was fantastic. Great work! #onboarding",
     None),
    ("new 1", "mention", "@acme support fixed my import in five minutes. Love it!", None),
    ("new 2", "mention", "Does @acme have an API for exporting invoices?", None),
    ("contact 2", "mention", "@acme is the spring release out yet? #release", None),
    ("new 3", "mention", "Third outage this week @acme, this is really frustrating #outage", None),
    ("contact 1", "message", "Hi, I was charged twice this month and still have no refund. Can someone call me?", None),
    ("new 0", "mention", "The new @acme dashboard is so much clearer. Nice job! #release", None),
    ("new 2", "mention", "Comparing @acme with two other CRMs for our team this quarter.", None),
    ("new 1", "comment", "The @acme mobile app keeps crashing on start. Useless right now. #bug", None),
)  # fmt: skip
POSTS = (
    "Spring release notes are out: faster imports, a clearer dashboard and calendar sync. #release",
    "Join our live demo of the spring release: questions welcome! #release",
    "We are hiring support engineers who love helping people. #jobs",
)


async def load(context: PluginContext, seed: int) -> dict[str, int]:
    rng = random.Random(seed + 29)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    counts: dict[str, int] = {}
    account = await _account(context)
    if account is None:
        counts["social_accounts (none: set the credentials_key setting)"] = 0
    else:
        counts["social_accounts"] = 1
    items = _items(await _contacts(context, rng), rng, now)
    stored = await intake.store(context, account or {"platform": "webhook"}, items)
    await intake.run_process(
        context,
        JobRun(job=intake.PROCESS_JOB, key="demo", payload={}, entity="", record_id=None, due_at=now, attempt=0),
    )
    counts["social_mentions"] = stored
    counts["social_posts"] = await _posts(context, account, rng, now)
    return counts


async def _account(context: PluginContext) -> dict[str, Any] | None:
    """The demo's webhook account, connected like any (no network: a bridge pushes to it)."""
    try:
        account, _secret = await accounts.connect(context, platform="webhook", handle=HANDLE)
    except ValidationFailed as exc:
        if any(e.field == "credentials_key" for e in exc.errors):  # a key that is not one: no account
            context.log.warning("social demo: no account connected: %s", exc)
            return None
        raise
    return account


async def _contacts(context: PluginContext, rng: random.Random) -> list[dict[str, Any]]:
    """Three of the demo's contacts with an address (fewer if there are fewer)."""
    found = await context.system.list("contact", order_by=[{"id": "ASC"}], first=200)
    with_mail = [c for c in found if c.get("emails")]
    return rng.sample(with_mail, min(3, len(with_mail)))


def _author(who: str, contacts: list[dict[str, Any]]) -> Author:
    kind, _, number = who.partition(" ")
    index = int(number)
    if kind == "contact" and index < len(contacts):
        contact = contacts[index]
        full = " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if p)
        handle = re.sub(r"[^a-z0-9_.]", "", full.lower().replace(" ", "_")) or f"fan{index}"
        return Author(handle, full or None, f"demo-user-{handle}", None, str(contact["emails"][0]))
    newcomer, name = NEWCOMERS[index % len(NEWCOMERS)]
    return Author(newcomer, name, f"demo-user-{newcomer}")


def _items(contacts: list[dict[str, Any]], rng: random.Random, now: dt.datetime) -> list[InboundItem]:
    items: list[InboundItem] = []
    for index, (who, kind, text, answers) in enumerate(MENTIONS):
        if answers is None:
            at = now - dt.timedelta(hours=rng.randint(30, 240), minutes=rng.randint(0, 59))
        else:  # a reply comes after what it answers
            at = items[answers].created_at + dt.timedelta(minutes=rng.randint(20, 300))
        author = _author(who, contacts)
        platform_id = f"demo-{index + 1}"
        items.append(
            InboundItem(
                platform_id=platform_id,
                kind=kind,
                author=author,
                text=text,
                created_at=min(at, now),
                in_reply_to=items[answers].platform_id if answers is not None else None,
                url=f"https://social.example.com/@{author.handle}/{platform_id}",
                tags=tuple(re.findall(r"#(\w+)", text.lower())),
                language="en",
            )
        )
    return items


async def _posts(
    context: PluginContext, account: Mapping[str, Any] | None, rng: random.Random, now: dt.datetime
) -> int:
    """A draft and, with an account, two posts scheduled half a year ahead (9 in the morning)."""
    writer = context.as_plugin(keep_permissions=False, name="demo")
    users = await context.system.list("user", order_by=[{"id": "ASC"}], first=20)
    owner = rng.choice(users)["id"] if users else None
    made = 0
    for index, text in enumerate(POSTS):
        post = await writer.system.create("social_post", {"text": text, "owner": owner})
        made += 1
        if account is None or index == 0:
            continue  # a draft
        day = (now + dt.timedelta(days=180 + 20 * index + rng.randint(0, 6))).date()
        await posts.schedule(context, int(post["id"]), f"{day.isoformat()}T09:00", [{"accountId": str(account["id"])}])
    return made
