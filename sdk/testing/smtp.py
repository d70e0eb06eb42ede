"""A real SMTP server for a test: what a plugin that sends mail (campaigns, replies,
reports by email) is checked against, listening on 127.0.0.1 in the test's own event
loop (aiosmtpd)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Received:
    """One message the server took: the envelope's ``sender`` and ``recipients`` and the
    raw ``data``; ``message`` parses it."""

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
    """Keeps every message; ``answers`` (popped one per message) make it refuse some,
    e.g. ``"550 5.1.1 no such user"``."""

    received: list[Received] = field(default_factory=list)
    answers: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.answers:
            return self.answers.pop(0)
        data = envelope.original_content or envelope.content
        assert isinstance(data, bytes)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        return "250 2.0.0 Ok: queued as TEST1"


@asynccontextmanager
async def smtp_server(handler: Any) -> AsyncIterator[int]:
    """An SMTP server for an aiosmtpd ``handler`` on a free port of 127.0.0.1; yields the port."""
    loop = asyncio.get_running_loop()
    factory: Callable[[], SMTP] = lambda: SMTP(handler, decode_data=False, loop=loop)  # noqa: E731
    server = await loop.create_server(factory, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


def smtp_settings(port: int) -> dict[str, Any]:
    """Kith settings that send through the server on ``port`` (``make_kith(**…)``)."""
    return {
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_security": "none",
        "mail_from": "Acme Support <support@acme.example>",
        "mail_domain": "acme.example",
        "automation_retry_base_seconds": 0.01,
        "automation_retry_max_seconds": 0.02,
    }


@dataclass
class SmtpSink:
    """What ``smtp_sink`` yields: the ``port``, the ``settings`` to send there, every
    message ``received`` so far, and ``answers`` to refuse the next ones with."""

    port: int
    handler: CaptureHandler

    @property
    def settings(self) -> dict[str, Any]:
        return smtp_settings(self.port)

    @property
    def received(self) -> list[Received]:
        return self.handler.received

    @property
    def answers(self) -> list[str]:
        return self.handler.answers


@asynccontextmanager
async def smtp_sink() -> AsyncIterator[SmtpSink]:
    """``async with smtp_sink() as sink: kith = await make_kith(**sink.settings)``: a real
    SMTP server that keeps what it is sent (``sink.received``)."""
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        yield SmtpSink(port, handler)
