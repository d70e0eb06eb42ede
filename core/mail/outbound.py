"""Sending mail: compose once, store with the caller's transaction, deliver from the worker.

``context.mail.send(OutboundMail(...))`` composes the message (``EmailMessage``: text,
an optional HTML alternative, attachments from the file store, a fresh ``Message-ID``,
threading headers), writes it into ``kith_mail_outbound`` and queues a
``kith.mail.send`` job — both in the caller's transaction, if there is one, so a reply
recorded on a ticket and the mail that tells the customer commit or vanish together.
The worker delivers it over SMTP (``aiosmtplib``) and marks it ``sent`` with the
server's answer; a temporary failure (a ``4xx`` answer, a connection that fails) is
retried with backoff up to ``smtp_max_attempts``, a permanent one (``5xx``) marks it
``failed`` and dead-letters the job.  A worker that dies mid-delivery leaves the job to
another after its lease, which sends it again: at least once, the same bytes and
Message-ID each time, so receivers can tell a repeat.

**Loop protection** (RFC 3834) for ``automatic=True`` mail, never for a person's own:
it is *suppressed* — recorded with the reason, not sent — when it answers an automatic
message, or goes to a mailer-daemon, postmaster or no-reply address, or when an address
or a loop key has had its share of automatic mail within the window
(``mail_auto_reply_per_address`` / ``_per_loop_key`` per ``_window_seconds``, counted in
the database under one lock, so several processes agree).  Every automatic mail carries
``Auto-Submitted`` (``auto-replied`` for an answer, ``auto-generated`` otherwise) and
``X-Auto-Response-Suppress: All``, so well-behaved responders at the other end stay quiet.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from typing import TYPE_CHECKING, Any

from piccolo.querystring import QueryString

from kith.core.errors import KithError
from kith.core.files import read_file
from kith.core.mail.automatic import is_daemon_address, is_noreply_address
from kith.core.mail.dkim_signing import dkim_signer
from kith.core.mail.inbound_mail import InboundMail
from kith.core.records.change import SYSTEM, Actor
from kith.core.storage.json_text import dumps
from kith.core.storage.outbox import enqueue

if TYPE_CHECKING:
    import aiosmtplib

    from kith.core.mail.bulk import BulkResult, BulkSender
    from kith.core.runtime import Kith
    from kith.core.settings import Settings

log = logging.getLogger("kith.mail")

#: how mail is written to the wire: CRLF, and headers folded only past RFC 5322's 998
#: characters. At the default 78 a header with one long token (``List-Unsubscribe:
#: <https://…/token>``) is written as an RFC 2047 encoded word, which mail programs do
#: not decode in that header: the one-click button would not work.
WIRE_POLICY = SMTP.clone(max_line_length=998)

SEND_JOB = "kith.mail.send"
#: headers the composer writes itself; ``OutboundMail.headers`` may not set them
RESERVED_HEADERS = frozenset(
    name.lower()
    for name in (
        "From", "To", "Cc", "Bcc", "Subject", "Date", "Message-ID", "In-Reply-To", "References", "Reply-To",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "Auto-Submitted",
    )
)  # fmt: skip


class MailSuppressed(KithError):
    """An automatic mail was not sent: the loop rules refused it (``reason`` says which)."""

    def __init__(self, reason: str, sent: SentMail | None = None) -> None:
        super().__init__(f"automatic mail suppressed: {reason}")
        self.reason = reason
        self.sent = sent


@dataclass
class OutboundMail:
    """A message to send: recipients, subject, a text body and optionally an HTML one,
    threading headers, extra headers and attachments (ids of files in the file store).

    ``OutboundMail.reply(message, text=...)`` fills in the recipient, ``Re:`` subject and
    threading headers of an answer to an ``InboundMail``."""

    to: Sequence[str] | str
    subject: str
    text: str
    html: str | None = None
    cc: Sequence[str] | str = ()
    bcc: Sequence[str] | str = ()
    #: unset: the ``mail_from`` setting
    from_address: str | None = None
    reply_to: Sequence[str] | str = ()
    in_reply_to: str | None = None
    references: Sequence[str] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    #: ids of files in the file store (``context.files``, ``Attachment.file_id``)
    attachments: Sequence[int] = ()
    #: unset: a new one in ``mail_domain``
    message_id: str | None = None
    #: the SMTP envelope sender (where bounces go); unset: the From address
    envelope_from: str | None = None

    @classmethod
    def reply(
        cls, message: InboundMail, text: str, *, html: str | None = None, subject: str | None = None, **more: Any
    ) -> OutboundMail:
        """An answer to ``message``: to its ``Reply-To`` (or sender), ``Re: <subject>``,
        ``In-Reply-To`` its Message-ID and ``References`` the thread so far."""
        references = list(message.references)
        if message.message_id and message.message_id not in references:
            references.append(message.message_id)
        original = message.subject
        return cls(
            to=more.pop("to", None) or [str(address) for address in message.reply_to],
            subject=subject or (original if original.lower().startswith("re:") else f"Re: {original}".strip()),
            text=text,
            html=html,
            in_reply_to=message.message_id,
            references=references,
            **more,
        )


@dataclass(frozen=True)
class SentMail:
    """What ``send`` did: the row ``id``, the ``message_id`` to thread later replies on,
    and ``status``: ``queued`` (the worker delivers it) or ``suppressed`` (with ``reason``)."""

    id: int
    message_id: str
    status: str
    reason: str | None = None

    @property
    def suppressed(self) -> bool:
        return self.status == "suppressed"


def _list(value: Sequence[str] | str) -> list[str]:
    return [value] if isinstance(value, str) else [v for v in value if v]


def _addresses(values: Sequence[str] | str) -> list[str]:
    """The bare addresses of ``values`` (``"Ann <ann@x>"`` -> ``ann@x``)."""
    return [address for _name, address in getaddresses(_list(values)) if address]


def mail_domain(settings: Settings) -> str:
    if settings.mail_domain:
        return settings.mail_domain
    address = parseaddr(settings.mail_from or "")[1]
    return address.rpartition("@")[2] if "@" in address else socket.getfqdn()


class Mail:
    """``context.mail``: send mail, and read what came in."""

    def __init__(self, kith: Kith, actor: Actor = SYSTEM) -> None:
        self._kith = kith
        self._actor = actor

    @property
    def configured(self) -> bool:
        """Whether mail can be composed without a ``from_address`` of its own (the
        ``mail_from`` setting is set): a plugin that mails as a side effect (a ticket's
        replies) checks this rather than failing the write that caused it."""
        return bool(self._kith.settings.mail_from)

    async def send(
        self,
        mail: OutboundMail,
        *,
        automatic: bool = False,
        loop_keys: Sequence[str] = (),
        replying_to: InboundMail | None = None,
        raise_if_suppressed: bool = False,
    ) -> SentMail:
        """Queue ``mail`` for delivery in the current transaction (if any); returns its
        ``SentMail`` (with the ``message_id``) at once, the worker sends it.

        ``automatic=True`` for mail no person wrote (an acknowledgement, a notification):
        the loop rules apply, and a refused mail comes back ``suppressed`` with the reason
        (or raises ``MailSuppressed`` with ``raise_if_suppressed``).  ``loop_keys`` name
        what the mail is about (``"ticket:42"``) for the per-key cap; ``replying_to`` is the
        message it answers, when you have it (else ``mail.in_reply_to`` is looked up among
        the stored messages)."""
        kith = self._kith
        settings = kith.settings
        sender = mail.from_address or settings.mail_from
        if not sender:
            raise KithError("mail has no From address: set mail_from (KITH_MAIL_FROM) or give from_address")
        recipients = list(dict.fromkeys(_addresses(mail.to) + _addresses(mail.cc) + _addresses(mail.bcc)))
        if not recipients:
            raise KithError("mail has no recipient: give at least one address in to, cc or bcc")
        answering = bool(replying_to is not None or mail.in_reply_to)
        db = kith.db
        async with db.write_transaction():
            message = await self._compose(mail, sender, automatic=automatic, answering=answering)
            message_id = str(message["Message-ID"])
            reason = None
            if automatic:
                await db.dialect.serialise(db, "kith.mail.automatic")
                reason = await self._refusal(mail, recipients, loop_keys, replying_to)
            status = "suppressed" if reason else "queued"
            now = dt.datetime.now(dt.UTC)
            envelope = parseaddr(mail.envelope_from or sender)[1]
            rows = await db.fetch(
                QueryString(
                    "INSERT INTO kith_mail_outbound (message_id, status, automatic, sender, recipients, subject, "
                    "in_reply_to, loop_keys, data, actor, reason, attempts, created_at) VALUES "
                    "({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, 0, {}) RETURNING id",
                    message_id,
                    status,
                    automatic,
                    envelope,
                    dumps(recipients),
                    mail.subject,
                    mail.in_reply_to,
                    dumps(list(loop_keys)),
                    message.as_bytes(policy=WIRE_POLICY),
                    self._actor.name[:200],
                    reason,
                    now,
                )
            )
            outbound_id = int(rows[0]["id"])
            if not reason:
                await enqueue(
                    db, SEND_JOB, record_id=outbound_id, payload={"id": outbound_id}, key=f"{SEND_JOB}:{message_id}"
                )
                if automatic:
                    scopes = [f"address:{a.lower()}" for a in recipients] + [f"key:{k}" for k in loop_keys]
                    await db.insert_rows(
                        "kith_mail_auto_send",
                        (("scope", "VARCHAR"), ("outbound", "BIGINT"), ("sent_at", "TIMESTAMPTZ")),
                        [(scope[:400], outbound_id, now) for scope in scopes],
                    )
        sent = SentMail(outbound_id, message_id, status, reason)
        if reason:
            log.info("automatic mail %s to %s suppressed: %s", message_id, ", ".join(recipients), reason)
            if raise_if_suppressed:
                raise MailSuppressed(reason, sent)
        return sent

    def dkim_record(self) -> tuple[str, str] | None:
        """The DNS TXT record receivers check Kith's DKIM signatures with, as ``(name,
        value)``: publish it before signing. None when the ``dkim_*`` settings are unset."""
        signer = dkim_signer(self._kith.settings)
        return (signer.dns_name, signer.dns_record) if signer is not None else None

    def dkim_sign(self, message: EmailMessage | bytes) -> bytes:
        """``message`` as Kith puts it on the wire: its bytes (CRLF line ends), with a
        DKIM signature in front when the ``dkim_*`` settings are set.  For a plugin that
        hands mail to a service of its own; ``send`` and ``bulk`` sign by themselves."""
        raw = message.as_bytes(policy=WIRE_POLICY) if isinstance(message, EmailMessage) else message
        signer = dkim_signer(self._kith.settings)
        return signer.sign(raw) if signer is not None else raw

    async def compose(self, mail: OutboundMail) -> EmailMessage:
        """``mail`` as ``send`` would compose it (From from ``mail_from``, a ``Date``, a
        ``Message-ID`` in ``mail_domain`` unless ``mail.message_id`` is given, text with an
        HTML alternative, attachments), without storing or sending it: for ``bulk``."""
        sender = mail.from_address or self._kith.settings.mail_from
        if not sender:
            raise KithError("mail has no From address: set mail_from (KITH_MAIL_FROM) or give from_address")
        if mail.bcc:
            raise KithError("bcc: a composed message carries no Bcc; give those addresses to bulk's recipients")
        return await self._compose(mail, sender, automatic=False, answering=False)

    def bulk(
        self,
        *,
        rate_per_second: float | None = None,
        connections: int = 1,
        envelope_from: str | None = None,
        on_result: Callable[[BulkResult], Awaitable[None]] | None = None,
        queue_size: int = 100,
        signing_processes: int = 0,
    ) -> BulkSender:
        """A ``BulkSender`` for ``async with``: delivers many composed messages over
        ``connections`` kept-open SMTP connections at ``rate_per_second``, DKIM-signed when
        configured, each with a ``BulkResult`` (docs/mail.md, "Bulk sending").  Nothing is
        stored: the caller records the results."""
        from kith.core.mail.bulk import BulkSender

        return BulkSender(
            self._kith.settings,
            rate_per_second=rate_per_second,
            connections=connections,
            envelope_from=envelope_from,
            on_result=on_result,
            queue_size=queue_size,
            signing_processes=signing_processes,
        )

    async def _compose(self, mail: OutboundMail, sender: str, *, automatic: bool, answering: bool) -> EmailMessage:
        settings = self._kith.settings
        message = EmailMessage()
        message["From"] = sender
        if mail.to:
            message["To"] = ", ".join(_list(mail.to))
        if mail.cc:
            message["Cc"] = ", ".join(_list(mail.cc))
        if mail.reply_to:
            message["Reply-To"] = ", ".join(_list(mail.reply_to))
        message["Subject"] = mail.subject
        message["Date"] = format_datetime(dt.datetime.now(dt.UTC))
        message["Message-ID"] = mail.message_id or make_msgid(domain=mail_domain(settings))
        if mail.in_reply_to:
            message["In-Reply-To"] = mail.in_reply_to
        references = list(mail.references)
        if mail.in_reply_to and mail.in_reply_to not in references:
            references.append(mail.in_reply_to)
        if references:
            message["References"] = " ".join(references)
        if automatic:
            message["Auto-Submitted"] = "auto-replied" if answering else "auto-generated"
            message["X-Auto-Response-Suppress"] = "All"
        for name, value in mail.headers.items():
            if name.lower() in RESERVED_HEADERS:
                raise KithError(f"header {name} is set by Kith: use the OutboundMail field for it")
            message[name] = value
        message.set_content(mail.text)
        if mail.html is not None:
            message.add_alternative(mail.html, subtype="html")
        for file_id in mail.attachments:
            stored = await read_file(self._kith.db, int(file_id))
            if stored is None or stored.data is None:
                raise KithError(f"attachment {file_id}: no such file in the file store")
            maintype, _, subtype = stored.content_type.partition("/")
            message.add_attachment(
                stored.data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                filename=stored.name or f"attachment-{stored.id}",
            )  # fmt: skip
        return message

    async def _refusal(
        self, mail: OutboundMail, recipients: list[str], loop_keys: Sequence[str], replying_to: InboundMail | None
    ) -> str | None:
        """Why an automatic mail must not go out (RFC 3834 and the caps), or None."""
        reason = replying_to.automatic_reason if replying_to is not None else None
        if replying_to is None and mail.in_reply_to:
            row = await self._kith.db.fetch_one(
                QueryString(
                    "SELECT automatic FROM kith_mail_inbound WHERE message_id = {} ORDER BY id DESC LIMIT 1",
                    mail.in_reply_to,
                )
            )
            reason = row["automatic"] if row is not None else None
        if reason:
            return f"it answers an automatic message ({reason})"
        for address in recipients:
            if is_daemon_address(address):
                return f"{address} is a mailer-daemon or postmaster"
            if is_noreply_address(address):
                return f"{address} is a no-reply address"
        settings = self._kith.settings
        since = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=settings.mail_auto_reply_window_seconds)
        caps = [(f"address:{a.lower()}", settings.mail_auto_reply_per_address, a) for a in recipients]
        caps += [(f"key:{k}", settings.mail_auto_reply_per_loop_key, k) for k in loop_keys]
        for scope, cap, name in caps:
            count = await self._kith.db.fetch_value(
                QueryString(
                    "SELECT COUNT(*) AS n FROM kith_mail_auto_send WHERE scope = {} AND sent_at > {}",
                    scope[:400],
                    since,
                )
            )
            if int(count or 0) >= cap:
                hours = settings.mail_auto_reply_window_seconds / 3600
                return f"{name} has had {cap} automatic mails within {hours:g} hours"
        return None

    async def inbound(self, inbound_id: int) -> InboundMail | None:
        """A received message by its id (``message.id``), attachments with their
        ``file_id``; None when there is no such message."""
        from kith.core.mail.inbound import load

        return await load(self._kith, inbound_id)

    async def status(self, message_id: str) -> dict[str, Any] | None:
        """Where a sent mail is: ``status`` (``queued``, ``sent``, ``failed``,
        ``suppressed``), ``reason``, ``error``, ``response``, ``attempts``, ``sent_at``."""
        row = await self._kith.db.fetch_one(
            QueryString(
                "SELECT id, message_id, status, reason, error, response, attempts, created_at, sent_at "
                "FROM kith_mail_outbound WHERE message_id = {}",
                message_id,
            )
        )
        return dict(row) if row is not None else None


# -- delivery (the worker) -------------------------------------------------------------


class TemporaryFailure(Exception):
    """Worth trying again later."""


class PermanentFailure(Exception):
    """The server refused for good."""


def smtp_client(settings: Settings) -> aiosmtplib.SMTP:
    """An ``aiosmtplib.SMTP`` client (not yet connected) for the ``smtp_*`` settings: the
    one place both the worker's deliveries and the bulk sender take it from."""
    import aiosmtplib

    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username,
        password=settings.smtp_password,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout_seconds,
    )


async def smtp_deliver(settings: Settings, sender: str, recipients: list[str], raw: bytes) -> str:
    """Hand one message to the configured SMTP server, DKIM-signed when the ``dkim_*``
    settings are set; returns its answer (and the recipients it refused, if it took the
    message for the others)."""
    import aiosmtplib

    if not settings.smtp_host:
        raise TemporaryFailure("smtp_host is not set: outgoing mail waits until it is")
    signer = dkim_signer(settings)
    if signer is not None:  # signed at each attempt: the stored bytes stay the ones composed
        raw = signer.sign(raw)
    client = smtp_client(settings)
    try:
        async with client:
            refused, answer = await client.sendmail(sender, recipients, raw)
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        raise (PermanentFailure if all(code >= 500 for code in codes) else TemporaryFailure)(text) from None
    except aiosmtplib.SMTPAuthenticationError as exc:  # a setting to fix: keep the mail until it is
        raise TemporaryFailure(f"authentication failed: {exc.code} {exc.message}") from None
    except aiosmtplib.SMTPResponseException as exc:
        raise (PermanentFailure if exc.code >= 500 else TemporaryFailure)(f"{exc.code} {exc.message}") from None
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise TemporaryFailure(f"{type(exc).__name__}: {exc}") from None
    if refused:
        answer += " (refused: " + "; ".join(f"{a}: {r.code} {r.message}" for a, r in refused.items()) + ")"
    return answer


async def deliver_job(kith: Kith, row: dict[str, Any], payload: dict[str, Any]) -> None:
    """The worker's ``kith.mail.send`` job: deliver one queued mail."""
    from kith.core.automations.engine import DeadLetter, RetryJob

    db = kith.db
    outbound_id = int(payload["id"])
    mail = await db.fetch_one(
        QueryString(
            "SELECT id, message_id, status, sender, recipients, data FROM kith_mail_outbound WHERE id = {}", outbound_id
        )
    )
    if mail is None or mail["status"] in ("sent", "suppressed", "erased"):
        return
    recipients = mail["recipients"]
    if isinstance(recipients, str):
        import json

        recipients = json.loads(recipients)
    now = dt.datetime.now(dt.UTC)
    try:
        answer = await smtp_deliver(kith.settings, mail["sender"], list(recipients), bytes(mail["data"]))
    except (TemporaryFailure, PermanentFailure) as exc:
        attempt = int(row.get("attempts") or 0) + 1
        final = isinstance(exc, PermanentFailure) or attempt >= kith.settings.smtp_max_attempts
        await db.fetch(
            QueryString(
                "UPDATE kith_mail_outbound SET status = {}, error = {}, attempts = attempts + 1 WHERE id = {}",
                "failed" if final else "queued",
                str(exc),
                outbound_id,
            )
        )
        log.warning("mail %s: delivery attempt %d failed: %s", mail["message_id"], attempt, exc)
        if final:
            raise DeadLetter(f"mail {mail['message_id']}: {exc}") from None
        raise RetryJob(kith.automations.backoff(attempt), -1, f"mail {mail['message_id']}: {exc}") from None
    await db.fetch(
        QueryString(
            "UPDATE kith_mail_outbound SET status = 'sent', response = {}, error = NULL, attempts = attempts + 1, "
            "sent_at = {} WHERE id = {}",
            answer,
            now,
            outbound_id,
        )
    )
    log.info("mail %s sent: %s", mail["message_id"], answer)
