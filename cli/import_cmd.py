"""``kith import``: a CSV or XLSX file into any entity, with a dry run, a per-line report
and runs that resume where they stopped."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import click

from kith.cli.common import KithCliError, console, with_kith
from kith.cli.import_progress import progress_bar
from kith.core.errors import ValidationFailed
from kith.core.imports import mapping as mappings
from kith.core.imports import runner
from kith.core.imports.duplicate_check import CHOICES
from kith.core.imports.sources import open_source
from kith.core.records.change import Actor
from kith.core.runtime import Kith
from kith.core.security.permissions import permissions_for

#: problems printed after a run (the --report file has every line)
SHOWN = 50


@click.command("import")
@click.argument("entity")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--map", "maps", multiple=True, metavar="HEADER=FIELD",
              help="Map a column to a field (firstName, customFields.tier, organization.domain, owner.email; "
              "empty: leave it out). Repeatable; unmapped headers are suggested.")  # fmt: skip
@click.option("--mapping-name", help="Use the mapping saved under this name, and save this run's under it.")
@click.option("--show-mapping", is_flag=True, help="Print the mapping that would be used, and stop.")
@click.option("--mode", type=click.Choice(runner.MODES), default="create", show_default=True)
@click.option("--key", help="The field rows are matched to records by (email, domain, id). Needed for update "
              "and upsert; in create, a row matching a record is a duplicate "
              "(default: the entity's natural key).")  # fmt: skip
@click.option("--set", "sets", multiple=True, metavar="FIELD=VALUE",
              help="Give FIELD (as --map names it: source, owner.email) this value in rows whose own cell is "
              "empty. Repeatable.")  # fmt: skip
@click.option("--duplicates", type=click.Choice(CHOICES), default="off", show_default=True,
              help="Check rows about to be created against the entity's duplicate rules (fuzzy names too): "
              "skip a likely duplicate, or flag it (create it and queue the pair for review).")  # fmt: skip
@click.option("--dry-run", is_flag=True, help="Check every row as a real run would, and write nothing.")
@click.option("--as", "as_user", help="Import as this user (email): their permissions and scope apply.")
@click.option("--encoding", default="utf-8", show_default=True, help="The CSV file's encoding.")
@click.option("--sheet", help="The workbook's sheet (default: the first).")
@click.option("--time-zone", default="UTC", show_default=True, help="The zone of dates and times without an offset.")
@click.option(
    "--report", type=click.Path(dir_okay=False, path_type=Path), help="Write every line's result to this CSV."
)
@click.option("--chunk", default=runner.CHUNK, show_default=True, type=click.IntRange(1, 50_000),
              help="Rows written per transaction (and per resume point).")  # fmt: skip
@with_kith
async def import_command(
    kith: Kith, entity: str, file: Path, maps: tuple[str, ...], mapping_name: str | None, show_mapping: bool,
    mode: str, key: str | None, sets: tuple[str, ...], duplicates: str, dry_run: bool, as_user: str | None,
    encoding: str, sheet: str | None, time_zone: str, report: Path | None, chunk: int,
) -> None:  # fmt: skip
    """Import FILE (CSV, or XLSX) into ENTITY: each row validated and written like a record
    typed in by hand. Running the same command again after a crash or Ctrl-C resumes
    where it stopped."""
    actor = await _actor(kith, as_user)
    given = _given(maps, "--map", "HEADER=FIELD (FIELD empty to leave the column out)")
    defaults = _given(sets, "--set", "FIELD=VALUE")
    try:
        if show_mapping or given:
            chosen = await _mapping(kith, entity, file, given, mapping_name, encoding, sheet)
            if show_mapping:
                for header, target in chosen.items():
                    console.print(f"{header} -> {target or '(left out)'}", markup=False, highlight=False)
                return
        else:
            chosen = None
        request = runner.ImportRequest(
            entity, file, chosen, mapping_name, mode, key, dry_run, encoding, sheet, time_zone, defaults, duplicates
        )  # fmt: skip
        run_id = await runner.start(kith, request, actor)
        with progress_bar(file, sheet) as on_chunk:
            # a large file is checked in a helper process (see core/imports/ahead.py): safe from
            # here, where the process's main module is the command's, guarded against re-running
            stored = await runner.run(kith, run_id, actor, chunk=chunk, on_chunk=on_chunk, helper=None)
    except ValidationFailed as exc:
        raise KithCliError("; ".join(f"{e.field}: {e.message}" if e.field else e.message for e in exc.errors)) from None
    problems = await runner.results(kith, run_id, problems_only=True)
    what = "would be" if dry_run else "were"
    console.print(
        f"Import {run_id} of {file.name} into {entity}{' (dry run: nothing written)' if dry_run else ''}: "
        f"{stored['created']} {what} created, {stored['updated']} updated, {stored['skipped']} skipped, "
        f"{stored['failed']} failed",
        markup=False, highlight=False,
    )  # fmt: skip
    for problem in problems[:SHOWN]:
        reasons = "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in problem["errors"])
        console.print(f"line {problem['line']}: {problem['status']}: {reasons}", markup=False, highlight=False)
    if len(problems) > SHOWN:
        console.print(f"… and {len(problems) - SHOWN} more (--report FILE lists every line)")
    if report is not None:
        await _report(kith, run_id, report)
        console.print(f"Wrote every line's result to {report}", markup=False, highlight=False)


def _given(items: tuple[str, ...], option: str, form: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise KithCliError(f"{option} {item!r}: write {form}")
        out[name.strip()] = value.strip()
    return out


async def _mapping(
    kith: Kith, entity: str, file: Path, given: dict[str, str], name: str | None, encoding: str, sheet: str | None
) -> dict[str, str]:
    """The suggested mapping (or the saved one), with the --map choices over it."""
    declared = kith.entities.named(entity)
    source = open_source(file, encoding=encoding, sheet=sheet)
    saved = await runner.load_mapping(kith, entity, name) if name else None
    chosen = mappings.suggest(kith, declared, source.headers, saved)
    for header in given:
        if header not in source.headers:
            raise ValidationFailed.single(header, "unknown", f"the file has no column {header!r}")
    return {**chosen, **given}


async def _actor(kith: Kith, as_user: str | None) -> Actor:
    if as_user is None:
        return Actor(name="kith import", source="system")
    user = await kith.auth.user_by_email(as_user)
    if user is None:
        raise KithCliError(f"no user with email {as_user!r}")
    permissions = await permissions_for(kith, await kith.auth.principal_for_user(int(user["id"]), "cli"))
    return Actor(name=str(user["email"]), source="import", user_id=int(user["id"]), permissions=permissions)


async def _report(kith: Kith, run_id: int, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "status", "recordId", "errors"])
        for row in await runner.results(kith, run_id):
            errors = json.dumps(row["errors"]) if row["errors"] else ""
            writer.writerow([row["line"], row["status"], row["record_id"] or "", errors])
