"""Importing files into any entity: every bad row reported by line with its reasons, the
same by a dry run as by the real run; good rows written like rows typed in by hand;
runs that resume without writing a row twice; upserts; workbooks; the importer's scope."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from kith.core.errors import FieldError, ValidationFailed
from kith.core.imports import runner
from kith.core.records.change import Actor
from kith.core.security.permissions import permissions_for
from kith.core.security.roles import RoleDefinition, save_role
from kith.sdk.testing import make_contact, make_organization, make_user, system_context, throwaway_plugin

SYSTEM = Actor(name="test import", source="system")


def write_csv(path: Path, rows: list[list[Any]]) -> Path:
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


async def imported(kith: Any, path: Path, actor: Actor = SYSTEM, **options: Any) -> tuple[dict[str, Any], list]:
    chunk, helper = options.pop("chunk", runner.CHUNK), options.pop("helper", None)
    run_id = await runner.start(kith, runner.ImportRequest("contact", path, **options), actor)
    stored = await runner.run(kith, run_id, actor, chunk=chunk, helper=helper)
    return stored, await runner.results(kith, run_id)


async def importing_as(kith: Any, user: dict[str, Any]) -> Actor:
    """The actor of an import run by ``user`` from the command line: their permissions apply."""
    principal = await kith.auth.principal_for_user(user["id"], "cli")
    return Actor(
        name=user["email"], source="import", user_id=user["id"], permissions=await permissions_for(kith, principal)
    )


def kith_before_create(change):
    """The guard plugin's hook: a row a hook refuses is reported like a row the entity refuses."""
    if (change.values.get("first_name") or "") == "Mallory":
        raise ValidationFailed.single("firstName", "refused", "Mallory may not be imported")


BAD_FILE = [
    ["First name", "Last name", "Email", "Company", "Lifecycle stage", "Birthday", "Newsletter"],
    ["Ann", "Lee", "ann@example.com", "acme.com", "customer", "1990-04-01", "yes"],  # 2: good
    ["Bob", "Brown", "not-an-email", "", "", "", ""],  # 3: a bad e-mail
    ["Cy", "Cole", "cy@example.com", "Nowhere Ltd", "", "", ""],  # 4: no such organization
    ["Di", "Dunn", "di@example.com", "Twins", "", "", ""],  # 5: two organizations have that name
    ["Ed", "Eng", "ed@example.com", "", "boss", "", ""],  # 6: not a stage
    ["Flo", "Finn", "flo@example.com", "", "", "01/04/1990", ""],  # 7: not a date
    ["Gus", "Gray", "gus@example.com", "", "", "", "maybe"],  # 8: not yes or no
    ["Hal", "Hart", "ANN@EXAMPLE.COM", "", "", "", ""],  # 9: Ann's e-mail: a duplicate
    ["Ida", "Ives", "ida@example.com", "", "", "", "no", "extra"],  # 10: one value too many
    ["Mallory", "Moss", "mallory@example.com", "", "", "", ""],  # 11: a hook refuses her
    ["Jo", "Judd", "jo@example.com", "Globex", "lead", "", "no"],  # 12: good
    ["", "", "", "", "", "", ""],  # 13: empty: not a row
    ["Kim", "", "kim@example.com", "", "", "", ""],  # 14: good
    ["Lou", "Lane", "lou@existing.example", "", "", "", ""],  # 15: a contact has that e-mail already
]


async def bad_file_kith(make_kith, tmp_path):
    kith = await make_kith(plugins=[throwaway_plugin("guard", kith_before_create)], enable=["guard"])
    context = system_context(kith)
    await context.records.create("organization", {"name": "Acme", "domain": "acme.com"})
    await context.records.create("organization", {"name": "Globex"})
    await context.records.create("organization", {"name": "Twins"})
    await context.records.create("organization", {"name": "Twins", "domain": "twins.example"})
    await make_contact(kith, first_name="Lou", emails=["lou@existing.example"])
    await kith.custom_fields.add("contact", "birthday", "date")
    await kith.custom_fields.add("contact", "newsletter", "boolean")
    return kith, write_csv(tmp_path / "people.csv", BAD_FILE)


def problems(results: list[dict[str, Any]]) -> list[tuple[int, str, list[str]]]:
    return [(r["line"], r["status"], [e["field"] for e in r["errors"]]) for r in results if r["status"] != "created"]


async def test_a_dry_run_reports_every_error_the_real_run_hits_and_the_real_run_writes_the_good_rows(
    make_kith, tmp_path
):
    kith, path = await bad_file_kith(make_kith, tmp_path)
    before = await system_context(kith).records.count("contact")
    dry, dry_results = await imported(kith, path, dry_run=True, chunk=4)
    assert await system_context(kith).records.count("contact") == before  # nothing written
    real, real_results = await imported(kith, path, chunk=4)
    expected = [
        (3, "failed", ["emails"]),
        (4, "failed", ["organizationId"]),
        (5, "failed", ["organizationId"]),
        (6, "failed", ["lifecycleStage"]),
        (7, "failed", ["customFields.birthday"]),
        (8, "failed", ["customFields.newsletter"]),
        (9, "skipped", ["emails"]),
        (10, "failed", [None]),
        (11, "failed", ["firstName"]),
        (15, "skipped", ["emails"]),
    ]
    assert problems(real_results) == expected
    strip = [{k: v for k, v in r.items() if k not in ("id", "run", "record_id")} for r in real_results]
    assert [{k: v for k, v in r.items() if k not in ("id", "run", "record_id")} for r in dry_results] == strip
    assert (dry["created"], dry["skipped"], dry["failed"]) == (real["created"], real["skipped"], real["failed"])
    assert (real["created"], real["skipped"], real["failed"]) == (3, 2, 8)
    by_line = {r["line"]: r for r in real_results}
    assert by_line[5]["errors"][0]["message"] == "2 organization records have the name 'Twins': name it by id"
    assert by_line[10]["errors"][0]["message"] == "has 8 values, but the header names 7 columns"
    contacts = await system_context(kith).records.list("contact", order_by=[{"id": "ASC"}], first=50)
    assert [c["first_name"] for c in contacts] == ["Lou", "Ann", "Jo", "Kim"]  # the good rows and nothing else
    ann = contacts[1]
    assert ann["emails"] == ["ann@example.com"] and ann["custom"] == {"birthday": "1990-04-01", "newsletter": True}
    acme = await system_context(kith).records.first("organization", {"domain": {"eq": "acme.com"}})
    assert ann["organization"] == acme["id"] and ann["lifecycle_stage"] == "customer"
    audit = await kith.db.execute("SELECT COUNT(*) AS n FROM kith_audit WHERE entity = 'contact' AND action = 'create'")
    assert audit[0]["n"] == 4  # Lou, and the three imported: each audited as a write by hand
    events = await kith.db.execute("SELECT COUNT(*) AS n FROM kith_outbox WHERE event = 'contact.created'")
    assert events[0]["n"] == 4


async def test_a_run_stopped_half_way_resumes_where_it_stopped_and_writes_nothing_twice(make_kith, tmp_path):
    kith = await make_kith()
    rows = [["first_name", "email"]] + [[f"P{n}", f"p{n}@example.com"] for n in range(25)]
    path = write_csv(tmp_path / "many.csv", rows)
    run_id = await runner.start(kith, runner.ImportRequest("contact", path), SYSTEM)

    class Stopped(Exception):
        pass

    def stop_after_two_chunks(stored):
        if stored["next_line"] > 8:
            raise Stopped

    with pytest.raises(Stopped):
        await runner.run(kith, run_id, SYSTEM, chunk=4, on_chunk=stop_after_two_chunks)
    assert await system_context(kith).records.count("contact") == 8
    other = runner.ImportRequest("contact", path, mapping={"first_name": "firstName", "email": ""})
    assert await runner.start(kith, other, SYSTEM) != run_id  # another mapping is another import
    again = await runner.start(kith, runner.ImportRequest("contact", path), SYSTEM)
    assert again == run_id  # the same file, entity, mapping and person: the run goes on
    stored = await runner.run(kith, again, SYSTEM, chunk=4)
    assert (stored["status"], stored["created"], stored["failed"], stored["skipped"]) == ("done", 25, 0, 0)
    assert await system_context(kith).records.count("contact") == 25
    lines = [r["line"] for r in await runner.results(kith, run_id)]
    assert lines == list(range(2, 27))  # each line once
    path.write_text(path.read_text() + "Extra,extra@example.com\n")
    with pytest.raises(ValidationFailed) as changed:
        await runner.run(kith, run_id, SYSTEM)
    assert changed.value.errors[0].field == "file"


async def test_upsert_by_email_updates_adds_emails_and_creates_the_rest(make_kith, tmp_path):
    kith = await make_kith()
    ann = await make_contact(kith, first_name="Ann", last_name="Lee", emails=["ann@example.com"], title="CTO")
    path = write_csv(tmp_path / "upsert.csv", [
        ["email", "first_name", "title", "phones"],
        ["ann@example.com; ann@home.example", "Annie", "", ""],
        ["new@example.com", "Neu", "Buyer", "+44 20 7946 0958"],
        ["new@example.com", "", "Head buyer", ""],
    ])  # fmt: skip
    stored, results = await imported(kith, path, mode="upsert", key="email")
    assert [(r["line"], r["status"]) for r in results] == [(2, "updated"), (3, "created"), (4, "updated")]
    assert (stored["created"], stored["updated"]) == (1, 2)
    after = await system_context(kith).records.get("contact", ann["id"])
    assert (after["first_name"], after["title"]) == ("Annie", "CTO")  # an empty cell leaves the field alone
    assert after["emails"] == ["ann@example.com", "ann@home.example"]
    neu = await system_context(kith).records.get("contact", results[1]["record_id"])
    assert (neu["first_name"], neu["title"], neu["phones"]) == ("Neu", "Head buyer", ["+442079460958"])
    missing = write_csv(tmp_path / "update.csv", [["email", "title"], ["nobody@example.com", "x"]])
    _stored, results = await imported(kith, missing, mode="update", key="email")
    assert problems(results) == [(2, "failed", ["emails"])]
    assert results[0]["errors"][0]["message"] == "no contact has this email"
    with pytest.raises(ValidationFailed) as no_key:
        await runner.start(kith, runner.ImportRequest("contact", missing, mode="update"), SYSTEM)
    assert no_key.value.errors[0].field == "key"


async def test_a_workbook_imports_its_numbers_dates_and_text(make_kith, tmp_path):
    from openpyxl import Workbook

    kith = await make_kith()
    await kith.custom_fields.add("contact", "visits", "integer")
    await kith.custom_fields.add("contact", "met_on", "date")
    book = Workbook()
    sheet = book.active
    sheet.append(["First name", "Email", "Visits", "Met on", "Postal code"])
    sheet.append(["Ann", "ann@example.com", 3, dt.datetime(2026, 3, 2), 4471])
    sheet.append(["Bob", "bob@example.com", "many", None, None])
    book.save(tmp_path / "people.xlsx")
    mapping = {"First name": "firstName", "Email": "emails", "Visits": "customFields.visits",
               "Met on": "customFields.met_on", "Postal code": "postalCode"}  # fmt: skip
    _stored, results = await imported(kith, tmp_path / "people.xlsx", mapping=mapping)
    assert problems(results) == [(3, "failed", ["customFields.visits"])]
    (ann,) = await system_context(kith).records.list("contact")
    assert ann["custom"] == {"visits": 3, "met_on": "2026-03-02"} and ann["postal_code"] == "4471"


async def test_an_importer_links_and_matches_only_what_they_may_read(make_kith, tmp_path):
    kith = await make_kith()
    rep = await make_user(kith, email="rep@example.com")
    other = await make_user(kith, email="other@example.com")
    await save_role(kith, RoleDefinition(name="own_contacts", description="", grants={
        "contact": {"actions": ["read", "create", "update"], "scope": "own"},
        "organization": {"actions": ["read"], "scope": "own"},
        "user": {"actions": ["read"], "scope": "all"},
    }))  # fmt: skip
    await kith.auth.grant_role(rep["id"], "own_contacts")
    await make_organization(kith, name="Mine", domain="mine.example", owner=rep["id"])
    await make_organization(kith, name="Theirs", domain="theirs.example", owner=other["id"])
    await make_contact(kith, first_name="Hidden", emails=["hidden@example.com"], owner=other["id"])
    actor = await importing_as(kith, rep)
    path = write_csv(tmp_path / "rep.csv", [
        ["first_name", "email", "company"],
        ["Ann", "ann@example.com", "mine.example"],
        ["Bea", "bea@example.com", "theirs.example"],
        ["Cy", "cy@example.com", ""],
    ])  # fmt: skip
    _stored, results = await imported(kith, path, actor)
    assert problems(results) == [(3, "failed", ["organizationId"])]  # an organization they cannot see
    made = await system_context(kith).records.list("contact", {"ownerId": {"eq": rep["id"]}}, order_by=[{"id": "ASC"}])
    assert [c["first_name"] for c in made] == ["Ann", "Cy"]  # theirs by default
    update = write_csv(tmp_path / "update.csv", [["email", "title"], ["hidden@example.com", "Spy"]])
    _stored, results = await imported(kith, update, actor, mode="update", key="email")
    assert results[0]["errors"][0]["message"] == "no contact has this email"  # not "it exists, but is not yours"
    reader = await make_user(kith, email="reader@example.com")
    await save_role(kith, RoleDefinition(name="reader", description="", grants={"contact": {"actions": ["read"]}}))
    await kith.auth.grant_role(reader["id"], "reader")
    reader_actor = await importing_as(kith, reader)
    with pytest.raises(ValidationFailed) as refused:
        await runner.start(kith, runner.ImportRequest("contact", path), reader_actor)
    assert refused.value.errors[0].code == "forbidden"


def test_the_command_suggests_a_mapping_saves_it_and_reports_every_line(kith_cli, tmp_path):
    path = write_csv(tmp_path / "fair.csv", [
        ["Vorname", "E-Mail", "Firma", "Notiz"],
        ["Ann", "ann@example.com", "", "met at the booth"],
        ["Bob", "bob@", "", ""],
    ])  # fmt: skip
    shown = kith_cli("import", "contact", str(path), "--show-mapping")
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == [
        "Vorname -> (left out)", "E-Mail -> emails", "Firma -> (left out)", "Notiz -> (left out)"
    ]  # fmt: skip
    bad = kith_cli("import", "contact", str(path), "--map", "Vorname=nickname")
    assert bad.exit_code == 1 and "Vorname: contact has no field 'nickname'" in bad.output
    report = tmp_path / "report.csv"
    done = kith_cli("import", "contact", str(path), "--map", "Vorname=firstName", "--map", "Firma=organization",
                    "--mapping-name", "trade fair", "--report", str(report))  # fmt: skip
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[:2] == [
        "Import 1 of fair.csv into contact: 1 were created, 0 updated, 0 skipped, 1 failed",
        "line 3: failed: emails: item 1: 'bob@' is not a valid email address: There must be something after the @-sign.",
    ]
    lines = list(csv.DictReader(report.open()))
    assert [(r["line"], r["status"]) for r in lines] == [("2", "created"), ("3", "failed")]
    assert json.loads(lines[1]["errors"])[0]["field"] == "emails"
    again = kith_cli("import", "contact", str(path), "--mapping-name", "trade fair", "--show-mapping")
    assert again.output.splitlines()[0] == "Vorname -> firstName"  # the saved mapping, for the next file


def test_the_cached_email_path_agrees_with_email_validator_everywhere():
    """normalise_email checks a plain address's domain once per domain (imports repeat
    domains): it must accept, refuse and normalise exactly as the library does."""
    import random
    import string

    from email_validator import EmailNotValidError, validate_email

    from kith.core.validation.contact_data import normalise_email

    cases = ["Ann@Example.com", "a.b+c@sub.EXAMPLE.co.uk", "x@localhost", "x@test", "a..b@x.com", ".a@x.com",
             "a@x..com", "a@-x.com", "a@x", "o'neil@x.com", "a@münchen.de", "ünï@x.com", "a@xn--mnchen-3ya.de",
             "a@[1.2.3.4]", '"q"@x.com', "a@example.invalid", "a@x.local", " A@X.COM ", "a@x.123", "a@x_y.com",
             "a" * 65 + "@x.com", "a@" + "b" * 64 + ".com", "a@b@c.com", "@x.com", "a@", "a b@x.com"]  # fmt: skip
    rng = random.Random(5)
    alphabet = string.ascii_letters + string.digits + ".-_+@!#"
    endings = ["@x.com", "@a.b", "@co", ".com", "", "@x-.com", "@-x.com", "@x.c0m", "@Mixed.Case.ORG"]
    cases += [
        "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14))) + rng.choice(endings) for _ in range(3000)
    ]

    def library(text: str) -> str | None:
        try:
            return validate_email(text.strip(), check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            return None

    def ours(text: str) -> str | None:
        try:
            return normalise_email(text)
        except ValueError:
            return None

    assert [c for c in cases if library(c) != ours(c)] == []


async def test_an_importer_cannot_learn_a_field_hidden_from_them_by_matching_on_it(make_kith, tmp_path):
    kith = await make_kith()
    clerk = await make_user(kith, email="clerk@example.com")
    grants = {"contact": {"actions": ["read", "create", "update"], "hidden": ["emails"]}}
    await save_role(kith, RoleDefinition(name="no_emails", description="", grants=grants))
    await kith.auth.grant_role(clerk["id"], "no_emails")
    await make_contact(kith, first_name="Secret", emails=["secret@example.com"])
    permissions = await permissions_for(kith, await kith.auth.principal_for_user(clerk["id"], "cli"))
    actor = Actor(name="clerk@example.com", source="import", user_id=clerk["id"], permissions=permissions)
    path = write_csv(tmp_path / "probe.csv", [["first_name", "email"], ["Probe", "secret@example.com"]])
    with pytest.raises(ValidationFailed) as refused:
        await runner.start(kith, runner.ImportRequest("contact", path, mode="upsert", key="email"), actor)
    assert (refused.value.errors[0].field, refused.value.errors[0].code) == ("key", "hidden")
    _stored, results = await imported(kith, path, actor)
    # they may not set a field hidden from them either: refused for that, never "skipped: it exists"
    assert [(r["line"], r["status"], r["errors"]) for r in results] == [
        (2, "failed", [{"field": "emails", "message": "you may not change this field"}])
    ]


async def test_likely_duplicates_are_skipped_or_flagged_for_review_and_a_dry_run_says_so(make_kith, tmp_path):
    kith = await make_kith()
    acme = await system_context(kith).records.create("organization", {"name": "Acme", "domain": "acme.com"})
    kate = await make_contact(kith, first_name="Katherine", last_name="Johnson", organization=acme["id"])
    path = write_csv(tmp_path / "people.csv", [
        ["First name", "Last name", "Company"],
        ["Kate", "Johnson", "acme.com"],  # 2: Katherine at the same company, by her nickname
        ["Brendan", "O'Neill", ""],  # 3
        ["Brendan", "O'Neil", ""],  # 4: line 3 again, with a typo
        ["Zoe", "Quinn", ""],  # 5: nobody like her
    ])  # fmt: skip

    dry, dry_results = await imported(kith, path, duplicates="skip", dry_run=True)
    assert (dry["created"], dry["skipped"]) == (2, 2)
    assert await system_context(kith).records.count("contact") == 1  # the dry run wrote nothing
    stored, results = await imported(kith, path, duplicates="skip")
    assert problems(dry_results) == problems(results) == [
        (2, "skipped", ["firstName, lastName"]), (4, "skipped", ["firstName, lastName"])
    ]  # fmt: skip
    assert f"may be the same as contact {kate['id']}" in results[0]["errors"][0]["message"]
    assert "may be the same as line 3" in results[2]["errors"][0]["message"]
    assert (stored["created"], stored["skipped"]) == (2, 2)
    # a dry run undoes each chunk, yet finds across chunks what the real run finds there
    # (line 4 is in another chunk than line 3 when chunks are two rows)
    other = write_csv(tmp_path / "other.csv", [
        ["First name", "Last name"], ["Alexandra", "Petrovic"], ["Ines", "Moreau"], ["Alexandra", "Petrovich"],
        ["Ted", "Ng"],
    ])  # fmt: skip
    _dry, dry_chunked = await imported(kith, other, duplicates="skip", dry_run=True, chunk=2)
    _real, real_chunked = await imported(kith, other, duplicates="skip", chunk=2)
    assert problems(dry_chunked) == problems(real_chunked) == [(4, "skipped", ["firstName, lastName"])]

    flagged_file = write_csv(
        tmp_path / "again.csv", [["First name", "Last name"], ["Katie", "Johnson"], ["Zoe", "Quinn"]]
    )
    flagged, flag_results = await imported(kith, flagged_file, duplicates="flag")
    assert flagged["created"] == 2  # flagged rows are created, and queued for review
    queue = await kith.db.execute("SELECT record_a, record_b, status FROM kith_duplicate_candidate ORDER BY id")
    pairs = {frozenset((row["record_a"], row["record_b"])) for row in queue}
    new_zoe = flag_results[1]["record_id"]
    old_zoe = next(r["record_id"] for r in results if r["line"] == 5)
    assert frozenset((new_zoe, old_zoe)) in pairs and all(row["status"] == "open" for row in queue)
    assert "may be the same as contact" in flag_results[1]["errors"][0]["message"]

    with pytest.raises(ValidationFailed) as refused:
        await imported(kith, path, duplicates="maybe")
    assert refused.value.errors[0].field == "duplicates"


async def test_defaults_fill_empty_cells_and_one_imported_event_reaches_rules(make_kith, tmp_path):
    from kith.core.automations import service
    from kith.core.automations.worker import Worker

    kith = await make_kith()
    owner = await make_user(kith, email="owner@example.com")
    desk = await make_contact(kith, first_name="Import desk")
    await service.apply_rule(kith, {
        "name": "import-summary", "enabled": True, "trigger": {"event": "contact.imported"},
        "actions": [{"create_record": {"entity": "activity", "values": {
            "kind": "note", "subject": "{{ event.data.created }} contacts from {{ event.data.file }}",
            "subjectType": "contact", "subjectId": desk["id"],
        }}}],
    })  # fmt: skip
    path = write_csv(tmp_path / "fair.csv", [
        ["First name", "Owner", "Lifecycle stage"],
        ["Ann", "", ""],
        ["Bob", "", "customer"],
    ])  # fmt: skip
    defaults = {"owner.email": "owner@example.com", "lifecycleStage": "lead"}
    with pytest.raises(ValidationFailed) as refused:
        await imported(kith, path, defaults={"nickname": "x"})
    assert refused.value.errors[0].field == "defaults.nickname"
    stored, results = await imported(kith, path, defaults=defaults)
    assert stored["created"] == 2
    ann, bob = [await kith.records.get("contact", r["record_id"]) for r in results]
    assert (ann["owner"], ann["lifecycle_stage"]) == (owner["id"], "lead")  # the defaults, for empty cells
    assert (bob["owner"], bob["lifecycle_stage"]) == (owner["id"], "customer")  # a cell wins over the default
    await Worker(kith).run_until_idle()
    notes = await kith.db.execute("SELECT subject FROM activity WHERE kind = 'note' AND deleted_at IS NULL")
    assert [row["subject"] for row in notes] == ["2 contacts from fair.csv"]  # one event for the file


@pytest.mark.parametrize(
    "text",
    [
        'First name,Last name,Email\nAnn,Lee,a@x.example\nBob,"Stone,b@x.example\nCy,Young,c@x.example\nDee,Ray,d@x\n',
        'First name,Last name,Email\nAnn,Lee,a@x.example\nBob,"Stone,b@x.example\nCy",Young,c@x.example\n'
        "Dee,Ray,d@x.example\nEd,Eng,e@x.example\n",
    ],
    ids=["never-closed", "closed-lines-later"],
)
def test_a_run_resumed_at_any_line_reads_what_the_whole_file_gives_from_there(tmp_path, text):
    from kith.core.imports.sources import open_source

    path = tmp_path / "people.csv"
    path.write_text(text)
    source = open_source(path)

    def read(start: int) -> list[tuple[int, Any]]:
        return [item if isinstance(item, tuple) else (item.line, item.message) for item in source.rows(start)]

    whole = read(2)
    assert any(isinstance(value, str) and "quote" in value for _line, value in whole)  # the broken row is reported
    assert [line for line, _ in whole][-1] == text.count("\n")  # and the rows after it are read
    for start in range(2, text.count("\n") + 2):  # resuming inside the lines it gave back too
        assert read(start) == [item for item in whole if item[0] >= start], start


async def test_the_duplicate_check_finds_only_records_the_importer_may_read(make_kith, tmp_path):
    kith = await make_kith()
    rep = await make_user(kith, email="rep@example.com")
    other = await make_user(kith, email="other@example.com")
    await save_role(kith, RoleDefinition(name="own_contacts", description="", grants={
        "contact": {"actions": ["read", "create", "update"], "scope": "own"},
    }))  # fmt: skip
    await kith.auth.grant_role(rep["id"], "own_contacts")
    theirs = await make_contact(kith, first_name="Katherine", last_name="Johnson", owner=other["id"])
    mine = await make_contact(kith, first_name="Zoe", last_name="Quinn", owner=rep["id"])
    actor = await importing_as(kith, rep)
    path = write_csv(tmp_path / "rep.csv", [["First name", "Last name"], ["Katherine", "Johnson"], ["Zoe", "Quinn"]])

    stored, results = await imported(kith, path, actor, duplicates="skip")
    assert problems(results) == [(3, "skipped", ["firstName, lastName"])]  # their own Zoe only
    assert f"contact {mine['id']}" in results[1]["errors"][0]["message"]
    assert (results[0]["status"], results[0]["errors"]) == ("created", [])  # nothing said of the other's Katherine
    assert theirs["id"] != results[0]["record_id"]
    assert stored["created"] == 1


async def test_a_row_links_to_a_record_an_earlier_chunk_of_its_file_created(make_kith, tmp_path):
    """Chunks are read and checked ahead while the one before them is written: what their
    relations name is still looked up only when they are written, after it."""
    kith = await make_kith()
    await kith.custom_fields.add("contact", "referred_by", "relation", target="contact")
    path = write_csv(tmp_path / "referrals.csv", [
        ["First name", "Email", "Referred by", "Lifecycle stage"],
        ["Ann", "ann@example.com", "", "lead"],
        ["Bob", "bob@example.com", "ann@example.com", "lead"],  # Ann came in with the chunk before
        ["Cy", "cy@example.com", "zed@example.com", "lead"],  # Zed comes after: not there yet
        ["Dee", "dee@example.com", "bob@example.com", "boss"],  # linked, but no stage: the entity refuses it
        ["Zed", "zed@example.com", "", "lead"],
    ])  # fmt: skip

    stored, results = await imported(kith, path, chunk=1)

    assert problems(results) == [(4, "failed", ["customFields.referred_by"]), (5, "failed", ["lifecycleStage"])]
    assert results[2]["errors"][0]["message"] == "no contact with the emails 'zed@example.com'"
    ann, bob = [await system_context(kith).records.get("contact", results[i]["record_id"]) for i in (0, 1)]
    assert bob["custom"]["referred_by"] == ann["id"]
    assert stored["created"] == 3


async def test_a_helper_process_checks_rows_as_the_importers_own_process_does(make_kith, tmp_path, caplog):
    """Large files are checked in a helper process (``ahead``): every kind of bad row gets
    the same result there as here, and resuming hands it the run's line."""
    kith = await make_kith()
    context = system_context(kith)
    await context.records.create("organization", {"name": "Acme", "domain": "acme.com"})
    await context.records.create("organization", {"name": "Globex"})
    for domain in (None, "twins.example"):
        await context.records.create("organization", {"name": "Twins", "domain": domain})
    await make_contact(kith, first_name="Lou", emails=["lou@existing.example"])
    await kith.custom_fields.add("contact", "birthday", "date")
    await kith.custom_fields.add("contact", "newsletter", "boolean")
    path = write_csv(tmp_path / "people.csv", BAD_FILE)
    here = await runner.run(kith, await runner.start(kith, runner.ImportRequest("contact", path, dry_run=True), SYSTEM),
                            SYSTEM, chunk=3, helper=False)  # fmt: skip

    with caplog.at_level("INFO", logger="kith.core.imports.ahead"):
        stored, results = await imported(kith, path, chunk=3, helper=True)

    assert "rows checked in a helper process" in caplog.text
    expected = await runner.results(kith, int(here["id"]))
    assert [(r["line"], r["status"], r["errors"]) for r in results] == [
        (r["line"], r["status"], r["errors"]) for r in expected
    ]
    assert problems(results) == [
        (3, "failed", ["emails"]), (4, "failed", ["organizationId"]), (5, "failed", ["organizationId"]),
        (6, "failed", ["lifecycleStage"]), (7, "failed", ["customFields.birthday"]),
        (8, "failed", ["customFields.newsletter"]), (9, "skipped", ["emails"]), (10, "failed", [None]),
        (15, "skipped", ["emails"]),
    ]  # fmt: skip
    assert stored["created"] == 4


async def test_when_the_helper_process_dies_the_run_goes_on_in_its_own(make_kith, tmp_path, caplog):
    import multiprocessing

    kith = await make_kith()
    rows = [["First name", "Email", "Lifecycle stage"]]
    rows += [[f"P{n}", f"p{n}@example.com", "boss" if n % 4 == 0 else "lead"] for n in range(1, 21)]
    path = write_csv(tmp_path / "people.csv", rows)
    killed = []
    others = set(multiprocessing.active_children())  # a session's own processes are left alone

    def kill_the_helper(stored: dict[str, Any]) -> None:
        if not killed:
            killed.extend(set(multiprocessing.active_children()) - others)
            for child in killed:
                child.kill()

    run_id = await runner.start(kith, runner.ImportRequest("contact", path), SYSTEM)
    with caplog.at_level("INFO", logger="kith.core.imports.ahead"):
        stored = await runner.run(kith, run_id, SYSTEM, chunk=3, helper=True, on_chunk=kill_the_helper)

    assert killed and "the helper process stopped" in caplog.text
    results = await runner.results(kith, run_id)
    assert [r["line"] for r in results] == list(range(2, 22))  # every line once
    assert [r["line"] for r in results if r["status"] == "failed"] == [5, 9, 13, 17, 21]
    assert (stored["created"], stored["failed"]) == (15, 5)


def test_a_refusal_crosses_to_the_importer_from_its_helper_whole():
    """What the helper process raises reaches the importer pickled: with its class and
    every error, not the text of the first."""
    import pickle

    from kith.core.errors import NotFound

    for refusal in (ValidationFailed([FieldError("file", "invalid", "line 9: no"), FieldError(None, "x", "y")]),
                    NotFound("contact", 3)):  # fmt: skip
        back = pickle.loads(pickle.dumps(refusal))
        assert (type(back), back.errors, str(back)) == (type(refusal), refusal.errors, str(refusal))


async def test_a_run_is_imported_by_one_process_at_a_time(make_kith, tmp_path):
    """The same command run again while the first is still going is refused, not a second
    worker on the same run doubling its counts; once the first stops, it resumes."""
    from kith.core.imports import claim

    kith = await make_kith()
    path = write_csv(
        tmp_path / "people.csv", [["First name", "Email"], *([f"P{n}", f"p{n}@x.example"] for n in range(9))]
    )
    run_id = await runner.start(kith, runner.ImportRequest("contact", path), SYSTEM)

    async with claim.claimed(kith, run_id):  # as the first process holds it
        with pytest.raises(ValidationFailed) as busy:
            await runner.run(kith, run_id, SYSTEM)
        assert busy.value.errors[0].code == "busy"
        assert "is running in another process" in busy.value.errors[0].message
        assert (await runner._run_row(run_id))["next_line"] == 2  # it wrote nothing
        if kith.settings.database_url.startswith("sqlite"):
            assert list(Path(kith.settings.database_url.removeprefix("sqlite:///")).parent.glob("*.lock"))

    stored = await runner.run(kith, run_id, SYSTEM)
    assert (stored["status"], stored["created"]) == ("done", 9)
    if kith.settings.database_url.startswith("sqlite"):  # a finished run leaves no lock file beside the database
        assert not list(Path(kith.settings.database_url.removeprefix("sqlite:///")).parent.glob("*.lock"))
