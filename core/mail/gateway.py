"""The inbound gateway: an SMTP (or LMTP) listener that stores what it is given.

It runs in the caller's event loop (not aiosmtpd's ``Controller`` thread), so it shares
Kith's database connections.  A message is answered ``250`` only once ``receive`` has
committed it, ``451`` (try again later) if that failed, ``552`` when it is over
``mail_max_size``.  LMTP answers once per recipient after the data, as the protocol
wants; the message is stored once, with every recipient, so each gets the same answer.
Recipients outside ``mail_gateway_domains`` (when set) are refused at ``RCPT``.

Put it behind your MTA (Postfix ``transport_maps`` to ``smtp:[127.0.0.1]:2525`` or
``lmtp:inet:127.0.0.1:2525``) rather than on the open internet: it does no spam or
sender checks of its own.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from aiosmtpd.lmtp import LMTP
from aiosmtpd.smtp import SMTP, Envelope, Session

from kith.core.mail.inbound import MailTooLarge, receive

if TYPE_CHECKING:
    from kith.core.runtime import Kith

log = logging.getLogger("kith.mail")


class GatewayHandler:
    """aiosmtpd's handler: checks recipients, stores the data."""

    def __init__(self, kith: Kith, *, lmtp: bool = False) -> None:
        self.kith = kith
        self.lmtp = lmtp
        self.domains = {d.lower().lstrip("@") for d in kith.settings.mail_gateway_domains}

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if self.domains and domain not in self.domains:
            return f"550 5.1.1 <{address}>: this gateway takes no mail for that domain"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw or "").encode("utf-8", errors="surrogateescape")
        try:
            stored = await receive(
                self.kith,
                data,
                source="lmtp" if self.lmtp else "smtp",
                envelope_from=(envelope.mail_from or "").strip("<>"),  # MAIL FROM:<> -> ""
                envelope_to=list(envelope.rcpt_tos),
            )
        except MailTooLarge as exc:
            status = f"552 5.3.4 {exc}"
        except Exception:
            log.exception("inbound mail from %s could not be stored; the sender will try again", envelope.mail_from)
            status = "451 4.3.0 The message could not be stored; try again later"
        else:
            status = f"250 2.0.0 Stored as {stored.id}" + ("" if stored.new else " (already received)")
        if self.lmtp:  # one answer per recipient (RFC 2033)
            return "\r\n".join(status for _ in envelope.rcpt_tos)
        return status


async def start_gateway(kith: Kith, host: str, port: int, *, lmtp: bool = False) -> asyncio.Server:
    """Listen on ``host:port`` in this event loop; close the returned server to stop.
    Port 0 picks a free port (``server.sockets[0].getsockname()``)."""
    handler = GatewayHandler(kith, lmtp=lmtp)
    loop = asyncio.get_running_loop()
    protocol: Any = LMTP if lmtp else SMTP

    def factory() -> SMTP:
        server: SMTP = protocol(
            handler,
            data_size_limit=kith.settings.mail_max_size,
            enable_SMTPUTF8=True,
            decode_data=False,
            ident="Kith mail gateway",
            loop=loop,
        )
        return server

    return await loop.create_server(factory, host, port)
