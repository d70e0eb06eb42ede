"""The mail service's tables (created by the core migration ``0013_mail``)."""

from __future__ import annotations

from piccolo.columns import JSON, BigInt, Boolean, Bytea, Integer, Text, Timestamptz, Varchar
from piccolo.table import Table


class MailInbound(Table, tablename="kith_mail_inbound"):
    """Every message received, as received, stored before it is acknowledged; then what
    became of it (``received`` until offered, then ``claimed``, ``unclaimed`` or
    ``failed``)."""

    #: sha256 of the Message-ID and of the raw bytes: one row per delivery, however often
    #: it is delivered again
    dedupe_key = Varchar(length=64, unique=True)
    message_id = Varchar(length=998, null=True, default=None, index=True)
    sha256 = Varchar(length=64)
    #: the message exactly as received
    data = Bytea()
    size = Integer(default=0)
    source = Varchar(length=20)  # smtp, lmtp, pipe, imap
    envelope_from = Text(null=True, default=None)
    envelope_to = JSON(default="[]")
    from_address = Text(null=True, default=None)
    subject = Text(null=True, default=None)
    #: why it counts as automatic (RFC 3834), None: written by a person
    automatic = Text(null=True, default=None)
    status = Varchar(length=12, default="received")
    claimed_by = Varchar(length=100, null=True, default=None)
    claim = Varchar(length=200, null=True, default=None)
    error = Text(null=True, default=None)
    attempts = Integer(default=0)
    received_at = Timestamptz(null=True, default=None)
    processed_at = Timestamptz(null=True, default=None)


class MailOutbound(Table, tablename="kith_mail_outbound"):
    """Every message sent (or refused by the loop rules), composed once, delivered by the
    worker: ``queued``, ``sent``, ``failed`` or ``suppressed``."""

    message_id = Varchar(length=998, unique=True)
    status = Varchar(length=12, default="queued")
    automatic = Boolean(default=False)
    sender = Text(default="")  # the envelope sender (MAIL FROM)
    recipients = JSON(default="[]")  # every envelope recipient: To, Cc and Bcc
    subject = Text(default="")
    in_reply_to = Text(null=True, default=None)
    loop_keys = JSON(default="[]")
    #: the message as composed, delivered as it is on every attempt
    data = Bytea()
    actor = Varchar(length=200, default="system")
    reason = Text(null=True, default=None)  # why it was suppressed
    error = Text(null=True, default=None)  # the last delivery error
    response = Text(null=True, default=None)  # the server's answer when it took the message
    attempts = Integer(default=0)
    created_at = Timestamptz(null=True, default=None)
    sent_at = Timestamptz(null=True, default=None)


class MailAutoSend(Table, tablename="kith_mail_auto_send"):
    """One automatic mail counted against a cap: ``scope`` is ``address:<address>`` or
    ``key:<loop key>``; counted in the database, so every process agrees."""

    scope = Varchar(length=400)
    outbound = BigInt()
    sent_at = Timestamptz(null=True, default=None)


MAIL_TABLES: tuple[type[Table], ...] = (MailInbound, MailOutbound, MailAutoSend)
