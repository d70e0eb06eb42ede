"""Replies to campaign mail, counted as engagement.

A person who answers a campaign mail is the strongest signal a mail can get, so a reply
is an engagement row (``reply``) and an ``email_reply`` activity on the contact's
timeline, and A/B tests can pick their winner by it.  A reply is recognised by the
campaign Message-ID it answers (``In-Reply-To`` or ``References``, signed, so a made-up
one counts nothing).  Automatic mail (out-of-office notices, bounces, anything marked
``Auto-Submitted`` or ``Precedence: bulk``) is not a reply.

The message is never claimed: the service plugin may still make a ticket of it.  The
reply's own Message-ID is kept on the row, so the same message offered again (a later
plugin failed and the gateway retries) is counted once.
"""

from __future__ import annotations

import datetime as dt

from kith.plugins.marketing.engagement.bounces import delivery_of
from kith.plugins.marketing.engagement.models import Engagement
from kith.plugins.marketing.engagement.record import REPLY_ACTIVITY, delivery_row, insert, timeline_activity
from kith.sdk import InboundMail, PluginContext


def answered_delivery(context: PluginContext, message: InboundMail) -> int | None:
    """The campaign delivery a person's message answers, if any."""
    if message.bounce is not None or message.complaint is not None or message.is_automatic:
        return None
    for candidate in [message.in_reply_to, *reversed(message.references)]:
        found = delivery_of(context, candidate)
        if found is not None:
            return found
    return None


async def mail_received(context: PluginContext, message: InboundMail) -> None:
    delivery_id = answered_delivery(context, message)
    if delivery_id is None:
        return
    mark = (message.message_id or f"inbound-{message.id}")[:1000]
    seen = await Engagement.exists().where(
        (Engagement.delivery == delivery_id) & (Engagement.kind == "reply") & (Engagement.url == mark)
    )
    delivery = None if seen else await delivery_row(delivery_id)
    if delivery is None:
        return
    subject = f"Replied to “{delivery['campaign_name']}”"
    activity = await timeline_activity(context, delivery, REPLY_ACTIVITY, subject, body=message.reply_text[:2000])
    await insert(delivery, "reply", dt.datetime.now(dt.UTC), url=mark, activity=activity)
