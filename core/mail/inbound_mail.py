"""``InboundMail``: one received message, read with the standard library's ``email``
package (``policy.default``) into what a plugin works with.

Parsing never refuses a message: a header the parser cannot read is empty, a body in an
unknown charset is decoded with replacement characters, and what could not be read is
still in ``raw``.  The stored message is the raw bytes; an ``InboundMail`` is made from
them again whenever it is needed, so a better parser later improves old messages too.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from functools import cached_property
from typing import Any

from kith.core.mail.automatic import automatic_reason, is_daemon_address, is_noreply_address
from kith.core.mail.bounces import Bounce, Complaint, parse_complaint, parse_daemon_prose, parse_dsn

DEFAULT_REPLY_LANGUAGES = ("en", "de", "fr", "es", "nl", "it")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


@dataclass(frozen=True)
class MailAddress:
    """A display name and an address (``Ann Example``, ``ann@example.com``)."""

    name: str
    address: str

    def __str__(self) -> str:
        from email.utils import formataddr

        return formataddr((self.name, self.address)) if self.name else self.address


@dataclass(frozen=True)
class MailAttachment:
    """A file that came with a message: an attachment, or an inline image (``inline``
    with its ``content_id``, the ``cid:`` the HTML body refers to).  ``file_id`` is its id
    in the file store once the message has been offered to plugins (``context.files``)."""

    filename: str | None
    content_type: str
    data: bytes = field(repr=False)
    content_id: str | None = None
    inline: bool = False
    file_id: int | None = None

    @property
    def size(self) -> int:
        return len(self.data)


def _text_of(part: Message) -> str:
    """A text part's content, whatever its charset (unknown ones with replacements)."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return str(part.get_payload() or "")
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, errors="replace")
    except LookupError:
        return payload.decode("utf-8", errors="replace")


def _bytes_of(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        return payload
    inner = part.get_payload()
    if isinstance(inner, list):  # message/rfc822, message/delivery-status: the enclosed text as sent
        return b"".join(item.as_bytes() if isinstance(item, Message) else str(item).encode() for item in inner)
    return str(inner or "").encode("utf-8", errors="replace")


def html_to_text(html: str) -> str:
    """The text a reader sees in ``html``, laid out as text (paragraphs, lists, tables)."""
    from inscriptis import get_text

    text: str = get_text(html)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def extract_reply(text: str, languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES) -> str:
    """The new text of a reply: what comes before the quoted message ("On … wrote:",
    "-----Original Message-----", Outlook's "From: … Sent: …" block, ``>`` lines)."""
    from mailparser_reply import EmailReplyParser

    reply = EmailReplyParser(languages=list(languages)).parse_reply(text=text) or ""
    lines = reply.rstrip().splitlines()
    # a quote with no header line above it: drop the trailing '>' block, if text remains
    end = len(lines)
    while end > 0 and (not lines[end - 1].strip() or lines[end - 1].lstrip().startswith(">")):
        end -= 1
    if end > 0 and end < len(lines):
        lines = lines[:end]
    return "\n".join(lines).strip()


class InboundMail:
    """A received message: its addresses, subject, threading headers, text and HTML
    bodies, attachments, the new text of a reply, and whether a machine sent it.

    Made by the core from the stored bytes (``InboundMail.parse(raw)`` in tests).  ``id``
    is its row in ``kith_mail_inbound``; ``envelope_from``/``envelope_to`` are what the
    sending server said in the SMTP transaction (empty when it came by IMAP or a pipe
    that was not told)."""

    def __init__(
        self,
        raw: bytes,
        *,
        id: int | None = None,
        source: str = "",
        envelope_from: str | None = None,
        envelope_to: Sequence[str] = (),
        received_at: dt.datetime | None = None,
        reply_languages: Sequence[str] = DEFAULT_REPLY_LANGUAGES,
    ) -> None:
        self.raw = bytes(raw)
        self.id = id
        self.source = source
        self.envelope_from = envelope_from
        self.envelope_to = list(envelope_to)
        self.received_at = received_at
        self._languages = tuple(reply_languages)
        parsed = message_from_bytes(self.raw, policy=default_policy)
        assert isinstance(parsed, EmailMessage)
        self.message: EmailMessage = parsed
        self.text, self.html, self._body_parts = self._bodies()
        self.attachments: list[MailAttachment] = list(self._attachments())

    @classmethod
    def parse(cls, raw: bytes, **options: Any) -> InboundMail:
        """Read ``raw`` (an RFC 5322 message); ``options`` as for the constructor."""
        return cls(raw, **options)

    def __repr__(self) -> str:
        return f"<InboundMail id={self.id} from={self.from_address} subject={self.subject!r}>"

    # -- headers ----------------------------------------------------------------------

    def header(self, name: str) -> str | None:
        """The first ``name`` header, decoded (None when absent or unreadable)."""
        try:
            value = self.message.get(name)
        except Exception:
            return None
        return str(value) if value is not None else None

    def header_all(self, name: str) -> list[str]:
        """Every ``name`` header, in order (``Received`` has many)."""
        try:
            return [str(value) for value in self.message.get_all(name) or []]
        except Exception:
            return []

    @property
    def headers(self) -> list[tuple[str, str]]:
        """Every header as (name, decoded value), in order."""
        try:
            return [(name, str(value)) for name, value in self.message.items()]
        except Exception:  # one unreadable header: every header as it was written
            return [(name, str(value)) for name, value in self.message.raw_items()]

    def _addresses(self, *names: str) -> list[MailAddress]:
        values = [value for name in names for value in self.header_all(name)]
        return [MailAddress(n, a) for n, a in getaddresses(values) if a]

    @property
    def from_address(self) -> MailAddress | None:
        found = self._addresses("From")
        return found[0] if found else None

    @property
    def to(self) -> list[MailAddress]:
        return self._addresses("To")

    @property
    def cc(self) -> list[MailAddress]:
        return self._addresses("Cc")

    @property
    def reply_to(self) -> list[MailAddress]:
        """Where replies go: ``Reply-To`` when given, else the sender."""
        given = self._addresses("Reply-To")
        sender = self.from_address
        return given or ([sender] if sender else [])

    @property
    def subject(self) -> str:
        return " ".join((self.header("Subject") or "").split())

    @property
    def date(self) -> dt.datetime | None:
        value = self.header("Date")
        if not value:
            return None
        try:
            return parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None

    @property
    def message_id(self) -> str | None:
        """``<…@…>`` as written (angle brackets kept, the form ``In-Reply-To`` uses)."""
        found = _MESSAGE_ID.findall(self.header("Message-ID") or "")
        return found[0] if found else None

    @property
    def in_reply_to(self) -> str | None:
        found = _MESSAGE_ID.findall(self.header("In-Reply-To") or "")
        return found[0] if found else None

    @property
    def references(self) -> list[str]:
        """The ``References`` ids, oldest first."""
        return _MESSAGE_ID.findall(" ".join(self.header_all("References")))

    # -- bodies -----------------------------------------------------------------------

    def _bodies(self) -> tuple[str, str | None, set[int]]:
        used: set[int] = set()
        plain = self.message.get_body(preferencelist=("plain",))
        rich = self.message.get_body(preferencelist=("html",))
        html = _text_of(rich) if rich is not None else None
        if rich is not None:
            used.add(id(rich))
        if plain is not None:
            used.add(id(plain))
            text = _text_of(plain)
        elif html is not None:
            text = html_to_text(html)
        else:
            text = ""
        return text, html, used

    def _attachments(self) -> Iterator[MailAttachment]:
        for part in _leaves(self.message):
            if id(part) in self._body_parts:
                continue
            content_id = part.get("Content-ID")
            disposition = part.get_content_disposition()
            yield MailAttachment(
                filename=part.get_filename(),
                content_type=part.get_content_type(),
                data=_bytes_of(part),
                content_id=str(content_id).strip().strip("<>") if content_id else None,
                inline=disposition == "inline" or (disposition is None and content_id is not None),
            )

    @cached_property
    def reply_text(self) -> str:
        """The new text above the quoted message (the whole text when nothing is quoted)."""
        return extract_reply(self.text, self._languages)

    # -- who sent it --------------------------------------------------------------------

    @cached_property
    def automatic_reason(self) -> str | None:
        """Why the message counts as automatic (``"Auto-Submitted: auto-replied"``,
        ``"mailing list (List-Id)"``…), or None: see ``kith.core.mail.automatic``."""
        envelope = self.envelope_from
        if envelope is not None:
            envelope = envelope.strip().strip("<>")
        return automatic_reason(self.message, envelope)

    @property
    def is_automatic(self) -> bool:
        """Sent by a machine (RFC 3834): never answer it automatically."""
        return self.automatic_reason is not None

    @property
    def is_noreply_sender(self) -> bool:
        """The sender's address is one nobody reads (``no-reply@``, ``do-not-reply@``…)."""
        sender = self.from_address
        return sender is not None and is_noreply_address(sender.address)

    @property
    def is_daemon_sender(self) -> bool:
        sender = self.from_address
        return sender is not None and is_daemon_address(sender.address)

    @cached_property
    def bounce(self) -> Bounce | None:
        """A delivery failure report (``Bounce``), or None."""
        found = parse_dsn(self.message)
        if found is not None:
            return found
        sender = self.from_address
        return parse_daemon_prose(self.message, sender.address if sender else None, self.text, self.automatic_reason)

    @cached_property
    def complaint(self) -> Complaint | None:
        """A spam complaint (ARF feedback report), or None."""
        return parse_complaint(self.message)


def _leaves(part: Message) -> Iterator[Message]:
    """The parts that are not containers, depth first; an enclosed message (a bounce's
    returned copy) is one leaf, not a tree of its own."""
    if part.is_multipart() and part.get_content_maintype() == "multipart":
        payload = part.get_payload()
        for child in payload if isinstance(payload, list) else []:
            if isinstance(child, Message):
                yield from _leaves(child)
        return
    yield part
