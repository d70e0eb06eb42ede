"""Importing leads from CSV: each row through the record service (so it is normalised,
validated, de-duplicated, audited and scored like a lead typed in by hand), with a
report that names the row, the field and the reason of every row not imported."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kith.sdk import Actor, Kith, ValidationFailed

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

    @property
    def problems(self) -> list[str]:
        return self.duplicates + self.refused


class _RollBack(Exception):
    """Ends a dry run's (or a failed all-or-nothing import's) transaction."""


def column_name(header: str) -> str:
    """``First name``, ``firstName`` and ``first_name`` are the same column."""
    snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", header.strip())
    return re.sub(r"[\s\-]+", "_", snake).lower()


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
    kith: Kith,
    path: Path,
    actor: Actor,
    *,
    defaults: dict[str, Any] | None = None,
    dry_run: bool = False,
    all_or_nothing: bool = False,
) -> ImportReport:
    """Create a lead per row; duplicates and bad rows are reported, not imported.

    With ``all_or_nothing`` one bad row (a duplicate included) imports nothing; with
    ``dry_run`` nothing is written at all.
    """
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        headers = {h: column_name(h) for h in reader.fieldnames or []}
        unknown = [h for h, name in headers.items() if name not in COLUMNS]
        if unknown:
            raise ValidationFailed.single("file", "invalid", f"unknown columns {unknown}; known: {', '.join(COLUMNS)}")
        rows = [{headers[k]: v for k, v in row.items() if k in headers} for row in reader]
    users = await kith.db.execute("SELECT id, email FROM kith_user WHERE deleted_at IS NULL")
    owners = {str(u["email"]).lower(): int(u["id"]) for u in users if u["email"]}
    report = ImportReport()
    try:
        async with kith.db.write_transaction():
            for number, row in enumerate(rows, start=2):  # row 1 is the header
                try:
                    async with kith.db.savepoint():  # a bad row undoes itself only
                        lead = await kith.records.create("lead", _values(row, owners, defaults or {}), actor)
                    report.imported.append(int(lead["id"]))
                except ValidationFailed as exc:
                    lines = [f"row {number}: {e.field or 'row'}: {e.message}" for e in exc.errors]
                    is_duplicate = any(e.code == "duplicate" for e in exc.errors)
                    (report.duplicates if is_duplicate else report.refused).extend(lines)
            if dry_run or (all_or_nothing and report.problems):
                raise _RollBack
    except _RollBack:
        pass
    return report
