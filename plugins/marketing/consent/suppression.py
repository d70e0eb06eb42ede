"""The suppression list: addresses and contacts that get no marketing.

``suppress`` adds an entry (idempotently: the same address and topic twice is one
entry), ``unsubscribe`` suppresses every address of a contact, ``is_suppressed`` answers
for one address.  Each entry is linked to the contacts it applies to
(``marketing_contact_suppression``), so sends exclude them set-wise through
``Contact.suppressions`` in a filter (``audience.eligible_filter``):

- when an entry is written, every live contact with its address (and its own contact)
  is linked, in one statement (``keep_selection``);
- when a contact is written with new addresses, it is linked to the entries for those
  addresses, found by the address's keyed hash, so even an entry whose address was
  erased stops mail to a new contact with that address.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from kith.plugins.marketing.consent.models import ContactSuppression, Suppression
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import Change, FieldError, PluginContext, ValidationFailed, normalise_email

#: the ``context.sign`` purpose of an address's keyed hash
HASH_PURPOSE = "marketing.address"


def address_hash(context: PluginContext, email: str) -> str:
    """The keyed hash of a normalised address: the same address always gives the same
    hash on this installation, and nobody without its secret can reverse or make one."""
    return context.sign(HASH_PURPOSE, email)


def normalised(email: Any, field: str = "email") -> str:
    """``email`` normalised as contacts' addresses are (lower-case), or an error naming ``field``."""
    try:
        return normalise_email(email)
    except ValueError as exc:
        raise ValidationFailed.single(field, "invalid", str(exc)) from None


def check_topic(context: PluginContext, topic: str | None, field: str = "topic") -> str | None:
    """A topic must be one of the ``topics`` setting's keys (None: every topic)."""
    if topic is None or topic == "":
        return None
    topics = marketing_settings(context).topics
    if topic not in topics:
        known = ", ".join(sorted(topics)) or "none"
        raise ValidationFailed.single(field, "invalid", f"no topic {topic!r} (the topics are: {known})")
    return topic


def _covering(topic: str | None) -> Any:
    """Entries that stop ``topic``: those for it and those for all marketing."""
    everything = Suppression.topic.is_null()
    return everything if topic is None else everything | (Suppression.topic == topic)


async def existing(
    context: PluginContext, *, email: str | None, contact_id: int | None, topic: str | None
) -> dict[str, Any] | None:
    """The live entry that already stops ``email`` (or, without one, ``contact_id``) for ``topic``."""
    same: Any
    if email is not None:
        same = Suppression.email_hash == address_hash(context, email)
    elif contact_id is not None:
        same = (Suppression.contact == contact_id) & Suppression.email_hash.is_null()
    else:
        return None
    rows = await (
        Suppression.select(Suppression.id)
        .where(same & Suppression.deleted_at.is_null() & _covering(topic))
        .order_by(Suppression.id)
        .limit(1)
    )
    return await context.system.get("suppression", int(rows[0]["id"])) if rows else None


async def suppress(
    context: PluginContext,
    *,
    email: str | None = None,
    contact_id: int | None = None,
    reason: str = "manual",
    topic: str | None = None,
    source: str = "admin",
    campaign: str | None = None,
) -> dict[str, Any]:
    """Stop marketing to ``email`` (and every contact with it) or to ``contact_id``, for
    ``topic`` or for all of it: the entry, new or the one already doing so.  Written
    through ``context.records`` (so as its caller, audited)."""
    address = normalised(email) if email is not None else None
    topic = check_topic(context, topic)
    async with context.db.transaction():
        await context.db.serialise("marketing.suppression")  # two clicks at once add one entry
        found = await existing(context, email=address, contact_id=contact_id, topic=topic)
        if found is not None:
            return found
        values = {"email": address, "contact": contact_id, "reason": reason, "topic": topic, "source": source}
        if campaign:
            values["campaign"] = campaign[:120]
        return await context.records.create("suppression", values)


async def unsubscribe(
    context: PluginContext, contact_id: int, *, topic: str | None = None, source: str, campaign: str | None = None
) -> list[dict[str, Any]]:
    """A contact asked for no more marketing (of ``topic``): every address of theirs is
    suppressed for it, with the contact named, so a later address of theirs is too."""
    contact = await context.system.get("contact", contact_id)
    if contact is None:
        raise ValidationFailed.single("contact", "not_found", f"no contact with id {contact_id}")
    addresses: list[str | None] = list(contact.get("emails") or []) or [None]
    async with context.db.transaction():
        return [
            await suppress(
                context,
                email=address,
                contact_id=contact_id,
                reason="unsubscribed",
                topic=topic,
                source=source,
                campaign=campaign,
            )
            for address in addresses
        ]


async def is_suppressed(context: PluginContext, email: str, topic: str | None = None) -> bool:
    """Whether ``email`` is on the list for ``topic`` (or for all marketing): the check
    for one address, where a send has no contact filter to use."""
    found = await existing(context, email=normalised(email), contact_id=None, topic=topic)
    return found is not None


# -- the entity's own writes -------------------------------------------------------------------


async def before_write(change: Change) -> None:
    """An entry names an address or a contact (or both), a known topic, and is not a
    second entry for what one already stops; the address's hash is kept beside it."""
    context = change.context
    values = {**(change.before or {}), **change.values}
    if "email" in change.values:
        change.values["email_hash"] = address_hash(context, values["email"]) if values.get("email") else None
    if not values.get("email") and not values.get("contact") and values.get("reason") != "erased":
        raise ValidationFailed([FieldError("email", "required", "give the address (or the contact) to suppress")])
    if "topic" in change.values:
        change.values["topic"] = check_topic(context, values.get("topic"))
    if change.action == "create":
        email = values.get("email")
        found = await existing(context, email=email, contact_id=values.get("contact"), topic=change.values.get("topic"))
        if found is not None:
            what = "all marketing" if found.get("topic") is None else f"topic {found['topic']!r}"
            raise ValidationFailed.single(
                "email", "duplicate", f"already suppressed for {what} (suppression {found['id']})"
            )


async def after_write(change: Change) -> None:
    """Link the entry to the contacts it applies to (or unlink them, once deleted)."""
    entry = change.after or change.before or {}
    await link(change.context, entry)


async def link(context: PluginContext, entry: dict[str, Any]) -> None:
    """Make the entry's links exactly the live contacts with its address, and its own
    contact: one set-wise statement each way."""
    entry_id = int(entry["id"])
    reached: list[dict[str, Any]] = []
    if entry.get("email"):
        reached.append({"emails": {"contains": entry["email"]}})
    if entry.get("contact"):
        reached.append({"id": {"eq": str(entry["contact"])}})
    if entry.get("deleted_at") is not None or not reached:
        # deleted (an unsuppressed address), or only a hash left: keep the links made so far
        # for a hash-only entry (an erased contact), none for a deleted one
        if entry.get("deleted_at") is not None:
            await ContactSuppression.delete().where(ContactSuppression.suppression == entry_id)
        return
    await context.db.keep_selection(
        ContactSuppression,
        fixed={"suppression": entry_id},
        member="contact",
        entity="contact",
        filter_={"or": reached} if len(reached) > 1 else reached[0],
    )


async def follow_contact(change: Change) -> None:
    """A contact created, or given other addresses: linked to exactly the entries for its
    addresses (by hash, so erased addresses count) and those naming it."""
    if change.action not in ("create", "update", "restore"):
        return
    if change.action == "update" and "emails" not in change.changed:
        return
    contact = change.after or {}
    contact_id = int(contact.get("id") or change.record_id or 0)
    await link_contact(change.context, contact_id, contact.get("emails") or [])


async def link_contact(context: PluginContext, contact_id: int, emails: Iterable[str]) -> None:
    hashes = [address_hash(context, e) for e in emails]
    mine: Any = Suppression.contact == contact_id
    if hashes:
        mine = mine | Suppression.email_hash.is_in(hashes)
    live = await Suppression.select(Suppression.id).where(Suppression.deleted_at.is_null() & mine)
    wanted = {int(r["id"]) for r in live}
    links = ContactSuppression.contact == contact_id
    linked = await ContactSuppression.select(ContactSuppression.suppression).where(links)
    present = {int(r["suppression"]) for r in linked}
    gone = present - wanted
    if gone:
        await ContactSuppression.delete().where(links & ContactSuppression.suppression.is_in(sorted(gone)))
    new = sorted(wanted - present)
    if new:
        now = dt.datetime.now(dt.UTC)
        await ContactSuppression.insert(
            *(
                ContactSuppression(suppression=entry_id, contact=contact_id, created_at=now, updated_at=now)
                for entry_id in new
            )
        )
