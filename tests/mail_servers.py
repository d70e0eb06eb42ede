"""Real SMTP servers for the mail tests, listening on 127.0.0.1 in the test's own event
loop: the SDK's (kith.sdk.testing.smtp), which keeps what it is sent and can be told to
refuse, and here one that relays to another server (optionally losing headers on the
way, as a careless forwarder does)."""

from __future__ import annotations

from dataclasses import dataclass
from email import message_from_bytes
from email.policy import default as default_policy

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session

from kith.sdk.testing.smtp import CaptureHandler, Received, smtp_server, smtp_settings

__all__ = ["CaptureHandler", "Received", "RelayHandler", "smtp_server", "smtp_settings"]


@dataclass
class RelayHandler:
    """Passes every message on to ``port``, without the headers named in ``strip``."""

    port: int
    strip: tuple[str, ...] = ()
    relayed: int = 0

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        message = message_from_bytes(data, policy=default_policy)
        for name in self.strip:
            del message[name]
        await aiosmtplib.send(
            message.as_bytes(), sender=envelope.mail_from, recipients=envelope.rcpt_tos,
            hostname="127.0.0.1", port=self.port, start_tls=False,
        )  # fmt: skip
        self.relayed += 1
        return "250 2.0.0 Ok: relayed"
