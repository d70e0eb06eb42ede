"""Tickets from email and replies by email, threaded both ways, with RFC 3834's rules."""

from __future__ import annotations

import pytest

from kith.sdk.testing import deliver_mail, outgoing_mail, system_context


@pytest.fixture
async def service(make_kith):
    return await make_kith(
        enable=["service"],
        mail_from="Acme Support <help@acme.example>",
        mail_domain="acme.example",
        plugin={"service": {"csat_after_minutes": None}},  # these tests count acknowledgements, not surveys
    )


def mail(
    subject: str,
    body: str,
    *,
    sender: str = "Ann Lee <ann@client.example>",
    headers: str = "",
    message_id: str = "<m1@client.example>",
) -> str:
    return (
        f"From: {sender}\r\nTo: help@acme.example\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
        f"{headers}\r\n{body}\r\n"
    )


async def tickets(kith) -> list[dict]:
    return await system_context(kith).records.list("ticket", order_by=[{"id": "ASC"}])


async def messages(kith, ticket_id: int) -> list[dict]:
    return await system_context(kith).records.list(
        "ticket_message", {"ticketId": {"eq": ticket_id}}, order_by=[{"id": "ASC"}]
    )


async def test_a_mail_opens_a_ticket_for_the_sender_and_is_acknowledged(service):
    outcome = await deliver_mail(service, mail("Printer on fire", "It is smoking.\r\n\r\nAnn"))
    assert outcome["status"] == "claimed" and outcome["claim"].startswith("ticket:")
    (ticket,) = await tickets(service)
    assert ticket["subject"] == "Printer on fire" and ticket["channel"] == "email"
    requester = await system_context(service).records.get("contact", ticket["requester"])
    assert (requester["first_name"], requester["last_name"], requester["emails"]) == (
        "Ann",
        "Lee",
        ["ann@client.example"],
    )
    first, ack = await messages(service, ticket["id"])
    assert (first["direction"], first["body"]) == ("inbound", "It is smoking.\n\nAnn")
    assert ack["kind"] == "auto"
    (sent,) = await outgoing_mail(service)
    assert sent["automatic"] and sent["message"]["Auto-Submitted"] == "auto-replied"
    assert sent["message"]["Subject"] == "[T-00001] Printer on fire"
    assert sent["message"]["In-Reply-To"] == "<m1@client.example>"
    assert "kith-ticket:" + ticket["thread_token"] in sent["message"].get_body(("plain",)).get_content()
    again = await deliver_mail(service, mail("Printer on fire", "It is smoking.\r\n\r\nAnn"))
    assert again["id"] == outcome["id"]  # the same message delivered twice is one ticket
    assert len(await tickets(service)) == 1


async def test_replies_thread_by_headers_marker_or_subject_and_agents_answer_by_mail(service):
    await deliver_mail(service, mail("Login broken", "I cannot sign in."))
    (ticket,) = await tickets(service)
    (ack,) = await outgoing_mail(service)
    reply = mail(
        "Re: [T-00001] Login broken",
        "Still broken.\r\n\r\nOn Monday, Acme wrote:\r\n> We have it",
        headers=f"In-Reply-To: {ack['message']['Message-ID']}\r\n",
        message_id="<m2@client.example>",
    )
    await deliver_mail(service, reply)
    token = ticket["thread_token"]
    rewritten = mail("RE: your ticket", f"Any news?\r\n\r\n> kith-ticket:{token}", message_id="<m3@client.example>")
    await deliver_mail(service, rewritten)
    tagged = mail("Re: [T-00001]", "Me again.", message_id="<m4@client.example>")
    await deliver_mail(service, tagged)
    stranger = mail("[T-00001] let me in", "Hi", sender="eve@evil.example", message_id="<m5@evil.example>")
    await deliver_mail(service, stranger)
    first, second = await tickets(service)
    assert [m["body"] for m in await messages(service, first["id"]) if m["direction"] == "inbound"] == [
        "I cannot sign in.",
        "Still broken.",
        "Any news?",
        "Me again.",
    ]
    assert second["subject"] == "[T-00001] let me in"  # the subject alone is not enough from a stranger
    records = system_context(service).records
    await records.create("ticket_message", {"ticket": first["id"], "body": "Reset your password, please."})
    answer = (await outgoing_mail(service))[-1]
    assert not answer["automatic"] and answer["message"]["To"] == "Ann Lee <ann@client.example>"
    assert answer["message"]["Subject"] == "Re: [T-00001] Login broken"
    assert answer["message"]["In-Reply-To"] == "<m4@client.example>"
    assert "<m1@client.example>" in answer["message"]["References"]
    stored = (await messages(service, first["id"]))[-1]
    assert stored["message_id"] == answer["message"]["Message-ID"] and stored["delivery"] == "queued"


async def test_automatic_mail_gets_no_answer_and_does_not_reopen(service):
    await deliver_mail(service, mail("Help", "Please help"))
    (ticket,) = await tickets(service)
    solved = await system_context(service).records.first("ticket_status", {"category": {"eq": "solved"}})
    await system_context(service).records.update("ticket", ticket["id"], {"status": solved["id"]})
    (ack,) = await outgoing_mail(service)
    away = mail(
        "Out of office",
        "Back Monday.",
        headers=f"Auto-Submitted: auto-replied\r\nIn-Reply-To: {ack['message']['Message-ID']}\r\n",
        message_id="<away@client.example>",
    )
    await deliver_mail(service, away)
    assert (await system_context(service).records.get("ticket", ticket["id"]))["status_category"] == "solved"
    alert = mail(
        "Disk full",
        "Alert",
        sender="monitor@client.example",
        headers="Auto-Submitted: auto-generated\r\n",
        message_id="<alert@client.example>",
    )
    await deliver_mail(service, alert)
    assert [t["subject"] for t in await tickets(service)] == ["Help", "Disk full"]  # a ticket, but no answer
    sent = await outgoing_mail(service)
    assert [m["status"] for m in sent] == ["queued", "suppressed"], [m["message"]["Subject"] for m in sent]


async def test_two_auto_responders_stop_within_the_cap(make_kith):
    kith = await make_kith(enable=["service"], mail_from="help@acme.example", mail_auto_reply_per_address=3)
    for n in range(6):  # a responder without RFC 3834 headers, answering every acknowledgement anew
        await deliver_mail(
            kith,
            mail(
                f"Re: ticket {n}",
                "Thank you for your mail!",
                sender="robot@other.example",
                message_id=f"<r{n}@other.example>",
            ),
        )
    statuses = [m["status"] for m in await outgoing_mail(kith)]
    assert statuses == ["queued"] * 3 + ["suppressed"] * 3


async def test_attachments_are_kept_and_mail_to_a_merged_or_closed_ticket_goes_on(service):
    raw = (
        "From: ann@client.example\r\nTo: help@acme.example\r\nSubject: Screenshot\r\nMessage-ID: <a1@client.example>\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n'
        'See attached.\r\n--B\r\nContent-Type: image/png\r\nContent-Disposition: attachment; filename="shot.png"\r\n'
        "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--B--\r\n"
    )
    await deliver_mail(service, raw)
    (ticket,) = await tickets(service)
    (first, _ack) = await messages(service, ticket["id"])
    (attachment,) = await system_context(service).records.list("ticket_attachment", {"messageId": {"eq": first["id"]}})
    assert attachment["name"] == "shot.png" and attachment["content_type"] == "image/png"
    assert (await system_context(service).files.read(attachment["file"])).data.startswith(b"\x89PNG")
    await deliver_mail(service, mail("Other", "second ticket", message_id="<b1@client.example>"))
    _, duplicate = await tickets(service)
    from kith.plugins.service import merging

    await merging.merge(system_context(service), [duplicate["id"]], ticket["id"])
    await deliver_mail(
        service,
        mail("Re: Other", "more", headers="In-Reply-To: <b1@client.example>\r\n", message_id="<b2@client.example>"),
    )
    assert "more" in [m["body"] for m in await messages(service, ticket["id"])]
    closed = await system_context(service).records.first("ticket_status", {"category": {"eq": "closed"}})
    await system_context(service).records.update("ticket", ticket["id"], {"status": closed["id"]})
    await deliver_mail(
        service,
        mail(
            "Re: Screenshot",
            "it is back",
            headers="In-Reply-To: <a1@client.example>\r\n",
            message_id="<a2@client.example>",
        ),
    )
    follow_up = (await tickets(service))[-1]
    assert follow_up["id"] not in (ticket["id"], duplicate["id"])
    assert [m["body"] for m in await messages(service, follow_up["id"])][:2] == [
        "it is back",
        f"A follow-up of {ticket['number']}, which is closed.",
    ]
