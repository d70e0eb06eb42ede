"""Exports as a user gets them: XLSX read back with openpyxl, ``GET /export/{entity}``
under the caller's scope and hidden fields, its refusals, and the CLI agreeing with it."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import openpyxl

from kith.core.records import export as export_module
from kith.core.records import export_xlsx
from kith.core.records.export import Export
from kith.core.records.export_xlsx import write_xlsx
from kith.core.security.roles import Grant, RoleDefinition, save_role
from kith.sdk.testing import make_contact, make_user, web_client


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def sheet_rows(source: Path | bytes) -> dict[str, list[tuple[Any, ...]]]:
    """Every sheet's cells as a spreadsheet shows them (values, formulas as their text)."""
    book = openpyxl.load_workbook(io.BytesIO(source) if isinstance(source, bytes) else source, read_only=True)
    return {sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


async def rep_with_key(kith: Any, email: str, role: str = "own_contacts") -> tuple[dict[str, Any], str]:
    user = await make_user(kith, email=email, roles=[role])
    key, _prefix = await kith.auth.create_key(user["id"], "export")
    return user, key


async def own_contacts_role(kith: Any) -> None:
    """Reads only their own contacts, without seeing their phone numbers."""
    grant = Grant(actions=["read"], scope="own", hidden=["phones"])
    await save_role(kith, RoleDefinition(name="own_contacts", grants={"contact": grant}))


async def test_an_xlsx_export_reads_back_with_typed_cells(kith: Any, tmp_path: Path) -> None:
    await kith.custom_fields.add("contact", "tier", "integer")
    ann = await make_contact(
        kith, first_name="Ann", last_name="Lee", emails=["ann@example.com"], lifecycle_stage="customer",
        custom={"tier": 3},
    )  # fmt: skip
    await make_contact(kith, first_name='=HYPERLINK("http://evil")', last_name="Bell\x07", emails=[])
    path = tmp_path / "contacts.xlsx"
    assert await write_xlsx(await Export.open(kith, "contact"), path) == 2

    sheets = sheet_rows(path)
    assert list(sheets) == ["contact"]
    header, first, second = sheets["contact"]
    assert header[:3] == ("id", "firstName", "lastName") and "customFields.tier" in header
    assert header[-2:] == ("createdAt", "updatedAt") and "phones" in header
    row = dict(zip(header, first, strict=True))
    assert row["id"] == ann["id"] and row["firstName"] == "Ann" and row["lifecycleStage"] == "customer"
    assert row["customFields.tier"] == 3  # a number, not the text "3"
    assert json.loads(row["emails"]) == ["ann@example.com"]
    created = ann["created_at"].astimezone(dt.UTC).replace(tzinfo=None)
    assert isinstance(row["createdAt"], dt.datetime)
    assert abs(row["createdAt"] - created) < dt.timedelta(milliseconds=1)  # naive UTC (Excel keeps ms)
    other = dict(zip(header, second, strict=True))
    assert other["firstName"] == '=HYPERLINK("http://evil")' and other["lastName"] == "Bell"
    cells = next(openpyxl.load_workbook(path).worksheets[0].iter_rows(min_row=3, max_row=3))
    assert cells[header.index("firstName")].data_type == "s"  # text, not a formula the spreadsheet would run


async def test_a_long_xlsx_export_continues_on_a_second_sheet(kith: Any, monkeypatch: Any, tmp_path: Path) -> None:
    monkeypatch.setattr(export_xlsx, "SHEET_ROWS", 3)  # Excel's is 1,048,576 rows
    monkeypatch.setattr(export_module, "PAGE", 2)
    for name in ("A", "B", "C", "D", "E"):
        await make_contact(kith, first_name=name)
    await write_xlsx(await Export.open(kith, "contact"), tmp_path / "c.xlsx")
    sheets = sheet_rows(tmp_path / "c.xlsx")
    assert list(sheets) == ["contact", "contact (2)", "contact (3)"]
    names = [row[1] for rows in sheets.values() for row in rows[1:]]
    assert names == ["A", "B", "C", "D", "E"]
    assert all(rows[0][:2] == ("id", "firstName") for rows in sheets.values())


async def test_http_export_is_what_the_caller_may_read(make_kith: Any) -> None:
    kith = await make_kith()
    await own_contacts_role(kith)
    ann, key = await rep_with_key(kith, "ann@example.com")
    bob, _ = await rep_with_key(kith, "bob@example.com")
    await make_contact(kith, first_name="Mine", owner=ann["id"], phones=["+44 20 7946 0000"], lifecycle_stage="lead")
    await make_contact(kith, first_name="Also mine", owner=ann["id"], lifecycle_stage="customer")
    await make_contact(kith, first_name="Bob's", owner=bob["id"], lifecycle_stage="customer")
    async with web_client(kith) as client:
        answer = await client.get("/export/contact", headers=bearer(key))
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith("text/csv")
        assert 'attachment; filename="contact-' in answer.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(answer.text)))
        assert [r["firstName"] for r in rows] == ["Mine", "Also mine"]
        assert "phones" not in rows[0] and "+44" not in answer.text  # hidden from this role

        lines = await client.get("/export/contact", params={"format": "jsonl"}, headers=bearer(key))
        records = [json.loads(line) for line in lines.text.splitlines()]
        assert [r["firstName"] for r in records] == ["Mine", "Also mine"] and "phones" not in records[0]
        assert records[0]["ownerId"] == ann["id"]

        customers = await client.get(
            "/export/contact",
            params={"format": "xlsx", "filter": json.dumps({"lifecycleStage": {"eq": "customer"}})},
            headers=bearer(key),
        )
        assert customers.status_code == 200 and customers.headers["content-disposition"].endswith('.xlsx"')
        (rows_xlsx,) = sheet_rows(customers.content).values()
        assert [row[1] for row in rows_xlsx] == ["firstName", "Also mine"]


async def test_http_export_refusals_say_why(make_kith: Any) -> None:
    kith = await make_kith()
    await own_contacts_role(kith)
    await save_role(kith, RoleDefinition(name="orgs_only", grants={"organization": Grant(actions=["read"])}))
    ann, key = await rep_with_key(kith, "ann@example.com")
    _, orgs_key = await rep_with_key(kith, "olga@example.com", "orgs_only")
    await make_contact(kith, owner=ann["id"], phones=["+44 20 7946 0000"])
    async with web_client(kith) as client:

        async def refused(path: str, status: int, key: str | None = key, **params: str) -> dict[str, Any]:
            answer = await client.get(path, params=params, headers=bearer(key) if key else {})
            assert answer.status_code == status, answer.text
            assert answer.headers["content-type"].startswith("application/json")
            error: dict[str, Any] = answer.json()["errors"][0]
            return error

        assert "authentication required" in (await refused("/export/contact", 401, None))["message"]
        assert (await refused("/export/contact", 401, "kith_not_a_key"))["extensions"]["code"] == "UNAUTHENTICATED"
        forbidden = await refused("/export/contact", 403, orgs_key)
        assert forbidden["message"] == "you may not read contact records"
        assert "no entity named 'nope'" in (await refused("/export/nope", 404))["message"]
        assert "not JSON" in (await refused("/export/contact", 400, filter="{lastName"))["message"]
        assert "must be a JSON object" in (await refused("/export/contact", 400, filter="[1]"))["message"]
        unknown = await refused("/export/contact", 400, filter='{"shoeSize": {"eq": 3}}')
        assert "shoeSize" in unknown["extensions"]["field"] and "no field 'shoeSize'" in unknown["message"]
        bad_value = await refused("/export/contact", 400, filter='{"createdAt": {"gt": "yesterday"}}')
        assert "createdAt" in bad_value["extensions"]["field"]
        probe = await client.get(
            "/export/contact", params={"filter": '{"phones": {"isNull": false}}'}, headers=bearer(key)
        )  # a hidden field reads as empty in a filter too: it cannot be probed
        assert probe.status_code == 200 and probe.text.count("\n") == 1
        assert "must be one of" in (await refused("/export/contact", 400, format="pdf"))["message"]


async def test_http_csv_is_the_cli_csv_of_the_same_user(make_kith: Any, kith_cli: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(export_module, "PAGE", 2)  # several pages, each written as one chunk
    kith = await make_kith()
    await own_contacts_role(kith)
    ann, key = await rep_with_key(kith, "ann@example.com")
    await kith.custom_fields.add("contact", "tier", "integer")
    for n in range(5):
        await make_contact(
            kith, first_name=f"N{n}", last_name='Quote "and", comma', owner=ann["id"], custom={"tier": n}
        )
    await make_contact(kith, first_name="Not Ann's")
    async with web_client(kith) as client:
        answer = await client.get("/export/contact", headers=bearer(key))
        filtered = await client.get(
            "/export/contact", params={"filter": '{"customFields": {"tier": {"gte": 3}}}'}, headers=bearer(key)
        )
    cli = await asyncio.to_thread(kith_cli, "export", "contact", "--as", "ann@example.com")
    assert cli.exit_code == 0, cli.output
    assert answer.content == cli.stdout_bytes  # byte for byte (click's `output` turns \r\n into \n)
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [r["firstName"] for r in rows] == ["N0", "N1", "N2", "N3", "N4"]
    assert rows[0]["lastName"] == 'Quote "and", comma'
    assert [r["customFields.tier"] for r in csv.DictReader(io.StringIO(filtered.text))] == ["3", "4"]
    trail = await kith.db.execute("SELECT actor, changes FROM kith_audit WHERE action = 'export' ORDER BY id")
    assert [(row["actor"], json.loads(row["changes"]) if isinstance(row["changes"], str) else row["changes"])
            for row in trail] == [
        ("ann@example.com", {"format": "csv", "filter": {}}),
        ("ann@example.com", {"format": "csv", "filter": {"customFields": {"tier": {"gte": 3}}}}),
        ("ann@example.com", {"format": "csv", "filter": {}}),  # the CLI's, --as ann
    ]  # every export is in the audit trail: who, how filtered, as what  # fmt: skip


async def test_an_export_with_no_records_still_has_its_header(make_kith: Any) -> None:
    kith = await make_kith()
    await own_contacts_role(kith)
    _, key = await rep_with_key(kith, "ann@example.com")
    await make_contact(kith, first_name="Someone else's")
    async with web_client(kith) as client:
        answer = await client.get("/export/contact", headers=bearer(key))
        jsonl = await client.get("/export/contact", params={"format": "jsonl"}, headers=bearer(key))
    assert answer.status_code == 200 and answer.text.splitlines()[0].startswith("id,firstName,lastName")
    assert len(answer.text.splitlines()) == 1 and jsonl.text == ""


def test_the_cli_writes_xlsx_to_a_file_only(kith_cli: Any, tmp_path: Path) -> None:
    assert kith_cli("demo", "--no-serve", "--contacts", "12", "--core-only").exit_code == 0
    refused = kith_cli("export", "contact", "--format", "xlsx")
    assert refused.exit_code == 1 and "--output" in refused.output
    path = tmp_path / "contacts.xlsx"
    done = kith_cli("export", "contact", "--format", "xlsx", "-o", str(path))
    assert done.exit_code == 0 and "Exported 12 contact record(s)" in done.output
    (rows,) = sheet_rows(path).values()
    assert len(rows) == 13 and rows[0][0] == "id"
    customers = kith_cli("export", "contact", "--format", "xlsx", "-o", str(path), "--filter",
                         '{"lifecycleStage": {"eq": "customer"}}')  # fmt: skip
    assert customers.exit_code == 0
    (rows,) = sheet_rows(path).values()
    stage = rows[0].index("lifecycleStage")
    assert len(rows) > 1 and {row[stage] for row in rows[1:]} == {"customer"}


async def test_a_csv_export_cannot_run_formulas_and_imports_back_as_it_was(kith: Any, tmp_path: Path) -> None:
    from kith.core.imports import runner
    from kith.core.records.change import Actor

    sly = await make_contact(
        kith, first_name='=HYPERLINK("http://evil.example","click")', last_name="@SUM(A1:A9)",
        title="+cmd|' /C calc'!A0", phones=["+49 30 1234567"],
    )  # fmt: skip
    text = "".join([chunk async for chunk in export_module.to_csv(await Export.open(kith, "contact"))])
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["firstName"] == '\'=HYPERLINK("http://evil.example","click")'  # shown as text, never run
    assert row["lastName"] == "'@SUM(A1:A9)" and row["title"] == "'+cmd|' /C calc'!A0"
    assert json.loads(row["phones"]) == ["+49301234567"]  # a phone is no formula: left alone

    path = tmp_path / "contacts.csv"
    path.write_text(text)
    system = Actor(name="test", source="system")
    mapping = {"id": "id", "firstName": "firstName", "lastName": "lastName", "title": "title"}
    request = runner.ImportRequest("contact", path, mapping, mode="update", key="id")
    await runner.run(kith, await runner.start(kith, request, system), system)
    again = await kith.records.get("contact", sly["id"])
    assert (again["first_name"], again["last_name"], again["title"]) == (
        '=HYPERLINK("http://evil.example","click")', "@SUM(A1:A9)", "+cmd|' /C calc'!A0"
    )  # fmt: skip
