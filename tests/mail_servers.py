"""Real SMTP servers for the mail tests, listening on 127.0.0.1 in the test's own event
loop: one that keeps what it is sent (and can be told to refuse), one that relays to
another server (optionally losing headers on the way, as a careless forwarder does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    sender: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.data, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        return parsed


@dataclass
class CaptureHandler:
    """Keeps every message; ``answers`` (popped one per message) make it refuse some."""

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answers:
            return self.answers.pop(0)
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        return "250 2.0.0 Ok: queued as TEST1"


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


@asynccontextmanager
async def smtp_server(handler: Any) -> AsyncIterator[int]:
    """An SMTP server for ``handler`` on a free port of 127.0.0.1; yields the port."""
    loop = asyncio.get_running_loop()
    factory: Callable[[], SMTP] = lambda: SMTP(handler, decode_data=False, loop=loop)  # noqa: E731
    server = await loop.create_server(factory, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def smtp_settings(port: int) -> dict[str, Any]:
    """Settings that send through the test server on ``port``."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "mail_from": "Acme Support <support@acme.example>",
        "mail_domain": "acme.example",
        "automation_retry_base_seconds": 0.01,
        "automation_retry_max_seconds": 0.02,
    }
