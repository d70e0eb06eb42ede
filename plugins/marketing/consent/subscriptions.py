"""Subscriptions: a contact's state per topic and channel, kept with the core's consent.

Every change writes the subscription row (``marketing_subscription``, filterable as
``Contact.subscriptions``) and the core's consent record (``context.record_consent`` /
``withdraw_consent``) in one transaction, so a send's filter and the consent history
never disagree.

- **Single opt-in**: subscribed at once; the consent is recorded with the time and the
  wording version (the ``consent_wording_version`` setting).
- **Double opt-in**: the subscription is ``pending`` and a confirmation mail with a
  signed link goes out in the same transaction; opening the link shows a button, and
  only its POST confirms (recording the consent then, with the time and the wording the
  person was shown).  An address that unsubscribed before always has to confirm, so a
  form filled in by someone else cannot put it back on the list.
- **Unsubscribing** marks the subscriptions ``unsubscribed``, withdraws the consents and
  suppresses the addresses (``suppression``).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.plugins.marketing.consent import links, suppression
from kith.plugins.marketing.consent.models import FREQUENCIES, Subscription, Suppression
from kith.plugins.marketing.settings import marketing_settings
from kith.sdk import OutboundMail, PluginContext, ValidationFailed

CONFIRM = "marketing.confirm"
CONFIRM_PATH = "/marketing/confirm/"


def _channel(channel: str) -> str:
    value = (channel or "").strip().lower()
    if not value or len(value) > 40:
        raise ValidationFailed.single("channel", "invalid", "give a channel such as email or sms (at most 40)")
    return value


async def _contact(context: PluginContext, contact_id: int) -> dict[str, Any]:
    contact = await context.records.get("contact", contact_id)
    if contact is None:
        raise ValidationFailed.single("contactId", "not_found", f"no contact with id {contact_id}")
    return contact


async def current(context: PluginContext, contact_id: int, topic: str, channel: str) -> dict[str, Any] | None:
    rows = await Subscription.select(Subscription.id).where(
        (Subscription.contact == contact_id) & (Subscription.topic == topic) & (Subscription.channel == channel)
    )
    return await context.system.get("topic_subscription", int(rows[0]["id"])) if rows else None


async def _write(context: PluginContext, found: dict[str, Any] | None, values: dict[str, Any]) -> dict[str, Any]:
    writer = context.as_plugin()
    if found is None:
        return await writer.records.create("topic_subscription", values)
    return await writer.records.update("topic_subscription", int(found["id"]), values)


async def _unsubscribed_before(context: PluginContext, contact: dict[str, Any], topic: str) -> bool:
    """Whether an address of the contact is on the list as ``unsubscribed`` for the topic."""
    hashes = [suppression.address_hash(context, e) for e in contact.get("emails") or []]
    mine: Any = Suppression.contact == int(contact["id"])
    if hashes:
        mine = mine | Suppression.email_hash.is_in(hashes)
    stops = (Suppression.topic.is_null() | (Suppression.topic == topic)) & (Suppression.reason == "unsubscribed")
    return bool(await Suppression.exists().where(mine & stops & Suppression.deleted_at.is_null()))


async def subscribe(
    context: PluginContext,
    contact_id: int,
    topic: str,
    *,
    channel: str = "email",
    source: str = "admin",
    double_opt_in: bool = False,
    frequency: str | None = None,
    confirmed: bool = False,
) -> dict[str, Any]:
    """Subscribe the contact to ``topic`` on ``channel``: at once (single opt-in) or
    ``pending`` with a confirmation mail (double opt-in, and always for an address that
    unsubscribed before).  Already subscribed: nothing changes.  Returns the subscription.

    ``confirmed``: the person proved they read the contact's mail (they came through a
    signed link sent there, like the preference page): subscribed at once, and their
    own earlier unsubscribe from the topic is lifted."""
    checked = suppression.check_topic(context, topic)
    if checked is None:
        raise ValidationFailed.single("topic", "required", "name the topic to subscribe to")
    channel = _channel(channel)
    if frequency is not None and frequency not in FREQUENCIES:
        raise ValidationFailed.single("frequency", "invalid", f"must be one of {', '.join(FREQUENCIES)}")
    contact = await _contact(context, contact_id)
    async with context.db.transaction():
        found = await current(context, contact_id, checked, channel)
        extra = {"frequency": frequency} if frequency else {}
        if found is not None and found["status"] == "subscribed":
            return await _write(context, found, extra) if extra else found
        if confirmed:
            await _lift_unsubscribed(context, contact, checked)
            return await _subscribed(context, found, contact_id, checked, channel, source, extra)
        confirm_first = double_opt_in or await _unsubscribed_before(context, contact, checked)
        if confirm_first:
            values = {"contact": contact_id, "topic": checked, "channel": channel, "status": "pending",
                      "source": source[:120], **extra}  # fmt: skip
            written = await _write(context, found, values)
            await send_confirmation(context, contact, checked, channel)
            return written
        return await _subscribed(context, found, contact_id, checked, channel, source, extra)


async def _subscribed(
    context: PluginContext,
    found: dict[str, Any] | None,
    contact_id: int,
    topic: str,
    channel: str,
    source: str,
    extra: dict[str, Any],
    wording: str | None = None,
) -> dict[str, Any]:
    wording = wording or marketing_settings(context).consent_wording_version
    await context.as_plugin().record_consent(
        contact_id, topic, source=source[:120], wording_version=wording, channel=channel
    )
    values = {
        "contact": contact_id,
        "topic": topic,
        "channel": channel,
        "status": "subscribed",
        "confirmed_at": dt.datetime.now(dt.UTC),
        "wording_version": wording,
        "source": source[:120],
        **extra,
    }
    return await _write(context, found, values)


def confirm_url(context: PluginContext, contact_id: int, topic: str, channel: str) -> str:
    """The signed link of a double opt-in confirmation: names the wording the person is
    asked to agree to, so the one they confirmed is what is recorded."""
    data = {"c": int(contact_id), "t": topic, "ch": channel, "w": marketing_settings(context).consent_wording_version}
    return context.public_url(CONFIRM_PATH + links.make_token(context, CONFIRM, data))


async def send_confirmation(context: PluginContext, contact: dict[str, Any], topic: str, channel: str) -> None:
    """The confirmation mail, in the current transaction (automatic mail: its per-address
    cap stops a form being used to flood someone's mailbox)."""
    emails = contact.get("emails") or []
    if not emails:
        raise ValidationFailed.single("email", "required", "a double opt-in needs the contact's email address")
    if not context.mail.configured:
        raise ValidationFailed.single("doubleOptIn", "unavailable", "mail is not set up (the mail_from setting)")
    if await suppression.existing(context, email=emails[0], contact_id=None, topic=None) is not None:
        hard = await Suppression.exists().where(
            (Suppression.email_hash == suppression.address_hash(context, emails[0]))
            & Suppression.reason.is_in(["bounced", "complained", "erased"])
            & Suppression.deleted_at.is_null()
        )
        if hard:
            return  # never mail an address that bounced or complained
    label = marketing_settings(context).topics.get(topic, topic)
    url = confirm_url(context, int(contact["id"]), topic, channel)
    text = (
        f"Please confirm that you want to receive {label}.\n\n"
        f"Open this link and press the button to confirm:\n{url}\n\n"
        "If you did not ask for this, ignore this mail: you will get nothing more from us.\n"
    )
    await context.mail.send(
        OutboundMail(to=emails[0], subject=f"Please confirm: {label}", text=text),
        automatic=True,
        loop_keys=[f"marketing.confirm:{contact['id']}:{topic}"],
    )


async def confirm(context: PluginContext, token: str) -> dict[str, Any]:
    """The POST of a confirmation link: the pending subscription becomes subscribed, the
    consent is recorded with the link's wording and the time; done twice, nothing new.
    A confirmed address that had unsubscribed before comes off the list for the topic."""
    data = links.read_token(context, CONFIRM, token)
    if data is None or not isinstance(data.get("c"), int):
        raise ValidationFailed.single("token", "not_found", "this link is not valid")
    contact_id, topic, channel = data["c"], str(data.get("t")), str(data.get("ch") or "email")
    async with context.db.transaction():
        found = await current(context, contact_id, topic, channel)
        if found is None:
            raise ValidationFailed.single("token", "not_found", "this link is not valid any more")
        if found["status"] == "subscribed":
            return found
        if found["status"] != "pending":
            raise ValidationFailed.single("token", "expired", "you unsubscribed since; subscribe again to get it")
        contact = await _contact(context, contact_id)
        await _lift_unsubscribed(context, contact, topic)
        return await _subscribed(context, found, contact_id, topic, channel, "double-opt-in", {}, str(data.get("w")))


async def _lift_unsubscribed(context: PluginContext, contact: dict[str, Any], topic: str) -> None:
    """A confirmed opt-in undoes the person's own unsubscribing from the topic (never a
    bounce, complaint or erasure); an unsubscribe from everything becomes one from every
    other topic, so it still holds for them."""
    hashes = [suppression.address_hash(context, e) for e in contact.get("emails") or []]
    mine: Any = Suppression.contact == int(contact["id"])
    if hashes:
        mine = mine | Suppression.email_hash.is_in(hashes)
    rows = await Suppression.select(Suppression.id, Suppression.topic).where(
        mine
        & (Suppression.reason == "unsubscribed")
        & Suppression.deleted_at.is_null()
        & (Suppression.topic.is_null() | (Suppression.topic == topic))
    )
    writer = context.as_plugin(keep_permissions=False, name="double opt-in")
    for row in rows:
        entry = await writer.system.get("suppression", int(row["id"]))
        await writer.records.delete("suppression", int(row["id"]))
        if row["topic"] is not None or entry is None:
            continue
        for other in marketing_settings(context).topics:
            if other != topic:
                await suppression.suppress(
                    writer,
                    email=entry.get("email"),
                    contact_id=entry.get("contact"),
                    reason="unsubscribed",
                    topic=other,
                    source=str(entry.get("source") or "unsubscribe"),
                )


async def unsubscribe(
    context: PluginContext,
    contact_id: int,
    *,
    topic: str | None = None,
    channel: str = "email",
    source: str,
    campaign: str | None = None,
) -> list[dict[str, Any]]:
    """The contact wants no more ``topic`` (None: no marketing at all): their
    subscriptions for it become ``unsubscribed``, the consents are withdrawn and their
    addresses suppressed, in one transaction.  Idempotent."""
    topic = suppression.check_topic(context, topic)
    async with context.db.transaction():
        where = (Subscription.contact == contact_id) & (Subscription.channel == _channel(channel))
        if topic is not None:
            where = where & (Subscription.topic == topic)
        writer = context.as_plugin()
        for row in await Subscription.select(Subscription.id, Subscription.topic, Subscription.channel).where(where):
            found = await context.system.get("topic_subscription", int(row["id"]))
            if found is not None and found["status"] != "unsubscribed":
                await writer.records.update("topic_subscription", int(row["id"]), {"status": "unsubscribed"})
            await writer.withdraw_consent(contact_id, str(row["topic"]), channel=str(row["channel"]))
        if channel != "email":
            return []
        return await suppression.unsubscribe(context, contact_id, topic=topic, source=source, campaign=campaign)
