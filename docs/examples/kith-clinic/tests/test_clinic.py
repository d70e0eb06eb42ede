"""The clinic CRM end to end, with the fixtures Kith ships and only ``kith.sdk``:
booking over GraphQL, the therapist's own appointments everywhere they can be read,
the no-show task and the nightly no-show tag, and a client's personal data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from kith.sdk.testing import (
    GraphQLClient,
    acting_as,
    erase_personal_data,
    export_personal_data,
    run_scheduled_rule,
    run_worker_until_idle,
    system_context,
)

BOOK = """mutation($input: AppointmentCreateInput!) {
  createAppointment(input: $input) {
    appointment { id status startsAt durationMinutes endsAt therapistId } errors { field code message } } }"""
MOVE = """mutation($id: ID!, $input: AppointmentUpdateInput!) {
  updateAppointment(id: $id, input: $input) { appointment { endsAt status } errors { field code message } } }"""
UPCOMING = "{ upcomingAppointments { id startsAt contact { firstName } therapist { name } } }"


def at(days: float) -> dt.datetime:
    """A moment ``days`` from the next whole hour (UTC): relative to now, not to a time
    of day, so "half a day ahead" is ahead whenever the test runs."""
    hour = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    return hour + dt.timedelta(days=days)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat()


def same_moment(graphql_value: str, moment: dt.datetime) -> bool:
    return dt.datetime.fromisoformat(graphql_value) == moment


async def book(practice: dict[str, Any], contact: str, therapist: str | None, days: float, **values: Any) -> int:
    """An appointment written as the system (a test's setup, not what is tested)."""
    record = {"contact": practice[contact]["id"], "starts_at": at(days), **values}
    if therapist is not None:
        record["therapist"] = practice[therapist]["id"]
    made = await system_context(practice["kith"]).records.create("appointment", record)
    return int(made["id"])


async def test_booking_and_the_upcoming_appointments(practice: dict[str, Any]) -> None:
    kith, ann, theo = practice["kith"], practice["ann"], practice["theo"]
    reception = await GraphQLClient.as_user(kith, "rita@example.com")
    start = at(1)
    booked = await reception.query(
        BOOK, input={"contactId": str(ann["id"]), "therapistId": str(theo["id"]), "startsAt": iso(start)}
    )
    appointment = booked["createAppointment"]["appointment"]
    assert booked["createAppointment"]["errors"] == []
    assert (appointment["status"], appointment["durationMinutes"]) == ("scheduled", 30)  # the practice's default
    assert same_moment(appointment["endsAt"], start + dt.timedelta(minutes=30))

    # the declaration's rules: a status is one of four, a duration is sensible, and the
    # end is the plugin's to keep
    bad = {"contactId": str(ann["id"]), "startsAt": iso(start), "status": "lost", "durationMinutes": 600}
    refused = await reception.query(BOOK, input=bad)
    assert refused["createAppointment"]["errors"] == [
        {"field": "durationMinutes", "code": "invalid", "message": "must be between 5 and 480 minutes"},
        {"field": "status", "code": "invalid", "message": "must be one of: scheduled, attended, no_show, cancelled"},
    ]
    moved = await reception.query(
        MOVE, id=appointment["id"], input={"startsAt": iso(start + dt.timedelta(hours=2)), "durationMinutes": 50}
    )
    assert moved["updateAppointment"]["errors"] == []
    assert same_moment(moved["updateAppointment"]["appointment"]["endsAt"], start + dt.timedelta(hours=2, minutes=50))
    read_only = await reception.execute(
        'mutation($id: ID!) { updateAppointment(id: $id, input: {endsAt: "2030-01-01T00:00:00Z"}) { '
        "errors { field } } }",
        {"id": appointment["id"]},
    )
    assert "unknown field 'endsAt'" in read_only["errors"][0]["message"]  # not even in the input type

    # upcomingAppointments: scheduled ones from now on, soonest first, as the generated type
    await book(practice, "bob", "theo", 3)
    await book(practice, "bob", "theo", 0.5)
    await book(practice, "ann", "theo", -2)  # past
    await book(practice, "ann", "theo", 2, status="cancelled")
    data = await GraphQLClient(kith).query(UPCOMING)
    assert [(a["contact"]["firstName"], a["therapist"]["name"]) for a in data["upcomingAppointments"]] == [
        ("Bob", "Theo"),
        ("Ann", "Theo"),
        ("Bob", "Theo"),
    ]
    first = await GraphQLClient(kith).query("{ upcomingAppointments(first: 1) { contact { lastName } } }")
    assert first == {"upcomingAppointments": [{"contact": {"lastName": "Rahn"}}]}

    # the contact's side: its appointments (a reverse list), its insurance number, and
    # a session note on its timeline
    client = await reception.query(
        """query($id: ID!) { contact(id: $id) { customFields { insuranceNumber }
             appointments { status } } }""",
        id=str(ann["id"]),
    )
    assert client["contact"]["customFields"] == {"insuranceNumber": "AQ-1234"}
    assert sorted(a["status"] for a in client["contact"]["appointments"]) == ["cancelled", "scheduled", "scheduled"]
    found = await reception.query(
        '{ contacts(filter: {customFields: {insuranceNumber: {eq: "BR-5678"}}}) { nodes { firstName } } }'
    )
    assert found["contacts"]["nodes"] == [{"firstName": "Bob"}]
    as_theo = await GraphQLClient.as_user(kith, "theo@example.com")
    note = await as_theo.query(
        'mutation($id: ID!) { createActivity(input: {kind: "session_note", subject: "Session 1", body: "Sleeps badly", '
        'subjectType: "contact", subjectId: $id}) { activity { kind ownerId } errors { field message } } }',
        id=str(ann["id"]),
    )
    assert note["createActivity"] == {"activity": {"kind": "session_note", "ownerId": str(theo["id"])}, "errors": []}


async def test_a_therapist_sees_only_their_own_appointments(practice: dict[str, Any]) -> None:
    kith, ann, bob, theo = (practice[k] for k in ("kith", "ann", "bob", "theo"))
    theos = await book(practice, "ann", "theo", 1, notes="Knee, left")
    taras = [await book(practice, "ann", "tara", 2, notes="Anxiety"), await book(practice, "bob", "tara", 3)]
    as_theo = await GraphQLClient.as_user(kith, "theo@example.com")

    # the plugin's query, the generated list and one appointment by id
    assert (await as_theo.query("{ upcomingAppointments { id } }")) == {"upcomingAppointments": [{"id": str(theos)}]}
    listed = await as_theo.query("{ appointments { totalCount nodes { id notes } } }")
    assert listed["appointments"] == {"totalCount": 1, "nodes": [{"id": str(theos), "notes": "Knee, left"}]}
    one = await as_theo.query("query($id: ID!) { appointment(id: $id) { id } }", id=str(taras[0]))
    assert one == {"appointment": None}

    # filters through relations, both ways: Tara's appointments do not exist for Theo
    tara_email = {"therapist": {"email": {"eq": "tara@example.com"}}}
    filtered = await as_theo.query(
        "query($f: AppointmentFilter, $c: ContactFilter) { appointments(filter: $f) { totalCount } "
        "contacts(filter: $c) { totalCount } }",
        f=tara_email,
        c={"appointments": {"some": tara_email}},
    )
    assert filtered == {"appointments": {"totalCount": 0}, "contacts": {"totalCount": 0}}
    anxiety = await as_theo.query(
        '{ contacts(filter: {appointments: {some: {notes: {eq: "Anxiety"}}}}) { totalCount } }'
    )
    assert anxiety == {"contacts": {"totalCount": 0}}

    # the clients: Theo reads both (without their insurance numbers), with his appointments only
    clients = await as_theo.query(
        "{ contacts(orderBy: [{firstName: ASC}]) { nodes { firstName customFields { insuranceNumber } "
        "appointments { id } } } }"
    )
    assert clients["contacts"]["nodes"] == [
        {"firstName": "Ann", "customFields": {"insuranceNumber": None}, "appointments": [{"id": str(theos)}]},
        {"firstName": "Bob", "customFields": {"insuranceNumber": None}, "appointments": []},
    ]
    hidden = await as_theo.query(
        '{ contacts(filter: {customFields: {insuranceNumber: {eq: "AQ-1234"}}}) { totalCount } }'
    )
    assert hidden == {"contacts": {"totalCount": 0}}  # nor found by it
    view = await as_theo.query(
        "query($id: ID!) { customerView(contactId: $id) { sections { plugin title items } } }", id=str(ann["id"])
    )
    (section,) = view["customerView"]["sections"]
    assert (section["plugin"], section["title"], [i["id"] for i in section["items"]]) == (
        "clinic",
        "Next appointments",
        [theos],
    )

    # writes: what he books is his; Tara's cannot be reached
    booked = await as_theo.query(BOOK, input={"contactId": str(bob["id"]), "startsAt": iso(at(4))})
    assert booked["createAppointment"]["appointment"]["therapistId"] == str(theo["id"])
    moved = await as_theo.query(MOVE, id=str(taras[0]), input={"status": "cancelled"})
    assert [e["code"] for e in moved["updateAppointment"]["errors"]] == ["not_found"]

    # the same from a plugin's code: a context acting as Theo reads as Theo
    context = await acting_as(kith, theo["id"])
    mine = await context.records.list("appointment", order_by=[{"id": "ASC"}])
    assert [a["therapist"] for a in mine] == [theo["id"], theo["id"]]
    assert await context.records.get("appointment", taras[1]) is None
    assert (await context.records.get("contact", ann["id"]) or {})["custom"].get("insurance_number") is None

    # reception sees every therapist's appointments but not clinical notes, nor session notes
    reception = await GraphQLClient.as_user(kith, "rita@example.com")
    everything = await reception.query("{ appointments { totalCount nodes { notes } } }")
    assert everything["appointments"]["totalCount"] == 4
    assert {a["notes"] for a in everything["appointments"]["nodes"]} == {None}
    await system_context(kith).records.create(
        "activity",
        {"kind": "session_note", "subject": "Session 1", "subject_type": "contact", "subject_id": ann["id"]},
    )
    await system_context(kith).records.create(
        "activity", {"kind": "call", "subject": "Rebooked", "subject_type": "contact", "subject_id": ann["id"]}
    )
    timeline = await reception.query("query($id: ID!) { contact(id: $id) { timeline { kind } } }", id=str(ann["id"]))
    assert [a["kind"] for a in timeline["contact"]["timeline"]] == ["call"]


async def test_no_shows_get_a_task_and_repeated_ones_a_tag(practice: dict[str, Any]) -> None:
    kith, ann, bob = (practice[k] for k in ("kith", "ann", "bob"))
    missed = await book(practice, "ann", "theo", -1)
    as_theo = await GraphQLClient.as_user(kith, "theo@example.com")
    marked = await as_theo.query(MOVE, id=str(missed), input={"status": "no_show"})
    assert marked["updateAppointment"]["errors"] == []
    await run_worker_until_idle(kith)

    # the shipped rule gave Theo a task on Ann's timeline, due tomorrow, which he sees
    tasks = await as_theo.query(
        "query($id: ID!) { contact(id: $id) { timeline { kind subject status dueAt assignee { name } } } }",
        id=str(ann["id"]),
    )
    (task,) = tasks["contact"]["timeline"]
    assert (task["kind"], task["subject"], task["status"], task["assignee"]) == (
        "task",
        "Missed appointment: call to rebook",
        "open",
        {"name": "Theo"},
    )
    due = dt.datetime.fromisoformat(task["dueAt"]) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < due <= dt.timedelta(days=1)

    # the nightly tagger: two no-shows make a risk, one does not
    await book(practice, "ann", "tara", -3, status="no_show")
    await book(practice, "bob", "theo", -2, status="no_show")
    await book(practice, "bob", "theo", -1, status="attended")
    queued = await run_scheduled_rule(kith, "clinic.tag-no-show-risk")
    assert queued == 2  # its conditions: clients with any no-show
    system = system_context(kith)
    assert (await system.records.get("contact", ann["id"]) or {})["tags"] == ["no-show-risk"]
    assert (await system.records.get("contact", bob["id"]) or {})["tags"] == []
    await book(practice, "bob", "tara", -4, status="no_show")
    assert await run_scheduled_rule(kith, "clinic.tag-no-show-risk") == 2  # the next night
    assert (await system.records.get("contact", bob["id"]) or {})["tags"] == ["no-show-risk"]
    assert (await system.records.get("contact", ann["id"]) or {})["tags"] == ["no-show-risk"]  # once


async def test_a_clients_appointments_are_exported_and_erased_with_them(practice: dict[str, Any]) -> None:
    kith, ann, bob = practice["kith"], practice["ann"], practice["bob"]
    kept = await book(practice, "ann", "theo", -7, status="attended", notes="Ann Quist: knee, left; AQ-1234")
    gone = await book(practice, "ann", "tara", 2, notes="Prefers mornings")
    others = await book(practice, "bob", "theo", 1, notes="Bob's back")
    system = system_context(kith)
    await system.records.delete("appointment", gone)  # deleted ones still hold the person's data

    document = await export_personal_data(kith, ann["id"])
    exported = {a["id"]: a for a in document["plugins"]["clinic"]["appointments"]}
    assert sorted(exported) == [kept, gone]
    assert exported[kept]["notes"] == "Ann Quist: knee, left; AQ-1234" and exported[kept]["status"] == "attended"
    assert document["contact"]["custom"]["insurance_number"] == "AQ-1234"

    report = await erase_personal_data(kith, ann["id"])
    scrubbed = {(e.record_id, e.field) for e in report.scrubbed if e.table == "clinic_appointment"}
    assert {(kept, "notes"), (gone, "notes")} <= scrubbed
    stored = [a async for a in system.records.each("appointment", order_by=[{"id": "ASC"}])]
    assert [(a["id"], a["status"], a["notes"]) for a in stored] == [
        (kept, "attended", None),  # the visit happened: it stays, without what it said
        (others, "scheduled", "Bob's back"),  # someone else's: untouched
    ]
    assert (await system.records.get("contact", ann["id"]) or {})["custom"].get("insurance_number") is None
    assert (await system.records.get("contact", bob["id"]) or {})["custom"]["insurance_number"] == "BR-5678"
