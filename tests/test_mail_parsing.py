"""Reading inbound mail: bodies, attachments, threading, the new text of a reply, whether
a machine sent it, bounces and complaints — on messages written the way real clients and
servers write them."""

from __future__ import annotations

import pytest

from kith.sdk import InboundMail


def message(headers: str, body: str = "Hello\n") -> bytes:
    return (headers.strip() + "\n\n" + body).replace("\n", "\r\n").encode()


# -- replies as Gmail, Outlook and Apple Mail write them --------------------------------------

GMAIL = message(
    """
From: Ann Example <ann@example.com>
To: Support <support@acme.example>
Subject: Re: Router keeps dropping [ticket:42]
Message-ID: <CAF=abc123@mail.gmail.com>
In-Reply-To: <kith.1.42@acme.example>
References: <kith.1.41@acme.example> <kith.1.42@acme.example>
Date: Tue, 3 Mar 2026 10:20:00 +0100
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="000000000000b"
""",
    """--000000000000b
Content-Type: text/plain; charset="UTF-8"

Thanks, that fixed it!

Best,
Ann

On Tue, Mar 3, 2026 at 10:15 AM Support <support@acme.example> wrote:

> Hello Ann,
>
> Please restart the router and tell us whether that helps.
>
--000000000000b
Content-Type: text/html; charset="UTF-8"

<div dir="ltr">Thanks, that fixed it!<br><br>Best,<br>Ann</div><br><div class="gmail_quote">
<div dir="ltr" class="gmail_attr">On Tue, Mar 3, 2026 at 10:15 AM Support wrote:<br></div>
<blockquote class="gmail_quote">Hello Ann,</blockquote></div>
--000000000000b--
""",
)

OUTLOOK = message(
    """
From: Bob Smith <bob@client.example>
To: support@acme.example
Subject: RE: Invoice
Message-ID: <AM0PR01MB1234@AM0PR01MB1234.eurprd01.prod.outlook.com>
Thread-Topic: Invoice
Content-Type: text/plain; charset="iso-8859-1"
Content-Transfer-Encoding: quoted-printable
""",
    """Hi team,

The invoice is attached. Gr=FC=DFe from M=FCnchen.

Regards
Bob

________________________________
From: Support <support@acme.example>
Sent: Tuesday, March 3, 2026 10:15 AM
To: Bob Smith <bob@client.example>
Subject: Invoice

Hello Bob, could you send us the invoice?
""",
)

OUTLOOK_CLASSIC = message(
    """
From: Carol <carol@client.example>
To: support@acme.example
Subject: RE: Upgrade
""",
    """Yes, please go ahead.

-----Original Message-----
From: Support [mailto:support@acme.example]
Sent: Tuesday, March 03, 2026 10:15 AM
To: Carol
Subject: Upgrade

Shall we upgrade you to the new plan?
""",
)

APPLE_MAIL = message(
    """
From: Dan <dan@icloud.example>
To: support@acme.example
Subject: Re: Your order
Content-Type: text/plain; charset=us-ascii
""",
    """Received, thanks.

> On 3 Mar 2026, at 10:15, Support <support@acme.example> wrote:
>
> Your order has shipped.
""",
)

GERMAN = message(
    """
From: Eva <eva@kunde.example>
To: support@acme.example
Subject: AW: Termin
""",
    """Passt, danke!

Am Di., 3. März 2026 um 10:15 Uhr schrieb Support <support@acme.example>:
> Wie wäre Donnerstag?
""",
)

BARE_QUOTE = message("From: f@x.example\nTo: s@acme.example\nSubject: q", "Agreed.\n\n> Shall we meet at ten?\n")


@pytest.mark.parametrize(
    ("raw", "reply"),
    [
        (GMAIL, "Thanks, that fixed it!\n\nBest,\nAnn"),
        (OUTLOOK, "Hi team,\n\nThe invoice is attached. Grüße from München.\n\nRegards\nBob"),
        (OUTLOOK_CLASSIC, "Yes, please go ahead."),
        (APPLE_MAIL, "Received, thanks."),
        (GERMAN, "Passt, danke!"),
        (BARE_QUOTE, "Agreed."),
    ],
    ids=["gmail", "outlook", "outlook-original-message", "apple-mail", "german", "bare-quote"],
)
def test_the_new_text_of_a_reply_is_what_comes_before_the_quote(raw: bytes, reply: str) -> None:
    assert InboundMail.parse(raw).reply_text == reply


def test_a_gmail_reply_reads_into_addresses_threading_and_both_bodies() -> None:
    mail = InboundMail.parse(GMAIL)
    assert mail.from_address is not None and mail.from_address.address == "ann@example.com"
    assert mail.from_address.name == "Ann Example"
    assert [a.address for a in mail.to] == ["support@acme.example"]
    assert [str(a) for a in mail.reply_to] == ["Ann Example <ann@example.com>"]
    assert mail.subject == "Re: Router keeps dropping [ticket:42]"
    assert mail.message_id == "<CAF=abc123@mail.gmail.com>"
    assert mail.in_reply_to == "<kith.1.42@acme.example>"
    assert mail.references == ["<kith.1.41@acme.example>", "<kith.1.42@acme.example>"]
    assert mail.date is not None and mail.date.isoformat() == "2026-03-03T10:20:00+01:00"
    assert mail.text.startswith("Thanks, that fixed it!")
    assert mail.html is not None and "gmail_quote" in mail.html
    assert mail.attachments == []
    assert mail.header("message-id") == "<CAF=abc123@mail.gmail.com>"
    assert ("Subject", "Re: Router keeps dropping [ticket:42]") in mail.headers
    assert not mail.is_automatic and mail.automatic_reason is None and mail.bounce is None


def test_html_only_mail_gets_its_text_from_the_html() -> None:
    raw = message(
        "From: f@x.example\nTo: s@acme.example\nSubject: html\nContent-Type: text/html; charset=utf-8",
        "<html><body><h1>Order</h1><p>Two <b>chairs</b>, please.</p><ul><li>red</li><li>blue</li></ul></body></html>",
    )
    mail = InboundMail.parse(raw)
    assert mail.html is not None and "<b>chairs</b>" in mail.html
    assert "Two chairs, please." in mail.text and "<" not in mail.text
    assert "red" in mail.text and "blue" in mail.text


def test_attachments_and_inline_images_come_with_name_type_bytes_and_size() -> None:
    raw = message(
        """
From: f@x.example
To: s@acme.example
Subject: files
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="outer"
""",
        """--outer
Content-Type: multipart/related; boundary="rel"

--rel
Content-Type: text/html; charset=utf-8

<p>See <img src="cid:logo@x"></p>
--rel
Content-Type: image/png
Content-ID: <logo@x>
Content-Transfer-Encoding: base64

iVBORw0KGgo=
--rel--
--outer
Content-Type: application/pdf; name="invoice.pdf"
Content-Disposition: attachment; filename="invoice.pdf"
Content-Transfer-Encoding: base64

JVBERi0xLjQK
--outer--
""",
    )
    mail = InboundMail.parse(raw)
    logo, invoice = mail.attachments
    assert (logo.content_type, logo.inline, logo.content_id, logo.data) == (
        "image/png",
        True,
        "logo@x",
        b"\x89PNG\r\n\x1a\n",
    )
    assert (invoice.filename, invoice.content_type, invoice.inline) == ("invoice.pdf", "application/pdf", False)
    assert invoice.data == b"%PDF-1.4\n" and invoice.size == 9
    assert "See" in mail.text


def test_a_message_in_an_unknown_charset_or_with_broken_headers_still_reads() -> None:
    raw = message(
        "From: =?x-unknown?q?Zo=E9?= <zoe@x.example>\nTo: <<broken\nSubject: odd\nDate: not a date\n"
        "Content-Type: text/plain; charset=x-made-up",
        "caf\xe9 au lait\n",
    )
    mail = InboundMail.parse(raw.replace("é".encode(), b"\xe9"))
    assert mail.from_address is not None and mail.from_address.address == "zoe@x.example"
    assert mail.date is None
    assert mail.text.startswith("caf") and "au lait" in mail.text


# -- automatic messages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "Auto-Submitted: auto-replied"),
        ("Auto-Submitted: auto-generated; owner-email=x@y", "Auto-Submitted: auto-generated"),
        ("Precedence: bulk", "Precedence: bulk"),
        ("Precedence: list", "Precedence: list"),
        ("Precedence: junk", "Precedence: junk"),
        ("X-Autoreply: yes", "X-Autoreply: yes"),
        ("X-Autorespond: Vacation", "X-Autorespond: Vacation"),
        ("X-Auto-Response-Suppress: All", "X-Auto-Response-Suppress: All"),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", "X-Auto-Response-Suppress: DR, OOF, AutoReply"),
        ("List-Id: Friends of Kith <friends.lists.example>", "mailing list (List-Id)"),
        ("List-Unsubscribe: <mailto:leave@lists.example>", "mailing list (List-Unsubscribe)"),
        ("Return-Path: <>", "empty envelope sender (Return-Path: <>)"),
    ],
)
def test_automatic_messages_are_recognised_with_the_reason(headers: str, reason: str) -> None:
    mail = InboundMail.parse(message(f"From: someone@x.example\nTo: s@acme.example\nSubject: s\n{headers}"))
    assert mail.is_automatic
    assert mail.automatic_reason == reason


@pytest.mark.parametrize(
    "sender",
    ["MAILER-DAEMON@mx.example", "postmaster@client.example", "Mail Delivery System <mailer-daemon@x.example>"],
)
def test_mail_from_a_mailer_daemon_or_postmaster_is_automatic(sender: str) -> None:
    mail = InboundMail.parse(message(f"From: {sender}\nTo: s@acme.example\nSubject: s"))
    assert mail.is_automatic and mail.automatic_reason is not None and mail.automatic_reason.startswith("sent by")


def test_a_person_writing_is_not_automatic_even_with_harmless_headers() -> None:
    headers = "Auto-Submitted: no\nPrecedence: normal\nX-Auto-Response-Suppress: DR, RN"
    mail = InboundMail.parse(message(f"From: ann@x.example\nTo: s@acme.example\nSubject: s\n{headers}"))
    assert not mail.is_automatic and mail.automatic_reason is None


def test_an_empty_envelope_sender_from_the_gateway_counts_like_return_path() -> None:
    raw = message("From: ann@x.example\nTo: s@acme.example\nSubject: s")
    assert InboundMail.parse(raw, envelope_from="").automatic_reason == "empty envelope sender (Return-Path: <>)"
    assert InboundMail.parse(raw, envelope_from="ann@x.example").automatic_reason is None


@pytest.mark.parametrize(
    ("address", "noreply"),
    [
        ("no-reply@shop.example", True),
        ("noreply@github.example", True),
        ("NoReply+news@x.example", True),
        ("do-not-reply@bank.example", True),
        ("donotreply@bank.example", True),
        ("no_reply@x.example", True),
        ("nora@x.example", False),
        ("reply@x.example", False),
        ("notifications@x.example", False),
    ],
)
def test_noreply_senders(address: str, noreply: bool) -> None:
    mail = InboundMail.parse(message(f"From: Shop <{address}>\nTo: s@acme.example\nSubject: s"))
    assert mail.is_noreply_sender is noreply


# -- bounces and complaints --------------------------------------------------------------------


def dsn(action: str, status: str, diagnostic: str) -> bytes:
    return message(
        """
From: Mail Delivery System <MAILER-DAEMON@mx.acme.example>
To: crm@acme.example
Subject: Undelivered Mail Returned to Sender
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"
""",
        f"""--B
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.acme.example.
I'm sorry to have to inform you that your message could not be delivered.

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.acme.example
Arrival-Date: Tue,  3 Mar 2026 10:15:00 +0000 (UTC)

Final-Recipient: rfc822; gone@client.example
Original-Recipient: rfc822;gone@client.example
Action: {action}
Status: {status}
Remote-MTA: dns; mx.client.example
Diagnostic-Code: smtp; {diagnostic}

--B
Content-Type: message/rfc822

From: crm@acme.example
To: gone@client.example
Subject: Spring offers
Message-ID: <campaign.7.gone@acme.example>

Hello!
--B--
""",
    )


def test_an_rfc3464_hard_bounce_names_the_recipient_status_and_original_message() -> None:
    mail = InboundMail.parse(dsn("failed", "5.1.1", "550 5.1.1 <gone@client.example>: Recipient address rejected"))
    bounce = mail.bounce
    assert bounce is not None and bounce.standard and bounce.hard and not bounce.soft
    assert bounce.reporting_mta == "mx.acme.example"
    assert bounce.original_message_id == "<campaign.7.gone@acme.example>"
    (recipient,) = bounce.recipients
    assert (recipient.address, recipient.action, recipient.status, recipient.hard) == (
        "gone@client.example",
        "failed",
        "5.1.1",
        True,
    )
    assert recipient.diagnostic == "550 5.1.1 <gone@client.example>: Recipient address rejected"
    assert mail.is_automatic and mail.complaint is None
    assert "could not be delivered" in mail.text  # the human-readable part is the text


def test_an_rfc3464_delay_is_a_soft_bounce() -> None:
    bounce = InboundMail.parse(dsn("delayed", "4.4.1", "451 4.4.1 Connection timed out")).bounce
    assert bounce is not None and bounce.soft and not bounce.hard
    assert bounce.recipients[0].status == "4.4.1" and bounce.recipients[0].action == "delayed"


def test_a_qmail_style_bounce_in_plain_text_is_recognised() -> None:
    raw = message(
        """
From: MAILER-DAEMON@mail.client.example
To: crm@acme.example
Subject: failure notice
""",
        """Hi. This is the qmail-send program at mail.client.example.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<old.address@client.example>:
192.0.2.7 does not like recipient.
Remote host said: 550 5.1.1 <old.address@client.example>... User unknown
Giving up on 192.0.2.7.

--- Below this line is a copy of the message.

From: crm@acme.example
To: old.address@client.example
""",
    )
    bounce = InboundMail.parse(raw).bounce
    assert bounce is not None and not bounce.standard and bounce.hard
    assert bounce.addresses == ["old.address@client.example"]
    assert bounce.recipients[0].status == "5.1.1"


def test_an_exim_soft_failure_without_an_enhanced_code_reads_as_4xx() -> None:
    raw = message(
        "From: Mail Delivery System <Mailer-Daemon@mx.client.example>\nTo: crm@acme.example\n"
        "Subject: Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent has not yet been delivered to one or more of its recipients.\n\n"
        "  full@client.example\n    host mx.client.example [192.0.2.9]: 452 mailbox full\n",
    )
    bounce = InboundMail.parse(raw).bounce
    assert bounce is not None and bounce.soft
    assert [(r.address, r.status) for r in bounce.recipients] == [("full@client.example", "4.0.0")]


def test_an_ordinary_message_from_a_daemon_address_without_a_bounce_subject_is_no_bounce() -> None:
    raw = message("From: postmaster@client.example\nTo: crm@acme.example\nSubject: Hello", "Mail ann@client.example\n")
    assert InboundMail.parse(raw).bounce is None


def test_an_arf_feedback_report_is_a_complaint() -> None:
    raw = message(
        """
From: staff@hotmail.example
To: abuse@acme.example
Subject: complaint about message from 203.0.113.5
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="part1"
""",
        """--part1
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report for an email message received from IP 203.0.113.5.

--part1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Mail-From: <bounces@acme.example>
Original-Rcpt-To: <reader@hotmail.example>
Source-IP: 203.0.113.5

--part1
Content-Type: message/rfc822
Content-Disposition: inline

From: <crm@acme.example>
To: <reader@hotmail.example>
Subject: Spring offers
Message-ID: <campaign.7.reader@acme.example>

Hello!
--part1--
""",
    )
    mail = InboundMail.parse(raw)
    complaint = mail.complaint
    assert complaint is not None
    assert complaint.feedback_type == "abuse"
    assert complaint.recipient == "reader@hotmail.example"
    assert complaint.original_message_id == "<campaign.7.reader@acme.example>"
    assert complaint.original_mail_from == "bounces@acme.example"
    assert complaint.source_ip == "203.0.113.5"
    assert mail.bounce is None and mail.is_automatic
