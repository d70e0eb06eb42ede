"""Exporting records: every record of an entity matching a filter, a page at a time,
under the exporter's scope and without the fields hidden from them.

Every surface (``kith export``, ``GET /export/{entity}``) reads through ``Export``, which
reads through ``kith.query.list`` with the exporter as the viewer: the one visibility
model, keyset pages of ``PAGE`` records, nothing kept once a page is written.  The
writers here (CSV, JSON Lines) and in ``export_xlsx`` turn one page into one chunk, so
memory stays flat however many records there are.
"""

from __future__ import annotations

import csv
import datetime as dt
import decimal
import io
import json
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import orjson
from piccolo.querystring import QueryString

from kith.core.records.encoding import dumps, jsonable
from kith.core.records.field_names import CUSTOM
from kith.core.records.filters import Viewer
from kith.core.records.query import ListRequest, Page
from kith.core.records.validation import graphql_name

if TYPE_CHECKING:
    from kith.core.entities import Entity
    from kith.core.runtime import Kith

#: records per page: one keyset read each; a page is the unit every writer writes
PAGE = 500

#: the formats every surface offers, with their media type and file extension
FORMATS = {
    "csv": ("text/csv; charset=utf-8", "csv"),
    "jsonl": ("application/jsonl", "jsonl"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


class Exporter(Viewer, Protocol):
    """Who exports (``kith.core.security.permissions.Permissions``): a viewer that can be
    refused the entity as a whole."""

    def require(self, entity: str, action: str) -> None: ...


class Export:
    """One exporter's export of one entity: the columns they may see (client-facing names,
    custom fields as ``customFields.<name>``), then the matching rows, a page at a time.

    Open it with ``await Export.open(...)``: that checks the read permission, compiles the
    filter and reads the first page, so everything the caller can get wrong (no read
    permission, an unknown field, a bad value) is raised before the first byte is written
    and an HTTP answer can still say so with its status.
    """

    def __init__(
        self, kith: Kith, entity: Entity, filter_: Mapping[str, Any] | None, permissions: Exporter | None
    ) -> None:
        self.kith = kith
        self.entity = entity
        self.filter = filter_
        self.permissions = permissions
        hidden = permissions.hidden_keys(entity) if permissions is not None else frozenset()
        self._fields = [spec.name for spec in entity.fields.values() if spec.name not in hidden]
        custom = [f for f in kith.custom_fields.for_entity(entity.name) if CUSTOM + f.name not in hidden]
        self._custom = [f.name for f in custom]
        specs = [entity.fields[name] for name in self._fields]
        self.columns = ["id", *(graphql_name(s) for s in specs), *(f.path for f in custom), "createdAt", "updatedAt"]
        self._first: Page | None = None
        self.count = 0  # records handed out so far

    @classmethod
    async def open(
        cls,
        kith: Kith,
        entity_name: str,
        filter_: Mapping[str, Any] | None = None,
        permissions: Exporter | None = None,
        *,
        audit: tuple[str, str] | None = None,
    ) -> Export:
        """The export, its first page read (raises ``Forbidden`` or ``ValidationFailed``).

        ``audit`` — ``(who, format)`` — records the export in the audit trail once it is
        allowed: data leaving Kith in bulk is what a data-protection officer asks about
        (who took which records, filtered how, as what), whether or not the download
        finished."""
        entity = kith.entity(entity_name)
        if permissions is not None:
            permissions.require(entity.name, "read")
        export = cls(kith, entity, filter_, permissions)
        export._first = await export._page(None)
        if audit is not None:
            await _audit(kith, entity.name, audit, filter_)
        return export

    async def _page(self, after: str | None) -> Page:
        request = ListRequest(self.entity, self.filter, first=PAGE, after=after, viewer=self.permissions)
        return await self.kith.query.list(self.kith.db, request)

    async def pages(self) -> AsyncIterator[list[list[Any]]]:
        """The rows, one list per page; each row holds the values in ``columns`` order, as
        stored (datetimes, decimals, lists and objects as Python values)."""
        page, self._first = self._first, None
        if page is None:
            raise RuntimeError("Export.pages() runs once, after Export.open()")
        while True:
            self.count += len(page.rows)
            yield [self._row(record) for record in page.rows]
            if not page.has_next_page:
                return
            page = await self._page(page.end_cursor)

    def _row(self, record: Mapping[str, Any]) -> list[Any]:
        custom = record.get("custom") or {}
        return [
            record["id"],
            *(record.get(name) for name in self._fields),
            *(custom.get(name) for name in self._custom),
            record["created_at"],
            record["updated_at"],
        ]


async def _audit(kith: Kith, entity: str, audit: tuple[str, str], filter_: Mapping[str, Any] | None) -> None:
    who, fmt = audit
    await kith.db.fetch(
        QueryString(
            "INSERT INTO kith_audit (entity, record_id, action, actor, source, changes, at) "
            "VALUES ({}, 0, 'export', {}, 'export', {}, {})",
            entity, who[:200], dumps({"format": fmt, "filter": filter_ or {}}), dt.datetime.now(dt.UTC),
        )
    )  # fmt: skip


async def records(
    kith: Kith, entity_name: str, filter_: Mapping[str, Any] | None = None, permissions: Exporter | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Matching records, keyed by client-facing names, custom fields flattened, as JSON values."""
    export = await Export.open(kith, entity_name, filter_, permissions)
    async for page in export.pages():
        for values in page:
            yield jsonable(dict(zip(export.columns, values, strict=True)))


#: values the csv module writes as Kith shows them (``None`` as an empty cell)
_CSV_AS_IS = frozenset({str, int, float, bool, decimal.Decimal, type(None)})


def csv_cell(value: Any) -> Any:
    """A value as the csv module should write it: JSON for lists and objects (compact),
    ISO 8601 for dates and times, the rest as is (no value: an empty cell)."""
    if type(value) in _CSV_AS_IS:
        return value
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, list | dict):
        return json_text(value)
    return str(jsonable(value))


def json_text(value: Any) -> str:
    """A list or an object as compact JSON text (a cell of CSV or XLSX)."""
    try:
        return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # what orjson refuses (an integer beyond 64 bits): the stdlib encoder writes it
        return json.dumps(jsonable(value), separators=(",", ":"))


#: what a spreadsheet opening a CSV file reads as the start of a formula
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: text starting with + or - that is a number or a phone, not a formula
_NUMBER_LIKE = re.compile(r"[+-][\d\s().,/-]*")


def guard_formula(text: str) -> str:
    """``text`` as a CSV cell a spreadsheet will not run: a value that starts like a
    formula (``=HYPERLINK(…)``, ``@SUM(…)``, ``+cmd|…``) gets a leading ``'``, which
    spreadsheets show as text (OWASP's advice against CSV injection); a phone
    (``+49 30 1234``) or a negative number stays as it is.  ``kith import`` takes the
    quote off again (``kith.core.imports.convert``), so an export imports back as it was."""
    if text.startswith(_FORMULA_START) and not _NUMBER_LIKE.fullmatch(text):
        return "'" + text
    return text


def _csv_value(value: Any) -> Any:
    if type(value) is str:
        return guard_formula(value) if value.startswith(_FORMULA_START) else value
    return value if type(value) in _CSV_AS_IS else csv_cell(value)


async def to_csv(export: Export) -> AsyncIterator[str]:
    """CSV text (stdlib csv, so quoting is right): the header, then one chunk per page."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(export.columns)
    async for page in export.pages():
        writer.writerows([_csv_value(v) for v in row] for row in page)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()


async def to_jsonl(export: Export) -> AsyncIterator[str]:
    """JSON Lines: one object per record (the columns as keys), one chunk per page."""
    columns = export.columns
    async for page in export.pages():
        if page:
            yield "".join(_json_line(dict(zip(columns, row, strict=True))) for row in page)


def _json_line(row: dict[str, Any]) -> str:
    try:
        return orjson.dumps(row, default=_json_default, option=orjson.OPT_APPEND_NEWLINE).decode()
    except TypeError:  # what orjson refuses (an integer beyond 64 bits): the stdlib encoder writes it
        return json.dumps(jsonable(row)) + "\n"


def _json_default(value: Any) -> Any:
    """What orjson has no type for: decimals, as text (as ``jsonable`` writes them)."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
