"""Reading an import's file a row at a time: CSV or XLSX, with the line of every row.

An import of a million rows must not hold the file in memory, and must be able to start
again at a given line after a crash, so sources are iterators that can skip ahead.  A
row that cannot be read (a wrong number of values, a NUL) is a ``CsvProblem`` at its
line; the file as a whole is refused (``ValidationFailed`` naming ``file``) only when
nothing in it can be trusted: undecodable bytes, no header, two headers alike.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kith.core.errors import ValidationFailed
from kith.core.imports.csv_file import CsvProblem, csv_reason, row_problem, undecodable_error

#: one row as read: its line (the header is line 1) and its cells by header
Row = tuple[int, dict[str, Any]]


@dataclass(frozen=True)
class Source:
    """An opened file: its headers, its fingerprint (a resumed run must read the same
    file) and a way to read its rows from a given line on."""

    path: Path
    kind: str  # csv or xlsx
    headers: list[str]
    sha256: str
    encoding: str = "utf-8"
    sheet: str | None = None

    def rows(self, from_line: int = 2, multiline: Collection[str] = ()) -> Iterator[Row | CsvProblem]:
        """The rows whose line is ``from_line`` or later, in file order.  A CSV value
        holding line breaks is refused (its closing quote is likely missing) unless its
        column is in ``multiline`` (the columns mapped to long text)."""
        if self.kind == "xlsx":
            return _xlsx_rows(self, from_line)
        return _csv_rows(self, from_line, multiline)


def open_source(path: Path | str, *, encoding: str = "utf-8", sheet: str | None = None) -> Source:
    """Open ``path`` (``.xlsx`` is read as a workbook, anything else as CSV) and read its header."""
    path = Path(path)
    if not path.is_file():
        raise ValidationFailed.single("file", "not_found", f"no file {str(path)!r}")
    kind = "xlsx" if path.suffix.lower() in (".xlsx", ".xlsm") else "csv"
    headers = _xlsx_headers(path, sheet) if kind == "xlsx" else _csv_headers(path, encoding)
    cleaned = [h.strip() for h in headers]
    if not any(cleaned):
        raise ValidationFailed.single("file", "invalid", "line 1 must name the columns")
    seen: set[str] = set()
    for header in cleaned:
        if header and header.lower() in seen:
            raise ValidationFailed.single("file", "duplicate", f"two columns are headed {header!r}")
        seen.add(header.lower())
    return Source(path, kind, cleaned, _sha256(path), encoding, sheet)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _csv_headers(path: Path, encoding: str) -> list[str]:
    with _open_text(path, encoding) as handle:
        try:
            return next(csv.reader(handle), [])
        except UnicodeDecodeError:
            raise _undecodable(path, encoding) from None


def _open_text(path: Path, encoding: str) -> Any:
    try:
        codec = codecs.lookup(encoding).name
    except LookupError:
        raise ValidationFailed.single("encoding", "unknown", f"{encoding!r} is not an encoding Python knows") from None
    return path.open(encoding="utf-8-sig" if codec == "utf-8" else codec, newline="")


def _undecodable(path: Path, encoding: str) -> ValidationFailed:
    """The same refusal ``read_csv`` gives, found again by reading the bytes (the text
    reader that failed does not say where in the file it was): the line, the byte
    offset and the byte that is not ``encoding`` text."""
    decoder = codecs.getincrementaldecoder(codecs.lookup(encoding).name)()
    offset = lines = 0
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                at = max(exc.start, 0)
                return undecodable_error(block, at, lines + block.count(b"\n", 0, at) + 1, offset + at, encoding, exc)
            offset += len(block)
            lines += block.count(b"\n")
    return ValidationFailed.single("encoding", "invalid", f"the file is not {encoding} text")


class _StreamedLines:
    """The file's lines, fed to ``csv.reader`` one at a time so the line a row starts on
    is known, and reading can start again on the line after a row's first (a quote
    never closed swallows the lines after it: they are read again as rows of their
    own).  Only the lines of the row being read are kept."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.position = 0  # lines handed out so far
        self.replay: list[str] = []
        self.row_lines: list[str] = []

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.replay.pop() if self.replay else self.handle.readline()
        if not line:
            raise StopIteration
        self.position += 1
        self.row_lines.append(line)
        return line

    def next_row(self) -> None:
        self.row_lines = []

    def again_after_first(self) -> None:
        """Hand out the lines of the row just read again, all but its first."""
        again = self.row_lines[1:]
        self.replay.extend(reversed(again))
        self.position -= len(again)
        self.row_lines = []


def _csv_rows(source: Source, from_line: int, multiline: Collection[str]) -> Iterator[Row | CsvProblem]:
    headers = source.headers
    allowed = set(multiline)
    with _open_text(source.path, source.encoding) as handle:
        lines = _StreamedLines(handle)
        reader = csv.reader(lines, strict=True)
        try:
            next(reader, None)
            while True:
                start = lines.position + 1
                lines.next_row()
                try:
                    record = next(reader)
                except csv.Error as exc:
                    span = lines.position - start + 1
                    lines.again_after_first()
                    reader = csv.reader(lines, strict=True)
                    if start >= from_line:
                        yield CsvProblem(start, None, csv_reason(exc, span))
                    continue
                except StopIteration:
                    return
                if not any(cell.strip() for cell in record):
                    continue
                span = lines.position - start + 1
                problem = row_problem(start, record, span, headers, headers, allowed)
                if problem is None:
                    if start >= from_line:
                        yield start, dict(zip(headers, record, strict=True))
                    continue
                if start >= from_line:
                    yield problem
                if span > 1:  # never let a refused row swallow the lines after it (resuming too)
                    lines.again_after_first()
                    reader = csv.reader(lines, strict=True)
        except UnicodeDecodeError:
            raise _undecodable(source.path, source.encoding) from None


def _xlsx_headers(path: Path, sheet: str | None) -> list[str]:
    workbook = _workbook(path)
    try:
        first = next(_worksheet(workbook, sheet).iter_rows(max_row=1, values_only=True), ())
        return ["" if cell is None else str(cell) for cell in first]
    finally:
        workbook.close()


def _workbook(path: Path) -> Any:
    from openpyxl import load_workbook

    try:
        return load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # a zip that is no workbook, a damaged file: nothing to read
        raise ValidationFailed.single("file", "invalid", f"not an Excel workbook: {exc}") from None


def _worksheet(workbook: Any, sheet: str | None) -> Any:
    if sheet is None:
        return workbook.worksheets[0]
    if sheet not in workbook.sheetnames:
        raise ValidationFailed.single("sheet", "not_found", f"no sheet {sheet!r} (the sheets: {workbook.sheetnames})")
    return workbook[sheet]


def _xlsx_rows(source: Source, from_line: int) -> Iterator[Row | CsvProblem]:
    workbook = _workbook(source.path)
    try:
        width = len(source.headers)
        rows = _worksheet(workbook, source.sheet).iter_rows(min_row=max(from_line, 2), values_only=True)
        for line, cells in enumerate(rows, start=max(from_line, 2)):
            values = list(cells)
            if not any(v is not None and str(v).strip() for v in values):
                continue
            if len(values) > width and any(v is not None for v in values[width:]):
                yield CsvProblem(line, None, f"has values beyond the {width} headed columns")
                continue
            values = (values + [None] * width)[:width]
            yield line, {h: _cell(v) for h, v in zip(source.headers, values, strict=True)}
    finally:
        workbook.close()


def _cell(value: Any) -> Any:
    """A workbook cell as the converters take it: text, a number, a date, or "" for empty."""
    return "" if value is None else value
