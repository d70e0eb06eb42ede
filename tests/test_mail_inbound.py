"""Receiving mail: the SMTP and LMTP gateway and the MTA pipe store a message before they
say yes, a redelivery is not handled twice, and the worker offers each message to the
plugins' ``kith_mail_received`` until one claims it — a plugin that raises is logged and
passed over, and a message nobody could take is retried.  And two auto-responders mailing
each other through the gateway stop within the caps."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest
from mail_servers import RelayHandler, smtp_server, smtp_settings

from kith.sdk import OutboundMail, hookimpl
from kith.sdk.testing import run_worker_until_idle, throwaway_plugin

KITH = str(Path(sys.executable).with_name("kith"))

ANN = (
    b"From: Ann Example <ann@client.example>\r\nTo: support@acme.example\r\nSubject: Printer on fire\r\n"
    b"Message-ID: <printer@client.example>\r\nMIME-Version: 1.0\r\n"
    b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
    b"--b\r\nContent-Type: text/plain\r\n\r\nIt is smoking.\r\n"
    b'--b\r\nContent-Type: image/jpeg\r\nContent-Disposition: attachment; filename="smoke.jpg"\r\n'
    b"Content-Transfer-Encoding: base64\r\n\r\n/9j/4AAQ\r\n--b--\r\n"
)


async def inbound_rows(kith: Any) -> list[dict[str, Any]]:
    rows = await kith.db.execute(
        "SELECT id, message_id, source, status, claimed_by, claim, error, envelope_from, automatic "
        "FROM kith_mail_inbound ORDER BY id"
    )
    return [dict(row) for row in rows]


async def gateway(kith: Any, *, lmtp: bool = False) -> tuple[asyncio.Server, int]:
    from kith.core.mail.gateway import start_gateway

    server = await start_gateway(kith, "127.0.0.1", 0, lmtp=lmtp)
    return server, server.sockets[0].getsockname()[1]


async def test_the_gateway_stores_before_it_answers_and_plugins_get_the_message(make_kith) -> None:  # type: ignore[no-untyped-def]
    got: list[Any] = []

    async def kith_mail_received(context, message):  # type: ignore[no-untyped-def]
        stored = await context.files.read(message.attachments[0].file_id)
        got.append((message, stored))
        return "ticket:42"

    kith = await make_kith(plugins=[throwaway_plugin("tickets", kith_mail_received)], enable=["tickets"])
    server, port = await gateway(kith)
    try:
        errors, answer = await aiosmtplib.send(
            ANN, sender="ann@client.example", recipients=["support@acme.example"], hostname="127.0.0.1", port=port
        )
        assert errors == {} and answer.startswith("2.0.0 Stored as 1")
        # the row was committed before the 250, and the same message again is not a second one
        assert [(r["id"], r["status"], r["source"]) for r in await inbound_rows(kith)] == [(1, "received", "smtp")]
        _errors, again = await aiosmtplib.send(
            ANN, sender="ann@client.example", recipients=["support@acme.example"], hostname="127.0.0.1", port=port
        )
        assert again.endswith("(already received)")
    finally:
        server.close()
        await server.wait_closed()

    assert got == []  # offered by the worker, not while the sender waits
    await run_worker_until_idle(kith)
    ((message, stored),) = got
    assert message.id == 1 and message.subject == "Printer on fire" and message.reply_text == "It is smoking."
    assert message.envelope_from == "ann@client.example" and message.envelope_to == ["support@acme.example"]
    assert (stored.name, stored.content_type, stored.data) == ("smoke.jpg", "image/jpeg", b"\xff\xd8\xff\xe0\x00\x10")
    (row,) = await inbound_rows(kith)
    assert (row["status"], row["claimed_by"], row["claim"], row["error"]) == ("claimed", "tickets", "ticket:42", None)
    # read again later (a ticket reply that quotes it): the same message, the same file ids
    from kith.sdk.testing import system_context

    later = await system_context(kith).mail.inbound(1)
    assert later is not None and later.attachments[0].file_id == message.attachments[0].file_id


async def test_lmtp_answers_once_per_recipient_and_a_null_sender_marks_it_automatic(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith = await make_kith()
    server, port = await gateway(kith, lmtp=True)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)

        async def say(line: bytes) -> list[bytes]:
            writer.write(line)
            await writer.drain()
            replies = [await reader.readline()]
            while replies[-1][3:4] == b"-":
                replies.append(await reader.readline())
            return replies

        assert (await reader.readline()).startswith(b"220")
        assert (await say(b"LHLO client.example\r\n"))[-1].startswith(b"250 ")
        assert (await say(b"MAIL FROM:<>\r\n"))[0].startswith(b"250")
        assert (await say(b"RCPT TO:<support@acme.example>\r\n"))[0].startswith(b"250")
        assert (await say(b"RCPT TO:<sales@acme.example>\r\n"))[0].startswith(b"250")
        assert (await say(b"DATA\r\n"))[0].startswith(b"354")
        writer.write(ANN + b".\r\n")
        await writer.drain()
        first, second = await reader.readline(), await reader.readline()
        assert first.startswith(b"250 2.0.0 Stored as 1") and second.startswith(b"250 2.0.0 Stored as 1")
        writer.close()
    finally:
        server.close()
        await server.wait_closed()
    (row,) = await inbound_rows(kith)
    assert (row["source"], row["envelope_from"]) == ("lmtp", "")
    assert row["automatic"] == "empty envelope sender (Return-Path: <>)"


async def test_a_message_that_cannot_be_stored_is_refused_with_451(make_kith, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from kith.core.mail import gateway as gateway_module

    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise OSError("disk full")

    kith = await make_kith(mail_max_size=2048, mail_gateway_domains="acme.example")
    server, port = await gateway(kith)
    try:
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused) as refused:
            await aiosmtplib.send(
                ANN, sender="a@x.example", recipients=["ann@elsewhere.example"], hostname="127.0.0.1", port=port
            )
        assert refused.value.recipients[0].code == 550
        with pytest.raises(aiosmtplib.SMTPResponseException) as too_big:
            big = ANN + b"x" * 4096 + b"\r\n"
            await aiosmtplib.send(
                big, sender="a@x.example", recipients=["support@acme.example"], hostname="127.0.0.1", port=port
            )
        assert too_big.value.code == 552
        monkeypatch.setattr(gateway_module, "receive", broken)
        with pytest.raises(aiosmtplib.SMTPDataError) as later:
            await aiosmtplib.send(
                ANN, sender="a@x.example", recipients=["support@acme.example"], hostname="127.0.0.1", port=port
            )
        assert later.value.code == 451
    finally:
        server.close()
        await server.wait_closed()
    assert await inbound_rows(kith) == []


async def test_a_failing_plugin_is_passed_over_and_the_next_one_claims(make_kith, caplog) -> None:  # type: ignore[no-untyped-def]
    from kith.core.mail.inbound import receive

    @hookimpl(tryfirst=True)
    async def kith_mail_received(context, message):  # type: ignore[no-untyped-def]
        await context.files.store(b"half-done", name="left-over.txt", key="left-over")
        raise RuntimeError("bounce parser broke")

    def claims(message):  # type: ignore[no-untyped-def]
        return f"lead:{message.from_address.address}"

    claims.__name__ = "kith_mail_received"
    plugins = [throwaway_plugin("broken", kith_mail_received), throwaway_plugin("leads", claims)]
    kith = await make_kith(plugins=plugins, enable=["broken", "leads"])
    await receive(kith, ANN, source="pipe")
    await run_worker_until_idle(kith)
    (row,) = await inbound_rows(kith)
    assert (row["status"], row["claimed_by"], row["claim"]) == ("claimed", "leads", "lead:ann@client.example")
    assert "plugin broken: hook kith_mail_received raised" in caplog.text and "bounce parser broke" in caplog.text
    # the failing plugin's own writes were undone with it
    assert await kith.db.execute("SELECT id FROM kith_file WHERE key = 'left-over'") == []


async def test_unclaimed_and_failed_messages(make_kith) -> None:  # type: ignore[no-untyped-def]
    from kith.core.mail.inbound import receive

    calls: list[int] = []

    def kith_mail_received(message):  # type: ignore[no-untyped-def]
        calls.append(message.id)
        if message.subject == "fails":
            raise RuntimeError("database of the ticket system is down")
        return None

    kith = await make_kith(
        plugins=[throwaway_plugin("picky", kith_mail_received)],
        enable=["picky"],
        automation_retry_base_seconds=0.05,
        automation_retry_max_seconds=0.05,
        automation_max_attempts=2,
    )
    await receive(kith, ANN, source="pipe")
    await receive(kith, ANN.replace(b"Printer on fire", b"fails").replace(b"<printer@", b"<fails@"), source="pipe")
    await run_worker_until_idle(kith)
    first, second = await inbound_rows(kith)
    assert (first["status"], first["claim"]) == ("unclaimed", None)
    assert (
        second["status"] == "failed" and "picky: RuntimeError: database of the ticket system is down" in second["error"]
    )
    await asyncio.sleep(0.06)
    await run_worker_until_idle(kith)  # the retry: fails again, and that was the last attempt
    assert calls == [1, 2, 2]
    dead = await kith.db.execute(
        "SELECT last_error FROM kith_outbox WHERE event = 'kith.mail.received' AND status = 'dead'"
    )
    assert len(dead) == 1 and "database of the ticket system is down" in dead[0]["last_error"]


def run_receive(url: str, stdin: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KITH_DATABASE_URL": url}
    return subprocess.run([KITH, "mail", "receive", *args], input=stdin, capture_output=True, env=env, timeout=60)


async def test_kith_mail_receive_stores_a_piped_message_and_says_75_when_it_cannot(
    make_kith, kith_database_url
) -> None:  # type: ignore[no-untyped-def]
    stored, unreachable, empty = await asyncio.gather(
        asyncio.to_thread(
            run_receive, kith_database_url, ANN, "--sender", "ann@client.example", "--recipient", "support@acme.example"
        ),
        asyncio.to_thread(run_receive, "postgresql://kith@127.0.0.1:1/nowhere", ANN),
        asyncio.to_thread(run_receive, kith_database_url, b""),
    )
    assert stored.returncode == 0, stored.stderr
    assert stored.stdout.decode().strip() == "Stored as 1"
    assert unreachable.returncode == 75, unreachable.stderr
    assert "could not be stored, try again later" in unreachable.stderr.decode()
    assert empty.returncode == 65 and "no message" in empty.stderr.decode()
    again = await asyncio.to_thread(run_receive, kith_database_url, ANN)
    assert again.returncode == 0 and "already received" in again.stdout.decode()
    kith = await make_kith()
    (row,) = await inbound_rows(kith)
    assert (row["source"], row["envelope_from"], row["message_id"]) == (
        "pipe",
        "ann@client.example",
        "<printer@client.example>",
    )


# -- two auto-responders -------------------------------------------------------------------------


def auto_responder() -> Any:
    """Answers every message automatically, as a naive helpdesk would, keyed by the pair."""

    async def kith_mail_received(context, message):  # type: ignore[no-untyped-def]
        me = message.to[0].address
        pair = "|".join(sorted([me, message.from_address.address]))
        reply = OutboundMail.reply(message, "We received your message.", from_address=me)
        await context.mail.send(reply, automatic=True, loop_keys=[f"conversation:{pair}"], replying_to=message)
        return f"conversation:{pair}"

    return throwaway_plugin("responder", kith_mail_received)


async def loop_through_the_gateway(make_kith, strip: tuple[str, ...]) -> Any:  # type: ignore[no-untyped-def]
    """alice@ and bob@ are both answered by the responder; what it sends goes to an SMTP
    relay that hands it back to the gateway (without the ``strip`` headers)."""
    relay = RelayHandler(0, strip)
    async with smtp_server(relay) as relay_port:
        kith = await make_kith(plugins=[auto_responder()], enable=["responder"], **smtp_settings(relay_port))
        server, relay.port = await gateway(kith)
        try:
            first = b"From: alice@a.example\r\nTo: bob@b.example\r\nSubject: Hello\r\nMessage-ID: <hello@a.example>\r\n\r\nHi Bob\r\n"
            await aiosmtplib.send(
                first, sender="alice@a.example", recipients=["bob@b.example"], hostname="127.0.0.1", port=relay.port
            )
            await run_worker_until_idle(kith)
        finally:
            server.close()
            await server.wait_closed()
    return kith, relay


async def test_an_auto_reply_to_an_auto_reply_is_never_sent(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith, relay = await loop_through_the_gateway(make_kith, strip=())
    rows = await kith.db.execute("SELECT status, reason FROM kith_mail_outbound ORDER BY id")
    assert [r["status"] for r in rows] == ["sent", "suppressed"]
    assert rows[1]["reason"] == "it answers an automatic message (Auto-Submitted: auto-replied)"
    assert relay.relayed == 1
    assert [r["automatic"] for r in await inbound_rows(kith)] == [None, "Auto-Submitted: auto-replied"]


async def test_two_responders_that_lose_the_headers_stop_at_the_loop_key_cap(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith, relay = await loop_through_the_gateway(make_kith, strip=("Auto-Submitted", "X-Auto-Response-Suppress"))
    rows = await kith.db.execute("SELECT status, reason FROM kith_mail_outbound ORDER BY id")
    cap = kith.settings.mail_auto_reply_per_loop_key
    assert [r["status"] for r in rows] == ["sent"] * cap + ["suppressed"]
    assert (
        rows[-1]["reason"]
        == f"conversation:alice@a.example|bob@b.example has had {cap} automatic mails within 24 hours"
    )
    assert relay.relayed == cap
    assert len(await inbound_rows(kith)) == cap + 1
