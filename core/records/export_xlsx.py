"""Exports as XLSX workbooks, streamed: openpyxl's write-only workbook sends each row to a
temporary file as it is appended, so memory holds one page of records, never the sheet.

Cells are typed so a spreadsheet sorts and sums them: numbers as numbers, booleans as
booleans, dates as dates, and date-times as **naive date-times in UTC** (Excel has no
time zones; the values are the stored instants, shown as ``yyyy-mm-dd h:mm:ss``).
Lists and objects (e-mail lists, money, JSON fields) are JSON text, as in CSV.  Text is
always text: a value starting with ``=`` is not turned into a formula (an exported
contact named ``=HYPERLINK(…)`` stays a name), and characters XLSX cannot hold
(control characters) are left out.  A sheet holds at most 1,048,576 rows; a longer
export continues on ``<entity> (2)``, … with the header repeated.

A workbook is a zip whose directory comes last, so it is complete only when the last
row is in: ``write_xlsx`` writes it to a file, and ``xlsx_chunks`` (for HTTP) to an
unnamed temporary file, whose bytes it then yields.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from kith.core.records.export import Export, json_text

#: rows per sheet (Excel's limit), the header included
SHEET_ROWS = 1_048_576


#: values openpyxl writes as they are (numbers, booleans, empty cells)
_AS_IS = frozenset({int, float, bool, decimal.Decimal, type(None)})


def xlsx_value(value: Any) -> Any:
    """A stored value as openpyxl should write it (text that looks like a formula is
    turned into a string cell by ``XlsxWriter``)."""
    if type(value) in _AS_IS or isinstance(value, str):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo is not None else value
    if isinstance(value, dt.date):
        return value
    return json_text(value)


#: text that must not be handed to openpyxl as it is: what it would read as a formula or an
#: error code, and characters XLSX cannot hold
_CAREFUL = re.compile(f"^[=#]|{ILLEGAL_CHARACTERS_RE.pattern}")


class XlsxWriter:
    """One write-only workbook, appended to a page at a time; ``save`` writes the file.

    The appending is synchronous (openpyxl builds each cell's XML in Python); the HTTP
    route runs it in a worker thread a page at a time, so the server keeps answering.
    """

    def __init__(self, title: str, columns: list[str]) -> None:
        self.workbook = Workbook(write_only=True)
        self.title = title
        self.columns = columns
        self.sheets = 0
        self.rows = 0
        self.sheet: WriteOnlyWorksheet = self._new_sheet()

    def _new_sheet(self) -> WriteOnlyWorksheet:
        self.sheets += 1
        # sheet titles: at most 31 characters, none of []:*?/\
        base = "".join(c for c in self.title if c not in "[]:*?/\\")[:24] or "export"
        sheet: WriteOnlyWorksheet = self.workbook.create_sheet(base if self.sheets == 1 else f"{base} ({self.sheets})")
        sheet.append(self.columns)
        self.rows = 1
        return sheet

    def append(self, page: list[list[Any]]) -> None:
        cell, careful = self._cell, _CAREFUL.search
        for values in page:
            if self.rows >= SHEET_ROWS:
                self.sheet = self._new_sheet()
            # most values go to openpyxl as they are: _cell is called only for the others
            row = [v if type(v) in _AS_IS or (type(v) is str and not careful(v)) else cell(v) for v in values]
            self.sheet.append(row)
            self.rows += 1

    def _cell(self, value: Any) -> Any:
        value = xlsx_value(value)
        if isinstance(value, str) and (ILLEGAL_CHARACTERS_RE.search(value) or value.startswith(("=", "#"))):
            cell = WriteOnlyCell(self.sheet, ILLEGAL_CHARACTERS_RE.sub("", value))
            cell.data_type = "s"  # text, never a formula or an error code
            return cell
        return value

    def save(self, target: str | Path | IO[bytes]) -> None:
        self.workbook.save(target)

    def discard(self) -> None:
        """Remove the sheets' temporary files: an export abandoned half-way (a client that
        went away) leaves nothing on disk."""
        for sheet in self.workbook.worksheets:
            writer = getattr(sheet, "_writer", None)
            if writer is None or not os.path.exists(writer.out):
                continue  # never written to, or saved (saving removes them)
            if not sheet.closed:
                sheet.close()
            writer.cleanup()


async def write_xlsx(export: Export, target: str | Path | IO[bytes]) -> int:
    """Write ``export`` as a workbook to ``target``; returns the number of records."""
    writer = XlsxWriter(export.entity.name, export.columns)
    async for page in export.pages():
        writer.append(page)
    writer.save(target)
    return export.count


async def xlsx_chunks(export: Export, chunk_size: int = 1 << 16) -> AsyncIterator[bytes]:
    """The workbook's bytes, for a response: built in a worker thread a page at a time
    (openpyxl's appending would hold the event loop for the whole export), in an unnamed
    temporary file, then read back in chunks of ``chunk_size``."""
    writer = XlsxWriter(export.entity.name, export.columns)
    try:
        async for page in export.pages():
            await _in_thread(writer.append, page)
    except BaseException:
        writer.discard()
        raise
    with tempfile.TemporaryFile() as file:
        await _in_thread(writer.save, file)
        file.seek(0)
        while chunk := await asyncio.to_thread(file.read, chunk_size):
            yield chunk


async def _in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread; cancelled, it still waits for the thread (which
    cannot be stopped) before giving up, so nothing touches the workbook meanwhile."""
    job = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        raise
