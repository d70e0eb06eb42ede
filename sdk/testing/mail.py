"""Mail in tests: deliver a message as the gateway would, and look at what was sent,
without an SMTP server."""

from __future__ import annotations

import json
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from typing import Any

from kith.core.mail.inbound import receive
from kith.core.runtime import Kith
from kith.sdk.testing.worker import run_worker_until_idle


async def deliver_mail(
    kith: Kith, raw: bytes | str, *, sender: str | None = None, recipients: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """Receive ``raw`` (an RFC 5322 message) as the gateway does, run the worker (which
    offers it to ``kith_mail_received``), and return what became of it: ``id``,
    ``status`` (``claimed``, ``unclaimed``, ``failed``), ``claimed_by``, ``claim``, ``error``."""
    data = raw.encode() if isinstance(raw, str) else raw
    stored = await receive(kith, data, source="smtp", envelope_from=sender, envelope_to=list(recipients))
    await run_worker_until_idle(kith)
    rows = await kith.db.execute(
        "SELECT id, status, claimed_by, claim, error FROM kith_mail_inbound WHERE id = {}", stored.id
    )
    return dict(rows[0])


async def outgoing_mail(kith: Kith) -> list[dict[str, Any]]:
    """Every mail sent so far, oldest first: ``message`` (an ``EmailMessage`` to read
    headers and bodies from), ``status`` (``queued``, ``sent``, ``failed``,
    ``suppressed``), ``reason``, ``automatic``, ``recipients`` (the envelope's), ``loop_keys``."""
    rows = await kith.db.execute(
        "SELECT id, message_id, status, reason, automatic, recipients, loop_keys, data "
        "FROM kith_mail_outbound ORDER BY id"
    )
    found = []
    for row in rows:
        message = message_from_bytes(bytes(row["data"]), policy=default_policy)
        assert isinstance(message, EmailMessage)
        found.append(
            {
                "id": row["id"],
                "message_id": row["message_id"],
                "status": row["status"],
                "reason": row["reason"],
                "automatic": bool(row["automatic"]),
                "recipients": _json(row["recipients"]),
                "loop_keys": _json(row["loop_keys"]),
                "message": message,
            }
        )
    return found


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value
