"""Saved reports: a name, a description and a definition, kept by whoever saved it.

A saved report holds no figures: it is a question, answered each time someone runs it,
as them (``run_saved_report``).  So everyone signed in may list and read saved reports,
and what each of them sees in the figures is what their own permissions let them see.
Changing or deleting one is for its owner or an admin.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from piccolo.columns import BigInt, Serial, Text, Timestamptz, Varchar
from piccolo.querystring import QueryString
from piccolo.table import Table

from kith.core.errors import FieldError, NotFound, ValidationFailed
from kith.core.records.encoding import dumps
from kith.core.reports.definition import ReportDefinition, parse_definition

if TYPE_CHECKING:
    from kith.core.runtime import Kith
    from kith.core.security.permissions import Permissions

TABLE = "kith_report"
MAX_NAME = 200


class ReportRow(Table, tablename=TABLE):
    """One saved report (its definition as JSON text, the same on both engines)."""

    id: Serial  # Piccolo's primary key, declared for type checkers

    name = Varchar(length=MAX_NAME)
    description = Text(default="")
    definition = Text()
    owner = BigInt(null=True, default=None)  # the user who saved it (None: the system, the CLI)
    created_at = Timestamptz(null=True, default=None)
    updated_at = Timestamptz(null=True, default=None)


@dataclass(frozen=True)
class SavedReport:
    id: int
    name: str
    description: str
    definition: ReportDefinition
    owner: int | None
    created_at: dt.datetime | None
    updated_at: dt.datetime | None

    @classmethod
    def from_row(cls, row: Any) -> SavedReport:
        raw = row["definition"]
        return cls(
            id=int(row["id"]),
            name=str(row["name"]),
            description=str(row["description"] or ""),
            definition=parse_definition(json.loads(raw) if isinstance(raw, str) else raw),
            owner=None if row["owner"] is None else int(row["owner"]),
            created_at=row["created_at"],
            updated_at=row["updated_at"],
        )


def _user_of(permissions: Permissions | None) -> int | None:
    return None if permissions is None else permissions.principal.user_id


def _check_name(name: str) -> str:
    name = (name or "").strip()
    if not name:
        raise ValidationFailed.single("name", "required", "give the report a name")
    if len(name) > MAX_NAME:
        raise ValidationFailed.single("name", "invalid", f"at most {MAX_NAME} characters")
    return name


def require_change(report: SavedReport, permissions: Permissions | None) -> None:
    """Only the owner of a saved report or an admin may change or delete it."""
    if permissions is None or permissions.unrestricted:
        return
    if report.owner is None or report.owner != permissions.principal.user_id:
        raise ValidationFailed.single(
            None, "forbidden", f"report {report.id} is not yours: only its owner or an admin may change it"
        )


async def save_report(
    kith: Kith,
    name: str,
    definition: ReportDefinition | dict[str, Any] | str,
    permissions: Permissions | None = None,
    *,
    description: str = "",
    report_id: int | None = None,
    owner: int | None = None,
) -> SavedReport:
    """Create a saved report (``report_id`` None) or change one; the definition is
    checked against the entities, fields and sources of the moment, as the saver, so a
    report that cannot run is refused with the part named (``definition.groupBy[0]``).
    A new report belongs to ``owner`` (default: the user ``permissions`` are of)."""
    from kith.core.reports.runner import check

    errors: list[FieldError] = []
    try:
        name = _check_name(name)
    except ValidationFailed as exc:
        errors += exc.errors
    try:
        parsed = parse_definition(definition)
        check(kith, parsed, permissions, path="definition")
    except ValidationFailed as exc:
        errors += exc.errors
    if errors:
        raise ValidationFailed(errors)
    now = dt.datetime.now(dt.UTC)
    stored = dumps(parsed.to_json())
    async with kith.db.write_transaction():
        if report_id is None:
            row = await kith.db.fetch_one(
                QueryString(
                    f'INSERT INTO "{TABLE}" (name, description, definition, owner, created_at, updated_at) '
                    "VALUES ({}, {}, {}, {}, {}, {}) RETURNING *",
                    name,
                    description or "",
                    stored,
                    owner if owner is not None else _user_of(permissions),
                    now,
                    now,
                )
            )
        else:
            require_change(await get_report(kith, report_id), permissions)
            row = await kith.db.fetch_one(
                QueryString(
                    f'UPDATE "{TABLE}" SET name = {{}}, description = {{}}, definition = {{}}, updated_at = {{}} '
                    "WHERE id = {} RETURNING *",
                    name,
                    description or "",
                    stored,
                    now,
                    report_id,
                )
            )
    assert row is not None
    return SavedReport.from_row(row)


async def get_report(kith: Kith, report_id: int, permissions: Permissions | None = None) -> SavedReport:
    """The saved report, or ``NotFound`` (``permissions``: anyone signed in may read one)."""
    try:
        wanted = int(report_id)
    except (TypeError, ValueError):
        raise NotFound("report", report_id) from None
    row = await kith.db.fetch_one(QueryString(f'SELECT * FROM "{TABLE}" WHERE id = {{}}', wanted))
    if row is None:
        raise NotFound("report", report_id)
    return SavedReport.from_row(row)


async def list_reports(kith: Kith, permissions: Permissions | None = None) -> list[SavedReport]:
    """Every saved report, by name."""
    rows = await kith.db.fetch(QueryString(f'SELECT * FROM "{TABLE}" ORDER BY name, id'))
    return [SavedReport.from_row(row) for row in rows]


async def delete_report(kith: Kith, report_id: int, permissions: Permissions | None = None) -> SavedReport:
    """Delete a saved report and its delivery schedules (its owner or an admin);
    returns it as it was."""
    from kith.core.reports.schedules import SCHEDULE_TABLE

    async with kith.db.write_transaction():
        report = await get_report(kith, report_id)
        require_change(report, permissions)
        await kith.db.fetch(QueryString(f'DELETE FROM "{SCHEDULE_TABLE}" WHERE report = {{}}', report.id))
        await kith.db.fetch(QueryString(f'DELETE FROM "{TABLE}" WHERE id = {{}}', report.id))
    return report
