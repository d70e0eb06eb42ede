"""The core mail service: mail in (``InboundMail``, offered to plugins through
``kith_mail_received``) and out (``OutboundMail``, sent with ``context.mail.send``).

Plugins reach it through ``kith.sdk``; docs/mail.md describes it end to end.
"""

from kith.core.mail.bounces import Bounce, BouncedRecipient, Complaint
from kith.core.mail.bulk import BulkResult, BulkSender, RecipientResult
from kith.core.mail.inbound_mail import InboundMail, MailAddress, MailAttachment
from kith.core.mail.outbound import Mail, MailSuppressed, OutboundMail, SentMail

__all__ = [
    "Bounce",
    "BouncedRecipient",
    "BulkResult",
    "BulkSender",
    "Complaint",
    "InboundMail",
    "Mail",
    "MailAddress",
    "MailAttachment",
    "MailSuppressed",
    "OutboundMail",
    "RecipientResult",
    "SentMail",
]
