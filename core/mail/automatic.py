"""Is a message written by a machine?  RFC 3834 and the headers mailers use in practice.

An automatic answer to an automatic message is how two auto-responders end up mailing
each other forever; RFC 3834 asks responders not to answer anything that looks
automatic, and to mark their own answers (``Auto-Submitted``).  The signs checked, in
order, each giving the reason recorded with the message:

- ``Auto-Submitted`` with any value but ``no`` (RFC 3834);
- ``Precedence: bulk``, ``list`` or ``junk`` (and ``auto_reply``), the older convention;
- ``X-Autoreply`` / ``X-Autorespond`` (vacation programs), and Microsoft's
  ``X-Auto-Response-Suppress`` naming ``All``, ``OOF`` or ``AutoReply`` (Exchange
  sets it on its own automatic messages);
- ``List-Id`` / ``List-Unsubscribe``: a mailing list's copy, not a person's mail;
- a report (``multipart/report``: bounces, read receipts, complaint reports);
- a sender that is a mailer-daemon or postmaster;
- an empty envelope sender (``Return-Path: <>``, or ``MAIL FROM:<>``): bounces and
  other notifications are sent that way so that nothing answers them.
"""

from __future__ import annotations

import re
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr

_NOREPLY = re.compile(r"^(?:no[-_.]?reply|do[-_.]?not[-_.]?reply|dont[-_.]?reply)(?:$|[-_.+])", re.IGNORECASE)
_DAEMONS = frozenset({"mailer-daemon", "postmaster", "mail-daemon", "mailerdaemon"})
_SUPPRESS = frozenset({"all", "oof", "autoreply"})


def _local_part(address: str) -> str:
    return parseaddr(address)[1].rpartition("@")[0].lower() if "@" in address else address.strip().lower()


def is_noreply_address(address: str) -> bool:
    """``no-reply@``, ``noreply@``, ``do-not-reply@``, ``donotreply@`` and their variants
    (``noreply+bounces@``, ``no_reply.news@``): addresses nobody reads."""
    return bool(_NOREPLY.match(_local_part(address)))


def is_daemon_address(address: str) -> bool:
    """A mailer-daemon or postmaster address: the senders of bounces."""
    return _local_part(address) in _DAEMONS


def _header(message: EmailMessage, name: str) -> str:
    try:
        value = message.get(name)
    except Exception:  # a header the parser cannot make sense of is as good as absent
        return ""
    return str(value).strip() if value is not None else ""


def automatic_reason(message: EmailMessage, envelope_from: str | None = None) -> str | None:
    """Why ``message`` is automatic, or None when it looks written by a person.

    ``envelope_from`` is the SMTP ``MAIL FROM`` when known (the gateway's; ``""`` for
    ``MAIL FROM:<>``); otherwise ``Return-Path`` stands for it."""
    submitted = _header(message, "Auto-Submitted").split(";", 1)[0].strip().lower()
    if submitted and submitted != "no":
        return f"Auto-Submitted: {submitted}"
    precedence = _header(message, "Precedence").lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        value = _header(message, name)
        if value and value.lower() not in ("no", "false", "0"):
            return f"{name}: {value}"
    suppress = {part.strip().lower() for part in _header(message, "X-Auto-Response-Suppress").split(",")}
    if suppress & _SUPPRESS:
        return f"X-Auto-Response-Suppress: {_header(message, 'X-Auto-Response-Suppress')}"
    for name in ("List-Id", "List-Unsubscribe"):
        if _header(message, name):
            return f"mailing list ({name})"
    if message.get_content_type() == "multipart/report":
        report = message.get_param("report-type") or "report"
        return f"report ({report})"
    senders = [address for _name, address in getaddresses([_header(message, "From"), _header(message, "Sender")])]
    if envelope_from:
        senders.append(envelope_from)
    for address in senders:
        if address and is_daemon_address(address):
            return f"sent by {address}"
    return_path = _header(message, "Return-Path")
    if envelope_from == "" or (envelope_from is None and return_path.replace(" ", "") == "<>"):
        return "empty envelope sender (Return-Path: <>)"
    return None
