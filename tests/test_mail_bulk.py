"""Bulk sending and DKIM, against a real SMTP server (aiosmtpd) in the test's event loop:
one connection carries many messages, a dropped one is reopened and the message sent
again, a refused recipient fails alone, the sender keeps to its rate, and what leaves
(by the bulk sender or the worker) carries a DKIM signature that verifies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dkim
import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session
from mail_servers import CaptureHandler, smtp_settings

from kith.core.settings import load_settings
from kith.sdk import BulkResult, KithError, OutboundMail
from kith.sdk.testing import run_worker_until_idle, system_context

KEY_FILE = Path(__file__).with_name("dkim_test_key.pem")
DKIM = {"dkim_domain": "acme.example", "dkim_selector": "k1", "dkim_private_key_file": str(KEY_FILE)}


@dataclass
class Server:
    port: int
    handler: CaptureHandler
    connections: list[int] = field(default_factory=list)  # one entry per connection accepted


@asynccontextmanager
async def counting_server(handler: CaptureHandler) -> AsyncIterator[Server]:
    """An SMTP server for ``handler`` that counts the connections it accepts."""
    loop = asyncio.get_running_loop()
    server = Server(0, handler)

    def factory() -> SMTP:
        server.connections.append(1)
        return SMTP(handler, decode_data=False, loop=loop)

    listening = await loop.create_server(factory, "127.0.0.1", 0)
    server.port = listening.sockets[0].getsockname()[1]
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()


@dataclass
class PickyHandler(CaptureHandler):
    """Refuses the recipients in ``refuse`` (address -> answer); drops the connection
    (no answer at all) at the DATA of the first ``drop`` messages."""

    refuse: dict[str, str] = field(default_factory=dict)
    drop: int = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drop:
            self.drop -= 1
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 gone"  # never reaches the client: the connection is closed
        return await super().handle_DATA(server, session, envelope)


def dns_for(kith: Any) -> Callable[..., bytes | None]:
    """dkimpy's DNS lookup, answered with the record ``dkim_record()`` says to publish."""
    name, record = system_context(kith).mail.dkim_record()

    def lookup(query: bytes, timeout: float = 5) -> bytes | None:
        return record.encode() if query == f"{name}.".encode() else None

    return lookup


async def campaign_mail(kith: Any, to: str, n: int = 0) -> Any:
    return await system_context(kith).mail.compose(
        OutboundMail(
            to=to,
            subject=f"Spring news {n}",
            text="Hello!",
            html="<p>Hello!</p>",
            headers={
                "List-Unsubscribe": f"<https://acme.example/u/{n}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            },
        )
    )


async def test_one_connection_carries_every_message(make_kith) -> None:  # type: ignore[no-untyped-def]
    async with counting_server(CaptureHandler()) as server:
        kith = await make_kith(**smtp_settings(server.port))
        async with system_context(kith).mail.bulk() as sender:
            results = [await sender.send(await campaign_mail(kith, f"r{i}@client.example", i)) for i in range(25)]
        assert sender.connections_opened == 1
    assert len(server.connections) == 1
    assert [r.status for r in results] == ["sent"] * 25
    assert results[0].recipients[0].answer == "250 2.0.0 Ok: queued as TEST1" and results[0].recipients[0].code == 250
    received = server.handler.received
    assert [r.recipients for r in received] == [[f"r{i}@client.example"] for i in range(25)]
    assert {r.sender for r in received} == {"support@acme.example"}  # mail_from, as the envelope sender
    assert [r.message["Message-ID"] for r in received] == [r.message_id for r in results]


async def test_a_message_is_composed_as_send_composes_it(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith = await make_kith(mail_from="Acme <news@acme.example>", mail_domain="acme.example")
    mail = system_context(kith).mail
    message = await campaign_mail(kith, "ann@client.example")
    assert message["From"] == "Acme <news@acme.example>" and message["Date"]
    assert message["Message-ID"].endswith("@acme.example>")
    assert message.get_body(("html",)).get_content().strip() == "<p>Hello!</p>"
    assert message.get_body(("plain",)).get_content().strip() == "Hello!"
    # a resend after a crash carries the Message-ID of the first attempt
    again = await mail.compose(
        OutboundMail(to="ann@client.example", subject="s", text="t", message_id="<c1.7@acme.example>")
    )
    assert again["Message-ID"] == "<c1.7@acme.example>"
    with pytest.raises(KithError, match="bcc"):
        await mail.compose(OutboundMail(to="a@client.example", bcc="b@client.example", subject="s", text="t"))


async def test_bulk_mail_is_dkim_signed_and_verifies(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port), **DKIM)
        async with system_context(kith).mail.bulk() as sender:
            result = await sender.send(await campaign_mail(kith, "ann@client.example"))
        assert result.status == "sent"
    (got,) = handler.received
    assert dkim.verify(got.data, dnsfunc=dns_for(kith))
    signature = dkim.util.parse_tag_value(got.message["DKIM-Signature"].encode())
    assert (signature[b"d"], signature[b"s"], signature[b"c"]) == (b"acme.example", b"k1", b"relaxed/relaxed")
    signed = {name.strip() for name in signature[b"h"].decode().split(":")}
    assert {"from", "to", "subject", "date", "message-id", "list-unsubscribe", "list-unsubscribe-post"} <= signed
    assert {"mime-version", "content-type"} <= signed
    # a changed body, or an unsubscribe link swapped on the way, no longer verifies
    assert not dkim.verify(got.data.replace(b"Hello!", b"Hello?"), dnsfunc=dns_for(kith))
    assert not dkim.verify(got.data.replace(b"/u/0>", b"/u/9>"), dnsfunc=dns_for(kith))


async def test_signing_in_worker_processes_verifies_too(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port), **DKIM)
        async with system_context(kith).mail.bulk(signing_processes=1, connections=2) as sender:
            results = await asyncio.gather(
                *[sender.send(await campaign_mail(kith, f"r{i}@client.example", i)) for i in range(6)]
            )
    assert [r.status for r in results] == ["sent"] * 6
    assert all(dkim.verify(r.data, dnsfunc=dns_for(kith)) for r in handler.received)


async def test_mail_the_worker_delivers_is_dkim_signed(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port), **DKIM)
        await system_context(kith).mail.send(OutboundMail(to="ann@client.example", subject="Your quote", text="Hi"))
        await run_worker_until_idle(kith)
    (got,) = handler.received
    assert got.message["DKIM-Signature"] and dkim.verify(got.data, dnsfunc=dns_for(kith))


def test_a_dkim_key_that_cannot_sign_is_refused_when_the_settings_load(tmp_path: Path) -> None:
    broken = tmp_path / "dkim.pem"
    broken.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    with pytest.raises(KithError, match=r"dkim_private_key_file: not an RSA private key in PEM form"):
        load_settings(**{**DKIM, "dkim_private_key_file": str(broken)})
    with pytest.raises(KithError, match=r"dkim_private_key_file: cannot read .*missing.pem"):
        load_settings(**{**DKIM, "dkim_private_key_file": str(tmp_path / "missing.pem")})
    with pytest.raises(KithError, match=r"dkim_selector: needed to sign mail with DKIM"):
        load_settings(dkim_domain="acme.example", dkim_private_key=KEY_FILE.read_text())
    with pytest.raises(KithError, match=r"dkim_private_key: not an RSA private key"):
        load_settings(dkim_domain="acme.example", dkim_selector="k1", dkim_private_key="secret")
    assert load_settings(dkim_domain="acme.example", dkim_selector="k1", dkim_private_key=KEY_FILE.read_text())


async def test_a_refused_recipient_fails_alone(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = PickyHandler(
        refuse={"gone@client.example": "550 5.1.1 No such user", "full@client.example": "452 4.2.2 Mailbox full"}
    )
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port))
        async with system_context(kith).mail.bulk() as sender:
            message = await campaign_mail(kith, "ann@client.example")
            mixed = await sender.send(
                message, recipients=["ann@client.example", "gone@client.example", "bob@client.example"]
            )
            nobody = await sender.send(message, recipients=["gone@client.example", "full@client.example"])
            after = await sender.send(message, recipients=["bob@client.example"])
    assert mixed.status == "partial"
    assert (mixed.sent, mixed.permanent, mixed.temporary) == (
        ["ann@client.example", "bob@client.example"],
        ["gone@client.example"],
        [],
    )
    gone = next(r for r in mixed.recipients if r.address == "gone@client.example")
    assert (gone.status, gone.code, gone.answer) == ("permanent", 550, "550 5.1.1 No such user")
    assert nobody.status == "temporary"  # one of them may work later
    assert (nobody.permanent, nobody.temporary) == (["gone@client.example"], ["full@client.example"])
    assert after.status == "sent"  # the connection is still good after a refusal
    assert [r.recipients for r in handler.received] == [
        ["ann@client.example", "bob@client.example"],
        ["bob@client.example"],
    ]
    assert len(server.connections) == 1


async def test_a_dropped_connection_is_reopened_and_the_message_sent_again(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = PickyHandler(drop=1)
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port))
        async with system_context(kith).mail.bulk() as sender:
            first = await sender.send(await campaign_mail(kith, "ann@client.example", 1))
            second = await sender.send(await campaign_mail(kith, "bob@client.example", 2))
    assert (first.status, first.attempts, second.attempts) == ("sent", 2, 1)
    assert len(server.connections) == 2
    assert [r.message["Subject"] for r in handler.received] == ["Spring news 1", "Spring news 2"]


async def test_a_message_is_sent_again_only_once(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = PickyHandler(drop=2)
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port))
        async with system_context(kith).mail.bulk() as sender:
            lost = await sender.send(await campaign_mail(kith, "ann@client.example"))
            kept = await sender.send(await campaign_mail(kith, "bob@client.example"))
    assert (lost.status, lost.attempts, lost.recipients[0].code) == ("temporary", 2, 0)
    assert "Disconnected" in lost.answer
    assert kept.status == "sent" and len(handler.received) == 1


async def test_an_unreachable_server_is_a_temporary_failure(make_kith) -> None:  # type: ignore[no-untyped-def]
    async with counting_server(CaptureHandler()) as server:
        pass  # nothing listens there any more
    kith = await make_kith(**smtp_settings(server.port))
    async with system_context(kith).mail.bulk() as sender:
        result = await sender.send(await campaign_mail(kith, "ann@client.example"))
    assert result.status == "temporary" and result.attempts == 2 and result.recipients[0].code == 0


async def test_the_sender_keeps_to_its_rate(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = CaptureHandler()
    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port))
        messages = [await campaign_mail(kith, f"r{i}@client.example", i) for i in range(60)]
        started = time.monotonic()
        async with system_context(kith).mail.bulk(rate_per_second=50, connections=2) as sender:
            await asyncio.gather(*[sender.send(m) for m in messages])
        elapsed = time.monotonic() - started
    assert len(handler.received) == 60
    # 60 slots 1/50 s apart: at least 59/50 s (less a possible catch-up of 0.05 s); the
    # upper bound only guards against a stall (the exact rate is in bench_mail_bulk.py)
    assert 1.1 <= elapsed < 4.0


async def test_submit_hands_every_result_to_on_result_with_its_key(make_kith) -> None:  # type: ignore[no-untyped-def]
    handler = PickyHandler(refuse={"r3@client.example": "550 5.1.1 No such user"})
    seen: dict[int, BulkResult] = {}

    async def record(result: BulkResult) -> None:
        seen[result.key] = result

    async with counting_server(handler) as server:
        kith = await make_kith(**smtp_settings(server.port))
        async with system_context(kith).mail.bulk(on_result=record, connections=3, queue_size=4) as sender:
            for i in range(20):
                await sender.submit(await campaign_mail(kith, f"r{i}@client.example", i), key=i)
        assert sender.counts == {"sent": 19, "partial": 0, "temporary": 0, "permanent": 1}
    assert sorted(seen) == list(range(20))
    assert seen[3].status == "permanent" and seen[4].status == "sent"
    assert len(server.connections) == 3


async def test_a_failing_on_result_stops_the_sender_loudly(make_kith) -> None:  # type: ignore[no-untyped-def]
    async def broken(result: BulkResult) -> None:
        raise RuntimeError("the campaign table is gone")

    async with counting_server(CaptureHandler()) as server:
        kith = await make_kith(**smtp_settings(server.port))
        with pytest.raises(KithError, match="on_result failed: RuntimeError"):
            async with system_context(kith).mail.bulk(on_result=broken) as sender:
                for i in range(5):
                    await sender.submit(await campaign_mail(kith, f"r{i}@client.example", i))
                    await asyncio.sleep(0.05)


async def test_bad_use_is_a_clear_error(make_kith) -> None:  # type: ignore[no-untyped-def]
    kith = await make_kith(**smtp_settings(1))
    mail = system_context(kith).mail
    with pytest.raises(KithError, match="rate_per_second: must be more than 0"):
        mail.bulk(rate_per_second=0)
    with pytest.raises(KithError, match="connections: at least 1"):
        mail.bulk(connections=0)
    async with mail.bulk() as sender:
        with pytest.raises(KithError, match="submit hands results to on_result"):
            await sender.submit(b"From: a@acme.example\r\nTo: b@client.example\r\n\r\nhi\r\n")
        with pytest.raises(KithError, match="no recipient"):
            await sender.send(b"From: a@acme.example\r\nSubject: nobody\r\n\r\nhi\r\n")
