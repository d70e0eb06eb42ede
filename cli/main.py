"""The ``kith`` command.

Core commands are defined here; enabled plugins add theirs through
``kith_cli_commands``.  Plugin commands are looked up only when a name is not a core
command, so ``kith --help`` and core commands never need the database twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import click

from kith.cli.audit_cmd import audit_group
from kith.cli.automations_cmd import automations_group, webhooks_group, worker_command
from kith.cli.common import settings_from
from kith.cli.db_cmd import init_command, migrate_command
from kith.cli.export_cmd import export_command
from kith.cli.fields_cmd import fields_group
from kith.cli.gdpr_cmd import gdpr_group
from kith.cli.plugins_cmd import plugin_alias, plugins_group
from kith.cli.roles_cmd import roles_group
from kith.cli.schema_cmd import schema_group
from kith.cli.server_cmd import demo_command, serve_command
from kith.cli.users_cmd import keys_group, users_group


class KithGroup(click.Group):
    """A group that also offers the commands of enabled plugins."""

    def _plugin_commands(self, ctx: click.Context) -> dict[str, click.Command]:
        cache = ctx.meta.get("kith.plugin_commands")
        if cache is not None:
            return cache  # type: ignore[no-any-return]
        commands: dict[str, click.Command] = {}
        try:
            commands = asyncio.run(_load_plugin_commands(ctx))
        except Exception as exc:  # a broken database must not break --help
            logging.getLogger("kith.cli").debug("plugin commands unavailable: %s", exc)
        commands = {name: cmd for name, cmd in commands.items() if name not in self.commands}
        ctx.meta["kith.plugin_commands"] = commands
        return commands

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*self.commands, *self._plugin_commands(ctx)])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        return self._plugin_commands(ctx).get(cmd_name)


async def _load_plugin_commands(ctx: click.Context) -> dict[str, click.Command]:
    from kith.core.runtime import Kith

    kith = await Kith.open(settings_from(ctx), migrate_database=False)
    try:
        commands: dict[str, click.Command] = {}
        for _plugin, contributed in kith.plugins.call("kith_cli_commands"):
            for command in contributed:
                if command.name:
                    commands[command.name] = command
        return commands
    finally:
        await kith.close()


@click.group(cls=KithGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--database-url", envvar="KITH_DATABASE_URL", help="Database to use (overrides settings).")
@click.option("-v", "--verbose", is_flag=True, help="Log what Kith does.")
@click.version_option(package_name="kith-crm", prog_name="kith")
@click.pass_context
def cli(ctx: click.Context, database_url: str | None, verbose: bool) -> None:
    """Kith: a plugin-based CRM framework.  Every admin task is one command."""
    if database_url:
        # plugin commands read settings themselves (load_settings()): make them agree
        os.environ["KITH_DATABASE_URL"] = database_url
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )


for command in (
    init_command,
    migrate_command,
    serve_command,
    demo_command,
    worker_command,
    plugins_group,
    fields_group,
    automations_group,
    webhooks_group,
    users_group,
    roles_group,
    keys_group,
    audit_group,
    gdpr_group,
    export_command,
    schema_group,
):
    cli.add_command(command)
cli.add_command(plugin_alias, name="plugin")  # hidden, deprecated: says to use `kith plugins`


def main(argv: list[str] | None = None) -> Any:
    return cli.main(args=argv, prog_name="kith")
