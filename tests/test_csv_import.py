"""Importing files that are not clean: the core's CSV reader (``kith.sdk.read_csv``)
names the line of every broken row and reads on, refuses a file it cannot decode or
whose columns it does not know; ``kith sales import-leads`` imports the good rows,
lists the others by line, and ``--dry-run`` lists the same."""

from __future__ import annotations

import csv
import re

import pytest

from kith.sdk import CsvProblem, CsvRow, ValidationFailed, read_csv

COLUMNS = ["first_name", "last_name", "email", "need"]


def read(tmp_path, data: bytes | str, **options):
    path = tmp_path / "people.csv"
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return read_csv(path, COLUMNS, long_text=["need"], **options)


def report(table) -> list[str]:
    return [str(item) if isinstance(item, CsvProblem) else f"row {item.line}" for item in table.in_file_order()]


HEADER = "First name,Last name,Email,Need\n"


def test_good_rows_with_a_bom_crlf_doubled_quotes_and_multiline_long_text(tmp_path):
    table = read(
        tmp_path,
        "\ufeff" + HEADER.replace("\n", "\r\n") + 'Ann,"O""Neil",ann@x.example,"two\r\nlines"\r\n\r\nBob,Stone,,\r\n',
    )
    assert table.columns == COLUMNS and table.problems == []
    assert table.rows == [
        CsvRow(2, {"first_name": "Ann", "last_name": 'O"Neil', "email": "ann@x.example", "need": "two\r\nlines"}),
        CsvRow(5, {"first_name": "Bob", "last_name": "Stone", "email": "", "need": ""}),
    ]


def test_an_unbalanced_quote_is_reported_at_its_line_and_never_merged_into_the_next_rows(tmp_path):
    table = read(
        tmp_path,
        HEADER
        + 'Ann,"Lee,ann@x.example,x\n'  # 2: opened in a short column, closed nowhere on the line
        + "Bob,Stone,bob@x.example,y\n"  # 3
        + 'Cy,Young,cy@x.example,"z"\n'  # 4: the next quote in the file
        + 'Dee,"Ray\nDay",dee@x.example,w\n'  # 5-6: a line break in a short column
        + "Eve,Moss,eve@x.example,v\n"  # 7
        + 'Fay,Lin,fay@x.example,"never closed\n'  # 8
        + "Gus,Orr,gus@x.example,u\n",  # 9
    )
    assert [row.line for row in table.rows] == [3, 4, 7, 9]
    assert [row.values["first_name"] for row in table.rows] == ["Bob", "Cy", "Eve", "Gus"]
    problems = {p.line: p for p in table.problems}
    assert sorted(problems) == [2, 5, 6, 8]
    assert "closing quote missing" in problems[2].message
    assert problems[5].column == "Last name" and "only need may hold line breaks" in problems[5].message
    assert "has 3 values, but the header names 4 columns" in problems[6].message  # 'Day",dee…' read on its own
    assert "never closed" in problems[8].message


def test_text_after_a_closing_quote_a_nul_an_oversized_value_and_a_wrong_count(tmp_path):
    huge = "x" * (csv.field_size_limit() + 1)
    table = read(
        tmp_path,
        HEADER
        + 'Ann,"Lee"s,ann@x.example,x\n'
        + "Bob,St\x00one,bob@x.example,y\n"
        + f'Cy,Young,cy@x.example,"{huge}"\n'
        + "Dee,Ray,dee@x.example\n"
        + "Eve,Moss,eve@x.example,v,extra\n"
        + "Fay,Lin,fay@x.example,u\n",
    )
    assert report(table) == [
        'line 2: text follows a closing quote: a quote inside a quoted value is written twice ("")',
        "line 3: Last name: must not contain the NUL character (U+0000)",
        f"line 4: a value is longer than {csv.field_size_limit()} characters, the most a CSV value may have",
        "line 5: has 3 values, but the header names 4 columns",
        "line 6: has 5 values, but the header names 4 columns",
        "row 7",
    ]


def test_a_file_in_another_encoding_is_refused_naming_line_and_byte_unless_the_encoding_is_given(tmp_path):
    data = (HEADER + "Ann,Lee,ann@x.example,x\nJosé,Müller,jose@x.example,y\n").encode("cp1252")
    with pytest.raises(ValidationFailed) as caught:
        read(tmp_path, data)
    [error] = caught.value.errors
    offset = data.index("é".encode("cp1252"))
    assert (error.field, error.code) == ("encoding", "invalid")
    assert f"line 3, byte {offset} of the file (0xE9)" in error.message and "cp1252" in error.message
    table = read(tmp_path, data, encoding="cp1252")
    assert table.rows[1].values["last_name"] == "Müller"
    assert (
        read(tmp_path, (HEADER + "Zoë,Ng,,\n").encode("utf-16"), encoding="utf-16").rows[0].values["first_name"]
        == "Zoë"
    )
    with pytest.raises(ValidationFailed, match="UTF-16"):
        read(tmp_path, (HEADER + "Zoë,Ng,,\n").encode("utf-16-le"), encoding="utf-8")
    with pytest.raises(ValidationFailed, match="'klingon' is not an encoding"):
        read(tmp_path, HEADER, encoding="klingon")


def test_unknown_and_duplicate_columns_are_named(tmp_path):
    with pytest.raises(ValidationFailed) as caught:
        read(tmp_path, "First name,Fax,Email,\nAnn,1,a@x.example,\n")
    [error] = caught.value.errors
    assert (error.field, error.code) == ("columns", "unknown")
    assert "unknown columns: 'Fax', '(column 4, no name)'" in error.message
    table = read(tmp_path, "First name,Fax,Email,\nAnn,1,a@x.example,\n", skip_unknown_columns=True)
    assert table.skipped_columns == ["Fax", "(column 4, no name)"]
    assert table.rows == [CsvRow(2, {"first_name": "Ann", "email": "a@x.example"})]
    with pytest.raises(ValidationFailed, match="'Email' and 'email' name the same column"):
        read(tmp_path, "Email,email\na,b\n")
    for empty in ("", "\nFirst name\nAnn\n"):
        with pytest.raises(ValidationFailed, match="must name the columns"):
            read(tmp_path, empty)


# -- kith sales import-leads ----------------------------------------------------------------


@pytest.fixture
def sales_cli(kith_cli):
    assert kith_cli("plugins", "enable", "sales").exit_code == 0
    return kith_cli


def problems(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("line ")]


def test_import_leads_imports_the_good_rows_and_lists_the_broken_ones_by_line(sales_cli, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(
        (
            "\ufeffFirst name,Last name,Email,Need\n"
            'Ann,Lee,ann@acme.example,"budget approved\nfor Q3"\n'  # 2-3: need is long text
            'Bob,"Stone,bob@globex.example,x\n'  # 4: never closed
            "Cy,Young,cy@initech.example,y\n"  # 5
            "Dee,Ra\x00y,dee@x.example,z\n"  # 6
            "Eve,Moss,eve@x.example\n"  # 7
            "Fay,Lin,not-an-email,w\n"  # 8: refused by the record service
        ).encode()
    )
    dry = sales_cli("sales", "import-leads", str(path), "--dry-run")
    assert dry.exit_code == 0, dry.output
    expected = [
        "line 4: a quote opened on this line is never closed (the lines after it are read as rows of their own)",
        "line 6: Last name: must not contain the NUL character (U+0000)",
        "line 7: has 3 values, but the header names 4 columns",
    ]
    assert problems(dry.output)[:3] == expected
    assert problems(dry.output)[3].startswith("line 8: email: 'not-an-email' is not a valid email address")
    assert "Would import 2 leads; 0 duplicates skipped; 4 rows refused" in dry.output
    real = sales_cli("sales", "import-leads", str(path))
    assert problems(real.output) == problems(dry.output)
    assert "Imported 2 leads; 0 duplicates skipped; 4 rows refused" in real.output
    exported = sales_cli("export", "lead", "--format", "csv").output
    assert "ann@acme.example" in exported and "cy@initech.example" in exported
    assert "budget approved" in exported
    for absent in ("bob@", "dee@", "eve@", "not-an-email"):
        assert absent not in exported


def test_import_leads_needs_the_encoding_of_a_file_that_is_not_utf8(sales_cli, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes("First name,Last name,Email\nJosé,Müller,jose@x.example\n".encode("cp1252"))
    refused = sales_cli("sales", "import-leads", str(path))
    assert refused.exit_code == 1
    assert re.search(r"leads\.csv: the file is not utf-8 text: line 2, byte \d+ of the file \(0xE9\)", refused.output)
    assert "(often cp1252 or latin-1) with --encoding" in refused.output and "Traceback" not in refused.output
    done = sales_cli("sales", "import-leads", str(path), "--encoding", "cp1252")
    assert done.exit_code == 0 and "Imported 1 leads" in done.output
    assert "Müller" in sales_cli("export", "lead", "--format", "csv").output


def test_import_leads_refuses_unknown_columns_unless_told_to_skip_them(sales_cli, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("First name,Last name,Email,Fax,Shoe size\nAnn,Lee,ann@x.example,555,42\n", encoding="utf-8")
    refused = sales_cli("sales", "import-leads", str(path))
    assert refused.exit_code == 1
    assert "unknown columns: 'Fax', 'Shoe size'" in refused.output and "--skip-unknown-columns" in refused.output
    assert "Imported" not in refused.output
    done = sales_cli("sales", "import-leads", str(path), "--skip-unknown-columns")
    assert done.exit_code == 0
    assert "Skipped columns: Fax, Shoe size" in done.output and "Imported 1 leads" in done.output
