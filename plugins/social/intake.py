"""Inbound items: stored first, then matched, threaded, scored and put on the timeline.

Storing is one set-wise insert that skips items already there (``account`` +
``platform_id`` is unique: an id means something only in the account's view of its
platform), done before a webhook delivery is answered or a polled
cursor moves on: whatever happens next, an acknowledged item is in the database, and a
replay stores nothing new.  The rest (who wrote it, which thread, how it sounds) is the
job ``social.process``, in batches, so a burst of mentions costs a few statements per
batch, and a crash in it only means the batch is taken again (each step is idempotent:
a processed mention is never taken again).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from kith.plugins.social.connectors.base import InboundItem
from kith.plugins.social.models import Mention, MentionTopic, SocialIdentity
from kith.plugins.social.settings import social_settings
from kith.sdk import JobRun, PluginContext, ValidationFailed

PROCESS_JOB = "social.process"
MENTION_ACTIVITY = "social_mention"
NEGATIVE_EVENT = "social.negative_mention"
RECEIVED_EVENT = "social.mention_received"


async def store(context: PluginContext, account: Mapping[str, Any], items: Sequence[InboundItem]) -> int:
    """Keep ``items`` of ``account`` (those not already kept) and queue their processing;
    returns how many were new.  Runs in the caller's transaction when there is one."""
    if not items:
        return 0
    now = dt.datetime.now(dt.UTC)
    platform = str(account["platform"])
    rows = [
        Mention(
            account=account.get("id") or None,
            platform=platform,
            platform_id=item.platform_id[:200],
            kind=item.kind,
            author_handle=_handle(item.author.handle),
            author_name=(item.author.display_name or None) and str(item.author.display_name)[:200],
            author_platform_id=item.author.platform_id,
            author_email=(item.author.email or None) and item.author.email.strip().lower()[:320],
            text=item.text,
            language=(item.language or None) and item.language[:10].lower(),
            url=(item.url or None) and item.url[:1000],
            posted_at=item.created_at,
            in_reply_to=item.in_reply_to,
            tags="".join(f" {tag}" for tag in sorted(set(item.tags))) + (" " if item.tags else ""),
            state="received",
            created_at=now,
            updated_at=now,
        )
        for item in items
    ]
    async with context.db.transaction():
        inserted = (
            await Mention.insert(*rows)
            .on_conflict(target=(Mention.account, Mention.platform_id), action="DO NOTHING")
            .returning(Mention.id)
        )
        if inserted:
            first = min(int(r["id"]) for r in inserted)
            await context.schedule(PROCESS_JOB, key=f"{PROCESS_JOB}:{first}")
    return len(inserted)


def _handle(value: str) -> str:
    return str(value or "").strip().lstrip("@").lower()[:200] or "unknown"


async def run_process(context: PluginContext, run: JobRun) -> None:
    """The job: process received mentions, a batch at a time, until none is left."""
    settings = social_settings(context)
    while True:
        batch = await (
            Mention.select().where(Mention.state == "received").order_by(Mention.id).limit(settings.process_batch)
        )
        if not batch:
            return
        await process(context, batch)


async def process(context: PluginContext, batch: list[dict[str, Any]]) -> None:
    from kith.plugins.social import sentiment_scoring

    settings = social_settings(context)
    writer = context.as_plugin(keep_permissions=False, name="social intake")
    scorer = sentiment_scoring.Scorer(context)
    scores = await asyncio.to_thread(scorer.score, [(str(m["text"] or ""), m.get("language")) for m in batch])
    for mention, score in zip(batch, scores, strict=True):
        async with context.db.transaction():
            fresh = await Mention.select(Mention.state).where(Mention.id == mention["id"]).first()
            if fresh is None or fresh["state"] != "received":
                continue  # another worker took it
            identity, contact = await _identity(writer, mention, settings.create_contacts)
            parent, thread = await _thread(mention)
            activity = await _timeline(writer, mention, contact)
            values: dict[Any, Any] = {
                Mention.identity: identity, Mention.contact: contact, Mention.parent: parent, Mention.thread: thread,
                Mention.activity: activity, Mention.state: "processed",
                Mention.updated_at: dt.datetime.now(dt.UTC),
            }  # fmt: skip
            if score is not None:
                values.update({Mention.sentiment_score: score.score, Mention.sentiment_label: score.label,
                               Mention.sentiment_by: score.by})  # fmt: skip
            await Mention.update(values).where(Mention.id == mention["id"])
            await _topics(mention, contact, settings.topics)
            await _adopt_orphans(mention, thread)
            payload = {
                "platform": mention["platform"],
                "kind": mention["kind"],
                "contactId": contact,
                "sentimentScore": score.score if score else None,
                "sentimentLabel": score.label if score else None,
            }
            await context.emit(RECEIVED_EVENT, "social_mention", int(mention["id"]), payload)
            if score is not None and score.score <= settings.negative_threshold:
                await context.emit(NEGATIVE_EVENT, "social_mention", int(mention["id"]), payload)


def topics_of(text: str, topics: Mapping[str, Sequence[str]]) -> list[str]:
    """The topics whose keywords ``text`` contains as whole words, in any case."""
    words = set(re.findall(r"[\w'-]+", text.lower()))
    return sorted(name for name, keywords in topics.items() if any(k.lower() in words for k in keywords))


async def _topics(mention: Mapping[str, Any], contact: int | None, topics: Mapping[str, Sequence[str]]) -> None:
    now = dt.datetime.now(dt.UTC)
    found = [("hashtag", tag) for tag in str(mention.get("tags") or "").split()]
    found += [("topic", name) for name in topics_of(str(mention.get("text") or ""), topics)]
    rows = [
        MentionTopic(mention=mention["id"], contact=contact, account=mention.get("account"), kind=kind, tag=tag[:100],
                     posted_at=mention.get("posted_at"), created_at=now, updated_at=now)
        for kind, tag in found
    ]  # fmt: skip
    if rows:
        await MentionTopic.insert(*rows)


async def _identity(context: PluginContext, mention: Mapping[str, Any], create: bool) -> tuple[int | None, int | None]:
    """The author's identity and contact: by handle, else by the email a bridge gave,
    else (``create_contacts``) a new contact named by the display name or the handle."""
    platform, handle = str(mention["platform"]), str(mention["author_handle"])
    known = (
        await SocialIdentity.select(SocialIdentity.id, SocialIdentity.contact)
        .where((SocialIdentity.platform == platform) & (SocialIdentity.handle == handle))
        .first()
    )
    if known is not None:
        return int(known["id"]), (int(known["contact"]) if known["contact"] else None)
    contact_id: int | None = None
    matched_by = "created"
    email = mention.get("author_email")
    if email:
        try:
            found = await context.system.first(
                "contact", {"emails": {"contains": email.strip().lower()}}, order_by=[{"id": "ASC"}]
            )
        except ValidationFailed:
            found = None
        if found is not None:
            contact_id, matched_by = int(found["id"]), "email"
    if contact_id is None and create:
        contact_id = await _new_contact(context, mention, email)
    if contact_id is None:
        matched_by = "handle"
    identity = await context.system.create(
        "social_identity",
        {"platform": platform, "handle": handle, "display_name": mention.get("author_name"), "contact": contact_id,
         "platform_user_id": mention.get("author_platform_id"), "matched_by": matched_by},
    )  # fmt: skip
    return int(identity["id"]), contact_id


async def _new_contact(context: PluginContext, mention: Mapping[str, Any], email: str | None) -> int:
    name = str(mention.get("author_name") or "").strip() or str(mention["author_handle"])
    first, _, last = name.partition(" ")
    values: dict[str, Any] = {"first_name": first[:100], "last_name": last[:100] or None}
    if email:
        values["emails"] = [email]
    try:
        made = await context.system.create("contact", values)
    except ValidationFailed:  # an email the contact rules refuse: the person still gets a contact
        values.pop("emails", None)
        made = await context.system.create("contact", values)
    return int(made["id"])


async def _thread(mention: Mapping[str, Any]) -> tuple[int | None, int]:
    """The mention this one answers (when it is in) and its thread's first mention."""
    if mention.get("in_reply_to"):
        parent = (
            await Mention.select(Mention.id, Mention.thread)
            .where(_same_account(mention) & (Mention.platform_id == mention["in_reply_to"]))
            .first()
        )
        if parent is not None:
            return int(parent["id"]), int(parent["thread"] or parent["id"])
    return None, int(mention["id"])


def _same_account(mention: Mapping[str, Any]) -> Any:
    """Ids name items in one account's view of its platform: a thread never crosses accounts."""
    account = mention.get("account")
    return (Mention.account == account) if account is not None else Mention.account.is_null()


async def _adopt_orphans(mention: Mapping[str, Any], thread: int) -> None:
    """Replies that arrived before this mention (platforms deliver out of order) hang
    under it now, with their own replies."""
    orphans = await Mention.select(Mention.id, Mention.thread).where(
        _same_account(mention) & (Mention.in_reply_to == mention["platform_id"]) & Mention.parent.is_null()
    )
    for orphan in orphans:
        await Mention.update({Mention.parent: mention["id"], Mention.thread: thread}).where(Mention.id == orphan["id"])
        old = orphan["thread"]
        if old is not None and int(old) != thread:
            await Mention.update({Mention.thread: thread}).where(Mention.thread == old)


async def _timeline(context: PluginContext, mention: Mapping[str, Any], contact: int | None) -> int | None:
    if contact is None:
        return None
    made = await context.system.create(
        "activity",
        {"kind": MENTION_ACTIVITY, "subject": f"{_label(mention)} on {mention['platform']}"[:300],
         "body": str(mention.get("text") or "")[:5000], "subject_type": "contact", "subject_id": contact,
         "occurred_at": mention.get("posted_at") or dt.datetime.now(dt.UTC)},
    )  # fmt: skip
    return int(made["id"])


def _label(mention: Mapping[str, Any]) -> str:
    return {"mention": "Mentioned us", "comment": "Commented", "message": "Sent a direct message",
            "post": "Posted"}.get(str(mention["kind"]), "Mentioned us")  # fmt: skip
