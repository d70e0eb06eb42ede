"""``kith roles …``: what each role may do, and defining roles from YAML."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import yaml
from pydantic import ValidationError
from rich.table import Table

from kith.cli.common import KithCliError, console, with_kith
from kith.core.runtime import Kith
from kith.core.security.roles import RoleDefinition, save_role


@click.group("roles")
def roles_group() -> None:
    """Roles: list them, show their grants, define them from a file."""


async def _rows(kith: Kith) -> list[dict[str, Any]]:
    rows = await kith.db.execute("SELECT name, description, grants, capabilities, source FROM kith_role ORDER BY name")
    return [
        {
            **dict(r),
            "grants": json.loads(r["grants"]) if isinstance(r["grants"], str) else r["grants"],
            "capabilities": json.loads(r["capabilities"]) if isinstance(r["capabilities"], str) else r["capabilities"],
        }
        for r in rows
    ]


@roles_group.command("list")
@with_kith
async def list_roles(kith: Kith) -> None:
    """Every role, where it came from, the entities it grants and its capabilities."""
    table = Table("role", "source", "entities", "capabilities", "description")
    for row in await _rows(kith):
        table.add_row(
            row["name"],
            row["source"] or "",
            ", ".join(sorted(row["grants"] or {})),
            ", ".join(row["capabilities"] or []),
            row["description"] or "",
        )
    console.print(table)


@roles_group.command("show")
@click.argument("name")
@with_kith
async def show_role(kith: Kith, name: str) -> None:
    """A role's grants, as YAML that `kith roles apply` takes back."""
    found = [r for r in await _rows(kith) if r["name"] == name]
    if not found:
        raise KithCliError(f"no role named {name!r}")
    row = found[0]
    document = {"name": row["name"], "description": row["description"] or "", "grants": row["grants"] or {}}
    if row["capabilities"]:
        document["capabilities"] = list(row["capabilities"])
    click.echo(yaml.safe_dump(document, sort_keys=False), nl=False)


def load_roles(path: Path) -> list[RoleDefinition]:
    try:
        data = list(yaml.safe_load_all(path.read_text()))
    except yaml.YAMLError as exc:
        raise KithCliError(f"{path}: not valid YAML: {exc}") from None
    items = data[0] if len(data) == 1 and isinstance(data[0], list) else data
    roles = []
    for index, item in enumerate(items):
        try:
            roles.append(RoleDefinition.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise KithCliError(f"{path}: role {index + 1}: {where}: {first['msg']}") from None
    return roles


@roles_group.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@with_kith
async def apply_roles(kith: Kith, file: Path) -> None:
    """Create or replace the roles in FILE (YAML: name, description, grants per entity, capabilities)."""
    for role in load_roles(file):
        existed = await save_role(kith, role)
        console.print(f"{'Replaced' if existed else 'Created'} role {role.name}")
