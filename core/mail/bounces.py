"""Bounces and complaints, read out of inbound mail for whoever sent the original.

- **Delivery status notifications** (RFC 3464): ``multipart/report;
  report-type=delivery-status`` with a ``message/delivery-status`` part holding one block
  per recipient (``Final-Recipient``, ``Action``, ``Status``, ``Diagnostic-Code``).  A
  ``5.x.x`` status is a hard bounce (the address will not work), ``4.x.x`` a soft one
  (try again later; ``Action: delayed`` notices are soft too).
- **Mailer-daemon prose**: the bounces some servers still write as plain text (qmail's
  "I'm afraid I wasn't able to deliver…", Exim's "Mail delivery failed"), recognised by
  sender and subject; the failed addresses and status codes are read from the text, and
  a failure without a code counts as hard.
- **Complaints** (ARF, RFC 5965): ``multipart/report; report-type=feedback-report``, a
  recipient's "this is spam" relayed by their mailbox provider.

The original message's ``Message-ID`` is read from the returned copy (``message/rfc822``
or ``text/rfc822-headers``), so a sender can find what bounced.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email import message_from_bytes, message_from_string
from email.message import EmailMessage, Message
from email.policy import default as default_policy
from email.utils import getaddresses, parseaddr
from typing import Any

from kith.core.mail.automatic import is_daemon_address

_ENHANCED = re.compile(r"\b([245])\.(\d{1,3})\.(\d{1,3})\b")
_BASIC = re.compile(r"(?<![\d.])([45]\d\d)(?![\d.])")
_ADDRESS = re.compile(r"<?([A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)>?")
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|undelivered|delivery (?:status notification|failure|has failed|failed)|failure notice|"
    r"returned mail|mail delivery (?:failed|failure|system)|could not be delivered|non[- ]?delivery",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class BouncedRecipient:
    """One recipient of a bounce: the address, what happened (``failed``, ``delayed``),
    the enhanced status code (``5.1.1``) and the receiving server's words."""

    address: str
    action: str
    status: str
    diagnostic: str | None = None

    @property
    def hard(self) -> bool:
        """A permanent failure (``5.x.x``): mail to this address will not get through."""
        return self.status.startswith("5")


@dataclass(frozen=True)
class Bounce:
    """A message saying that mail could not be delivered.

    ``standard`` is True for an RFC 3464 report, False for mailer-daemon prose read
    heuristically.  ``hard`` when any recipient failed permanently, else ``soft``."""

    recipients: tuple[BouncedRecipient, ...]
    standard: bool
    original_message_id: str | None = None
    reporting_mta: str | None = None

    @property
    def hard(self) -> bool:
        return any(r.hard and r.action == "failed" for r in self.recipients)

    @property
    def soft(self) -> bool:
        return not self.hard

    @property
    def addresses(self) -> list[str]:
        return [r.address for r in self.recipients]


@dataclass(frozen=True)
class Complaint:
    """A recipient reported a message as spam (an ARF feedback report): who
    (``recipient``, from ``Original-Rcpt-To`` or the returned copy's ``To``), which message
    (``original_message_id``) and the report's ``feedback_type`` (``abuse``, ``fraud``…)."""

    feedback_type: str
    recipient: str | None
    original_message_id: str | None
    original_mail_from: str | None = None
    user_agent: str | None = None
    source_ip: str | None = None


def _report_parts(message: EmailMessage, report_type: str) -> list[Message] | None:
    if message.get_content_type() != "multipart/report":
        return None
    if str(message.get_param("report-type") or "").lower() != report_type:
        return None
    payload = message.get_payload()
    return [part for part in payload if isinstance(part, Message)] if isinstance(payload, list) else None


def _blocks(part: Message) -> list[Message]:
    """The header blocks of a ``message/delivery-status`` (or feedback-report) part."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return [block for block in payload if isinstance(block, Message)]
    text = payload if isinstance(payload, str) else ""
    return [message_from_string(chunk.strip() + "\n") for chunk in re.split(r"\n\s*\n", text) if chunk.strip()]


def _returned_message_id(parts: list[Message]) -> str | None:
    for part in parts:
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message) and inner.get("Message-ID"):
                return str(inner["Message-ID"]).strip()
        elif kind == "text/rfc822-headers":
            content = part.get_payload(decode=True)
            headers = message_from_bytes(content if isinstance(content, bytes) else b"", policy=default_policy)
            if headers.get("Message-ID"):
                return str(headers["Message-ID"]).strip()
    return None


def _returned_to(parts: list[Message]) -> str | None:
    for part in parts:
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message) and inner.get("To"):
                addresses = getaddresses([str(inner["To"])])
                return addresses[0][1] if addresses else None
    return None


def _field_address(value: Any) -> str:
    """``rfc822; ann@example.com`` -> ``ann@example.com``."""
    text = str(value or "").strip()
    if ";" in text:
        text = text.split(";", 1)[1]
    return parseaddr(text.strip())[1] or text.strip().strip("<>")


def _after_type(value: Any) -> str:
    """``smtp; 550 5.1.1 No such user`` -> ``550 5.1.1 No such user``."""
    text = " ".join(str(value or "").split())
    kind, semicolon, rest = text.partition(";")
    return rest.strip() if semicolon and " " not in kind.strip() else text


def _status(value: Any) -> str:
    match = _ENHANCED.search(str(value or ""))
    return ".".join(match.groups()) if match else ""


def parse_dsn(message: EmailMessage) -> Bounce | None:
    """An RFC 3464 delivery status notification, or None."""
    parts = _report_parts(message, "delivery-status")
    if parts is None:
        return None
    status_part = next((p for p in parts if p.get_content_type() == "message/delivery-status"), None)
    if status_part is None:
        return None
    blocks = _blocks(status_part)
    reporting = None
    recipients: list[BouncedRecipient] = []
    for block in blocks:
        if block.get("Reporting-MTA") and not block.get("Final-Recipient"):
            reporting = _field_address(block["Reporting-MTA"])
            continue
        final = block.get("Final-Recipient") or block.get("Original-Recipient")
        if not final:
            continue
        action = str(block.get("Action") or "failed").strip().lower()
        status = _status(block.get("Status")) or ("4.0.0" if action == "delayed" else "5.0.0")
        diagnostic = block.get("Diagnostic-Code")
        recipients.append(
            BouncedRecipient(_field_address(final), action, status, _after_type(diagnostic) if diagnostic else None)
        )
    if not recipients:
        return None
    return Bounce(tuple(recipients), True, _returned_message_id(parts), reporting)


def parse_daemon_prose(message: EmailMessage, sender: str | None, text: str, automatic: str | None) -> Bounce | None:
    """A bounce a mailer-daemon wrote as plain text, or None."""
    subject = str(message.get("Subject") or "")
    from_daemon = bool(sender) and is_daemon_address(str(sender))
    if not (from_daemon or (automatic and "envelope sender" in automatic)) or not _BOUNCE_SUBJECT.search(subject):
        return None
    own = {(sender or "").lower()}
    recipients: list[BouncedRecipient] = []
    seen: set[str] = set()
    # the human-readable part only: the returned copy's own addresses are not the failures
    cut = re.compile(r"^-{2,}.*(?:original message|returned message|below this line).*$", re.I | re.M)
    head = cut.split(text, maxsplit=1)[0]
    for line_number, line in enumerate(lines := head.splitlines()):
        for address in _ADDRESS.findall(line):
            key = address.lower()
            if key in seen or key in own or is_daemon_address(address):
                continue
            seen.add(key)
            context = " ".join(lines[line_number : line_number + 4])
            enhanced = _ENHANCED.search(context)
            basic = _BASIC.search(context)
            if enhanced:
                status = ".".join(enhanced.groups())
            elif basic:
                status = f"{basic.group(1)[0]}.0.0"
            else:
                status = "5.0.0"
            recipients.append(BouncedRecipient(address, "failed", status, context.strip()[:500] or None))
    if not recipients:
        return None
    payload = message.get_payload()
    parts = [p for p in payload if isinstance(p, Message)] if isinstance(payload, list) else []
    return Bounce(tuple(recipients), False, _returned_message_id(parts))


def parse_complaint(message: EmailMessage) -> Complaint | None:
    """An ARF feedback report (RFC 5965), or None."""
    parts = _report_parts(message, "feedback-report")
    if parts is None:
        return None
    report = next((p for p in parts if p.get_content_type() == "message/feedback-report"), None)
    if report is None:
        return None
    fields: dict[str, str] = {}
    for block in _blocks(report):
        for name, value in block.items():
            fields.setdefault(name.lower(), str(value).strip())
    recipient = fields.get("original-rcpt-to")
    return Complaint(
        feedback_type=fields.get("feedback-type", "abuse").lower(),
        recipient=_field_address(recipient) if recipient else _returned_to(parts),
        original_message_id=_returned_message_id(parts),
        original_mail_from=_field_address(fields["original-mail-from"]) if "original-mail-from" in fields else None,
        user_agent=fields.get("user-agent"),
        source_ip=fields.get("source-ip"),
    )
