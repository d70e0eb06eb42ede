"""The service plugin for admins: its commands, personal data export and erasure (mail
and attachments included), the customer view, shipped rules and demo data."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace

import pytest

from kith.core.runtime import Kith
from kith.core.settings import load_settings
from kith.plugins.service import automations
from kith.sdk.testing import (
    GraphQLClient,
    deliver_mail,
    erase_personal_data,
    export_personal_data,
    make_contact,
    make_user,
    outgoing_mail,
    system_context,
)

ICS = """BEGIN:VCALENDAR
VERSION:2.0
PRODID:-//Acme//Holidays//EN
BEGIN:VEVENT
UID:xmas@acme.example
DTSTART;VALUE=DATE:20261225
DTEND;VALUE=DATE:20261227
SUMMARY:Christmas
END:VEVENT
BEGIN:VEVENT
UID:newyear@acme.example
DTSTART;VALUE=DATE:20270101
RRULE:FREQ=YEARLY
SUMMARY:New Year
END:VEVENT
END:VCALENDAR
"""


@pytest.fixture
async def service(make_kith):
    return await make_kith(enable=["service"], mail_from="help@acme.example")


def test_commands_show_status_and_import_holidays(kith_cli, kith_database_url, tmp_path):
    assert kith_cli("plugins", "enable", "service").exit_code == 0

    async def setup() -> None:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            records = system_context(kith).records
            await records.create(
                "business_calendar", {"name": "Office", "timezone": "Europe/Berlin", "hours": {"mon": ["09:00-17:00"]}}
            )
            await records.create("ticket", {"subject": "One"})
        finally:
            await kith.close()

    asyncio.run(setup())
    ics = tmp_path / "holidays.ics"
    ics.write_text(ICS)
    imported = kith_cli("service", "import-holidays", "Office", str(ics), "--from", "2026-12-01", "--to", "2028-01-01")
    assert imported.exit_code == 0, imported.output
    assert "Added 3 holiday(s)" in imported.output, imported.output  # 25 and 26 December, New Year 2027
    again = kith_cli("service", "import-holidays", "Office", str(ics), "--from", "2026-12-01", "--to", "2028-01-01")
    assert "Added 0 holiday(s)" in again.output
    unknown = kith_cli("service", "import-holidays", "Nowhere", str(ics))
    assert unknown.exit_code != 0 and "no business calendar named 'Nowhere'" in unknown.output
    status = kith_cli("service", "status")
    assert status.exit_code == 0 and "unassigned (open)" in status.output
    assert status.output.splitlines()[0].split() == ["new", "1"]

    async def holidays() -> list[str]:
        kith = await Kith.open(load_settings(database_url=kith_database_url))
        try:
            office = await system_context(kith).records.first("business_calendar")
            return [h["date"] if isinstance(h, dict) else h for h in json.loads(office["holidays"])]
        finally:
            await kith.close()

    assert asyncio.run(holidays()) == ["2026-12-25", "2026-12-26", "2027-01-01"]


async def test_a_requesters_tickets_mail_and_files_are_exported_and_erased(service):
    raw = (
        "From: Ann Lee <ann@client.example>\r\nTo: help@acme.example\r\nSubject: My secret problem\r\n"
        'Message-ID: <s1@client.example>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="B"\r\n\r\n'
        "--B\r\nContent-Type: text/plain\r\n\r\nMy account number is 12345.\r\n--B\r\nContent-Type: text/plain\r\n"
        'Content-Disposition: attachment; filename="passport.txt"\r\n\r\nPASSPORT X99\r\n--B--\r\n'
    )
    await deliver_mail(service, raw)
    records = system_context(service).records
    (ticket,) = await records.list("ticket")
    contact = await records.get("contact", ticket["requester"])
    exported = await export_personal_data(service, contact["id"])
    text = json.dumps(exported, default=str)
    assert "My account number is 12345." in text and "passport.txt" in text
    await erase_personal_data(service, contact["id"])
    messages = await records.list("ticket_message", {"ticketId": {"eq": ticket["id"]}})
    assert all("12345" not in (m["body"] or "") for m in messages)
    (attachment,) = await records.list("ticket_attachment")
    stored = await system_context(service).files.read(attachment["file"])
    assert stored.data == b"" and stored.name == "[erased]"
    inbound = await service.db.execute("SELECT data, subject, from_address FROM kith_mail_inbound")
    assert [(bytes(r["data"]), r["subject"], r["from_address"]) for r in inbound] == [(b"", "[erased]", None)]
    outbound = await outgoing_mail(service)
    assert all(m["status"] in ("erased", "sent", "suppressed") for m in outbound)


async def test_the_customer_view_lists_the_persons_tickets(service):
    ann = await make_contact(service, first_name="Ann")
    records = system_context(service).records
    await records.create("ticket", {"subject": "Printer", "requester": ann["id"]})
    view = await GraphQLClient(service).query(
        "query($id: ID!) { customerView(contactId: $id) { sections { title items } } }", id=str(ann["id"])
    )
    (section,) = [s for s in view["customerView"]["sections"] if s["title"] == "Tickets"]
    assert [(i["number"], i["subject"], i["status"]) for i in section["items"]] == [("T-00001", "Printer", "new")]


async def test_the_shipped_close_rule_closes_only_tickets_still_solved(service):
    records = system_context(service).records
    solved = await records.first("ticket_status", {"category": {"eq": "solved"}})
    done = await records.create("ticket", {"subject": "Done", "status": solved["id"]})
    reopened = await records.create("ticket", {"subject": "Back"})
    rules = {r["name"] for r in automations.rules()}
    assert {"service.escalate-sla-breach", "service.close-solved"} <= rules
    stored = await service.db.execute("SELECT name FROM kith_automation_rule WHERE name LIKE 'service.%'")
    assert {r["name"] for r in stored} == rules
    for ticket, closes in ((done, True), (reopened, False)):
        record = await records.get("ticket", ticket["id"])
        ctx = SimpleNamespace(record=record, context=system_context(service))  # what the rule's action hands it
        assert (await automations.close_ticket(ctx))["closed"] is closes
    assert (await records.get("ticket", done["id"]))["status_category"] == "closed"
    assert (await records.get("ticket", reopened["id"]))["status_category"] == "new"


def test_kith_mail_show_prints_a_stored_message(kith_cli):
    raw = "From: ann@client.example\r\nTo: help@acme.example\r\nSubject: Hello there\r\n\r\nA short question.\r\n"
    assert kith_cli("mail", "receive", input=raw).exit_code == 0
    shown = kith_cli("mail", "show", "1")
    assert shown.exit_code == 0, shown.output
    assert "Subject: Hello there" in shown.output and "A short question." in shown.output
    missing = kith_cli("mail", "show", "7", "--outbound")
    assert missing.exit_code != 0 and "no outbound message 7" in missing.output


async def test_the_customer_view_leaves_tickets_out_for_who_may_not_read_them(service):
    rep = await make_user(service, roles=["sales_rep"])
    ann = await make_contact(service, first_name="Ann", owner=rep["id"])  # hers to see, her tickets are not
    await system_context(service).records.create("ticket", {"subject": "Printer", "requester": ann["id"]})
    as_rep = await GraphQLClient.as_user(service, rep["id"])
    view = await as_rep.execute(
        "query($id: ID!) { customerView(contactId: $id) { sections { title } } }", {"id": str(ann["id"])}
    )
    assert not view.get("errors") and view["data"]["customerView"] is not None
    assert "Tickets" not in [s["title"] for s in view["data"]["customerView"]["sections"]]
