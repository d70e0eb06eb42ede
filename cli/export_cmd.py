"""``kith export``: records to CSV or JSON lines, optionally as a given user sees them."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

import click

from kith.cli.common import KithCliError, console, with_kith
from kith.core.records import export
from kith.core.runtime import Kith
from kith.core.security.permissions import permissions_for


@click.command("export")
@click.argument("entity")
@click.option("--filter", "filter_", help="Only records matching this filter (JSON, the GraphQL filter language).")
@click.option("--format", "fmt", type=click.Choice(["csv", "jsonl"]), default="csv", show_default=True)
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@click.option("--as", "as_user", help="Export only what this user (email) may read: their scope, no hidden fields.")
@with_kith
async def export_command(
    kith: Kith, entity: str, filter_: str | None, fmt: str, output: Path | None, as_user: str | None
) -> None:
    """Export the records of ENTITY (custom fields as customFields.<name> columns)."""
    if entity not in kith.entities:
        raise KithCliError(f"unknown entity {entity!r} (known: {', '.join(e.name for e in kith.entities)})")
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
    rows = export.records(kith, entity, conditions, permissions)
    sink: TextIO = _open(output) if output else sys.stdout
    count = 0
    try:
        if fmt == "csv":
            async for chunk in export.to_csv(rows):
                sink.write(chunk)
                count += 1
        else:
            async for row in rows:
                sink.write(json.dumps(row) + "\n")
                count += 1
    finally:
        if output:
            sink.close()
    if output:
        console.print(f"Exported {count} {entity} record(s) to {output}")


def _open(path: Path) -> TextIO:
    return path.open("w", newline="")
