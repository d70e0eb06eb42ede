"""``kith fields …``: custom field definitions."""

from __future__ import annotations

import json
from typing import Any

import click
from rich.table import Table

from kith.cli.common import KithCliError, console, with_kith
from kith.core.customfields import FIELD_TYPES
from kith.core.runtime import Kith


@click.group("fields")
def fields_group() -> None:
    """Add, list, index, rename and remove custom fields (the server picks changes up live)."""


@fields_group.command("list")
@click.argument("entity", required=False)
@with_kith
async def list_fields(kith: Kith, entity: str | None) -> None:
    """List custom fields, of one ENTITY or of all."""
    if entity is not None and entity not in kith.entities:
        _unknown(kith, entity)
    table = Table(
        "entity",
        "name",
        "GraphQL",
        "type",
        "label",
        "required",
        "indexed",
        "choices / target",
        title="Custom fields",
    )
    for field in kith.custom_fields.all():
        if entity and field.entity != entity:
            continue
        extra = ", ".join(field.choices) or field.target or ""
        table.add_row(
            field.entity,
            field.name,
            field.path,
            field.type,
            field.label,
            "yes" if field.required else "",
            "yes" if field.indexed else "",
            extra,
        )
    console.print(table)


def _unknown(kith: Kith, entity: str) -> None:
    raise KithCliError(f"unknown entity {entity!r} (known: {', '.join(e.name for e in kith.entities)})")


@fields_group.command("add")
@click.argument("entity")
@click.argument("name")
@click.argument("type", type=click.Choice(list(FIELD_TYPES)), metavar="TYPE")
@click.option("--label", help="Label shown to people (default: from the name).")
@click.option("--required", is_flag=True, help="New records must give a value.")
@click.option("--default", "default", help="Default value (JSON for money and multi_select).")
@click.option("--choice", "choices", multiple=True, help="A choice of a select field (repeat).")
@click.option("--indexed", is_flag=True, help="Index the field for fast filters and sorts.")
@click.option("--personal", is_flag=True, help="Personal data: exported and erased with the person.")
@click.option("--target", help="Entity a relation field points to.")
@with_kith
async def add_field(
    kith: Kith,
    entity: str,
    name: str,
    type: str,
    label: str | None,
    required: bool,
    default: str | None,
    choices: tuple[str, ...],
    indexed: bool,
    personal: bool,
    target: str | None,
) -> None:
    """Add custom field NAME of TYPE to ENTITY.

    TYPE is one of: text, long_text, integer, decimal, boolean, date, datetime,
    single_select, multi_select, email, phone, url, money, relation.
    """
    default_value: Any = default
    if default is not None and type in ("money", "multi_select"):
        try:
            default_value = json.loads(default)
        except json.JSONDecodeError:
            raise KithCliError("--default: must be JSON for this type") from None
    field = await kith.custom_fields.add(
        entity,
        name,
        type,
        label=label,
        required=required,
        default=default_value,
        choices=choices,
        indexed=indexed,
        personal=personal,
        target=target,
    )
    console.print(f"[green]Added[/] {entity}.{field.name} ({field.type}); GraphQL: {field.path}")


@fields_group.command("remove")
@click.argument("entity")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_kith
async def remove_field(kith: Kith, entity: str, name: str, yes: bool) -> None:
    """Remove custom field NAME from ENTITY, with its stored values."""
    if kith.custom_fields.get(entity, name) is None:
        raise KithCliError(f"{entity} has no custom field {name!r}")
    if not yes and not click.confirm(f"Remove {entity}.{name} and every value stored in it?", default=False):
        raise KithCliError("cancelled; nothing was changed")
    cleared = await kith.custom_fields.remove(entity, name)
    console.print(f"Removed {entity}.{name} ({cleared} record(s) had a value)")


@fields_group.command("index")
@click.argument("entity")
@click.argument("name")
@click.option("--off", is_flag=True, help="Drop the index instead.")
@with_kith
async def index_field(kith: Kith, entity: str, name: str, off: bool) -> None:
    """Index custom field NAME of ENTITY, which exists already (or drop its index with --off)."""
    await kith.custom_fields.set_indexed(entity, name, not off)
    if off:
        console.print(f"Dropped the index of {entity}.{name}")
    else:
        console.print(f"Indexed {entity}.{name}: filters and sorts on it can use the index")


@fields_group.command("rename")
@click.argument("entity")
@click.argument("name")
@click.argument("new_name")
@with_kith
async def rename_field(kith: Kith, entity: str, name: str, new_name: str) -> None:
    """Rename custom field NAME of ENTITY to NEW_NAME, keeping its values."""
    field = await kith.custom_fields.rename(entity, name, new_name)
    console.print(f"Renamed {entity}.{name} to {field.name}; GraphQL: {field.path}")
