"""``kith export``: records to CSV, JSON Lines or XLSX, optionally as a given user sees them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from kith.cli.common import KithCliError, console, with_kith
from kith.core.records.export import Export, to_csv, to_jsonl
from kith.core.records.export_xlsx import write_xlsx
from kith.core.runtime import Kith
from kith.core.security.permissions import permissions_for


@click.command("export")
@click.argument("entity")
@click.option("--filter", "filter_", help="Only records matching this filter (JSON, the GraphQL filter language).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl", "xlsx"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@click.option("--as", "as_user", help="Export only what this user (email) may read: their scope, no hidden fields.")
@with_kith
async def export_command(
    kith: Kith, entity: str, filter_: str | None, fmt: str, output: Path | None, as_user: str | None
) -> None:
    """Export the records of ENTITY (custom fields as customFields.<name> columns).

    Records are read and written a page at a time, so a million of them take no more
    memory than a few hundred.  XLSX needs --output (it is a binary file)."""
    if entity not in kith.entities:
        raise KithCliError(f"unknown entity {entity!r} (known: {', '.join(e.name for e in kith.entities)})")
    if fmt == "xlsx" and output is None:
        raise KithCliError("--format xlsx writes a binary file: give one with --output/-o, e.g. -o contacts.xlsx")
    conditions: Any = None
    if filter_:
        try:
            conditions = json.loads(filter_)
        except json.JSONDecodeError as exc:
            raise KithCliError(f"--filter: not JSON: {exc}") from None
    permissions = None
    if as_user:
        user = await kith.auth.user_by_email(as_user)
        if user is None:
            raise KithCliError(f"no user with email {as_user!r}")
        permissions = await permissions_for(kith, await kith.auth.principal_for_user(int(user["id"]), "cli"))
    export = await Export.open(kith, entity, conditions, permissions, audit=(as_user or "kith export", fmt))
    if fmt == "xlsx":
        assert output is not None
        count = await write_xlsx(export, output)
    else:
        sink: TextIO = output.open("w", newline="") if output else sys.stdout
        try:
            count = await _write_text(export, fmt, sink)
        finally:
            if output:
                sink.close()
    if output:
        console.print(f"Exported {count} {entity} record(s) to {output}")


async def _write_text(export: Export, fmt: str, sink: TextIO) -> int:
    """CSV or JSON Lines, a page per write; returns the number of records."""
    async for chunk in to_csv(export) if fmt == "csv" else to_jsonl(export):
        sink.write(chunk)
    return export.count
