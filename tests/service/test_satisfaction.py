"""Satisfaction: a CSAT survey mailed when a ticket is solved, answered once through its
signed link, its score on the ticket; reminders; nothing for a quick reopen."""

from __future__ import annotations

import re

import pytest
from tampering import tampered

from kith.plugins.service import satisfaction
from kith.sdk.testing import make_contact, outgoing_mail, run_worker_until_idle, system_context, web_client


@pytest.fixture
async def service(make_kith):
    return await make_kith(
        enable=["service"],
        mail_from="help@acme.example",
        public_url="https://help.acme.example",
        plugin={"service": {"acknowledge": False}},
    )


async def solve(kith, ticket_id: int) -> None:
    records = system_context(kith).records
    solved = await records.first("ticket_status", {"category": {"eq": "solved"}})
    await records.update("ticket", ticket_id, {"status": solved["id"]})


async def test_solving_mails_a_survey_answered_once_through_its_link(service):
    records = system_context(service).records
    ann = await make_contact(service, first_name="Ann", emails=["ann@client.example"])
    ticket = await records.create("ticket", {"subject": "Printer", "requester": ann["id"]})
    await solve(service, ticket["id"])
    await run_worker_until_idle(service)
    (sent,) = [m for m in await outgoing_mail(service) if "How did we do" in m["message"]["Subject"]]
    assert sent["automatic"] and sent["message"]["To"] == "ann@client.example"
    text = sent["message"].get_body(("plain",)).get_content()
    url = re.search(r"Or open (\S+)", text).group(1)
    assert url.startswith("https://help.acme.example/service/survey/")
    path = url.removeprefix("https://help.acme.example")
    async with web_client(service) as client:
        page = await client.get(path, params={"score": "5"})
        assert page.status_code == 200 and 'value="5" checked' in page.text  # a scanner's GET records nothing
        assert (await records.get("ticket", ticket["id"]))["satisfaction"] is None
        bad = await client.post(path, data={"score": "9"})
        assert bad.status_code == 400 and "from 1 to 5" in bad.text
        done = await client.post(path, data={"score": "4", "comment": "quick, thanks"})
        assert done.status_code == 200 and "Thank you" in done.text
        again = await client.post(path, data={"score": "1"})
        assert again.status_code == 409
        forged = await client.post(tampered(path), data={"score": "1"})
        assert forged.status_code == 404
    (survey,) = await records.list("survey")
    assert (survey["kind"], survey["status"], survey["score"], survey["comment"]) == (
        "csat",
        "answered",
        4,
        "quick, thanks",
    )
    assert (await records.get("ticket", ticket["id"]))["satisfaction"] == 4
    answered = await service.db.execute("SELECT payload FROM kith_outbox WHERE event = 'survey.answered'")
    assert len(answered) == 1


async def test_a_ticket_reopened_before_its_survey_is_due_gets_none(make_kith):
    kith = await make_kith(
        enable=["service"],
        mail_from="help@acme.example",
        plugin={"service": {"acknowledge": False, "csat_after_minutes": 60}},
    )
    records = system_context(kith).records
    ann = await make_contact(kith, emails=["ann@client.example"])
    ticket = await records.create("ticket", {"subject": "Printer", "requester": ann["id"]})
    await solve(kith, ticket["id"])
    opened = await records.first("ticket_status", {"category": {"eq": "open"}})
    await records.update("ticket", ticket["id"], {"status": opened["id"]})
    rows = await kith.db.execute("SELECT payload FROM kith_outbox WHERE event = 'job.service.survey_send'")
    assert len(rows) == 1  # scheduled an hour ahead...
    await kith.db.execute("UPDATE kith_outbox SET available_at = created_at WHERE event = 'job.service.survey_send'")
    await run_worker_until_idle(kith)
    assert await records.count("survey") == 0  # ...and, the ticket being open again, asks nothing


async def test_an_unanswered_survey_is_reminded_with_the_same_link(service):
    records = system_context(service).records
    ann = await make_contact(service, emails=["ann@client.example"])
    ticket = await records.create("ticket", {"subject": "Printer", "requester": ann["id"]})
    await solve(service, ticket["id"])
    await run_worker_until_idle(service)
    await service.db.execute(
        "UPDATE kith_outbox SET available_at = created_at WHERE event = 'job.service.survey_remind'"
    )
    await run_worker_until_idle(service)
    surveys = [m for m in await outgoing_mail(service) if "How did we do" in m["message"]["Subject"]]
    first, reminder = (m["message"].get_body(("plain",)).get_content() for m in surveys)
    assert re.search(r"Or open (\S+)", first).group(1) == re.search(r"Or open (\S+)", reminder).group(1)
    (survey,) = await records.list("survey")
    assert survey["reminded_at"] is not None
    assert satisfaction.link(system_context(service), survey["id"]) == re.search(r"Or open (\S+)", first).group(1)
