"""Bounces and complaints tied to the delivery they answer, by the original mail's
Message-ID (``<kith.c{campaign}.d{delivery}.{tag}@domain>``, ``sender.message_id``; the
tag is a signature, so a made-up report cannot mark someone else's delivery).

A hard bounce makes the delivery ``bounced``, a complaint ``complained``, and a soft
bounce (``4.x.x``, ``delayed``) is counted as a ``soft_bounce`` engagement row.  The
address itself is suppressed by the consent part (``consent.bounces``), in the same
pass of ``kith_mail_received``."""

from __future__ import annotations

import datetime as dt
import hmac
import re

from kith.plugins.marketing.campaigns.models import CampaignDelivery
from kith.plugins.marketing.engagement.models import Engagement
from kith.sdk import InboundMail, PluginContext

_OURS = re.compile(r"<?kith\.c(\d+)\.d(\d+)\.([A-Za-z0-9_-]+)@[^>\s]+>?")


def delivery_of(context: PluginContext, message_id: str | None) -> int | None:
    """The delivery a campaign Message-ID names, if it is really one we made."""
    found = _OURS.fullmatch((message_id or "").strip())
    if found is None:
        return None
    campaign, delivery, tag = found.groups()
    expected = context.sign("marketing.message-id", f"{campaign}.{delivery}")[: len(tag)]
    if len(tag) < 16 or not hmac.compare_digest(expected, tag):
        return None
    return int(delivery)


async def mail_received(context: PluginContext, message: InboundMail) -> None:
    bounce, complaint = message.bounce, message.complaint
    if complaint is not None:
        delivery = delivery_of(context, complaint.original_message_id)
        if delivery is not None:
            await mark_complained(delivery)
        return
    if bounce is None:
        return
    delivery = delivery_of(context, bounce.original_message_id)
    if delivery is None:
        return
    if bounce.hard:
        await mark_bounced(delivery, _why(bounce))
    else:
        await count_soft_bounce(delivery, _why(bounce))


async def mark_complained(delivery: int) -> None:
    await CampaignDelivery.update({CampaignDelivery.status: "complained"}).where(CampaignDelivery.id == delivery)


async def mark_bounced(delivery: int, why: str) -> None:
    """A hard bounce (a complaint, the stronger news, is not overwritten)."""
    await CampaignDelivery.update({CampaignDelivery.status: "bounced", CampaignDelivery.error: why[:1000]}).where(
        (CampaignDelivery.id == delivery) & (CampaignDelivery.status != "complained")
    )


async def count_soft_bounce(delivery: int, why: str) -> None:
    row = (
        await CampaignDelivery.select(CampaignDelivery.campaign, CampaignDelivery.contact)
        .where(CampaignDelivery.id == delivery)
        .first()
    )
    if row is None:
        return
    now = dt.datetime.now(dt.UTC)
    await Engagement.insert(
        Engagement(
            campaign=row["campaign"],
            delivery=delivery,
            contact=row["contact"],
            kind="soft_bounce",
            at=now,
            created_at=now,
            updated_at=now,
            flag_reason=why[:80],
        )
    )


def _why(bounce: object) -> str:
    recipients = getattr(bounce, "recipients", ())
    return "; ".join(f"{r.status} {r.diagnostic or r.action}".strip() for r in recipients)[:1000] or "bounced"
