"""``kith plugins …``: start, see, enable, disable and purge plugins.

One group for everything about plugins.  ``kith plugin …`` (the name ``new`` once had)
still runs the same commands so old scripts and notes keep working, but it is hidden
from ``kith --help`` and says, on stderr, which command to use instead.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from kith.cli.common import KithCliError, console, with_kith
from kith.core.plugins import lifecycle
from kith.core.runtime import Kith


@click.group("plugins")
def plugins_group() -> None:
    """Start a new plugin; list, enable, disable and purge installed ones."""


class DeprecatedName(click.Group):
    """Another, deprecated name of a group: the same subcommands (the very same
    objects, so nothing can drift), hidden from help, and a one-line notice on stderr
    pointing to the group's real name.  stdout stays what the real command prints, so
    a script reading it sees no difference."""

    def __init__(self, group: click.Group, old_name: str) -> None:
        super().__init__(name=group.name, commands=group.commands, help=group.help, hidden=True)
        self.old_name = old_name

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        # here rather than in invoke(): `kith plugin` alone and `--help` never reach invoke
        sub = next((arg for arg in args if not arg.startswith("-")), None)
        instead = f"kith {self.name} {sub}" if sub in self.commands else f"kith {self.name}"
        click.echo(f"`kith {self.old_name}` is deprecated and will be removed; use `{instead}`.", err=True)
        return super().parse_args(ctx, args)


#: ``kith plugin new NAME`` was the documented way to start a plugin
plugin_alias = DeprecatedName(plugins_group, "plugin")


@plugins_group.command("new")
@click.argument("name")
@click.option(
    "--directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Where to create the project folder kith-NAME.",
)
def new_plugin(name: str, directory: Path) -> None:
    """Create a pip-installable plugin package kith-NAME: manifest, an entity, a GraphQL
    field, an automation rule, migrations, a README and a passing test."""
    from kith.cli import scaffold

    try:
        written = scaffold.create(name, directory)
    except (ValueError, FileExistsError) as exc:
        raise KithCliError(str(exc)) from None
    root = written[0].parent
    for path in written:
        console.print(f"[green]created[/] {path.relative_to(root.parent)}")
    console.print(escape(f"Next: cd {root} && pip install -e '.[test]' && kith plugins enable {name} && pytest"))


@plugins_group.command("list")
@with_kith
async def list_plugins(kith: Kith) -> None:
    """Show every installed plugin, whether it is enabled and the commands it adds."""
    table = Table("name", "version", "enabled", "depends", "commands", "summary", title="Plugins")
    commands = _commands_by_plugin(kith)
    for status in await lifecycle.statuses(kith):
        enabled = "[green]yes[/]" if status.enabled else "no"
        if status.essential:
            enabled = "[green]always[/]"
        if status.problems:
            enabled += " [red](failing)[/]"
        table.add_row(
            status.name,
            status.version,
            enabled,
            ", ".join(status.depends) or "-",
            ", ".join(commands.get(status.name, ())) or "-",
            status.summary,
        )
    console.print(table)


def _commands_by_plugin(kith: Kith) -> dict[str, list[str]]:
    """The ``kith`` commands each enabled plugin adds (``kith --help`` lists the core's only,
    so that it never opens the database or imports a plugin)."""
    from kith.cli.main import CORE_COMMANDS

    found: dict[str, list[str]] = {}
    for plugin, contributed in kith.plugins.call("kith_cli_commands"):
        names = sorted(c.name for c in contributed if c.name and c.name not in CORE_COMMANDS)
        found.setdefault(plugin, []).extend(f"kith {name}" for name in names)
    return found


@plugins_group.command("info")
@click.argument("name")
@with_kith
async def plugin_info(kith: Kith, name: str) -> None:
    """Show a plugin's manifest, state, entities and problems."""
    status = next((s for s in await lifecycle.statuses(kith) if s.name == name), None)
    if status is None:
        lifecycle.require(kith, name)
        return
    plugin = kith.plugins.available.get(name)
    console.print(f"[bold]{status.name}[/] {status.version} — {status.summary}")
    console.print(f"enabled:  {'yes' if status.enabled else 'no'}")
    console.print(f"depends:  {', '.join(status.depends) or 'nothing'}")
    console.print(f"source:   {status.source}")
    if plugin is not None:
        console.print(f"tables:   {', '.join(t._meta.tablename for t in plugin.tables) or 'none'}")
        console.print(f"migrations: {', '.join(m.name for m in plugin.migrations) or 'none'}")
    entities = [e.name for e in kith.entities if (e.plugin or "core") == name]
    console.print(f"entities: {', '.join(entities) or ('none' if status.enabled else '(enable to see)')}")
    commands = _commands_by_plugin(kith).get(name, [])
    console.print(f"commands: {', '.join(commands) or ('none' if status.enabled else '(enable to see)')}")
    for problem in status.problems:
        console.print(f"[red]problem:[/] {problem}")


@plugins_group.command("enable")
@click.argument("name")
@with_kith
async def enable_plugin(kith: Kith, name: str) -> None:
    """Enable a plugin: check its dependencies, run its migrations, serve its API."""
    before = set(await kith.enabled_plugins())
    ran = await lifecycle.enable(kith, name)
    steps = f" (migrations: {', '.join(ran)})" if ran else ""
    console.print(f"[green]Enabled[/] {name}{steps}")
    for glue in sorted(set(await kith.enabled_plugins()) - before - {name}):
        console.print(f"[green]Enabled[/] {glue} too: it joins {' and '.join(kith.plugins.available[glue].depends)}")


@plugins_group.command("disable")
@click.argument("name")
@with_kith
async def disable_plugin(kith: Kith, name: str) -> None:
    """Disable a plugin: its API and automations stop; its data stays."""
    before = set(await kith.enabled_plugins())
    await lifecycle.disable(kith, name)
    for glue in sorted(before - set(await kith.enabled_plugins()) - {name}):
        console.print(f"Disabled {glue} first: it joins {name} to another plugin.")
    console.print(f"Disabled {name}; its tables and data are kept (purge removes them).")


@plugins_group.command("purge")
@click.argument("name")
@click.option(
    "--export-dir",
    type=click.Path(path_type=Path),
    default=Path("kith-exports"),
    show_default=True,
    help="Where the export of the plugin's data is written first.",
)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_kith
async def purge_plugin(kith: Kith, name: str, export_dir: Path, yes: bool) -> None:
    """Export, then drop, the tables of a disabled plugin."""
    plugin = lifecycle.require(kith, name)
    tables = ", ".join(t._meta.tablename for t in plugin.tables) or "no tables"
    if not yes and not click.confirm(
        f"Purge {name}? Its data ({tables}) is exported to {export_dir}/ and then dropped", default=False
    ):
        raise KithCliError("purge cancelled; nothing was changed")
    path = await lifecycle.purge(kith, name, export_dir)
    console.print(f"Purged {name}; its data was exported to {path}")
