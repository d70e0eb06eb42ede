"""Sending mail: composed with threading headers and attachments, stored with the caller's
transaction, delivered by the worker to a real SMTP server (retried after a temporary
refusal, given up after a permanent one), and automatic mail held back by the RFC 3834
rules and the caps."""

from __future__ import annotations

import datetime as dt

import pytest
from mail_servers import CaptureHandler, smtp_server, smtp_settings

from kith.core.automations.worker import Worker
from kith.sdk import InboundMail, MailSuppressed, OutboundMail
from kith.sdk.testing import run_worker_until_idle, system_context

ANN_WRITES = (
    b"From: Ann Example <ann@client.example>\r\nTo: support@acme.example\r\nSubject: Printer on fire\r\n"
    b"Message-ID: <first@client.example>\r\nReferences: <older@client.example>\r\n\r\nHelp!\r\n"
)


@pytest.fixture
async def mailer(make_kith):  # type: ignore[no-untyped-def]
    """A Kith that sends as support@acme.example (nothing is delivered: no worker runs)."""
    return await make_kith(mail_from="support@acme.example", mail_domain="acme.example")


async def outbound(kith, message_id):  # type: ignore[no-untyped-def]
    return await system_context(kith).mail.status(message_id)


async def test_a_reply_reaches_the_smtp_server_threaded_with_text_html_and_an_attachment(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(**smtp_settings(port))
        context = system_context(kith)
        original = InboundMail.parse(ANN_WRITES)
        invoice = await context.files.store(b"%PDF-1.4 invoice", name="invoice.pdf", content_type="application/pdf")
        reply = OutboundMail.reply(
            original,
            "We are on our way.",
            html="<p>We are on our <b>way</b>.</p>",
            attachments=[invoice.id],
            headers={"X-Kith-Ticket": "42"},
            cc=["ops@acme.example"],
            bcc=["archive@acme.example"],
        )
        sent = await context.mail.send(reply)
        assert sent.status == "queued" and not sent.suppressed
        assert sent.message_id.startswith("<") and sent.message_id.endswith("@acme.example>")
        assert handler.received == []  # nothing leaves before the worker runs
        assert await run_worker_until_idle(kith) >= 1

    (got,) = handler.received
    assert got.sender == "support@acme.example"
    assert sorted(got.recipients) == ["ann@client.example", "archive@acme.example", "ops@acme.example"]
    message = got.message
    assert message["Message-ID"] == sent.message_id
    assert message["In-Reply-To"] == "<first@client.example>"
    assert message["References"] == "<older@client.example> <first@client.example>"
    assert message["Subject"] == "Re: Printer on fire"
    assert message["To"] == "Ann Example <ann@client.example>"
    assert message["From"] == "Acme Support <support@acme.example>"
    assert message["Bcc"] is None  # envelope only
    assert message["X-Kith-Ticket"] == "42"
    assert message["Auto-Submitted"] is None  # a person's reply is not automatic
    assert message.get_body(("plain",)).get_content().strip() == "We are on our way."
    assert "<b>way</b>" in message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf" and attachment.get_content() == b"%PDF-1.4 invoice"
    status = await outbound(kith, sent.message_id)
    assert status["status"] == "sent" and "Ok: queued as TEST1" in status["response"]


async def test_automatic_mail_is_marked_auto_submitted(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(**smtp_settings(port))
        context = system_context(kith)
        ack = OutboundMail.reply(InboundMail.parse(ANN_WRITES), "We got your message: ticket 42.")
        await context.mail.send(ack, automatic=True, loop_keys=["ticket:42"])
        await context.mail.send(
            OutboundMail(to="ann@client.example", subject="Weekly report", text="..."), automatic=True
        )
        await run_worker_until_idle(kith)
    answer, report = (r.message for r in handler.received)
    assert answer["Auto-Submitted"] == "auto-replied" and answer["X-Auto-Response-Suppress"] == "All"
    assert report["Auto-Submitted"] == "auto-generated" and report["X-Auto-Response-Suppress"] == "All"


async def test_mail_sent_in_a_transaction_that_rolls_back_is_never_sent(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with smtp_server(handler) as port:
        kith = await make_kith(**smtp_settings(port))
        context = system_context(kith)
        with pytest.raises(RuntimeError):
            async with context.db.transaction():
                await context.mail.send(OutboundMail(to="ann@client.example", subject="s", text="t"))
                raise RuntimeError("the ticket could not be saved")
        kept = await context.mail.send(OutboundMail(to="bob@client.example", subject="s", text="t"))
        await run_worker_until_idle(kith)
    assert [r.recipients for r in handler.received] == [["bob@client.example"]]
    assert (await outbound(kith, kept.message_id))["status"] == "sent"


async def test_a_temporary_refusal_is_retried_and_a_permanent_one_gives_up(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler(answers=["451 4.3.0 Try again later"])
    async with smtp_server(handler) as port:
        minute = {"automation_retry_base_seconds": 60, "automation_retry_max_seconds": 60}
        kith = await make_kith(**{**smtp_settings(port), **minute})
        context = system_context(kith)
        later = await context.mail.send(OutboundMail(to="ann@client.example", subject="later", text="t"))
        worker = Worker(kith)
        await worker.run_until_idle()
        waiting = await outbound(kith, later.message_id)
        assert waiting["status"] == "queued" and waiting["error"].startswith("451") and waiting["attempts"] == 1
        in_two_minutes = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=2)
        worker.clock = lambda: in_two_minutes  # the retry is due after the backoff (at most a minute)
        await worker.run_until_idle()
        assert (await outbound(kith, later.message_id))["status"] == "sent"

        handler.answers.append("550 5.1.1 No such user")
        never = await context.mail.send(OutboundMail(to="gone@client.example", subject="never", text="t"))
        await run_worker_until_idle(kith)
    failed = await outbound(kith, never.message_id)
    assert failed["status"] == "failed" and failed["error"] == "550 5.1.1 No such user"
    dead = await kith.db.execute(
        "SELECT status, last_error FROM kith_outbox WHERE event = 'kith.mail.send' AND status = 'dead'"
    )
    assert len(dead) == 1 and "550" in dead[0]["last_error"]
    assert [r.message["Subject"] for r in handler.received] == ["later"]


async def test_an_unreachable_server_keeps_the_mail_queued(make_kith) -> None:  # type: ignore[no-untyped-def]
    async with smtp_server(CaptureHandler()) as port:
        pass  # closed again: nothing listens on that port now
    kith = await make_kith(
        **{**smtp_settings(port), "automation_retry_base_seconds": 60, "automation_retry_max_seconds": 60}
    )
    sent = await system_context(kith).mail.send(OutboundMail(to="ann@client.example", subject="s", text="t"))
    await run_worker_until_idle(kith)
    status = await outbound(kith, sent.message_id)
    assert status["status"] == "queued" and status["attempts"] == 1 and "SMTPConnectError" in status["error"]


# -- loop protection ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ("Auto-Submitted: auto-replied", "it answers an automatic message (Auto-Submitted: auto-replied)"),
        ("Precedence: bulk", "it answers an automatic message (Precedence: bulk)"),
    ],
)
async def test_an_automatic_answer_to_an_automatic_message_is_suppressed(mailer, headers, reason) -> None:  # type: ignore[no-untyped-def]
    kith = mailer
    raw = ANN_WRITES.replace(b"Subject:", headers.encode() + b"\r\nSubject:")
    context = system_context(kith)
    answer = OutboundMail.reply(InboundMail.parse(raw), "Thanks, we got it.")
    sent = await context.mail.send(answer, automatic=True, replying_to=InboundMail.parse(raw))
    assert sent.suppressed and sent.reason == reason
    assert (await outbound(kith, sent.message_id))["status"] == "suppressed"
    assert await kith.db.execute("SELECT id FROM kith_outbox WHERE event = 'kith.mail.send'") == []
    with pytest.raises(MailSuppressed, match="answers an automatic message"):
        await context.mail.send(answer, automatic=True, replying_to=InboundMail.parse(raw), raise_if_suppressed=True)
    # a person answering the same message is never held back
    assert (await context.mail.send(answer, replying_to=InboundMail.parse(raw))).status == "queued"


@pytest.mark.parametrize(
    ("to", "reason"),
    [
        ("MAILER-DAEMON@mx.client.example", "MAILER-DAEMON@mx.client.example is a mailer-daemon or postmaster"),
        ("postmaster@client.example", "postmaster@client.example is a mailer-daemon or postmaster"),
        ("Shop <no-reply@shop.example>", "no-reply@shop.example is a no-reply address"),
    ],
)
async def test_automatic_mail_to_daemons_and_noreply_addresses_is_suppressed(mailer, to, reason) -> None:  # type: ignore[no-untyped-def]
    sent = await system_context(mailer).mail.send(OutboundMail(to=to, subject="s", text="t"), automatic=True)
    assert sent.suppressed and sent.reason == reason


async def test_the_stored_inbound_message_is_found_by_in_reply_to(mailer) -> None:  # type: ignore[no-untyped-def]
    from kith.core.mail.inbound import receive

    kith = mailer
    await receive(kith, ANN_WRITES.replace(b"Subject:", b"X-Autoreply: yes\r\nSubject:"), source="pipe")
    answer = OutboundMail(to="ann@client.example", subject="Re", text="t", in_reply_to="<first@client.example>")
    sent = await system_context(kith).mail.send(answer, automatic=True)
    assert sent.reason == "it answers an automatic message (X-Autoreply: yes)"


async def test_caps_per_address_and_per_loop_key_hold_automatic_mail_but_never_a_persons(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith = await make_kith(
        mail_from="support@acme.example", mail_auto_reply_per_address=3, mail_auto_reply_per_loop_key=2
    )
    mail = system_context(kith).mail

    statuses = [
        (await mail.send(OutboundMail(to="ann@x.example", subject="s", text="t"), automatic=True)).status
        for _ in range(4)
    ]
    assert statuses == ["queued", "queued", "queued", "suppressed"]
    over = await mail.send(OutboundMail(to="Ann <ANN@x.example>", subject="s", text="t"), automatic=True)
    assert over.reason == "ANN@x.example has had 3 automatic mails within 24 hours"
    assert (await mail.send(OutboundMail(to="ann@x.example", subject="s", text="t"))).status == "queued"

    keyed = [
        (
            await mail.send(
                OutboundMail(to=f"p{n}@x.example", subject="s", text="t"), automatic=True, loop_keys=["ticket:7"]
            )
        ).status
        for n in range(3)
    ]
    assert keyed == ["queued", "queued", "suppressed"]
    other = await mail.send(
        OutboundMail(to="q@x.example", subject="s", text="t"), automatic=True, loop_keys=["ticket:8"]
    )
    assert other.status == "queued"


async def test_caps_count_only_within_the_window(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith = await make_kith(
        mail_from="support@acme.example", mail_auto_reply_per_address=1, mail_auto_reply_window_seconds=3600
    )
    mail = system_context(kith).mail
    auto = OutboundMail(to="ann@x.example", subject="s", text="t")
    assert [(await mail.send(auto, automatic=True)).status for _ in range(2)] == ["queued", "suppressed"]
    # the mail that counted was sent two hours ago: outside the hour, it no longer counts
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    await kith.db.execute("UPDATE kith_mail_auto_send SET sent_at = {}", two_hours_ago)
    assert (await mail.send(auto, automatic=True)).status == "queued"


async def test_a_mail_without_from_or_recipient_is_refused_with_a_clear_error(kith) -> None:  # type: ignore[no-untyped-def]
    from kith.sdk import KithError

    mail = system_context(kith).mail
    with pytest.raises(KithError, match="set mail_from"):
        await mail.send(OutboundMail(to="ann@x.example", subject="s", text="t"))
    with pytest.raises(KithError, match="no recipient"):
        await mail.send(OutboundMail(to=[], subject="s", text="t", from_address="a@acme.example"))
    with pytest.raises(KithError, match="header Subject is set by Kith"):
        await mail.send(
            OutboundMail(
                to="b@x.example", subject="s", text="t", from_address="a@acme.example", headers={"Subject": "x"}
            )
        )
