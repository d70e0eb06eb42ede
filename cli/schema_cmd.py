"""``kith schema print``: the public GraphQL API as SDL, for review and snapshots."""

from __future__ import annotations

from pathlib import Path

import click

from kith.cli.common import with_kith
from kith.core.runtime import Kith


@click.group("schema")
def schema_group() -> None:
    """The GraphQL schema."""


@schema_group.command("print")
@click.option("--output", "-o", type=click.Path(path_type=Path), help="Write to a file instead of stdout.")
@with_kith
async def print_schema(kith: Kith, output: Path | None) -> None:
    """Print the schema (SDL) of this database's entities, fields and plugins."""
    _emit(kith.schema.sdl(), output)


def _emit(sdl: str, output: Path | None) -> None:
    if output:
        output.write_text(sdl)
        click.echo(f"Wrote {output}")
    else:
        click.echo(sdl, nl=False)
