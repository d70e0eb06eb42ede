"""Importing leads: the core's import engine (``kith import lead``) with the sales team's
habits as defaults — a source and an owner for rows that name none, leads already in
Kith skipped and listed, and a report that names the line, the field and the reason of
every row not imported.

A lead already in Kith, or twice in the file, is skipped three ways over: by its e-mail
(the lead's natural key: a row repeating an address in the file or in Kith), by the
engine's duplicate check with the plugin's lead rules (``kith_duplicate_rules``: a
similar name at the same domain, among stored leads and earlier rows of the file), and
by the plugin's ``before_create`` hook, which refuses a lead whose person is a lead or
contact already (the hook sees stored records only, hence the check for the file's own
rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kith.sdk import ImportOutcome, ImportRequest, PluginContext, ValidationFailed


@dataclass
class ImportReport:
    """What an import of leads did, as the command prints it."""

    imported: list[int] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    #: headers of the file that name no field, skipped on request
    skipped_columns: list[str] = field(default_factory=list)
    #: every duplicate and refusal, in the order of the file's lines
    problems: list[str] = field(default_factory=list)
    dry_run: bool = False

    @classmethod
    def of(cls, outcome: ImportOutcome, skipped_columns: list[str]) -> ImportReport:
        report = cls(skipped_columns=skipped_columns, dry_run=bool(outcome.run["dry_run"]))
        for row in outcome.results:
            if row["status"] == "created":
                report.imported.append(int(row["record_id"] or 0))
                continue
            reasons = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in row["errors"])
            line = f"line {row['line']}: {reasons}"
            (report.duplicates if row["status"] == "skipped" else report.refused).append(line)
            report.problems.append(line)
        return report


async def import_leads(
    context: PluginContext,
    path: Path,
    *,
    defaults: dict[str, str] | None = None,
    dry_run: bool = False,
    all_or_nothing: bool = False,
    encoding: str = "utf-8",
    skip_unknown_columns: bool = False,
) -> ImportReport:
    """Create a lead per row; duplicates and bad rows are reported, not imported.

    ``defaults`` fill empty cells (``{"source": "trade show", "owner.email": "…"}``).
    With ``all_or_nothing`` the file is checked by a dry run first and imported only if
    no row is refused or a duplicate; with ``dry_run`` nothing is written at all.
    Raises ``ValidationFailed`` (field ``columns``, or the engine's ``encoding``/``file``)
    for a file that cannot be imported at all.
    """
    suggested = context.suggest_import_mapping("lead", path, encoding=encoding)
    unknown = [header for header, target in suggested.items() if not target]
    if unknown and not skip_unknown_columns:
        names = ", ".join(repr(header) for header in unknown)
        raise ValidationFailed.single("columns", "unknown", f"unknown columns: {names}")
    request = ImportRequest(
        "lead", path, mapping=suggested, dry_run=dry_run or all_or_nothing, encoding=encoding,
        defaults={k: v for k, v in (defaults or {}).items() if v}, duplicates="skip",
    )  # fmt: skip
    outcome = await context.import_file(request)
    if all_or_nothing and not dry_run and not outcome.problems:
        outcome = await context.import_file(_real(request))
    return ImportReport.of(outcome, unknown)


def _real(request: ImportRequest) -> ImportRequest:
    values: dict[str, Any] = {**request.__dict__, "dry_run": False}
    return ImportRequest(**values)
