"""Importing leads from CSV: each row through the record service (so it is normalised,
validated, de-duplicated, audited and scored like a lead typed in by hand), with a
report that names the line, the field and the reason of every row not imported.

The file is read by the SDK's ``read_csv``, which refuses a file it cannot decode or
whose headers are unknown, and reports broken rows (an unclosed quote, a NUL, a value
too long, a wrong number of values) by line while the others are imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from piccolo.columns import Text

from kith.plugins.sales.models import Lead
from kith.sdk import CsvProblem, PluginContext, ValidationFailed, read_csv

#: columns a file may have (headers are matched ignoring case, spaces and camelCase)
COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company",
    "domain",
    "country",
    "source",
    "status",
    "need",
    "authority",
    "decision_date",
    "budget",
    "budget_currency",
    "owner",
)
TRUE = {"1", "true", "yes", "y"}
FALSE = {"0", "false", "no", "n"}


@dataclass
class ImportReport:
    imported: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: headers of the file that name no column, skipped on request
    skipped_columns: list[str] = field(default_factory=list)
    #: every duplicate and refusal, in the order of the file's lines
    problems: list[str] = field(default_factory=list)

    def add(self, line: str, duplicate: bool = False) -> None:
        (self.duplicates if duplicate else self.refused).append(line)
        self.problems.append(line)


class _RollBack(Exception):
    """Ends a dry run's (or a failed all-or-nothing import's) transaction."""


def _values(row: dict[str, str], owners: dict[str, int], defaults: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {k: v for k, v in defaults.items() if v is not None}
    for key, raw in row.items():
        text = (raw or "").strip()
        if not text:
            continue
        if key == "authority":
            if text.lower() not in TRUE | FALSE:
                raise ValidationFailed.single("authority", "invalid", f"{text!r} is not yes or no")
            values[key] = text.lower() in TRUE
        elif key == "owner":
            if text.lower() not in owners:
                raise ValidationFailed.single("owner", "not_found", f"no user with the email {text!r}")
            values[key] = owners[text.lower()]
        elif key not in ("budget", "budget_currency"):
            values[key] = text
    if row.get("budget"):
        values["budget"] = {"amount": row["budget"].strip(), "currency": (row.get("budget_currency") or "").strip()}
    return values


async def import_leads(
    context: PluginContext,
    path: Path,
    *,
    defaults: dict[str, Any] | None = None,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    encoding: str = "utf-8",
    skip_unknown_columns: bool = False,
) -> ImportReport:
    """Create a lead per row; duplicates and bad rows are reported, not imported.

    With ``all_or_nothing`` one bad row (a duplicate included) imports nothing; with
    ``dry_run`` nothing is written at all.  Raises ``ValidationFailed`` (field
    ``encoding`` or ``columns``) for a file that cannot be read at all.
    """
    long_text = [name for name in COLUMNS if isinstance(Lead._meta.get_column_by_name(name), Text)]
    table = read_csv(path, COLUMNS, long_text=long_text, encoding=encoding, skip_unknown_columns=skip_unknown_columns)
    owners = await user_ids_by_email(context)
    report = ImportReport(skipped_columns=table.skipped_columns)
    try:
        async with context.db.transaction():
            for item in table.in_file_order():
                if isinstance(item, CsvProblem):
                    report.add(str(item))
                    continue
                try:
                    async with context.db.savepoint():  # a bad row undoes itself only
                        created = await context.records.create("lead", _values(item.values, owners, defaults or {}))
                    report.imported.append(int(created["id"]))
                except ValidationFailed as exc:
                    is_duplicate = any(e.code == "duplicate" for e in exc.errors)
                    for e in exc.errors:
                        report.add(f"line {item.line}: {e.field or 'row'}: {e.message}", is_duplicate)
            if dry_run or (all_or_nothing and report.problems):
                raise _RollBack
    except _RollBack:
        pass
    return report


async def user_ids_by_email(context: PluginContext) -> dict[str, int]:
    """Every user's id by their email, lowercased (whom a row's ``owner`` may name)."""
    return {str(u["email"]).lower(): int(u["id"]) async for u in context.system.each("user") if u.get("email")}
