"""Bounces and complaints put addresses on the suppression list.

A hard bounce (a permanent ``5.x.x`` failure) means the address does not work; a spam
complaint (an ARF report relayed by the mailbox provider) means its owner does not want
our mail.  Either way, mailing it again harms the sender's reputation, so every later
send skips it.  The message is not claimed: others (a campaign's report) still see it.
"""

from __future__ import annotations

from kith.plugins.marketing.consent.suppression import suppress
from kith.sdk import InboundMail, PluginContext, ValidationFailed


async def mail_received(context: PluginContext, message: InboundMail) -> None:
    found: list[tuple[str, str, str]] = []
    bounce = message.bounce
    if bounce is not None:
        found += [(r.address, "bounced", f"bounce {r.status}") for r in bounce.recipients if r.hard]
    complaint = message.complaint
    if complaint is not None and complaint.recipient:
        found.append((complaint.recipient, "complained", f"complaint {complaint.feedback_type}"[:120]))
    for address, reason, source in found:
        try:
            await suppress(context, email=address, reason=reason, source=source)
        except ValidationFailed:
            context.log.warning("marketing: a %s names %r, not an address; not suppressed", reason, address)
