"""Reading a CSV file for an import, and saying precisely what is wrong with it.

The stdlib ``csv`` module parses; this module decides what a sound row is and reports
every other one by its line, so an import can write the good rows and list the bad
ones (DESIGN.md: "good rows of a bad batch are not silently dropped, and bad ones are
reported with their line").

What stops the whole file (raised as ``ValidationFailed``; nothing can be trusted):

- bytes that are not text in the given encoding: the line and byte offset are named,
  so the caller can suggest the right encoding (a BOM at the start is fine);
- a first line that does not name the columns, two headers naming the same column, or
  headers that are no known column (listed by name) unless the caller asked to skip
  them, in which case they are listed in ``CsvTable.skipped_columns``.

What refuses one row (a ``CsvProblem`` with its line; the other rows are read):

- a quoted value that runs over several lines outside a long-text column, or a quote
  that is never closed: the quote is almost always missing its closing half, and
  reading on would merge the next rows into this one.  The row is reported at the line
  where it starts and reading resumes at the line after, so the rows it would have
  swallowed are read as rows;
- text after a closing quote, a value over ``csv.field_size_limit()`` characters (read
  the same way: reported at its start, resumed at the next line);
- more or fewer values than the header has columns (a value would land in the wrong
  column, or be dropped);
- a NUL character, which no database Kith runs on stores the same way.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kith.core.errors import ValidationFailed
from kith.core.validation.text import NUL, NUL_MESSAGE

#: a physical line and its ending, as the csv module splits them (only CR and LF)
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def column_name(header: str) -> str:
    """The column a header names: ``First name``, ``firstName`` and ``first_name`` are
    all ``first_name``."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", header.strip())
    return re.sub(r"[\s\-]+", "_", snake).lower()


@dataclass(frozen=True)
class CsvRow:
    """One sound row: ``line`` is where it starts in the file (the header is line 1),
    ``values`` maps each known column to its text (empty when the cell is empty)."""

    line: int
    values: dict[str, str]


@dataclass(frozen=True)
class CsvProblem:
    """Why the row starting at ``line`` was not read; ``column`` names the column
    when the problem is in one.  ``str()`` gives ``line 4: email: <reason>``."""

    line: int
    column: str | None
    message: str

    def __str__(self) -> str:
        where = f"{self.column}: " if self.column else ""
        return f"line {self.line}: {where}{self.message}"


@dataclass
class CsvTable:
    """A CSV file read by ``read_csv``: the sound rows, and the problem of every other
    row, each with its line."""

    columns: list[str]
    skipped_columns: list[str] = field(default_factory=list)
    rows: list[CsvRow] = field(default_factory=list)
    problems: list[CsvProblem] = field(default_factory=list)

    def in_file_order(self) -> list[CsvRow | CsvProblem]:
        """Rows and problems together, by line: the order to report an import in."""
        return sorted([*self.rows, *self.problems], key=lambda item: item.line)


def read_csv(
    path: Path | str,
    columns: Collection[str],
    *,
    long_text: Collection[str] = (),
    encoding: str = "utf-8",
    skip_unknown_columns: bool = False,
) -> CsvTable:
    """Read ``path``: a header line naming some of ``columns`` (matched with
    ``column_name``), then one row per line.

    ``long_text`` columns may hold line breaks (inside quotes); a value of any other
    column that runs over lines refuses its row.  Raises ``ValidationFailed`` (field
    ``encoding`` or ``columns``) when the file as a whole cannot be read; every other
    problem is one ``CsvProblem`` in the table (module docstring).
    """
    text = _decode(Path(path).read_bytes(), encoding)
    lines = _LINE.findall(text)
    reader = _Records(lines)
    header_line = next(reader, None)
    if header_line is None:
        raise ValidationFailed.single("columns", "required", "the file is empty: its first line must name the columns")
    line, header = header_line
    if isinstance(header, CsvProblem) or line != 1:
        reason = header.message if isinstance(header, CsvProblem) else "it is empty"
        raise ValidationFailed.single("columns", "invalid", f"line 1 must name the columns: {reason}")
    if reader.position != 1:
        raise ValidationFailed.single("columns", "invalid", "line 1 must name the columns: a header runs over lines")
    if any(NUL in name for name in header):
        raise ValidationFailed.single(
            "encoding",
            "invalid",
            "the header holds NUL characters: the file is probably UTF-16; name its encoding (for example utf-16)",
        )
    known = set(columns)
    names = [column_name(h) for h in header]
    _refuse_duplicates(header, names)
    unknown = [
        raw.strip() or f"(column {index + 1}, no name)"
        for index, (raw, name) in enumerate(zip(header, names, strict=True))
        if name not in known
    ]
    if unknown and not skip_unknown_columns:
        raise ValidationFailed.single(
            "columns",
            "unknown",
            f"unknown columns: {', '.join(repr(u) for u in unknown)}; the known columns are: {', '.join(columns)}",
        )
    table = CsvTable(columns=[n for n in names if n in known], skipped_columns=unknown)
    multiline = set(long_text)
    for start, record in reader:
        if isinstance(record, CsvProblem):
            table.problems.append(record)
            continue
        problem = row_problem(start, record, reader.position - start + 1, header, names, multiline)
        if problem is not None:
            table.problems.append(problem)
            if reader.position > start:  # never let a refused row swallow the lines after it
                reader.restart(start)
            continue
        values = {name: value for name, value in zip(names, record, strict=True) if name in known}
        table.rows.append(CsvRow(start, values))
    return table


def _decode(data: bytes, encoding: str) -> str:
    try:
        codec = codecs.lookup(encoding)
    except LookupError:
        raise ValidationFailed.single("encoding", "unknown", f"{encoding!r} is not an encoding Python knows") from None
    try:
        text = data.decode("utf-8-sig" if codec.name == "utf-8" else codec.name)
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise undecodable_error(data, exc.start, line, exc.start, encoding, exc) from None
    return text.removeprefix("\ufeff")  # a BOM another encoding left in


def undecodable_error(
    data: bytes, at: int, line: int, offset: int, encoding: str, exc: UnicodeDecodeError
) -> ValidationFailed:
    """The refusal of a file that is not ``encoding`` text: where (``data[at]`` is the
    byte at ``offset`` of the file, on ``line``), and the encoding it likely is."""
    # NUL bytes between the letters of a header: two bytes a character
    likely = "it looks like UTF-16: utf-16" if b"\x00" in data[:200] else "often cp1252 or latin-1"
    return ValidationFailed.single(
        "encoding",
        "invalid",
        f"the file is not {encoding} text: line {line}, byte {offset} of the file (0x{data[at]:02X}) "
        f"cannot be read ({exc.reason}); name the file's encoding ({likely})",
    )


def _refuse_duplicates(header: list[str], names: list[str]) -> None:
    seen: dict[str, str] = {}
    for raw, name in zip(header, names, strict=True):
        if name and name in seen:
            raise ValidationFailed.single(
                "columns", "duplicate", f"the headers {seen[name]!r} and {raw.strip()!r} name the same column {name}"
            )
        seen[name] = raw.strip()


def row_problem(
    start: int, record: list[str], span: int, header: list[str], names: list[str], multiline: set[str]
) -> CsvProblem | None:
    """Why the row ``record`` (read from ``span`` lines from ``start``) is refused, if it is."""
    for index, value in enumerate(record):
        if span > 1 and ("\n" in value or "\r" in value):
            column = names[index] if index < len(names) else None
            if column not in multiline:
                allowed = f"only {', '.join(sorted(multiline))} may" if multiline else "no column may"
                return CsvProblem(
                    start,
                    header[index].strip() if index < len(header) else None,
                    f"a quoted value runs over {span} lines, and {allowed} hold line breaks: "
                    "is its closing quote missing? (the lines after it are read as rows of their own)",
                )
    if len(record) != len(header):
        return CsvProblem(start, None, f"has {len(record)} values, but the header names {len(header)} columns")
    for index, value in enumerate(record):
        if NUL in value:
            return CsvProblem(start, header[index].strip(), NUL_MESSAGE)
    return None


class _Lines:
    """The file's lines, fed to ``csv.reader`` one by one so that the line a row starts
    on is known and reading can start again at any line."""

    def __init__(self, lines: list[str], position: int = 0) -> None:
        self.lines = lines
        self.position = position  # lines handed out so far

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.position >= len(self.lines):
            raise StopIteration
        self.position += 1
        return self.lines[self.position - 1]


class _Records:
    """``(line, values or CsvProblem)`` per non-empty record, in file order."""

    def __init__(self, lines: list[str]) -> None:
        self._lines = _Lines(lines)
        self._reader = csv.reader(self._lines, strict=True)

    @property
    def position(self) -> int:
        """The last line read so far (1-based)."""
        return self._lines.position

    def restart(self, line: int) -> None:
        """Read on from the line after ``line``."""
        self._lines.position = line
        self._reader = csv.reader(self._lines, strict=True)

    def __iter__(self) -> Iterator[tuple[int, list[str] | CsvProblem]]:
        return self

    def __next__(self) -> tuple[int, list[str] | CsvProblem]:
        while True:
            start = self._lines.position + 1
            try:
                record = next(self._reader)
            except csv.Error as exc:
                span = self._lines.position - start + 1
                self.restart(start)
                return start, CsvProblem(start, None, csv_reason(exc, span))
            if record:  # a blank line is no row
                return start, record


def csv_reason(exc: csv.Error, span: int) -> str:
    message = str(exc)
    limit = re.search(r"field larger than field limit \((\d+)\)", message)
    if limit:
        return f"a value is longer than {limit.group(1)} characters, the most a CSV value may have"
    if message == "unexpected end of data":
        return "a quote opened on this line is never closed (the lines after it are read as rows of their own)"
    if span > 1:  # the quotes only add up lines later: one is missing on this line
        return (
            f"a quoted value opened on this line runs over {span} lines and its quotes do not add up: "
            "is its closing quote missing? (the lines after it are read as rows of their own)"
        )
    if "expected after '\"'" in message:
        return 'text follows a closing quote: a quote inside a quoted value is written twice ("")'
    return f"cannot be read as CSV: {message}"
