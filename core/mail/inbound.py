"""Receiving mail: store it, then offer it to plugins.

Every way in (the SMTP/LMTP gateway, ``kith mail receive`` on a pipe, ``kith mail
fetch`` from IMAP) calls ``receive``, which commits the raw bytes and a queued
``kith.mail.received`` job in one transaction and only then returns: the gateway answers
``250`` after that (``451`` if it failed), the pipe exits 0 (75, "try again", if it
failed), IMAP marks the message seen.  So a message is either stored or still with the
sender, never lost in between.  A redelivery (the same Message-ID and bytes) finds its
row and is not stored or offered again.

Offering it to plugins is always the worker's job (``dispatch_job``), never done inline:
the sender's connection or the MTA's pipe is answered as soon as the bytes are safe,
a plugin's slow or failing hook cannot make the sender time out and deliver it again,
and there is one path — with the worker's lease, retries and dead-letter list — rather
than an inline attempt racing a fallback job.  ``kith serve`` runs a worker; so does
``kith worker``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import inspect
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from piccolo.querystring import QueryString

from kith.core.errors import KithError
from kith.core.files import store_file
from kith.core.mail.inbound_mail import InboundMail
from kith.core.records.change import Actor
from kith.core.storage.json_text import dumps
from kith.core.storage.outbox import enqueue

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.settings import Settings
    from kith.core.storage.database import Database

log = logging.getLogger("kith.mail")

RECEIVED_JOB = "kith.mail.received"
HOOK = "kith_mail_received"
#: the actor plugins' writes are audited under while they handle a message
MAIL_ACTOR = Actor(name="mail", source="system")


class MailTooLarge(KithError):
    """The message is larger than ``mail_max_size``."""


@dataclass(frozen=True)
class Received:
    """What ``receive`` did: the row's ``id``, and whether it is ``new`` (False: this
    message was stored before, and is not offered again)."""

    id: int
    new: bool


class MailStore(Protocol):
    """What storing a message needs: settings and the database (a running ``Kith`` is
    one; ``mail_store`` opens just these, for a process that only stores)."""

    settings: Settings
    db: Database


@dataclass
class _Store:
    settings: Settings
    db: Database


@asynccontextmanager
async def mail_store(settings: Settings) -> AsyncIterator[MailStore]:
    """The database alone, migrated, without plugins or definitions: ``kith mail
    receive`` runs once per message, so it starts in a fraction of a full Kith's time."""
    from kith.core.core_migrations import CORE_MIGRATIONS
    from kith.core.storage.database import Database
    from kith.core.storage.migrations import migrate

    db = Database(settings.database_url)
    await db.connect()
    try:
        await migrate(db, "core", CORE_MIGRATIONS)
        yield _Store(settings, db)
    finally:
        await db.close()


def dedupe_key(message_id: str | None, raw: bytes) -> tuple[str, str]:
    """(key, sha256 of ``raw``): the key is the same for a redelivery of the same
    message, and differs for another message that reuses a Message-ID."""
    digest = hashlib.sha256(raw).hexdigest()
    return hashlib.sha256(f"{message_id or ''}\0{digest}".encode()).hexdigest(), digest


async def receive(
    kith: MailStore,
    raw: bytes,
    *,
    source: str,
    envelope_from: str | None = None,
    envelope_to: Sequence[str] = (),
) -> Received:
    """Store ``raw`` and queue it for plugins, in one transaction; returns once committed.

    Raises ``MailTooLarge`` past ``mail_max_size``; any other exception means nothing was
    stored (the caller answers "try again")."""
    raw = bytes(raw)
    if len(raw) > kith.settings.mail_max_size:
        raise MailTooLarge(f"the message is {len(raw)} bytes; at most {kith.settings.mail_max_size} are accepted")
    meta = _metadata(raw, envelope_from)
    key, digest = dedupe_key(meta["message_id"], raw)
    now = dt.datetime.now(dt.UTC)
    db = kith.db
    async with db.write_transaction():
        rows = await db.fetch(
            QueryString(
                "INSERT INTO kith_mail_inbound (dedupe_key, message_id, sha256, data, size, source, envelope_from, "
                "envelope_to, from_address, subject, automatic, status, attempts, received_at) VALUES "
                "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 'received', 0, {}) "
                "ON CONFLICT (dedupe_key) DO NOTHING RETURNING id",
                key,
                meta["message_id"],
                digest,
                raw,
                len(raw),
                source,
                envelope_from,
                dumps(list(envelope_to)),
                meta["from_address"],
                meta["subject"],
                meta["automatic"],
                now,
            )
        )
        if not rows:
            existing = await db.fetch_one(QueryString("SELECT id FROM kith_mail_inbound WHERE dedupe_key = {}", key))
            assert existing is not None
            log.info("inbound mail %s (%s) was stored before: not offered again", existing["id"], meta["message_id"])
            return Received(int(existing["id"]), False)
        inbound_id = int(rows[0]["id"])
        await enqueue(db, RECEIVED_JOB, record_id=inbound_id, payload={"id": inbound_id}, key=f"{RECEIVED_JOB}:{key}")
    log.info("inbound mail %s stored (%s, %d bytes, from %s)", inbound_id, source, len(raw), meta["from_address"])
    return Received(inbound_id, True)


def _metadata(raw: bytes, envelope_from: str | None) -> dict[str, Any]:
    """What the row keeps beside the bytes, for lists and look-ups; a message the parser
    cannot read is stored all the same, with these empty."""
    try:
        message = InboundMail(raw, envelope_from=envelope_from)
        sender = message.from_address
        return {
            "message_id": message.message_id,
            "from_address": sender.address if sender else None,
            "subject": message.subject[:2000],
            "automatic": message.automatic_reason,
        }
    except Exception:
        log.warning("inbound mail could not be parsed; stored as received", exc_info=True)
        return {"message_id": None, "from_address": None, "subject": None, "automatic": None}


async def load(kith: Kith, inbound_id: int) -> InboundMail | None:
    """The stored message ``inbound_id`` as an ``InboundMail`` (attachments with their
    ``file_id`` once it has been offered to plugins), or None."""
    row = await kith.db.fetch_one(QueryString("SELECT * FROM kith_mail_inbound WHERE id = {}", int(inbound_id)))
    if row is None:
        return None
    message = _message(kith, row)
    files = await kith.db.fetch(
        QueryString("SELECT id, key FROM kith_file WHERE key LIKE {}", f"mail:{int(inbound_id)}:%")
    )
    ids = {str(f["key"]).rsplit(":", 1)[1]: int(f["id"]) for f in files}
    _with_file_ids(message, [ids.get(str(index)) for index in range(len(message.attachments))])
    return message


def _message(kith: Kith, row: Any) -> InboundMail:
    envelope_to = row["envelope_to"]
    if isinstance(envelope_to, str):
        import json

        envelope_to = json.loads(envelope_to)
    return InboundMail(
        bytes(row["data"]),
        id=int(row["id"]),
        source=row["source"],
        envelope_from=row["envelope_from"],
        envelope_to=envelope_to or [],
        received_at=row["received_at"],
        reply_languages=kith.settings.mail_reply_languages,
    )


def _with_file_ids(message: InboundMail, ids: Sequence[int | None]) -> None:
    import dataclasses

    message.attachments = [
        dataclasses.replace(attachment, file_id=file_id)
        for attachment, file_id in zip(message.attachments, ids, strict=True)
    ]


async def dispatch_job(kith: Kith, row: dict[str, Any], payload: dict[str, Any]) -> None:
    """The worker's ``kith.mail.received`` job: offer the message to plugins, record the
    outcome; retried later when no plugin claimed it and one failed."""
    from kith.core.automations.engine import DeadLetter, RetryJob
    from kith.core.plugins.context import PluginContext

    db = kith.db
    inbound_id = int(payload["id"])
    stored = await db.fetch_one(QueryString("SELECT * FROM kith_mail_inbound WHERE id = {}", inbound_id))
    if stored is None or stored["status"] in ("claimed", "unclaimed"):
        return  # gone, or handled already (a job claimed twice after a crash)
    message = _message(kith, stored)
    context = PluginContext(kith, MAIL_ACTOR)
    errors: list[str] = []
    claimed_by: str | None = None
    claim: str | None = None
    async with db.write_transaction():
        files = [
            await store_file(
                db,
                attachment.data,
                name=attachment.filename or "",
                content_type=attachment.content_type,
                key=f"mail:{inbound_id}:{index}",
            )
            for index, attachment in enumerate(message.attachments)
        ]
        _with_file_ids(message, [f.id for f in files])
        for call in kith.plugins.pending(HOOK, context=context, message=message):
            try:
                async with db.savepoint():
                    result = call.run()
                    if inspect.isawaitable(result):
                        result = await result
                    if result is not None and not (isinstance(result, str) and result.strip()):
                        raise TypeError(f"returned {result!r}: return a claim such as 'ticket:42', or None")
            except Exception as exc:
                kith.plugins.report(call.plugin, HOOK, exc)
                errors.append(f"{call.plugin}: {type(exc).__name__}: {exc}")
                continue
            if result is not None:
                claimed_by, claim = call.plugin, str(result)[:200]
                break
        status = "claimed" if claim else "failed" if errors else "unclaimed"
        error = "; ".join(errors) or None
        await db.fetch(
            QueryString(
                "UPDATE kith_mail_inbound SET status = {}, claimed_by = {}, claim = {}, error = {}, "
                "attempts = attempts + 1, processed_at = {} WHERE id = {}",
                status,
                claimed_by,
                claim,
                error,
                dt.datetime.now(dt.UTC),
                inbound_id,
            )
        )
    if claim:
        log.info("inbound mail %s claimed by %s as %s", inbound_id, claimed_by, claim)
    elif status == "failed":
        attempt = int(row.get("attempts") or 0) + 1
        if attempt >= kith.settings.automation_max_attempts:
            raise DeadLetter(f"inbound mail {inbound_id}: {error}")
        raise RetryJob(kith.automations.backoff(attempt), -1, f"inbound mail {inbound_id}: {error}")
